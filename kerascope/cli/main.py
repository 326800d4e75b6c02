"""The ``kerascope`` command (also ``python -m kerascope``).

``kerascope explain MODEL IMAGES...`` explains a saved Keras model on image files and
writes, to ``--out``: ``maps.npz`` (the raw maps, file names, targets, outputs and each
method's parameters), one PNG per method and ``report.html``; for large folders,
``--stream-maps npy`` (or ``zarr``) writes each method's maps to ``METHOD.npy`` as the
batches come instead (no PNGs, no report). ``kerascope demo`` does
the same on the bundled model and images with every method; ``kerascope methods``
lists the methods.

Bad input (a missing or unreadable file, an unknown method, layer or option, a target
out of range...) ends with one line on stderr naming the argument and what was
expected, exit code 2, and nothing written; an internal error exits 1. ``--debug``
shows the traceback. Output is written to a temporary folder and moved into place at
the end. Keras is imported only when work starts, so ``--help`` and ``methods`` answer
at once.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
import warnings
from importlib import util as importlib_util

import click

#: Methods ``kerascope explain`` runs without ``-m``.
DEFAULT_METHODS = (
    "vanilla_gradients",
    "gradients_inputs",
    "smoothgrad",
    "integrated_gradients",
    "grad_cam",
    "grad_cam_plus_plus",
    "guided_backprop",
    "occlusion",
)
#: Files a run writes besides the PNGs.
OUTPUT_FILES = ("maps.npz", "report.html")

_MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_ARRAY_SUFFIXES = (".npy", ".npz")


class UserError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


# -- the method table without importing Keras ------------------------------------------------
_CATALOG_FIELDS = ("name", "aliases", "family", "summary", "paper", "signed")


def static_catalog():
    """``[{name, aliases, family, summary, paper, signed}, ...]`` read from the source of
    ``kerascope/methods`` without importing it (so without Keras): the literal class
    attributes of every ``Method`` subclass that defines ``name``, inheritance resolved.
    Returns None when a value is not a literal (then the real catalog is used)."""
    folder = pathlib.Path(__file__).resolve().parent / "methods"
    classes = {}
    order = []
    try:
        for path in sorted(folder.glob("*.py")) + sorted(folder.glob("*/*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                own = {}
                for item in node.body:
                    if (isinstance(item, ast.Assign) and len(item.targets) == 1
                            and isinstance(item.targets[0], ast.Name)
                            and item.targets[0].id in _CATALOG_FIELDS):
                        own[item.targets[0].id] = ast.literal_eval(item.value)
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                         for b in node.bases]
                classes[node.name] = (bases, own)
                order.append(node.name)
    except (OSError, SyntaxError, ValueError):
        return None
    if "Method" not in classes:
        return None

    def lookup(name, field, seen=()):
        bases, own = classes.get(name, ((), {}))
        if field in own:
            return own[field]
        for base in bases:
            if base in classes and base not in seen:
                value = lookup(base, field, seen + (name,))
                if value is not _MISSING:
                    return value
        return _MISSING

    def is_method(name, seen=()):
        if name == "Method":
            return True
        bases = classes.get(name, ((), {}))[0]
        return any(b in classes and b not in seen and is_method(b, seen + (name,)) for b in bases)

    entries = []
    for name in order:
        own = classes[name][1]
        if name == "Method" or "name" not in own or not is_method(name):
            continue
        entry = {field: lookup(name, field) for field in _CATALOG_FIELDS}
        if any(value is _MISSING for value in entry.values()):
            return None
        entry["aliases"] = tuple(entry["aliases"])
        entries.append(entry)
    return entries or None


_MISSING = object()


def catalog():
    """The method table: the registry's catalog when ``kerascope.methods`` is already
    imported (methods registered at run time included), else :func:`static_catalog`
    (no Keras import), else the imported catalog."""
    entries = None if "kerascope.methods" in sys.modules else static_catalog()
    if entries is not None:
        return entries
    from kerascope import methods

    return [{"name": i.name, "aliases": tuple(i.aliases), "family": i.family,
             "summary": i.summary, "paper": i.paper, "signed": bool(i.signed)}
            for i in methods.catalog()]


def resolve_methods(values, entries):
    """Canonical method names from ``-m`` values (repeatable, comma-separated, ``all``)."""
    by_name = {}
    for entry in entries:
        for alias in (entry["name"], *entry["aliases"]):
            by_name[alias] = entry["name"]
    names = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if part == "all":
                names += [e["name"] for e in entries]
                continue
            if part not in by_name:
                close = difflib.get_close_matches(part, list(by_name), n=3, cutoff=0.6)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise UserError(f"--method: unknown method {part!r}.{hint} "
                                "`kerascope methods` lists them.")
            names.append(by_name[part])
    if values and not names:
        raise UserError("--method: expected a method name or 'all', got an empty value.")
    return list(dict.fromkeys(names))


def _asks_all(values):
    return any(part.strip() == "all" for value in values for part in str(value).split(","))


# -- argument parsing that needs no Keras ---------------------------------------------------
def parse_target(text):
    """``("predicted", None)``, ``("index", n)`` or ``("top", k)``."""
    value = str(text).strip().lower()
    if value in ("predicted", "pred"):
        return ("predicted", None)
    for prefix in ("top-", "top_", "top"):
        if value.startswith(prefix) and value[len(prefix):].isdigit():
            k = int(value[len(prefix):])
            if k < 1:
                break
            return ("top", k)
    if value.isdigit():
        return ("index", int(value))
    raise UserError(f"--target: expected 'predicted', a class index or top-K (e.g. top-3), "
                    f"got {text!r}.")


def parse_option_value(text):
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_keyed_options(values, flag, example):
    """``{owner: {key: value}}`` from ``OWNER.KEY=VALUE`` values of option ``flag``."""
    options = {}
    for value in values:
        head, sep, raw = value.partition("=")
        owner, dot, key = head.strip().partition(".")
        if not sep or not dot or not owner or not key.isidentifier():
            kind = "METRIC" if "metric" in flag else "METHOD"
            raise UserError(f"{flag}: expected {kind}.KEY=VALUE (e.g. {example}), "
                            f"got {value!r}.")
        options.setdefault(owner, {})[key] = parse_option_value(raw)
    return options


def parse_options(values, methods_run):
    """``{method: {key: value}}`` from ``-o METHOD.KEY=VALUE`` values."""
    options = parse_keyed_options(values, "-o", "occlusion.patch_size=4")
    for method, keys in options.items():
        if method not in methods_run:
            raise UserError(f"-o {method}.{next(iter(keys))}: method {method!r} is not among "
                            f"the methods run ({', '.join(methods_run)}).")
    return options


def read_labels(path):
    """Class names from a text file (one per line), a JSON list, or a JSON object
    ``{"0": name}`` / ``{"0": [id, name]}`` (Keras' ImageNet index)."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--labels: cannot read {str(path)!r} ({error}).") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as error:
            raise UserError(f"--labels: {str(path)!r} is not valid JSON ({error}).") from None
        if isinstance(data, list):
            return [str(v) for v in data]
        if isinstance(data, dict):
            try:
                items = sorted((int(k), v) for k, v in data.items())
            except ValueError:
                raise UserError(f"--labels: {str(path)!r}: expected class indices as keys.") \
                    from None
            labels = [""] * (items[-1][0] + 1 if items else 0)
            for index, value in items:
                labels[index] = str(value[-1] if isinstance(value, list) else value)
            return labels
        raise UserError(f"--labels: {str(path)!r}: expected a JSON list or object.")
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    if not labels:
        raise UserError(f"--labels: {str(path)!r} holds no labels (expected one per line).")
    return labels


def check_out(out, force, replace_previous=False, files=OUTPUT_FILES):
    """Refuse an existing non-empty ``--out`` unless ``force`` (or, for the demo, when it
    holds only a previous run's ``files`` and PNGs)."""
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {str(out)!r} exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()) and not force:
        previous = all(p.is_file() and (p.name in files or p.suffix == ".png")
                       for p in out.iterdir())
        if not (replace_previous and previous):
            raise UserError(f"--out: {str(out)!r} is not empty; pass --force to replace it "
                            "or choose another folder.")


