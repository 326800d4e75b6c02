"""Explain a Ray Dataset on a pool of actors: ``kerascope.ray.explain_dataset``.

The same code runs on a laptop (``ray.init()`` starts a local Ray) and on a Ray
cluster (``ray.init(address="auto")``): every actor of the pool loads the model once
(from a ``.keras`` path, a builder function, or a model sent as ``.keras`` bytes) and
explains the batches Ray hands it with ``kerascope.explain``; the result is a Ray
Dataset with one row per input row, ready for ``write_parquet`` or ``write_numpy``:

* ``id``: the row's id (its ``id_column``, else its file path, else "");
* ``maps``: float32 map(s), as ``kerascope.explain`` returns them for that row;
* ``outputs``: float32 model outputs;
* ``targets``: the explained unit(s) (int32; -1 for a score callable);
* ``error``: "" for an explained row; for a row that could not be explained (an
  unreadable file, a wrong shape, NaNs) the reason, naming the row's id. Its maps and
  outputs are NaN and its targets -1. With ``strict=True`` such a row stops the job.

This is how PyTorch-backend users use several GPUs (``num_gpus_per_worker=1``, one
actor per GPU): Keras's torch backend has no data-parallel distribution. Needs the
``ray`` extra: ``pip install "kerascope[ray]"``.
"""

import functools
import os
import pathlib
import tempfile

import numpy as np

import keras

from kerascope.engine import validation
from kerascope.methods import registry
from kerascope.engine.targets import TopK

__all__ = ["explain_dataset"]

IMAGE_COLUMNS = ("image", "path", "data", "x")


def explain_dataset(ds, model, method, targets=None, *, batch_size=32, concurrency=1,
                    num_gpus_per_worker=0, num_cpus_per_worker=1, column=None,
                    id_column=None, targets_column=None, preprocess=None, strict=False,
                    device_batch_size=None, output_index=0, use_logits=None,
                    postprocessing=None, ray_remote_args=None, **method_options):
    """Explain every row of the Ray Dataset ``ds``; return a Ray Dataset of results.

    Args:
        ds: a ``ray.data.Dataset`` whose ``column`` holds images (arrays of the model's
            input shape, e.g. from ``ray.data.read_images`` or ``from_numpy``) or image
            file paths (strings, read with ``kerascope.inputs.files``'s loader: converted to the
            model's channels and input size, then ``preprocess``ed).
        model: a ``.keras`` file path (every worker must be able to read it), a
            function returning the model (called once per actor), or a
            ``keras.Model`` (sent to the actors as ``.keras`` bytes).
        method: a registered method name, class or instance (``kerascope methods``).
        targets: as in ``kerascope.explain``: None/"predicted", a class index,
            ``kerascope.top_k(k)`` or a score callable; or use ``targets_column``.
        batch_size: rows of ``ds`` per actor call.
        concurrency: actors in the pool (each loads the model once).
        num_gpus_per_worker, num_cpus_per_worker: resources of each actor.
        column: the image (or path) column; default: the first of "image", "path",
            "data", "x" that ``ds`` has.
        id_column: the column naming each row in ``id`` and in errors (default: "id"
            when present, else the file path for path columns).
        targets_column: a column of per-row class indices (int, or K of them).
        preprocess: preprocessing of files read from paths (``kerascope.inputs.files`` presets:
            "0-1" (default), "-1-1", "0-255", "resnet50", ...).
        strict: stop the job at the first row that cannot be explained.
        device_batch_size: ``kerascope.explain``'s ``batch_size`` (rows per device
            call, noisy copies and path points included); default ``batch_size``.
        output_index, use_logits, postprocessing, **method_options: as in
            ``kerascope.explain``.
        ray_remote_args: more Ray options of the actors (e.g. ``{"runtime_env": ...}``).
            The driver's Keras backend is passed to them as ``KERAS_BACKEND`` unless
            their environment sets it already.

    Returns:
        A lazy ``ray.data.Dataset`` with columns ``id``, ``maps``, ``outputs``,
        ``targets`` and ``error`` (see the module documentation).
    """
    ray = _ray()
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    concurrency = validation.check_positive_int(concurrency, "concurrency")
    device_batch_size = validation.check_positive_int(device_batch_size, "device_batch_size",
                                                      allow_none=True) or batch_size
    for value, name in ((num_gpus_per_worker, "num_gpus_per_worker"),
                        (num_cpus_per_worker, "num_cpus_per_worker")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name}: expected a number >= 0, got {value!r}.")
    if not isinstance(ds, ray.data.Dataset):
        raise ValueError(f"ds: expected a ray.data.Dataset, got {type(ds).__name__}.")
    method = registry.get(method, **method_options)
    names = list(ds.schema().names)
    column = _pick_column(column, names)
    for value, name in ((id_column, "id_column"), (targets_column, "targets_column")):
        if value is not None and value not in names:
            raise ValueError(f"{name}: the dataset has no column {value!r}; its columns "
                             f"are {names}.")
    if id_column is None and "id" in names and column != "id":
        id_column = "id"
    if targets_column is not None and targets is not None:
        raise ValueError("targets: give targets or targets_column, not both.")

    remote = dict(ray_remote_args or {})
    if _needs_backend_env(ray, remote):
        runtime_env = dict(remote.get("runtime_env") or {})
        runtime_env["env_vars"] = dict(runtime_env.get("env_vars") or {},
                                       KERAS_BACKEND=keras.backend.backend())
        remote["runtime_env"] = runtime_env
    settings = dict(column=column, id_column=id_column, targets=targets,
                    targets_column=targets_column, preprocess=preprocess, strict=bool(strict),
                    batch_size=device_batch_size, output_index=output_index,
                    use_logits=use_logits, postprocessing=postprocessing)
    return ds.map_batches(
        _Explainer,
        fn_constructor_kwargs={"load": _loader(model), "method": method, "settings": settings},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_gpus=num_gpus_per_worker,
        num_cpus=num_cpus_per_worker,
        **remote,
    )


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ImportError(
            'kerascope.ray needs Ray Data: pip install "kerascope[ray]" '
            '(or pip install "ray[data]>=2.9").') from error
    return ray


