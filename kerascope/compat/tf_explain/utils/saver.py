"""Write image grids to disk with Pillow, atomically.

Pure NumPy + Pillow; no deep-learning backend is imported here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image

from kerascope.compat.tf_explain.utils.image import as_numpy, to_uint8

__all__ = ["save_grayscale", "save_rgb"]

PathLike = Union[str, "os.PathLike[str]"]

_EXPECTED_SHAPES = "(H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"


def _validated_uint8(image) -> np.ndarray:
    """Check the shape of ``image``; convert it to ``uint8`` (clipped), ``(H, W)`` or ``(H, W, 3|4)``."""
    arr = as_numpy(image)
    valid = (
        arr.ndim == 2
        or (arr.ndim == 3 and arr.shape[-1] in (1, 3, 4))
    ) and arr.shape[0] > 0 and arr.shape[1] > 0
    if not valid:
        raise ValueError(
            f"image: expected a grid of shape {_EXPECTED_SHAPES} with H, W > 0; got shape "
            f"{arr.shape}."
        )
    arr = to_uint8(arr)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return np.ascontiguousarray(arr)


def _target_path(output_dir: PathLike, output_name: PathLike) -> Path:
    """``output_dir / output_name``; ``.png`` is appended unless the suffix is one Pillow writes."""
    target = Path(output_dir) / Path(output_name)
    fmt = Image.registered_extensions().get(target.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        target = target.with_name(target.name + ".png")
    return target


def _image_format(target: Path) -> str:
    """Pillow format name for the suffix of ``target``."""
    return Image.registered_extensions()[target.suffix.lower()]


def _atomic_write(image: Image.Image, target: Path) -> Path:
    """Write ``image`` to a temporary file next to ``target``, then ``os.replace`` it into place."""
    fmt = _image_format(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format=fmt)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target


def save_grayscale(image, output_dir: PathLike, output_name: PathLike) -> Path:
    """Save ``image`` as an 8-bit grayscale image at ``output_dir / output_name``; return the path.

    ``image`` (a grid) is ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``; non-``uint8``
    input is converted with :func:`~kerascope.compat.tf_explain.utils.image.to_uint8` (clipped), colour input is
    reduced to luminance by Pillow. ``output_dir`` (and parents) is created. The format follows the suffix;
    ``.png`` is appended when the suffix is missing or not a format Pillow can write. The file is
    written to a temporary name in the same folder and then renamed, so a partially written image
    never appears under the final name.
    """
    picture = Image.fromarray(_validated_uint8(image))
    if picture.mode != "L":
        picture = picture.convert("L")
    return _atomic_write(picture, _target_path(output_dir, output_name))


def save_rgb(image, output_dir: PathLike, output_name: PathLike) -> Path:
    """Save ``image`` as an RGB (or RGBA) image at ``output_dir / output_name``; return the path.

    ``image`` (a grid) is ``(H, W, 3)`` or ``(H, W, 4)`` (kept as RGBA); ``(H, W)`` and
    ``(H, W, 1)`` are replicated to three channels. Conversion, folder creation and the atomic
    write are as in :func:`save_grayscale`.
    """
    arr = _validated_uint8(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return _atomic_write(Image.fromarray(arr), _target_path(output_dir, output_name))