def check_model_file(path, unsafe):
    """Check a model file before Keras loads it: it exists, has a known format and,
    unless ``unsafe``, holds no Lambda layer. Returns the format."""
    path = pathlib.Path(path)
    if not path.exists():
        raise UserError(f"MODEL: no such file: {str(path)!r}.")
    if path.is_dir():
        raise UserError(f"MODEL: {str(path)!r} is a folder; expected a .keras or .h5 model file "
                        "(Keras 3 cannot load SavedModel folders).")
    suffix = path.suffix.lower()
    if suffix not in _MODEL_SUFFIXES:
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
    return kind, lambdas


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


# -- output folder --------------------------------------------------------------------------
@contextlib.contextmanager
def staged_output(out, force):
    """A temporary folder beside ``out``, moved to ``out`` when the block succeeds and
    removed when it fails: a failed run leaves nothing behind."""
    out = pathlib.Path(out).absolute()
    base = out.parent
    while not base.exists():
        base = base.parent
    stage = pathlib.Path(tempfile.mkdtemp(prefix=".kerascope-", dir=base))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    out.parent.mkdir(parents=True, exist_ok=True)
    trash = None
    if out.exists():
        trash = out.parent / f".kerascope-old-{os.getpid()}-{time.time_ns()}"
        out.rename(trash)
    os.replace(stage, out)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


# -- the work (imports Keras) ---------------------------------------------------------------
def _quiet_frameworks():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore")


def load_model(path, unsafe, console=None):
    """Load a checked model file; Keras errors become :class:`UserError`."""
    kind, lambdas = check_model_file(path, unsafe)
    import keras

    if lambdas and unsafe and console is not None:
        console.print(f"[yellow]kerascope: warning: loading {path} with --unsafe runs the code "
                      f"of its Lambda layer(s) {', '.join(lambdas)}.[/yellow]")
    try:
        if kind == "keras":
            return keras.saving.load_model(str(path), compile=False, safe_mode=not unsafe)
        return keras.saving.load_model(str(path), compile=False)
    except Exception as error:  # noqa: BLE001 - any loading failure is about the file
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"MODEL: cannot load {str(path)!r}: {message}") from None