def _needs_backend_env(ray, remote):
    """Whether the actors must be told the Keras backend (``KERAS_BACKEND`` in their
    runtime environment). Not when the given or job runtime environment sets it, nor
    when every Ray node is this machine and this process's environment names the
    backend (local workers inherit it, and skipping a per-actor runtime environment
    lets Ray use its prestarted workers)."""
    backend = keras.backend.backend()
    given = (remote.get("runtime_env") or {}).get("env_vars") or {}
    if "KERAS_BACKEND" in given:
        return False
    if not ray.is_initialized():
        ray.init()
    job = ray.get_runtime_context().runtime_env or {}
    if "KERAS_BACKEND" in (job.get("env_vars") or {}):
        return False
    if os.environ.get("KERAS_BACKEND") != backend:
        return True
    here = ray.util.get_node_ip_address()
    return any(node["NodeManagerAddress"] != here for node in ray.nodes() if node["Alive"])


def _pick_column(column, names):
    if column is not None:
        if column not in names:
            raise ValueError(f"column: the dataset has no column {column!r}; its columns "
                             f"are {names}.")
        return column
    for name in IMAGE_COLUMNS:
        if name in names:
            return name
    raise ValueError(f"column: none of {IMAGE_COLUMNS} is a column of the dataset ({names}); "
                     f"name the image or path column.")


# -- loading the model once per actor -----------------------------------------------
def _loader(model):
    """A picklable ``load() -> keras.Model`` for ``model`` (path, builder or model)."""
    if isinstance(model, keras.Model):
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / "model.keras"
            model.save(path)
            return functools.partial(_from_bytes, path.read_bytes())
    if isinstance(model, (str, os.PathLike)):
        path = pathlib.Path(model).expanduser().absolute()
        if path.suffix != ".keras":
            raise ValueError(f"model: expected a .keras file, a function returning a "
                             f"keras.Model or a keras.Model, got the path {str(path)!r}.")
        return functools.partial(_from_path, str(path))
    if callable(model):
        return functools.partial(_from_builder, model)
    raise ValueError(f"model: expected a .keras file, a function returning a keras.Model "
                     f"or a keras.Model, got {type(model).__name__}.")


def _from_path(path):
    return keras.saving.load_model(path, compile=False)


def _from_bytes(data):
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "model.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, compile=False)


def _from_builder(build):
    model = build()
    if not isinstance(model, keras.Model):
        raise ValueError(f"model: the builder function returned {type(model).__name__}, "
                         f"expected a keras.Model.")
    return model


