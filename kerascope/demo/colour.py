"""Generator of the colour demo: coloured digits over natural-image crops.

MNIST-M style images with a known evidence region. Each 64x64 RGB image is

1. a background: a random crop (side 64 to 192 pixels, resized to 64x64, maybe
   mirrored) of one of nine natural images that ship offline with scikit-image
   (``astronaut``, ``coffee``, ``chelsea``, ``rocket``, ``brick``, ``grass``,
   ``gravel``; the three grayscale textures get a random colour tint) and
   scikit-learn (``china.jpg``, ``flower.jpg``);
2. a digit of scikit-learn's ``load_digits`` (8x8, 17 grey levels), upscaled
   bilinearly to a random height of :data:`DIGIT_SIZES` pixels and a width of
   0.75 to 1.15 times that, with a random stroke weight ``g`` in [1.5, 2.5] (solid strokes),
   placed at a random position and alpha-blended over the background in a
   random colour that contrasts with the background under its strokes (each
   channel dark over a bright background, bright over a dark one):
   ``image = (1 - a) * background + a * colour`` with
   ``a = clip(g * intensity, 0, 1)``.

The label is the digit's class (10 classes). The **object mask** is the digit's
bounding box: the smallest rectangle holding every pixel where the digit's
alpha exceeds :data:`MASK_THRESHOLD`. The box, rather than the stroke pixels,
is what "share of map mass inside the mask" is measured against: the evidence
of a digit is its strokes *and* the gaps between them (a 0 differs from an 8
by what is missing in the middle), and methods with an 8-pixel resolution
(Grad-CAM on an 8x8 feature map, occlusion with 8x8 patches) could not put
their mass on 2-pixel strokes even when they point exactly at the digit. The
boxes cover 6% to 32% of the image (about 18% on average), so a map that
ignores the digit scores about 0.18 and a share above 0.5 means the map
concentrates on the digit.

Train and test images use disjoint digits (the same stratified 80/20 split of
the 1797 digits as :func:`kerascope.demo.load_digits_28`) and independent
random streams. Generation is deterministic: image ``i`` of a split depends
only on ``(seed, split, i)``, so any prefix of a set is the smaller set.

Only this module and :mod:`kerascope.demo.train_colour` need scikit-image and
scikit-learn (``pip install 'kerascope[test]'``); the bundled model and samples
(:func:`kerascope.demo.load_colour_model`, :func:`kerascope.demo.load_colour_samples`)
need neither.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "BACKGROUND_NAMES",
    "DIGIT_SIZES",
    "IMAGE_SIZE",
    "MASK_THRESHOLD",
    "generate",
    "load_backgrounds",
]

#: Side of the generated images in pixels.
IMAGE_SIZE: int = 64
#: Range (inclusive) of the side of the upscaled digit in pixels.
DIGIT_SIZES: tuple[int, int] = (26, 38)
#: Alpha above which a pixel belongs to the digit (for its bounding box).
MASK_THRESHOLD: float = 0.2
#: The natural images the backgrounds are cropped from.
BACKGROUND_NAMES: tuple[str, ...] = (
    "astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel",
    "china", "flower",
)
_SPLITS = {"train": 1, "test": 2}
_CROP_SIDES = (64, 192)
_ASPECTS = (0.75, 1.15)  # width / height of the digit
_GAINS = (1.5, 2.5)      # alpha = clip(gain * digit intensity, 0, 1): stroke weight


def _missing() -> ImportError:
    return ImportError(
        "the colour demo generator needs scikit-image and scikit-learn "
        "(pip install scikit-image scikit-learn, or pip install 'kerascope[test]'); "
        "the bundled model and samples do not."
    )


@functools.lru_cache(maxsize=1)
def load_backgrounds() -> tuple[np.ndarray, ...]:
    """The nine background images as uint8 arrays ``(H, W, 3)`` or ``(H, W)`` (gray)."""
    try:
        import skimage.data
        from sklearn.datasets import load_sample_images
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise _missing() from exc
    sk = {name: np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)
          for name in BACKGROUND_NAMES[:7]}
    samples = load_sample_images()
    by_name = dict(zip((f.rsplit("/", 1)[-1].split(".")[0] for f in samples.filenames),
                       samples.images))
    sk["china"] = np.asarray(by_name["china"], dtype=np.uint8)
    sk["flower"] = np.asarray(by_name["flower"], dtype=np.uint8)
    return tuple(sk[name] for name in BACKGROUND_NAMES)


@functools.lru_cache(maxsize=1)
def _digits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """sklearn digits in [0, 1] ``(N, 8, 8)`` and labels, split as the digits demo."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise _missing() from exc
    from kerascope.demo import split_indices

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    labels = digits.target.astype(np.int64)
    train_idx, test_idx = split_indices(labels)
    return {"train": (images[train_idx], labels[train_idx]),
            "test": (images[test_idx], labels[test_idx])}


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a uint8 ``(h, w, 3)`` array to ``(size, size, 3)``."""
    from PIL import Image

    return np.asarray(Image.fromarray(array).resize((size, size), Image.BILINEAR))


def _upscale(digit: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upscale of an 8x8 float digit to ``(height, width)``.

    The digit is padded with one pixel of zeros first (then cropped back) so
    its strokes fade out at the frame's edges as they do inside it.
    """
    from PIL import Image

    pad_h, pad_w = height // 8, width // 8
    pil = Image.fromarray(np.ascontiguousarray(np.pad(digit, 1), dtype=np.float32))
    big = pil.resize((width + 2 * pad_w, height + 2 * pad_h), Image.BILINEAR)
    return np.asarray(big, dtype=np.float32)[pad_h:pad_h + height, pad_w:pad_w + width]