def method_defaults(name, accepted, black, image_size):
    """The command's options for a method, set from the preprocessed value range.

    Occlusion fills its patches with black as the model sees it (not tf-explain's
    127.5, which is meant for [0, 255] inputs) with patches of 1/8 of the image side and
    maps the probability drop ``p(x) - p(occluded)`` (0 where a patch changes nothing,
    for every target, where tf-explain's ``1 - p(occluded)`` is near 1 everywhere for an
    unlikely class);
    Integrated Gradients starts from a black image; random methods get seed 0 so that
    runs repeat; RISE draws 1000 masks. SmoothGrad's noise is already a fraction of
    each input's value range.
    """
    import numpy as np

    black = np.asarray(black, dtype=np.float64).ravel()
    uniform = bool(np.allclose(black, black[0]))
    height, width = image_size
    options = {}
    if "seed" in accepted and name != "integrated_gradients":  # IG's seed: uniform baselines
        options["seed"] = 0
    if name == "occlusion":
        options["patch_size"] = max(2, int(round(min(height, width) / 8)))
        options["fill_value"] = float(black.mean())
        options["mode"] = "difference"  # p(x) - p(occluded): 0 where nothing changes
    if name == "integrated_gradients":
        options["n_steps"] = 64
        options["baseline"] = float(black[0]) if uniform else black.tolist()
    if name == "rise":
        options["num_masks"] = 1000
    return {k: v for k, v in options.items() if k in accepted}


def _method_options_of(cls):
    import inspect

    try:
        from kerascope.methods.registry import options_of

        return set(options_of(cls))
    except ImportError:
        parameters = inspect.signature(cls.__init__).parameters.values()
        return {p.name for p in parameters if p.name != "self"}


def _method_class(name):
    from kerascope import methods

    registry = getattr(methods, "registry", None)
    if registry is not None and hasattr(registry, "lookup"):
        return registry.lookup(name)
    cls = methods.REGISTRY[name]
    return cls if isinstance(cls, type) else type(cls())


def _user_value_error(prefix, error):
    message = str(error)
    return UserError(f"{prefix}: {message}" if prefix else message)


def _probabilities(outputs):
    import numpy as np

    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.shape[-1] == 1:
        inside = np.all((outputs >= 0) & (outputs <= 1))
        p = outputs if inside else 1.0 / (1.0 + np.exp(-outputs))
        return np.concatenate([1 - p, p], axis=-1), (
            "the model's sigmoid output as [1 - p, p]" if inside
            else "sigmoid of the model's output as [1 - p, p]")
    if np.all(outputs >= 0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3):
        return outputs, "the model's outputs (softmax)"
    shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True), "softmax of the model's outputs"


class Inputs:
    """What is explained: names, display pixels, model inputs, optional masks."""

    def __init__(self, names, pixels, x, preprocess, masks=None, notes=()):
        self.names = list(names)
        self.pixels = list(pixels)
        self.x = x  # list of (1, ...) float32 arrays
        self.preprocess = preprocess
        self.masks = masks
        self.notes = list(notes)


def read_inputs(paths, model, preprocess, spec, console):
    """Image files, folders and .npy/.npz arrays as :class:`Inputs`."""
    import numpy as np

    from kerascope.inputs import files as kio

    names, pixels, xs, notes = [], [], [], []
    preset = preprocess or kio.infer_preprocess(model)
    for raw in paths:
        path = pathlib.Path(raw)
        if path.suffix.lower() in _ARRAY_SUFFIXES and path.is_file():
            for name, pix, x, note in _read_array(path, preset, spec):
                if "warning:" in note and note not in notes and console is not None:
                    console.print(f"[yellow]kerascope: {note}[/yellow]", highlight=False)
                names.append(name)
                pixels.append(pix)
                xs.append(x)
                if note and note not in notes:
                    notes.append(note)
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                images = kio.read_images([path], model, preset, argument="IMAGES")
            except ValueError as error:
                raise UserError(str(error)) from None
        for warning in caught:
            if console is not None:
                console.print(f"[yellow]kerascope: warning: {warning.message}[/yellow]",
                              highlight=False)
        names += [str(f) for f in images.files]
        pixels += images.pixels
        xs += images.inputs()
    if not xs:
        raise UserError("IMAGES: expected at least one image.")
    if len({x.shape for x in xs}) > 1 and spec.size is not None:
        shapes = sorted({x.shape[1:] for x in xs})
        raise UserError(f"IMAGES: the arrays have shapes {shapes}; the model takes "
                        f"{(spec.height, spec.width, spec.channels)}.")
    description = preset if isinstance(preset, str) else getattr(preset, "__name__", "custom")
    description = f"{description}: {kio.PRESETS[description]}" if description in kio.PRESETS \
        else f"{description} (keras.applications preprocess_input)" \
        if description in kio.APPLICATIONS else description
    if preprocess is None:
        description += " (inferred from the model)"
    return Inputs(names, pixels, [np.asarray(x, dtype=np.float32) for x in xs], description,
                  notes=notes)


def _read_array(path, preset, spec):
    import numpy as np

    from kerascope.inputs import files as kio

    try:
        if path.suffix.lower() == ".npz":
            with np.load(path) as archive:
                key = next((k for k in ("images", "x") if k in archive), archive.files[0])
                array = archive[key]
        else:
            array = np.load(path)
    except Exception as error:  # noqa: BLE001
        raise UserError(f"IMAGES: cannot read {str(path)!r} as a numpy array ({error}).") from None
    expected = (spec.channels, spec.height, spec.width) if spec.channels_first \
        else (spec.height, spec.width, spec.channels)
    if array.ndim == len(expected):
        array = array[None]
    if array.ndim == 3 and spec.channels == 1 and not spec.channels_first:
        array = array[..., None]
    if array.ndim != 4 or any(e is not None and e != a for e, a in zip(expected, array.shape[1:])):
        raise UserError(f"IMAGES: {str(path)!r} holds an array of shape {array.shape}; the model "
                        f"takes images of shape {expected} (a batch (N, ...) or one image).")
    out = []
    if array.dtype == np.uint8:
        x = kio.preprocess(np.moveaxis(array, 1, -1) if spec.channels_first else array, preset)
        if spec.channels_first:
            x = np.moveaxis(x, -1, 1)
        note = f"{path.name}: uint8 pixel values, preprocessed as the image files"
    else:
        x = array.astype(np.float32)
        note = (f"{path.name}: {array.dtype} values in [{float(array.min()):.3g}, "
                f"{float(array.max()):.3g}] fed to the model as they are (no preprocessing)")
        if preset in ("0-1", "-1-1") and float(array.max()) > 1.5:
            note += (f"; warning: the model expects {preset} inputs, these look like pixel "
                     "values (save them as uint8 to have them preprocessed)")
    for i in range(len(array)):
        image = np.moveaxis(array[i], 0, -1) if spec.channels_first else array[i]
        out.append((f"{path.name}[{i}]", image, x[i:i + 1], note))
    return out


