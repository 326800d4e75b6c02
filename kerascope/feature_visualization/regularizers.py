"""Image regularizers, as objectives to subtract (``objective - 0.1 * l2()``).

They act on the parametrized image ``x`` (channels last, in the valid input range,
before the robustness transformations), one value per image:

* ``l1(c)``: ``sum |x - c|``;
* ``l2(c)``: ``sum (x - c)**2`` (Simonyan et al. 2013's L2 penalty; the seed post's
  ``reduce_sum(square(x))``);
* ``total_variation()``: ``(sum |x[i+1, j] - x[i, j]| + sum |x[i, j+1] - x[i, j]|) / (H W)``
  (Mahendran & Vedaldi 2015, arXiv:1412.0035, with beta = 1; ``tf.image.total_variation``
  divided by the number of pixels, as in the seed post);
* ``blur()``: ``0.5 * sum (x - stop_gradient(blur3x3(x)))**2``, which pulls the image
  towards its 3x3 box-blurred self each step (Lucid's ``blur_input_each_step``).
"""

import keras
import numpy as np

from kerascope.feature_visualization.objectives import image_objective


def _sum_but_batch(t):
    return keras.ops.sum(t, axis=tuple(range(1, len(t.shape))))


def l1(constant=0.0):
    """``sum |x - constant|`` per image."""
    return image_objective(
        lambda x, c: _sum_but_batch(keras.ops.abs(x - c)), "l1",
        [np.float32(constant)], "l1",
    )


def l2(constant=0.0):
    """``sum (x - constant)**2`` per image."""
    return image_objective(
        lambda x, c: _sum_but_batch(keras.ops.square(x - c)), "l2",
        [np.float32(constant)], "l2",
    )


def _total_variation(x):
    dh = keras.ops.abs(x[:, 1:, :, :] - x[:, :-1, :, :])
    dw = keras.ops.abs(x[:, :, 1:, :] - x[:, :, :-1, :])
    pixels = float(x.shape[1] * x.shape[2])
    return (_sum_but_batch(dh) + _sum_but_batch(dw)) / pixels


def total_variation():
    """Anisotropic total variation per image, divided by ``H * W``."""
    return image_objective(_total_variation, "total_variation", (), "tv")


def box_blur(x):
    """3x3 box blur of ``(B, H, W, C)`` images with edge-replicated borders."""
    padded = keras.ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric")
    h, w = x.shape[1], x.shape[2]
    total = None
    for dy in range(3):
        for dx in range(3):
            piece = padded[:, dy:dy + h, dx:dx + w, :]
            total = piece if total is None else total + piece
    return total / 9.0


def _blur(x):
    target = keras.ops.stop_gradient(box_blur(x))
    return 0.5 * _sum_but_batch(keras.ops.square(x - target))


def blur():
    """``0.5 * sum (x - stop_gradient(blur(x)))**2``: its ascent step blurs the image."""
    return image_objective(_blur, "blur", (), "blur")
