"""An offline stand-in for ``keras.datasets.mnist`` built from the bundled digits.

``load_data()`` has MNIST's API and dtypes: ``((x_train, y_train), (x_test, y_test))``
with uint8 images of shape ``(N, 28, 28)`` in 0..255 and uint8 labels 0..9. The
images are scikit-learn's 8x8 digits upsampled to 28x28
(:func:`kerascope.demo.load_digits_28`), split 80/20 as there; nothing is
downloaded. Old tutorials run unchanged with
``from kerascope.demo import mnist`` in place of ``from keras.datasets import mnist``.

``TRAIN_SIZE`` / ``TEST_SIZE`` (module attributes, None = all 1437 / 360) cap the
number of images returned, e.g. to keep a replayed tutorial fast.
"""

from __future__ import annotations

import numpy as np

__all__ = ["load_data", "TRAIN_SIZE", "TEST_SIZE"]

#: At most this many training images (the first ones of the split); None: all.
TRAIN_SIZE: int | None = None
#: At most this many test images; None: all.
TEST_SIZE: int | None = None


def _as_mnist(images, labels, size):
    if size is not None:
        images, labels = images[:size], labels[:size]
    x = np.clip(np.rint(images[..., 0] * 255.0), 0, 255).astype(np.uint8)
    return x, labels.astype(np.uint8)


def load_data(path="mnist.npz"):
    """``((x_train, y_train), (x_test, y_test))`` like ``keras.datasets.mnist.load_data``.

    ``path`` is accepted for API compatibility and ignored. Needs scikit-learn.
    """
    from kerascope.demo import load_digits_28

    train = _as_mnist(*load_digits_28("train"), TRAIN_SIZE)
    test = _as_mnist(*load_digits_28("test"), TEST_SIZE)
    return train, test