def plan_methods(method_names, inputs, spec, layer=None, user_options=None):
    """``[(name, options, method instance), ...]``: the command's defaults for each
    method (:func:`method_defaults`), ``--layer`` and the user's ``-o`` options applied,
    every option checked before anything runs (bad ones are :class:`UserError`)."""
    import numpy as np

    import kerascope

    user_options = user_options or {}
    channels = spec.channels
    black, white = _range_of(inputs, channels)
    size = inputs.x[0].shape[2:4] if spec.channels_first else inputs.x[0].shape[1:3]
    planned = []
    for name in method_names:
        cls = _method_class(name)
        accepted = _method_options_of(cls)
        options = method_defaults(name, accepted, black, size)
        if layer is not None and "layer_name" in accepted:
            options["layer_name"] = layer
        for key, value in user_options.get(name, {}).items():
            if key not in accepted:
                raise UserError(f"-o {name}.{key}: method {name!r} has no option {key!r}; its "
                                f"options are {', '.join(sorted(accepted)) or 'none'}.")
            options[key] = value
        build = dict(options)
        if "references" in accepted and "references" not in options:
            # Methods that draw baselines from a reference set (Expected Gradients)
            # draw them from the inputs being explained; the report says so.
            if len({tuple(x.shape) for x in inputs.x}) == 1:  # images of one size
                build["references"] = np.concatenate(inputs.x)
                options["references"] = f"the {len(inputs.x)} explained input(s)"
        try:
            method = kerascope.methods.get(name, **build)
        except (ValueError, TypeError) as error:
            raise _user_value_error(f"-o {name}", error) from None
        planned.append((name, options, method))
    return planned