# -- the actor ----------------------------------------------------------------------
class _Explainer:
    """One actor: loads the model once, explains every batch handed to it."""

    def __init__(self, load, method, settings):
        self.model = load()
        self.method = method
        self.settings = settings
        self.blank = None  # (outputs, maps, targets) shapes of one row, once known

    def __call__(self, batch):
        s = self.settings
        values = batch[s["column"]]
        n = len(values)
        ids = self._ids(batch, values, n)
        rows, errors = [None] * n, [""] * n
        for i in range(n):
            try:
                rows[i] = self._row(values[i])
            except (ValueError, OSError) as error:
                self._fail(errors, ids, i, error)
        good = [i for i in range(n) if not errors[i]]
        results = self._explain(rows, good, batch, ids, errors)
        return self._columns(results, ids, errors, n)

    def _ids(self, batch, values, n):
        s = self.settings
        if s["id_column"] is not None:
            return [_text(v) for v in batch[s["id_column"]]]
        if _is_path(values):
            return [_text(v) for v in values]
        return [""] * n

    def _fail(self, errors, ids, i, error):
        name = f"row {ids[i]!r}" if ids[i] else "a row"
        message = f"{name}: {error}"
        if self.settings["strict"]:
            raise ValueError(message) from error
        errors[i] = message

    def _row(self, value):
        if isinstance(value, (str, bytes, np.str_, np.bytes_)):
            value = _read(_text(value), self.model, self.settings["preprocess"])
        return validation.check_inputs(np.asarray(value)[None], self.model, name="image")[0]

    def _targets(self, batch, index):
        s = self.settings
        if s["targets_column"] is None:
            return s["targets"]
        return np.asarray([batch[s["targets_column"]][i] for i in index])

    def _explain(self, rows, good, batch, ids, errors):
        """``{row: (outputs, maps, targets)}`` for the rows in ``good``; a batch that
        fails as a whole is retried row by row, so one bad row fails alone."""
        if not good:
            return {}
        try:
            return self._run(rows, good, batch)
        except (ValueError, FloatingPointError) as error:
            if self.settings["strict"]:
                raise
            if len(good) == 1:
                self._fail(errors, ids, good[0], error)
                return {}
        results = {}
        for i in good:
            try:
                results.update(self._run(rows, [i], batch))
            except (ValueError, FloatingPointError) as error:
                self._fail(errors, ids, i, error)
        return results

    def _run(self, rows, index, batch):
        outputs, maps, units = self._call(np.stack([rows[i] for i in index]),
                                          self._targets(batch, index))
        return {i: (outputs[j], maps[j], units[j]) for j, i in enumerate(index)}

    def _call(self, x, targets):
        from kerascope.api import explain

        s = self.settings
        outputs, maps = explain(self.method, self.model, x, targets, batch_size=s["batch_size"],
                                postprocessing=s["postprocessing"],
                                output_index=s["output_index"], use_logits=s["use_logits"])
        units = _units(outputs, targets, len(x))
        self.blank = (outputs.shape[1:], maps.shape[1:], units.shape[1:])
        return outputs, maps, units

    def _columns(self, results, ids, errors, n):
        if self.blank is None:
            self._probe()
        shapes = self.blank
        outputs = np.full((n,) + shapes[0], np.nan, np.float32)
        maps = np.full((n,) + shapes[1], np.nan, np.float32)
        units = np.full((n,) + shapes[2], -1, np.int32)
        for i, (out, mp, unit) in results.items():
            outputs[i], maps[i], units[i] = out, mp, unit
        return {"id": np.asarray(ids, dtype=object), "maps": maps, "outputs": outputs,
                "targets": units, "error": np.asarray(errors, dtype=object)}

    def _probe(self):
        """Shapes of one row's results when no row of a first batch was explained: from
        one zero input of the model's input shape."""
        shape = validation.model_input_shape(self.model)
        if shape is None or any(d is None for d in shape[1:]):
            raise ValueError("no row of the first batch could be explained and the model "
                             "has no fixed input shape to size the result columns by.")
        s = self.settings
        targets = 0 if s["targets_column"] is not None else s["targets"]
        self._call(np.zeros((1,) + tuple(shape[1:]), np.float32), targets)


def _is_path(values):
    return len(values) > 0 and isinstance(values[0], (str, bytes, np.str_, np.bytes_))


def _text(value):
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode()
    return str(value)


def _units(outputs, targets, n):
    """The units ``kerascope.explain`` explained for ``targets`` (int32; -1 for a score
    callable): rank targets are read off the outputs, as the pass ranked them."""
    if targets is None or isinstance(targets, str) or isinstance(targets, TopK):
        k = targets.k if isinstance(targets, TopK) else 1
        scores = outputs.reshape(n, -1, outputs.shape[-1]).sum(axis=1) if outputs.ndim > 2 \
            else outputs.reshape(n, -1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int32)
        return order if isinstance(targets, TopK) else order[:, 0]
    if callable(targets):
        return np.full(n, -1, np.int32)
    values = np.asarray(targets, dtype=np.int32)
    return np.broadcast_to(values, (n,) + values.shape[1:]).copy() if values.ndim else \
        np.full(n, int(values), np.int32)


def _read(path, model, preprocess):
    """One image file as the model's input (H, W, C) float32."""
    return _load_image(path, model, preprocess)


def _load_image(path, model, preprocess):
    # Until kerascope.inputs.files.load_images is on main: PIL, the model's size and channels,
    # "0-1" scaling.
    from PIL import Image, UnidentifiedImageError

    if preprocess not in (None, "0-1"):
        raise ValueError(f"preprocess: {preprocess!r} is not available yet; expected '0-1'.")
    shape = validation.model_input_shape(model)
    try:
        with Image.open(path) as image:
            image.load()
            channels = shape[-1] if shape is not None and shape[-1] is not None else 3
            image = image.convert({1: "L", 3: "RGB", 4: "RGBA"}.get(channels, "RGB"))
            if shape is not None and None not in shape[1:3]:
                image = image.resize((shape[2], shape[1]), Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"unreadable image file ({error}).") from None
    return pixels[..., None] if pixels.ndim == 2 else pixels
