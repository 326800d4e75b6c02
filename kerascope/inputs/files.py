"""Image files in, model inputs out: ``kerascope.inputs.files.load_images``.

``load_images(paths, model, preprocess=None)`` reads PNG, JPEG, BMP, WebP and TIFF
files (and every image file of a folder), converts grayscale/RGB/RGBA to the model's
channel count, resizes to the model's input size (or keeps each size when the model
takes any), and applies a preprocessing preset:

========================  ==========================================================
``"0-1"``                 pixel / 255 (default unless the model starts with Rescaling)
``"-1-1"``                pixel / 127.5 - 1
``"0-255"``               pixel values as float (default when the model's first layer
                          is a ``Rescaling``: the model scales them itself)
``"vgg16"``, ``"resnet50"``, ``"mobilenet_v2"``, ``"efficientnet"``, ``"xception"``, ...
                          the ``preprocess_input`` of that ``keras.applications`` module
========================  ==========================================================

Folders contribute the files with image extensions (sorted by name); the other files
are listed in one warning. A file named explicitly that is not an image is an error.
Every error is a ``ValueError`` naming the argument and what was expected.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pathlib
import warnings

import numpy as np

from kerascope.inputs.spec import InputSpec, channels_first

__all__ = [
    "IMAGE_EXTENSIONS",
    "PRESETS",
    "APPLICATIONS",
    "load_images",
    "read_images",
    "find_images",
    "read_image",
    "convert_channels",
    "preprocess",
    "infer_preprocess",
    "preprocessing_names",
    "input_spec",
    "value_range",
    "Images",
]

#: File extensions read as images (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: Linear presets and what they do to a pixel value p in [0, 255].
PRESETS = {"0-1": "p / 255", "-1-1": "p / 127.5 - 1", "0-255": "p"}
#: ``preprocess=`` names served by ``keras.applications.<module>.preprocess_input``.
APPLICATIONS = {
    "vgg16": "vgg16", "vgg19": "vgg19",
    "resnet50": "resnet50", "resnet": "resnet", "resnet101": "resnet", "resnet152": "resnet",
    "resnet_v2": "resnet_v2", "resnet50_v2": "resnet_v2",
    "inception_v3": "inception_v3", "inception_resnet_v2": "inception_resnet_v2",
    "xception": "xception", "mobilenet": "mobilenet", "mobilenet_v2": "mobilenet_v2",
    "mobilenet_v3": "mobilenet_v3", "densenet": "densenet", "nasnet": "nasnet",
    "efficientnet": "efficientnet", "efficientnet_v2": "efficientnet_v2",
    "convnext": "convnext",
}


def preprocessing_names():
    """Every accepted ``preprocess=`` value."""
    return list(PRESETS) + list(APPLICATIONS)


# -- finding files ----------------------------------------------------------------
def _is_image_name(path):
    return path.suffix.lower() in IMAGE_EXTENSIONS


def find_images(paths, argument="images"):
    """Image files named by ``paths`` (files and folders, in the order given).

    A folder contributes its image files sorted by name (not recursively) and its other
    files are listed in a ``UserWarning``; a missing path, an explicitly named file
    without an image extension or a folder without images is a ``ValueError``.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [pathlib.Path(os.fspath(p)) for p in paths]
    if not paths:
        raise ValueError(f"{argument}: expected at least one image file or folder.")
    files, skipped = [], []
    for path in paths:
        if path.is_dir():
            entries = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            found = [p for p in entries if _is_image_name(p)]
            skipped += [p for p in entries if not _is_image_name(p)]
            if not found:
                raise ValueError(
                    f"{argument}: folder {str(path)!r} holds no image files (expected "
                    f"{', '.join(IMAGE_EXTENSIONS)})."
                )
            files += found
        elif path.is_file():
            if not _is_image_name(path):
                raise ValueError(
                    f"{argument}: {str(path)!r} is not an image file (expected one of "
                    f"{', '.join(IMAGE_EXTENSIONS)})."
                )
            files.append(path)
        else:
            raise ValueError(f"{argument}: no such file or folder: {str(path)!r}.")
    if skipped:
        names = ", ".join(p.name for p in skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        warnings.warn(f"{argument}: skipped {len(skipped)} file(s) that are not images: {names}",
                      UserWarning, stacklevel=2)
    return files


def read_image(path, argument="images"):
    """The pixels of one image file as uint8 ``(H, W, C)``, C = 1 (L), 2 (LA), 3 or 4.

    16-bit images are scaled to 8 bits; palette and CMYK images become RGB(A).
    """
    from PIL import Image, UnidentifiedImageError

    path = pathlib.Path(os.fspath(path))
    try:
        with Image.open(path) as pil:
            pil.load()
            mode = pil.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                arr = np.asarray(pil, dtype=np.float64)
                top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
                return np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)[..., None]
            if mode == "F":
                arr = np.asarray(pil, dtype=np.float64)
                top = 1.0 if arr.max() <= 1.0 else 255.0
                return np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)[..., None]
            if mode not in ("L", "LA", "RGB", "RGBA"):
                has_alpha = "A" in mode or "transparency" in pil.info
                pil = pil.convert("RGBA" if has_alpha else ("L" if mode == "1" else "RGB"))
            arr = np.asarray(pil, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(
            f"{argument}: {str(path)!r} cannot be read as an image ({error})."
        ) from None
    return arr[..., None] if arr.ndim == 2 else arr


_MODE_NAMES = {1: "grayscale", 2: "grayscale+alpha", 3: "RGB", 4: "RGBA"}


def convert_channels(pixels, channels, name="image", argument="images"):
    """uint8 ``(H, W, C)`` pixels with C in 1..4 converted to ``channels`` (1, 3 or 4).

    Grayscale is repeated to RGB, RGB becomes grayscale by ITU-R 601 luminance (as
    Pillow's ``L``), alpha is dropped (or added opaque for 4 channels). Other channel
    counts are a ``ValueError``.
    """
    have = pixels.shape[-1]
    if have == channels:
        return pixels
    if channels not in (1, 3, 4) or have not in (1, 2, 3, 4):
        raise ValueError(
            f"{argument}: cannot convert {name} ({_MODE_NAMES.get(have, f'{have} channels')}) "
            f"to the model's {channels} channels (supported: 1 grayscale, 3 RGB, 4 RGBA)."
        )
    colour = pixels[..., :1] if have in (1, 2) else pixels[..., :3]
    if channels == 1:
        if colour.shape[-1] == 1:
            return np.ascontiguousarray(colour)
        luminance = colour.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return np.clip(np.rint(luminance), 0, 255).astype(np.uint8)[..., None]
    rgb = np.repeat(colour, 3, axis=-1) if colour.shape[-1] == 1 else colour
    if channels == 3:
        return np.ascontiguousarray(rgb)
    alpha = pixels[..., -1:] if have in (2, 4) else np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([rgb, alpha], axis=-1)


def _resize(pixels, size):
    from PIL import Image

    height, width = size
    if pixels.shape[:2] == (height, width):
        return pixels
    channels = pixels.shape[-1]
    planes = []
    for c in range(channels):  # per channel: Pillow has no 2-channel uint8 mode
        pil = Image.fromarray(np.ascontiguousarray(pixels[..., c]), mode="L")
        planes.append(np.asarray(pil.resize((width, height), Image.BILINEAR), dtype=np.uint8))
    return np.stack(planes, axis=-1)


# -- preprocessing ----------------------------------------------------------------
def preprocess(pixels, preset="0-1"):
    """Float32 model input from pixel values in [0, 255] (uint8 or float), RGB order.

    ``preset``: ``"0-1"``, ``"-1-1"``, ``"0-255"``, a ``keras.applications`` family
    (see :data:`APPLICATIONS`) or a callable ``pixels -> inputs``.
    """
    x = np.asarray(pixels, dtype=np.float32)
    if callable(preset):
        return np.asarray(preset(x.copy()), dtype=np.float32)
    if preset == "0-1":
        return x / np.float32(255.0)
    if preset == "-1-1":
        return x / np.float32(127.5) - np.float32(1.0)
    if preset == "0-255":
        return x.copy()
    if preset in APPLICATIONS:
        if x.shape[-1] != 3:
            raise ValueError(
                f"preprocess: {preset!r} expects RGB images (3 channels), got {x.shape[-1]}."
            )
        module = importlib.import_module(f"keras.applications.{APPLICATIONS[preset]}")
        return np.asarray(module.preprocess_input(x.copy()), dtype=np.float32)
    raise ValueError(
        f"preprocess: unknown preset {preset!r}; expected one of "
        f"{', '.join(preprocessing_names())} or a function."
    )


def value_range(preset, channels=3):
    """``(black, white)``: the preprocessed values of pixel 0 and 255, per channel."""
    pixels = np.zeros((2, 1, 1, channels), dtype=np.float32)
    pixels[1] = 255.0
    out = preprocess(pixels, preset)
    return out[0, 0, 0], out[1, 0, 0]


def infer_preprocess(model):
    """``"0-255"`` when the model's first layer is a ``Rescaling`` (it scales pixel
    values itself), else ``"0-1"``."""
    layer = _first_layer(model)
    if layer is not None and type(layer).__name__ == "Rescaling":
        return "0-255"
    return "0-1"


def _first_layer(model):
    layers = [layer for layer in getattr(model, "layers", []) if type(layer).__name__ != "InputLayer"]
    if not layers:
        return None
    first = layers[0]
    if hasattr(first, "layers") and type(first).__name__ in ("Sequential", "Functional", "Model"):
        return _first_layer(first) or first
    return first


def input_spec(model, argument="model"):
    """The :class:`InputSpec` of a single-input image model; ValueError otherwise."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(f"{argument}: the model has no defined input; build it with an Input.")
    if len(inputs) != 1:
        raise ValueError(
            f"{argument}: the model has {len(inputs)} inputs; image files feed single-input "
            "image models."
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4:
        raise ValueError(
            f"{argument}: the model's input shape {shape} is not a batch of images; expected "
            "(None, height, width, channels)."
        )
    spec = InputSpec(name=str(getattr(inputs[0], "name", "x")), shape=shape,
                     dtype=str(getattr(inputs[0], "dtype", "float32")),
                     channels_first=channels_first(model, shape))
    if spec.channels is None:
        raise ValueError(
            f"{argument}: the model's input shape {shape} leaves the channel count undefined."
        )
    return spec


# -- loading ------------------------------------------------------------------------
@dataclasses.dataclass
class Images:
    """Images read for a model.

    Attributes:
        files: the image files, in order.
        x: the model inputs: one float32 array ``(N, ...)`` when all have one shape,
            else a list of ``(1, ...)`` arrays (models that take any size).
        pixels: uint8 ``(H, W, C)`` per image, after channel conversion and resizing,
            before preprocessing (what the pictures show).
        preprocess: the preset applied.
        source: ``(height, width, mode)`` of each file as read.
    """

    files: list
    x: object
    pixels: list
    preprocess: object
    source: list

    def inputs(self):
        """The model input of each image, ``(1, ...)`` float32, one per file."""
        if isinstance(self.x, np.ndarray):
            return [self.x[i:i + 1] for i in range(len(self.x))]
        return list(self.x)


def read_images(paths, model=None, preprocess=None, *, size=None, channels=None,
                argument="images"):
    """Read image files for ``model``; see :func:`load_images`. Returns :class:`Images`."""
    spec = input_spec(model) if model is not None else None
    if channels is None:
        channels = spec.channels if spec is not None else 3
    if size is None and spec is not None:
        size = spec.size
    if preprocess is None:
        preprocess = infer_preprocess(model) if model is not None else "0-1"
    if not callable(preprocess) and preprocess not in PRESETS and preprocess not in APPLICATIONS:
        raise ValueError(
            f"preprocess: unknown preset {preprocess!r}; expected one of "
            f"{', '.join(preprocessing_names())}."
        )
    files = find_images(paths, argument)
    pixels, source = [], []
    for path in files:
        raw = read_image(path, argument)
        source.append((raw.shape[0], raw.shape[1], _MODE_NAMES.get(raw.shape[-1], "?")))
        converted = convert_channels(raw, channels, repr(str(path)), argument)
        pixels.append(_resize(converted, size) if size is not None else converted)
    inputs = [_preprocessed(p, preprocess, spec) for p in pixels]
    shapes = {a.shape for a in inputs}
    x = np.stack(inputs) if len(shapes) == 1 else [a[None] for a in inputs]
    return Images(files, x, pixels, preprocess, source)


def _preprocessed(pixels, preset, spec):
    x = preprocess(pixels, preset)
    if spec is not None and spec.channels_first:
        x = np.moveaxis(x, -1, 0)
    return np.ascontiguousarray(x, dtype=np.float32)


def load_images(paths, model=None, preprocess=None, *, size=None, channels=None):
    """Read image files (or folders of them) as model inputs.

    Args:
        paths: a file or folder, or a list of them. Folders contribute their files with
            an image extension (PNG, JPEG, BMP, WebP, TIFF), sorted by name; the other
            files are listed in a warning. A named file that is not an image is an error.
        model: the Keras model the images are for: its channel count (grayscale, RGB,
            RGBA conversions), input size (images are resized, bilinear; kept as they
            are when the model takes any size) and default preprocessing.
        preprocess: ``"0-1"``, ``"-1-1"``, ``"0-255"``, a ``keras.applications`` family
            (``"vgg16"``, ``"resnet50"``, ``"mobilenet_v2"``, ``"efficientnet"``,
            ``"xception"``, ...) or a function of the pixel values. Default: ``"0-255"``
            when the model starts with a ``Rescaling`` layer, else ``"0-1"``.
        size: ``(height, width)`` to resize to, overriding the model's.
        channels: channel count, overriding the model's (default 3 without a model).

    Returns:
        float32 ``(N, H, W, C)`` (channels first for channels-first models); a list of
        ``(1, H, W, C)`` arrays when the images keep different sizes.
    """
    return read_images(paths, model, preprocess, size=size, channels=channels).x