def explain_run(model, inputs, method_names, *, target=("predicted", None), labels=None,
                layer=None, user_options=None, batch_size=32, out, force=False, quiet=False,
                console=None, err_console=None, replace_previous=False, model_name=None,
                optional=(), stream_maps=None):
    """Run the methods on the inputs and write the outputs to ``out`` (via a stage).

    A method named in ``optional`` (those ``-m all`` brings in) that does not apply to
    the model (a ``ValueError`` from its run, e.g. CAM without a GAP -> Dense head) is
    skipped with a warning and a note in the report; any other method's is bad input.
    ``stream_maps`` (``"npy"`` or ``"zarr"``): see :func:`explain_streamed`.
    """
    if err_console is None:
        from rich.console import Console

        err_console = Console(stderr=True, quiet=quiet, highlight=False, soft_wrap=True)
    if stream_maps is not None:
        return explain_streamed(model, inputs, method_names, target=target, labels=labels,
                                layer=layer, user_options=user_options,
                                batch_size=batch_size, out=out, force=force, quiet=quiet,
                                err_console=err_console, optional=optional,
                                fmt=stream_maps)
    import keras
    import numpy as np

    import kerascope
    from kerascope.inputs import files as kio
    from kerascope import rendering
    from kerascope.report import Explained, MethodRun, write_report

    user_options = user_options or {}
    spec = kio.input_spec(model, argument="MODEL")
    n = len(inputs.x)
    kind, value = target
    _check_run(model, target, labels, layer)

    entries = {e["name"]: e for e in catalog()}
    planned = plan_methods(method_names, inputs, spec, layer=layer,
                           user_options=user_options)
    targets = _api_targets(target)

    groups = {}
    for i, x in enumerate(inputs.x):
        groups.setdefault(x.shape, []).append(i)

    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    def new_progress():
        return Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        console=err_console, transient=True, disable=quiet)

    progress = new_progress()
    runs, outputs_all, skipped, done = [], None, [], 0
    with progress:
        task = progress.add_task("explaining", total=n * len(planned))
        for name, options, method in planned:
            progress.update(task, description=name)
            start = time.perf_counter()
            per_image_maps = [None] * n
            outputs = [None] * n
            # Inputs per device batch: the rows one input expands into (noisy copies,
            # path points, masks) times its targets fill batch_size.
            rows = method.rows_per_input() if hasattr(method, "rows_per_input") else 1
            step = max(1, batch_size // (max(1, int(rows)) * (value if kind == "top" else 1)))
            for shape, indices in groups.items():
                stacked = np.concatenate([inputs.x[i] for i in indices])

                def stream(array=stacked):
                    for first in range(0, len(array), step):
                        batch = array[first:first + step]
                        yield batch
                        progress.advance(task, len(batch))

                try:
                    out_group, maps = kerascope.explain(method, model, stream(), targets,
                                                        batch_size=batch_size)
                except ValueError as error:
                    if name not in optional:
                        raise _user_value_error(None, f"{name}: {error}") from None
                    skipped.append(f"{name} does not apply to this model: {_one_line(error)}")
                    break
                maps = np.asarray(maps, dtype=np.float32)
                for row, i in enumerate(indices):
                    per_image_maps[i] = maps[row]
                    outputs[i] = np.asarray(out_group[row])
            done += n
            progress.update(task, completed=done)
            if any(m is None for m in per_image_maps):  # skipped
                err_console.print(f"[yellow]kerascope: warning: skipped {skipped[-1]}[/yellow]",
                                  highlight=False)
                continue
            seconds = time.perf_counter() - start
            entry = entries.get(name, {})
            stacked_maps = [m if (kind == "top") else m[None] for m in per_image_maps]
            signed = bool(entry.get("signed")) or any(float(np.min(m)) < 0 for m in stacked_maps)
            runs.append(MethodRun(name=name, maps=stacked_maps, parameters=options,
                                  seconds=seconds, signed=signed,
                                  family=entry.get("family", ""), summary=entry.get("summary", ""),
                                  paper=entry.get("paper", "")))
            if outputs_all is None:
                outputs_all = np.stack(outputs)
        if outputs_all is None:
            outputs_all = np.concatenate(
                [np.asarray(keras.ops.convert_to_numpy(model(x, training=False))) for x in inputs.x])

    probabilities, probability_note, target_rows = _target_rows(outputs_all, target)

    with staged_output(out, force or replace_previous) as stage:
        arrays = {
            "files": np.asarray(inputs.names),
            "targets": target_rows.astype(np.int64),
            "outputs": np.asarray(outputs_all, dtype=np.float32),
            "probabilities": probabilities.astype(np.float32),
            "preprocess": np.asarray(inputs.preprocess),
            "methods": np.asarray([run.name for run in runs]),
            "parameters": np.asarray(json.dumps({run.name: _jsonable(run.parameters)
                                                 for run in runs})),
            "seconds": np.asarray(json.dumps({run.name: run.seconds for run in runs})),
        }
        uniform = len(groups) == 1
        for run in runs:
            maps = [m if kind == "top" else m[0] for m in run.maps]
            if uniform:
                arrays[run.name] = np.stack(maps)
            else:
                for i, m in enumerate(maps):
                    arrays[f"{run.name}/{i}"] = m
        np.savez_compressed(stage / "maps.npz", **arrays)

        short = [pathlib.Path(name).name for name in inputs.names]
        progress = new_progress()
        with progress:
            render_task = progress.add_task("drawing", total=len(runs))
            for run in runs:
                picture = rendering.render_grid(
                    run.maps, inputs.pixels, method=run.name, targets=target_rows,
                    labels=labels, probabilities=np.take_along_axis(probabilities, target_rows,
                                                                    axis=-1),
                    signed=run.signed, captions=short,
                    suptitle=f"{run.name} ({'signed' if run.signed else 'unsigned'}; "
                             f"{_params_text(run.parameters)})")
                rendering.save_png(picture, stage / f"{run.name}.png")
                progress.advance(render_task)

        report = Explained(
            names=short, pixels=inputs.pixels, inputs=inputs.x, probabilities=probabilities,
            targets=target_rows, runs=runs, labels=labels, masks=inputs.masks,
            model_name=model_name or model.name, backend=keras.backend.backend(),
            input_shape=str(tuple(model.inputs[0].shape)),
            parameter_count=int(model.count_params()), preprocess=inputs.preprocess,
            version=kerascope.__version__, keras_version=keras.__version__,
            date=time.strftime("%Y-%m-%d %H:%M:%S"), probability_note=probability_note,
            notes=_method_notes(runs) + inputs.notes + [f"skipped {s}" for s in skipped],
        )
        write_report(stage / "report.html", report)
    return runs, target_rows, probabilities


def _check_run(model, target, labels, layer):
    """Check ``--target``, ``--labels`` and ``--layer`` against the model."""
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
        except ValueError as error:
            raise UserError("--layer: " + str(error).split(": ", 1)[-1]) from None


def _api_targets(target):
    import kerascope

    kind, value = target
    if kind == "predicted":
        return "predicted"
    if kind == "index":
        return value
    return kerascope.top_k(value)


def _target_rows(outputs, target):
    """``(probabilities, their note, (N, K) explained classes)`` from the outputs."""
    import numpy as np

    kind, value = target
    probabilities, probability_note = _probabilities(outputs)
    if kind == "predicted":
        target_rows = probabilities.argmax(axis=-1)[:, None]
    elif kind == "index":
        target_rows = np.full((len(outputs), 1), value)
    else:
        target_rows = np.argsort(-np.asarray(outputs), axis=-1, kind="stable")[:, :value]
    if probabilities.shape[-1] != np.asarray(outputs).shape[-1]:
        probability_note += " (binary model: class 1 is the output unit)"
    return probabilities, probability_note, target_rows


def explain_streamed(model, inputs, method_names, *, target=("predicted", None), labels=None,
                     layer=None, user_options=None, batch_size=32, out, force=False,
                     quiet=False, err_console, optional=(), fmt="npy"):
    """``kerascope explain --stream-maps FMT``: each method's maps are written to
    ``METHOD.npy`` (or ``METHOD.zarr``) in ``out`` batch by batch
    (``kerascope.explain(..., out=...)``), never all in memory; ``maps.npz`` holds the
    file names, targets, outputs, probabilities, parameters and timings; no PNGs and
    no report are drawn. Written to a stage moved into place at the end, like
    :func:`explain_run`. Returns ``(runs, target rows, probabilities)`` with each
    run's ``maps`` the written array opened read-only."""
    import numpy as np

    import kerascope
    from kerascope.inputs import files as kio
    from kerascope.report import MethodRun

    if fmt == "zarr":
        try:
            import zarr  # noqa: F401
        except ImportError:
            raise UserError("--stream-maps zarr: needs the zarr package: pip install "
                            "'kerascope[zarr]' (or use --stream-maps npy).") from None
    spec = kio.input_spec(model, argument="MODEL")
    _check_run(model, target, labels, layer)
    if len({x.shape for x in inputs.x}) > 1:
        shapes = sorted({x.shape[1:] for x in inputs.x})
        raise UserError(f"--stream-maps: the images have several sizes {shapes}; a "
                        f".{fmt} file holds maps of one size (resize them, or drop "
                        "--stream-maps).")
    planned = plan_methods(method_names, inputs, spec, layer=layer,
                           user_options=user_options or {})
    targets = _api_targets(target)
    entries = {e["name"]: e for e in catalog()}
    n = len(inputs.x)

    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    progress = Progress(TextColumn("{task.description:<24}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=err_console, transient=True,
                        disable=quiet)
    runs, skipped, outputs_all = [], [], None
    with staged_output(out, force) as stage, progress:
        task = progress.add_task("explaining", total=n * len(planned))
        for done, (name, options, method) in enumerate(planned):
            progress.update(task, description=name, completed=done * n)

            def stream():
                for first in range(0, n, batch_size):
                    part = inputs.x[first:first + batch_size]
                    yield np.concatenate(part)
                    progress.advance(task, len(part))

            start = time.perf_counter()
            try:
                outputs, maps = kerascope.explain(method, model, stream(), targets,
                                                  batch_size=batch_size,
                                                  out=stage / f"{name}.{fmt}")
            except ValueError as error:
                if name not in optional:
                    raise _user_value_error(None, f"{name}: {error}") from None
                skipped.append(f"{name} does not apply to this model: {_one_line(error)}")
                err_console.print(f"[yellow]kerascope: warning: skipped {skipped[-1]}[/yellow]",
                                  highlight=False)
                continue
            entry = entries.get(name, {})
            runs.append(MethodRun(name=name, maps=maps, parameters=options,
                                  seconds=time.perf_counter() - start,
                                  signed=bool(entry.get("signed")),
                                  family=entry.get("family", ""),
                                  summary=entry.get("summary", ""), paper=entry.get("paper", "")))
            if outputs_all is None:
                outputs_all = np.asarray(outputs, dtype=np.float32)
        if outputs_all is None:  # every method skipped
            outputs_all = np.concatenate(
                [np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
                 for x in inputs.x]).astype(np.float32)
        probabilities, _, target_rows = _target_rows(outputs_all, target)
        np.savez_compressed(stage / "maps.npz", **{
            "files": np.asarray(inputs.names),
            "targets": target_rows.astype(np.int64),
            "outputs": outputs_all,
            "probabilities": probabilities.astype(np.float32),
            "preprocess": np.asarray(inputs.preprocess),
            "methods": np.asarray([run.name for run in runs]),
            "maps_files": np.asarray([f"{run.name}.{fmt}" for run in runs]),
            "parameters": np.asarray(json.dumps({run.name: _jsonable(run.parameters)
                                                 for run in runs})),
            "seconds": np.asarray(json.dumps({run.name: run.seconds for run in runs})),
        })
    for run in runs:  # reopened where the stage was moved to
        path = pathlib.Path(out) / f"{run.name}.{fmt}"
        if fmt == "npy":
            run.maps = np.load(path, mmap_mode="r")
        else:
            import zarr

            run.maps = zarr.open_array(str(path), mode="r")
    return runs, target_rows, probabilities


def _range_of(inputs, channels):
    """Preprocessed values of black and white for the run's preprocessing."""
    import numpy as np

    from kerascope.inputs import files as kio

    preset = inputs.preprocess.split(":")[0].split(" ")[0]
    if preset in kio.PRESETS or preset in kio.APPLICATIONS:
        if preset in kio.APPLICATIONS and channels != 3:
            return np.zeros(channels), np.ones(channels)
        return kio.value_range(preset, channels)
    values = np.concatenate([x.ravel() for x in inputs.x])
    return np.full(channels, values.min()), np.full(channels, values.max())


def _method_notes(runs):
    notes = []
    for run in runs:
        if run.name == "occlusion" and "fill_value" in run.parameters:
            notes.append(f"occlusion fills patches with {run.parameters['fill_value']:.4g}, "
                         "black as the model sees it after preprocessing")
        if run.name == "integrated_gradients" and "baseline" in run.parameters:
            notes.append(f"integrated_gradients starts from a black image "
                         f"(baseline {run.parameters['baseline']!r} after preprocessing)")
    return notes


def _params_text(parameters):
    return ", ".join(f"{k}={v}" for k, v in parameters.items()) or "defaults"


def _jsonable(value):
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _summary(console, runs, out, n_images, stream_maps=None):
    from rich.table import Table

    table = Table("method", "seconds", "file", box=None, pad_edge=False)
    for run in runs:
        table.add_row(run.name, f"{run.seconds:.2f}", f"{run.name}.{stream_maps or 'png'}")
    console.print(table)
    if stream_maps:
        console.print(f"explained {n_images} image(s) with {len(runs)} method(s); maps: "
                      f"[bold]{pathlib.Path(out).absolute()}[/bold] (METHOD.{stream_maps}, "
                      "maps.npz)", highlight=False)
        return
    console.print(f"explained {n_images} image(s) with {len(runs)} method(s); report: "
                  f"[bold]{pathlib.Path(out).absolute() / 'report.html'}[/bold]", highlight=False)


# -- the commands -------------------------------------------------------------------------------
class _Group(click.Group):
    def format_epilog(self, ctx, formatter):
        formatter.write_paragraph()
        formatter.write_text("Examples:")
        with formatter.indentation():
            formatter.write_text("kerascope demo")
            formatter.write_text("kerascope explain model.keras cat.png dog.jpg -m grad_cam "
                                 "-m integrated_gradients --target top-3 --out results")
            formatter.write_text("kerascope evaluate --metric deletion,insertion")
            formatter.write_text("kerascope sanity model.keras cat.png -m vanilla_gradients")
            formatter.write_text("kerascope methods")


def _version():
    try:
        from importlib.metadata import version

        return version("kerascope")
    except Exception:  # noqa: BLE001
        return "unknown"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="kerascope")
def cli():
    """Explain what a Keras model sees: saliency, attributions, CAMs and occlusion maps,
    written as PNGs, raw maps and a self-contained HTML report."""


_common = [
    click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
                 help="Rows per device call (noisy copies, path points and patches included)."),
    click.option("--out", type=click.Path(file_okay=False, path_type=pathlib.Path),
                 default=None, help="Output folder."),
    click.option("--force", is_flag=True, help="Replace a non-empty output folder."),
    click.option("--quiet", is_flag=True, help="No progress bar and no summary."),
    click.option("--debug", is_flag=True, help="Show the traceback of an error."),
]