def _background(rng: np.random.Generator, images) -> np.ndarray:
    """A random 64x64 float32 RGB crop in [0, 1]."""
    source = images[rng.integers(len(images))]
    h, w = source.shape[:2]
    side = int(rng.integers(_CROP_SIDES[0], min(_CROP_SIDES[1], h, w) + 1))
    top = int(rng.integers(h - side + 1))
    left = int(rng.integers(w - side + 1))
    crop = source[top:top + side, left:left + side]
    tint = rng.uniform(0.5, 1.0, size=3).astype(np.float32)
    flip = rng.random() < 0.5
    if crop.ndim == 2:
        crop = np.repeat(crop[..., None], 3, axis=-1)
    else:
        tint[:] = 1.0
    crop = _resize(np.ascontiguousarray(crop), IMAGE_SIZE).astype(np.float32) / 255.0
    if flip:
        crop = crop[:, ::-1]
    return crop * tint


def _one(rng: np.random.Generator, digit: np.ndarray, backgrounds):
    """One image ``(64, 64, 3)`` float32 in [0, 1] and its box mask ``(64, 64)``."""
    image = _background(rng, backgrounds)
    height = int(rng.integers(DIGIT_SIZES[0], DIGIT_SIZES[1] + 1))
    width = int(np.clip(round(height * rng.uniform(*_ASPECTS)), DIGIT_SIZES[0] * 3 // 4,
                        DIGIT_SIZES[1]))
    gain = rng.uniform(*_GAINS)
    top = int(rng.integers(IMAGE_SIZE - height + 1))
    left = int(rng.integers(IMAGE_SIZE - width + 1))
    alpha = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    alpha[top:top + height, left:left + width] = np.clip(
        _upscale(digit, height, width) * gain, 0.0, 1.0)

    # Background colour under the strokes (alpha-weighted), per channel.
    region = (alpha[..., None] * image).sum(axis=(0, 1)) / alpha.sum()
    dark = rng.uniform(0.0, 0.25, size=3)
    bright = rng.uniform(0.75, 1.0, size=3)
    colour = np.where(region > 0.5, dark, bright).astype(np.float32)
    image = (1.0 - alpha[..., None]) * image + alpha[..., None] * colour

    mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    rows = np.flatnonzero((alpha > MASK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((alpha > MASK_THRESHOLD).any(axis=0))
    mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
    return image, mask


def generate(n: int, seed: int = 0, split: str = "train"):
    """Generate ``n`` colour-digit images; return ``(images, labels, masks)``.

    Args:
        n: number of images.
        seed: seed of the random stream; image ``i`` depends only on
            ``(seed, split, i)``.
        split: ``"train"`` (digits of the 80% training split) or ``"test"``
            (the 20% held out from training).

    Returns:
        ``images`` uint8 ``(n, 64, 64, 3)`` (divide by 255 for the model's
        [0, 1] input), ``labels`` int64 ``(n,)`` and ``masks`` bool
        ``(n, 64, 64)``, True inside the digit's bounding box.
    """
    if split not in _SPLITS:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected a non-negative integer, got {n!r}.")
    backgrounds = load_backgrounds()
    digits, digit_labels = _digits()[split]
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels = np.empty((n,), dtype=np.int64)
    masks = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    for i in range(n):
        rng = np.random.default_rng((int(seed), _SPLITS[split], i))
        k = int(rng.integers(len(digits)))
        image, masks[i] = _one(rng, digits[k], backgrounds)
        images[i] = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
        labels[i] = digit_labels[k]
    return images, labels, masks
