"""Array-level image helpers: uint8 conversion, map normalisation, patches, resizing.

Pure NumPy + Pillow; no deep-learning backend is imported here.
"""

from __future__ import annotations

import numpy as np

from kerascope.engine.numeric import interpolation_matrix  # noqa: F401  (re-exported)
from kerascope.inputs.arrays import to_numpy as as_numpy
from kerascope.rendering.grids import (  # noqa: F401  (tf-explain's names, moved)
    image_to_uint_255,
    normalize_map,
    resize_map,
    to_uint8,
)

__all__ = [
    "as_numpy",
    "tensor_result",
    "TensorResult",
    "to_uint8",
    "image_to_uint_255",
    "transform_to_normalized_grayscale",
    "normalize_map",
    "apply_grey_patch",
    "resize_map",
]


class TensorResult(np.ndarray):
    """A numpy array that also answers ``.numpy()``, as the TensorFlow tensors
    tf-explain's helpers returned did (``transform_to_normalized_grayscale(g).numpy()``)."""

    def numpy(self):
        return np.asarray(self)


def tensor_result(array):
    """What tf-explain's tensor-returning helpers return here.

    On the TensorFlow backend a ``tf.Tensor`` (tf-explain's callers chain ``tf.*`` ops
    and ``.numpy()``); on JAX and PyTorch a :class:`TensorResult`, a numpy array with a
    ``.numpy()`` method.
    """
    import keras

    array = np.asarray(array)
    if keras.backend.backend() == "tensorflow":
        return keras.ops.convert_to_tensor(array)
    return array.view(TensorResult)


def transform_to_normalized_grayscale(tensor):
    """Turn a batch of attribution maps into ``uint8`` grayscale maps.

    Input ``(N, H, W)`` or ``(N, H, W, C)`` (channels are summed), numpy or a backend
    tensor; the result is a :func:`tensor_result` (a ``tf.Tensor`` on TensorFlow, a
    numpy array with ``.numpy()`` elsewhere), as tf-explain returned a tensor. Each map is
    standardised on its own, ``(x - mean) / std``, multiplied by 255, then rounded and
    clipped to [0, 255]: below-mean values become 0 and values more than one standard
    deviation above the mean saturate at 255. ``(N, H, W)`` ``uint8``. Unlike tf-explain (which calls
    TensorFlow's ``per_image_standardization`` on the ``(N, H, W)`` stack, so the whole
    batch shares one mean and one std floored at ``1 / sqrt(N * H * W)``, and whose cast
    wraps around), each map has its own statistics, small gradients are not rendered
    black and nothing wraps.
    """
    maps = as_numpy(tensor)
    if maps.ndim == 4:
        maps = maps.sum(axis=-1, dtype=np.float64)
    elif maps.ndim != 3:
        raise ValueError(
            "tensor must have shape (N, H, W) or (N, H, W, C), "
            f"got an array of shape {maps.shape}"
        )
    maps = np.nan_to_num(maps.astype(np.float64), nan=0.0)
    num_elements = maps.shape[1] * maps.shape[2]
    if num_elements == 0:
        return tensor_result(np.zeros(maps.shape, dtype=np.uint8))
    mean = maps.mean(axis=(1, 2), keepdims=True)
    std = maps.std(axis=(1, 2), keepdims=True)
    std = np.where(std > 0, std, 1.0)
    standardized = (maps - mean) / std
    return tensor_result(to_uint8(standardized * 255.0, value_range=(0.0, 255.0)))


def apply_grey_patch(image, top_left_x: int, top_left_y: int, patch_size: int,
                     value: float = 127.5) -> np.ndarray:
    """Return a copy of ``image`` with a square patch set to ``value``.

    ``top_left_x`` is the column and ``top_left_y`` the row of the patch's top-left corner:
    the copy gets ``image[y:y + patch_size, x:x + patch_size] = value`` (the patch is cut at
    the image border). The input is never modified. For integer images ``value`` is cast to
    the image dtype (127.5 becomes 127).
    """
    image = np.array(image, copy=True)
    if image.ndim < 2:
        raise ValueError(f"image must have at least 2 dimensions (H, W), got shape {image.shape}")
    if int(top_left_x) < 0 or int(top_left_y) < 0:
        raise ValueError(
            f"top_left_x and top_left_y must be >= 0, got ({top_left_x}, {top_left_y})"
        )
    if int(patch_size) < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    x, y, p = int(top_left_x), int(top_left_y), int(patch_size)
    image[y:y + p, x:x + p] = value
    return image