def _with(options):
    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


@cli.command(short_help="Explain a saved model on image files: maps, PNGs and a report.")
@click.argument("model", type=click.Path(path_type=pathlib.Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=pathlib.Path))
@click.option("-m", "--method", "methods_", multiple=True, metavar="METHOD",
              help="A method (repeatable, or comma-separated), or 'all'. Default: "
                   + ", ".join(DEFAULT_METHODS) + ".")
@click.option("--target", default="predicted", show_default=True, metavar="N|predicted|top-K",
              help="Class to explain: an index, the predicted class, or the K most likely.")
@click.option("--labels", type=click.Path(path_type=pathlib.Path), default=None,
              help="Class names: a text file with one per line, or JSON (list or {index: name}).")
@click.option("--layer", default=None, metavar="NAME",
              help="Layer for the CAM methods (default: the last convolution).")
@click.option("-o", "--option", "options", multiple=True, metavar="METHOD.KEY=VALUE",
              help="A method option, e.g. -o occlusion.patch_size=4 (repeatable).")
@click.option("--preprocess", default=None,
              type=click.Choice(["0-1", "-1-1", "0-255", "vgg16", "vgg19", "resnet50", "resnet",
                                 "resnet_v2", "inception_v3", "inception_resnet_v2", "xception",
                                 "mobilenet", "mobilenet_v2", "mobilenet_v3", "densenet",
                                 "nasnet", "efficientnet", "efficientnet_v2", "convnext"]),
              metavar="0-1|-1-1|0-255|FAMILY",
              help="How pixel values become model inputs; FAMILY is a keras.applications "
                   "family (vgg16, resnet50, mobilenet_v2, efficientnet, xception, ...). "
                   "Default: 0-255 when the model starts with a Rescaling layer, else 0-1.")
