"""Bundled demos: small CNNs and a few held-out sample images.

The digits model was trained by :mod:`kerascope.demo.train_digits` on
scikit-learn's 8x8 digits, upsampled to 28x28x1 in [0, 1]. The colour model was
trained by :mod:`kerascope.demo.train_colour` on 64x64 RGB images of coloured
digits over natural-image crops (:mod:`kerascope.demo.colour`); its samples come
with the ground-truth mask of the digit. Nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import pathlib

import numpy as np

__all__ = [
    "MODEL_PATH",
    "SAMPLES_PATH",
    "CLASS_NAMES",
    "IMAGE_SHAPE",
    "load_model",
    "load_samples",
    "load_digits_28",
    "COLOUR_MODEL_PATH",
    "COLOUR_SAMPLES_PATH",
    "COLOUR_IMAGE_SHAPE",
    "load_colour_model",
    "load_colour_samples",
]

_HERE = pathlib.Path(__file__).resolve().parent

#: Path of the bundled Keras model file.
MODEL_PATH: pathlib.Path = _HERE / "digits_cnn.keras"
#: Path of the bundled samples: ``images``, ``labels`` and the model's
#: reference softmax outputs ``probs`` (recorded at training time).
SAMPLES_PATH: pathlib.Path = _HERE / "digits_samples.npz"

#: Class names of the demo model, index = label.
CLASS_NAMES: tuple[str, ...] = tuple(str(i) for i in range(10))
#: Input shape of the demo model (without the batch axis).
IMAGE_SHAPE: tuple[int, int, int] = (28, 28, 1)

#: Path of the bundled colour demo model (64x64 RGB coloured digits).
COLOUR_MODEL_PATH: pathlib.Path = _HERE / "colour_cnn.keras"
#: Path of the colour demo samples: uint8 ``images``, ``labels``, bool ``masks``
#: and the model's reference softmax outputs ``probs`` (recorded at training time).
COLOUR_SAMPLES_PATH: pathlib.Path = _HERE / "colour_samples.npz"
#: Input shape of the colour demo model (without the batch axis).
COLOUR_IMAGE_SHAPE: tuple[int, int, int] = (64, 64, 3)

_TEST_FRACTION = 0.2
_SPLIT_SEED = 0


def load_model():
    """Return the bundled digits CNN as an (uncompiled) Keras model.

    Input ``(None, 28, 28, 1)`` float32 in [0, 1]; output ``(None, 10)``
    softmax probabilities. Works on every Keras backend.
    """
    import keras

    return keras.saving.load_model(str(MODEL_PATH), compile=False)


def load_samples() -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, labels)``: 10 held-out test digits, one per class.

    ``images`` is float32 of shape ``(10, 28, 28, 1)`` in [0, 1];
    ``labels`` is int64 ``[0, 1, ..., 9]``.
    """
    with np.load(SAMPLES_PATH) as data:
        images = np.asarray(data["images"], dtype=np.float32)
        labels = np.asarray(data["labels"], dtype=np.int64)
    return images, labels


def load_colour_model():
    """Return the bundled colour demo CNN as an (uncompiled) Keras model.

    Input ``(None, 64, 64, 3)`` float32 RGB in [0, 1] (preprocessing ``"0-1"``:
    8-bit pixels divided by 255); output ``(None, 10)`` softmax probabilities of
    the digit classes 0-9 (:data:`CLASS_NAMES`). Its last convolution,
    ``last_conv``, has 8x8 maps followed by global average pooling and the
    softmax dense layer. Works on every Keras backend.
    """
    import keras

    return keras.saving.load_model(str(COLOUR_MODEL_PATH), compile=False)


def load_colour_samples() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(images, labels, masks)``: 12 held-out colour demo images.

    ``images`` is float32 ``(12, 64, 64, 3)`` RGB in [0, 1] (preprocessing
    ``"0-1"``: stored as uint8 and divided by 255), ready for
    :func:`load_colour_model`; ``labels`` int64 ``(12,)``, every class at least
    once; ``masks`` bool ``(12, 64, 64)``, True inside the bounding box of the
    digit, the evidence of its class (see :mod:`kerascope.demo.colour`).
    """
    with np.load(COLOUR_SAMPLES_PATH) as data:
        images = np.asarray(data["images"], dtype=np.float32) / np.float32(255.0)
        labels = np.asarray(data["labels"], dtype=np.int64)
        masks = np.asarray(data["masks"], dtype=bool)
    return images, labels, masks


def _upsample(images_8x8: np.ndarray, size: int = 28) -> np.ndarray:
    """Bilinearly resize ``(N, 8, 8)`` images in [0, 1] to ``(N, size, size)``."""
    from PIL import Image

    out = np.empty((len(images_8x8), size, size), dtype=np.float32)
    for i, img in enumerate(images_8x8):
        pil = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32))  # mode "F"
        out[i] = np.asarray(pil.resize((size, size), Image.BILINEAR), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split (legacy ``RandomState`` stream is frozen)."""
    rng = np.random.RandomState(_SPLIT_SEED)
    train, test = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(_TEST_FRACTION * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@functools.lru_cache(maxsize=1)
def _digits_28() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise ImportError(
            "kerascope.demo.load_digits_28() needs scikit-learn "
            "(pip install scikit-learn, or pip install 'kerascope[test]')."
        ) from exc
    digits = load_digits()
    images = _upsample(digits.images.astype(np.float32) / 16.0)[..., None]
    labels = digits.target.astype(np.int64)
    train_idx, test_idx = split_indices(labels)
    return images, labels, train_idx, test_idx


def load_digits_28(split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn digits as ``(images, labels)`` upsampled to 28x28x1.

    ``split`` is ``"train"`` (80%), ``"test"`` (20%, held out from the demo
    model) or ``"all"`` (1797 images). The stratified split is deterministic.
    Images are float32 in [0, 1] of shape ``(N, 28, 28, 1)``; labels int64.
    Requires scikit-learn (imported lazily).
    """
    images, labels, train_idx, test_idx = _digits_28()
    if split == "all":
        idx = np.arange(len(labels))
    elif split == "train":
        idx = train_idx
    elif split == "test":
        idx = test_idx
    else:
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    return images[idx].copy(), labels[idx].copy()
