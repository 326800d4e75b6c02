"""The IMAGES argument: image files (read by :mod:`kerascope.inputs.files`) and
``.npy``/``.npz`` arrays, read for a model as :class:`InputFiles`."""

from __future__ import annotations

import pathlib
import warnings

from kerascope.cli.common import UserError, quiet_frameworks
from kerascope.cli.model_files import check_model_file, load_model

ARRAY_SUFFIXES = (".npy", ".npz")


class InputFiles:
    """What a command explains: names, display pixels, model inputs (a list of
    ``(1, ...)`` float32 arrays), the preprocessing, optional masks, notes for the
    report and the model's ``InputSpec`` (None until known)."""

    def __init__(self, names, pixels, x, preprocess, masks=None, notes=(), spec=None):
        self.names = list(names)
        self.pixels = list(pixels)
        self.x = x
        self.preprocess = preprocess
        self.masks = masks
        self.notes = list(notes)
        self.spec = spec

    def keep(self, count):
        """Keep only the first ``count`` inputs."""
        self.names, self.pixels, self.x = self.names[:count], self.pixels[:count], self.x[:count]
        if self.masks is not None:
            self.masks = self.masks[:count]


def is_array_file(path):
    return path.suffix.lower() in ARRAY_SUFFIXES and path.is_file()


def check_paths(paths):
    """Check the IMAGES paths before Keras is imported."""
    from kerascope.inputs import files as kio

    for path in paths:
        if is_array_file(path):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kio.find_images([path], argument="IMAGES")
        except ValueError as problem:
            raise UserError(str(problem)) from None


def open_inputs(model_path, paths, preprocess, unsafe, console):
    """``(keras model, InputFiles)`` from the MODEL and IMAGES arguments: each file
    checked before Keras loads, the model's input spec read once."""
    from kerascope.inputs import files as kio

    checked = check_model_file(model_path, unsafe)
    check_paths(paths)
    quiet_frameworks()
    model = load_model(checked, unsafe, console)
    try:
        spec = kio.input_spec(model, argument="MODEL")
    except ValueError as problem:
        raise UserError(f"{problem} Image files cannot be fed to it.") from None
    return model, read_inputs(paths, model, preprocess, spec, console)


def read_inputs(paths, model, preprocess, spec, console):
    """Image files, folders and .npy/.npz arrays as :class:`InputFiles`."""
    import numpy as np

    from kerascope.inputs import files as kio

    names, pixels, xs, notes = [], [], [], []
    preset = preprocess or kio.infer_preprocess(model)
    for raw in paths:
        path = pathlib.Path(raw)
        if is_array_file(path):
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
            except ValueError as problem:
                raise UserError(str(problem)) from None
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
    if description in kio.PRESETS:
        description = f"{description}: {kio.PRESETS[description]}"
    elif description in kio.APPLICATIONS:
        description = f"{description} (keras.applications preprocess_input)"
    if preprocess is None:
        description += " (inferred from the model)"
    return InputFiles(names, pixels, [np.asarray(x, dtype=np.float32) for x in xs],
                      description, notes=notes, spec=spec)


def _read_array(path, preset, spec):
    """``[(name, display pixels, (1, ...) model input, note), ...]`` of an array file."""
    import numpy as np

    from kerascope.inputs import files as kio

    try:
        if path.suffix.lower() == ".npz":
            with np.load(path) as archive:
                key = next((k for k in ("images", "x") if k in archive), archive.files[0])
                array = archive[key]
        else:
            array = np.load(path)
    except Exception as problem:  # noqa: BLE001
        raise UserError(f"IMAGES: cannot read {str(path)!r} as a numpy array ({problem}).") \
            from None
    expected = (spec.channels, spec.height, spec.width) if spec.channels_first \
        else (spec.height, spec.width, spec.channels)
    if array.ndim == len(expected):
        array = array[None]
    if array.ndim == 3 and spec.channels == 1 and not spec.channels_first:
        array = array[..., None]
    if array.ndim != 4 or any(e is not None and e != a for e, a in zip(expected, array.shape[1:])):
        raise UserError(f"IMAGES: {str(path)!r} holds an array of shape {array.shape}; the model "
                        f"takes images of shape {expected} (a batch (N, ...) or one image).")
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
    return [(f"{path.name}[{i}]", np.moveaxis(array[i], 0, -1) if spec.channels_first
             else array[i], x[i:i + 1], note) for i in range(len(array))]


def value_range(inputs):
    """Black and white, per channel, after the inputs' preprocessing."""
    import numpy as np

    from kerascope.inputs import files as kio

    channels = inputs.spec.channels
    preset = inputs.preprocess.split(":")[0].split(" ")[0]
    if preset in kio.PRESETS or preset in kio.APPLICATIONS:
        if preset in kio.APPLICATIONS and channels != 3:
            return np.zeros(channels), np.ones(channels)
        return kio.value_range(preset, channels)
    values = np.concatenate([x.ravel() for x in inputs.x])
    return np.full(channels, values.min()), np.full(channels, values.max())