@click.option("--unsafe", is_flag=True,
              help="Load a model with Lambda layers (runs code from the file; trusted files only).")
@click.option("--stream-maps", type=click.Choice(["npy", "zarr"]), default=None,
              metavar="npy|zarr",
              help="For large folders: write each method's maps to METHOD.npy (or "
                   "METHOD.zarr, needs kerascope[zarr]) in --out as the batches come, never "
                   "all in memory; maps.npz then holds the file names, targets and outputs, "
                   "and no PNGs or report are drawn.")
@_with(_common)
def explain(model, images, methods_, target, labels, layer, options, preprocess, unsafe,
            stream_maps, batch_size, out, force, quiet, debug):
    """Explain MODEL (.keras or .h5) on IMAGES (files or folders; PNG, JPEG, BMP, WebP,
    TIFF; or .npy arrays) and write maps.npz, a PNG per method and report.html to --out
    (default: kerascope-output); with --stream-maps, maps.npz and one maps file per
    method."""
    out = out or pathlib.Path("kerascope-output")
    console, err = _consoles(quiet)
    check_out(out, force)
    if stream_maps == "zarr" and importlib_util.find_spec("zarr") is None:
        raise UserError("--stream-maps zarr: needs the zarr package: pip install "
                        "'kerascope[zarr]' (or use --stream-maps npy).")
    entries = catalog()
    method_names = resolve_methods(methods_, entries) if methods_ else list(DEFAULT_METHODS)
    optional = set(method_names) if _asks_all(methods_) else set()
    target_spec = parse_target(target)
    label_names = read_labels(labels) if labels is not None else None
    user_options = parse_options(options, method_names)
    check_model_file(model, unsafe)
    from kerascope.inputs import files as kio

    for path in images:  # file checks before Keras is imported
        if path.suffix.lower() in _ARRAY_SUFFIXES and path.is_file():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kio.find_images([path], argument="IMAGES")
        except ValueError as error:
            raise UserError(str(error)) from None
    _quiet_frameworks()
    keras_model = load_model(model, unsafe, err)
    try:
        spec = kio.input_spec(keras_model, argument="MODEL")
    except ValueError as error:
        raise UserError(f"{error} Image files cannot be fed to it.") from None
    inputs = read_inputs(images, keras_model, preprocess, spec, err)
    runs, _, _ = explain_run(keras_model, inputs, method_names, target=target_spec,
                             labels=label_names, layer=layer, user_options=user_options,
                             batch_size=batch_size, out=out, force=force, quiet=quiet,
                             console=console, err_console=err, optional=optional,
                             model_name=f"{keras_model.name} ({model.name})",
                             stream_maps=stream_maps)
    if not quiet:
        _summary(console, runs, out, len(inputs.x), stream_maps)


