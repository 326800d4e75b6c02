"""The MODEL argument: the file checked once before Keras loads it (format, and no
Lambda layer unless ``--unsafe``), loaded, and the options checked against it."""

from __future__ import annotations

import dataclasses
import json
import pathlib

from kerascope.cli.common import UserError

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """A checked model file: its ``path``, ``kind`` (keras or h5), its Lambda layers."""

    path: pathlib.Path
    kind: str
    lambdas: tuple


def check_model_file(path, unsafe):
    """Check a model file before Keras loads it: it exists, has a known format and,
    unless ``unsafe``, holds no Lambda layer. Returns a :class:`ModelFile`."""
    path = pathlib.Path(path)
    if not path.exists():
        raise UserError(f"MODEL: no such file: {str(path)!r}.")
    if path.is_dir():
        raise UserError(f"MODEL: {str(path)!r} is a folder; expected a .keras or .h5 model file "
                        "(Keras 3 cannot load SavedModel folders).")
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise UserError(f"MODEL: {str(path)!r}: expected a .keras or .h5 model file.")
    if suffix == ".keras":
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
        except (zipfile.BadZipFile, KeyError, ValueError, OSError):
            raise UserError(f"MODEL: {str(path)!r} is not a Keras model file (expected a .keras "
                            "zip archive holding config.json).") from None
        kind = "keras"
    else:
        with open(path, "rb") as handle:
            signature = handle.read(8)
        if signature != b"\x89HDF\r\n\x1a\n":
            raise UserError(f"MODEL: {str(path)!r} is not an HDF5 (.h5) model file.")
        config = _h5_config(path)
        kind = "h5"
    lambdas = _lambda_layers(config)
    if lambdas and not unsafe:
        raise UserError(
            f"MODEL: {str(path)!r} has a Lambda layer ({lambdas[0]!r}) whose Python code would "
            "run when it is loaded; kerascope refuses it unless you pass --unsafe (only for "
            "files you trust)."
        )
    return ModelFile(path, kind, tuple(lambdas))


def _h5_config(path):
    try:
        import h5py
    except ImportError:
        return None
    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except OSError:
        raise UserError(f"MODEL: {str(path)!r} is not a readable HDF5 model file.") from None
    if raw is None:
        raise UserError(f"MODEL: {str(path)!r} holds no model (weights only?); expected a model "
                        "saved with model.save().")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _lambda_layers(config):
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") == "Lambda":
                found.append(str(node.get("config", {}).get("name", "lambda")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


def load_model(checked, unsafe, console=None):
    """Load a :class:`ModelFile` (from :func:`check_model_file`); Keras errors become
    :class:`UserError`."""
    import keras

    if checked.lambdas and unsafe and console is not None:
        console.print(f"[yellow]kerascope: warning: loading {checked.path} with --unsafe runs "
                      f"the code of its Lambda layer(s) {', '.join(checked.lambdas)}.[/yellow]")
    try:
        if checked.kind == "keras":
            return keras.saving.load_model(str(checked.path), compile=False,
                                           safe_mode=not unsafe)
        return keras.saving.load_model(str(checked.path), compile=False)
    except Exception as problem:  # noqa: BLE001 - any loading failure is about the file
        text = str(problem).strip()
        message = text.splitlines()[0] if text else type(problem).__name__
        raise UserError(f"MODEL: cannot load {str(checked.path)!r}: {message}") from None


def check_against_model(model, target, labels=None, layer=None):
    """Check ``--target`` (``(kind, value)``), ``--labels`` and ``--layer`` against the
    loaded model."""
    units = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    units = int(units) if units is not None else None
    kind, value = target
    if kind == "index" and units is not None and value >= units:
        raise UserError(f"--target: class {value} is out of range for a model with {units} "
                        f"outputs (valid: 0..{units - 1}).")
    if kind == "top" and units is not None and value > units:
        raise UserError(f"--target: top-{value} asks for more classes than the model's {units}.")
    if labels is not None and units is not None and len(labels) < units:
        raise UserError(f"--labels: {len(labels)} labels for a model with {units} classes; "
                        "expected one label per class.")
    if layer is not None:
        from kerascope.engine import surgery

        try:
            surgery.find_layer(model, layer)
        except ValueError as problem:
            raise UserError("--layer: " + str(problem).split(": ", 1)[-1]) from None