def demo_inputs():
    """The bundled demo: ``(model, Inputs, class names, title)``; the colour demo (with
    its ground-truth masks) when it is installed, else the digits demo."""
    import numpy as np

    from kerascope import demo as demo_lib

    colour_path = getattr(demo_lib, "COLOUR_MODEL_PATH", None)
    if hasattr(demo_lib, "load_colour_model") and (colour_path is None or colour_path.is_file()):
        model = demo_lib.load_colour_model()
        images, labels_true, masks = demo_lib.load_colour_samples()
        class_names = list(getattr(demo_lib, "COLOUR_CLASS_NAMES", demo_lib.CLASS_NAMES))
        title = "colour digits demo"
    else:
        model = demo_lib.load_model()
        images, labels_true = demo_lib.load_samples()
        masks = None
        class_names = list(demo_lib.CLASS_NAMES)
        title = "digits demo"
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    pixels = [np.clip(np.rint(image * 255), 0, 255).astype(np.uint8) for image in images]
    names = [f"sample {i} (label {class_names[int(label)]})"
             for i, label in enumerate(labels_true)]
    inputs = Inputs(names, pixels, [image[None] for image in images],
                    "0-1: p / 255 (the bundled images, already in [0, 1])",
                    masks=None if masks is None else [np.asarray(m, dtype=bool) for m in masks])
    return model, inputs, class_names, title


@cli.command(short_help="Explain the bundled demo model with every method.")
@click.option("-m", "--method", "methods_", multiple=True, metavar="METHOD",
              help="Methods to run (default: all).")
@_with(_common)
def demo(methods_, batch_size, out, force, quiet, debug):
    """Explain the bundled demo model on its bundled images with every method and write
    the report to --out (default: kerascope-demo)."""
    out = out or pathlib.Path("kerascope-demo")
    console, err = _consoles(quiet)
    check_out(out, force, replace_previous=True)
    entries = catalog()
    method_names = resolve_methods(methods_ or ("all",), entries)
    if not methods_:  # the default methods first, then the others
        method_names = [m for m in DEFAULT_METHODS if m in method_names] + [
            m for m in method_names if m not in DEFAULT_METHODS]
    _quiet_frameworks()
    model, inputs, class_names, title = demo_inputs()
    images = inputs.x
    runs, _, _ = explain_run(model, inputs, method_names, labels=class_names,
                             batch_size=batch_size, out=out, force=force, quiet=quiet,
                             console=console, err_console=err, replace_previous=True,
                             optional=set() if methods_ else set(method_names),
                             model_name=f"{model.name} ({title})")
    if not quiet:
        _summary(console, runs, out, len(images))


@cli.command(name="methods", short_help="List the methods, their families and papers.")
def methods_command():
    """List the methods: name, family, what it computes and its paper."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    entries = catalog()
    widest = max(len(name) for e in entries for name in (e["name"], *e["aliases"]))
    table = Table(title="kerascope methods (aliases dimmed; -m NAME or -m all)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("method", no_wrap=True, min_width=widest)
    table.add_column("family", no_wrap=True)
    table.add_column("map", no_wrap=True)
    table.add_column("what it computes · paper")
    for entry in entries:
        name = "\n".join([entry["name"], *(f"[dim]{a}[/dim]" for a in entry["aliases"])])
        table.add_row(name, entry["family"], "signed" if entry["signed"] else "unsigned",
                      f"{entry['summary']}\n[dim]{entry['paper']}[/dim]")
    Console(width=None if sys.stdout.isatty() else 120, highlight=False).print(table)


def _consoles(quiet):
    from rich.console import Console

    return (Console(quiet=quiet, highlight=False),
            Console(stderr=True, highlight=False, soft_wrap=True))


from kerascope.cli import trust as _cli_trust  # noqa: E402 - `evaluate` and `sanity`

_cli_trust.register(cli)


# -- entry point ----------------------------------------------------------------------------------
def main(argv=None):
    """Run the command; returns the exit code (0, 1 internal error, 2 bad input)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    prog = "kerascope"
    try:
        result = cli.main(args=args, prog_name=prog, standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.exceptions.Abort:
        _error("aborted.")
        return 130
    except click.ClickException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `kerascope`: the help
            click.echo(error.ctx.get_help() if error.ctx else "")
            return 0
        if debug:
            raise
        _error(_one_line(error.format_message()))
        return 2 if isinstance(error, click.UsageError) else error.exit_code or 2
    except UserError as error:
        if debug:
            raise
        _error(_one_line(str(error)))
        return 2
    except KeyboardInterrupt:
        _error("interrupted; nothing was written.")
        return 130
    except Exception as error:  # noqa: BLE001 - reported in one line, traceback with --debug
        if debug:
            raise
        _error(f"internal error: {type(error).__name__}: {_one_line(str(error))} "
               "(rerun with --debug for the traceback)")
        return 1


def _one_line(text):
    return " ".join(str(text).split())


def _error(message):
    sys.stderr.write(f"kerascope: error: {message}\n")
    sys.stderr.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
