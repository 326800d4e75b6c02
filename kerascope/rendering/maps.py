"""Pictures that explain themselves: the one place kerascope draws attribution maps.

Every picture kerascope makes (the command's PNGs, the HTML report, the callbacks'
TensorBoard images, the tf-explain classes' grids) is drawn from the pieces here:

* **Sign.** A signed map (Integrated Gradients, gradient x input, ...) is drawn with a
  diverging colormap centred at zero (``RdBu_r``: negative blue, zero white, positive
  red); an unsigned map with a sequential one (``Reds``: zero white, high red), so red
  always means "evidence for the target". :func:`is_signed` decides: a method's
  ``signed`` flag from ``kerascope.methods.catalog()``, or any negative value in the map.
* **Outliers.** Captum's ``outlier_perc`` convention: the scale is the smallest value
  ``s`` such that the values with ``|v| <= s`` hold ``100 - outlier_perc`` percent of the
  map's total mass ``sum |v|``; values beyond ``s`` are drawn at full colour
  (:func:`clip_scale`). ``outlier_perc=0`` scales by the maximum.
* **Overlay.** The map (resized to the image) is blended over a grayscale copy of the
  input, each pixel with weight ``alpha`` times its normalized magnitude
  (:func:`overlay`): the colours are the map's only, and where the map is zero the
  input shows unchanged.
* **Labels.** :func:`title` names the method, the target (class index and name) and the
  model's probability; :func:`render` and :func:`render_grid` draw titled panels with a
  colour bar in the map's units (matplotlib, Agg canvas, no pyplot state).

Only numpy, Pillow and matplotlib are used; no Keras backend is imported here.
"""

from __future__ import annotations

import io
import math
import os
import pathlib

import numpy as np
from PIL import Image

from kerascope.engine import numeric
from kerascope.rendering.figures import figure_array, new_figure

__all__ = [
    "DIVERGING",
    "SEQUENTIAL",
    "DEFAULT_OUTLIER_PERC",
    "is_signed",
    "offset",
    "clip_scale",
    "normalize",
    "colorize",
    "to_rgb",
    "overlay",
    "title",
    "render",
    "render_grid",
    "colorbar_strip",
    "resize_map",
    "format_value",
    "png_bytes",
    "save_png",
]

#: Colormap of signed maps (diverging, white at zero).
DIVERGING = "RdBu_r"
#: Colormap of unsigned maps (sequential, white at zero).
SEQUENTIAL = "Reds"
#: Captum's default: the top 2% of the map's mass is drawn at full colour.
DEFAULT_OUTLIER_PERC = 2.0


# -- numbers --------------------------------------------------------------------
def _as_map(values, name="map"):
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D map (H, W) or (H, W, 1), got shape {arr.shape}.")
    return np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)


def is_signed(method=None, maps=None):
    """Whether maps should be drawn as signed (diverging colormap, centred at zero).

    True when the method's catalog entry says ``signed``, or when ``maps`` hold a
    negative value (a map with negative values is never drawn as unsigned: that would
    show negative evidence as positive). ``method`` is a name or a ``Method``.
    """
    if method is not None and _catalog_signed(method):
        return True
    if maps is not None:
        arr = np.asarray(maps, dtype=np.float64)
        return bool(arr.size) and bool(np.nanmin(arr) < 0)
    return False


def _catalog_signed(method):
    signed = getattr(method, "signed", None)
    if isinstance(signed, bool):
        return signed
    if not isinstance(method, str):
        return False
    try:
        from kerascope import methods
    except Exception:  # pragma: no cover - rendering works without the methods
        return False
    catalog = getattr(methods, "catalog", None)
    if catalog is None:
        return False
    for info in catalog():
        if method == info.name or method in info.aliases:
            return bool(info.signed)
    return False


def clip_scale(values, outlier_perc=DEFAULT_OUTLIER_PERC, signed=True):
    """The value drawn at full colour, Captum's ``outlier_perc`` convention.

    The values considered are ``|v|`` for signed maps and ``max(v, 0)`` for unsigned
    ones. Sorted ascending, the scale is the first value at which their cumulative sum
    reaches ``100 - outlier_perc`` percent of the total, so the largest values holding
    ``outlier_perc`` percent of the mass are clipped. Returns 0.0 for an all-zero map.
    """
    if not 0.0 <= float(outlier_perc) < 100.0:
        raise ValueError(f"outlier_perc: expected a percentage in [0, 100), got {outlier_perc!r}.")
    arr = np.asarray(values, dtype=np.float64)
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0).ravel()
    mass = np.abs(arr) if signed else np.maximum(arr, 0.0)
    total = mass.sum()
    if total <= 0:
        return 0.0
    if outlier_perc == 0:
        return float(mass.max())
    ordered = np.sort(mass)
    cumulative = np.cumsum(ordered)
    index = int(np.searchsorted(cumulative, total * (100.0 - float(outlier_perc)) / 100.0))
    return float(ordered[min(index, len(ordered) - 1)])


def offset(values, signed):
    """Where an unsigned map's colour scale starts: its minimum when the whole map lies
    above zero (a constant offset, such as RISE's mean score, would otherwise paint the
    map one flat colour), else 0. Signed maps are always centred at 0."""
    arr = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if signed or arr.size == 0:
        return 0.0
    low = float(arr.min())
    return low if low > 0 and float(arr.max()) > low else 0.0


def normalize(values, signed, outlier_perc=DEFAULT_OUTLIER_PERC, scale=None, floor=0.0):
    """``(normalized, scale)``: the map minus ``floor`` (see :func:`offset`), divided by
    ``scale`` and clipped to [-1, 1] (signed) or [0, 1] (unsigned; negative values
    become 0). ``scale`` defaults to :func:`clip_scale`; an all-zero map stays zero with
    scale 0.0. The colour scale runs from ``floor`` to ``floor + scale``."""
    arr = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if floor:
        arr = arr - floor
    if scale is None:
        scale = clip_scale(arr, outlier_perc, signed)
    if scale <= 0:
        return np.zeros_like(arr), 0.0
    low = -1.0 if signed else 0.0
    return np.clip(arr / scale, low, 1.0), float(scale)


def colormap(name):
    import matplotlib

    if not isinstance(name, str):
        return name
    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"cmap: unknown matplotlib colormap {name!r}.") from None


def colorize(normalized, signed, cmap=None):
    """RGB float colours in [0, 1] of a normalized map (see :func:`normalize`).

    Signed maps go through the diverging colormap with 0 at its centre (-1 and +1 at
    its ends); unsigned maps through the sequential one (0 at its start).
    """
    colours = colormap(cmap or (DIVERGING if signed else SEQUENTIAL))
    arr = np.asarray(normalized, dtype=np.float64)
    position = (arr + 1.0) / 2.0 if signed else arr
    return np.asarray(colours(np.clip(position, 0.0, 1.0)))[..., :3]


# -- images ---------------------------------------------------------------------
def to_rgb(image, value_range=None):
    """An image as uint8 RGB ``(H, W, 3)``.

    Accepts ``(H, W)``, ``(H, W, 1|3|4)`` and channels-first ``(1|3|4, H, W)``; uint8
    stays, floats are scaled from ``value_range`` (default: [0, 1] when they fit in it,
    [-1, 1] when they fit in that, [0, 255] when they fit in that, else their own
    min..max) and clipped.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            f"image: expected (H, W), (H, W, 1|3|4) or (1|3|4, H, W), got shape {arr.shape}."
        )
    if arr.shape[-1] == 2:
        arr = arr[..., :1]
    if arr.dtype != np.uint8:
        values = np.nan_to_num(arr.astype(np.float64))
        if value_range is None:
            value_range = _guess_range(values)
        low, high = (float(v) for v in value_range)
        if high <= low:
            high = low + 1.0
        arr = np.clip(np.rint((values - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3])


def _guess_range(values):
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    for lo, hi in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
        if low >= lo and high <= hi:
            return lo, hi
    return low, high


def resize_map(values, shape):
    """A 2-D map resized (bilinear) to ``shape`` ``(H, W)``, as float64."""
    if values.shape == tuple(shape):
        return values
    return numeric.resize_map(values, shape).astype(np.float64)


def _gray(rgb):
    luminance = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.repeat(luminance[..., None], 3, axis=-1) / 255.0


def overlay(values, image=None, *, signed=None, alpha=0.8, outlier_perc=DEFAULT_OUTLIER_PERC,
            cmap=None, scale=None, grayscale=True, floor=None):
    """The coloured map blended over the image; uint8 RGB ``(H, W, 3)``.

    ``values`` is resized (bilinear) to the image and normalized (:func:`normalize`);
    each pixel mixes the map's colour with weight ``alpha * |normalized value|`` into
    the image: where the map is 0 the image shows as it is, where it reaches the scale
    its colour has weight ``alpha``. The image is shown in grayscale by default so that
    every colour comes from the map. Without an image the coloured map alone is
    returned. ``signed`` defaults to "the map has a negative value"; ``floor`` (where an
    unsigned map's colours start) to :func:`offset`.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha!r}.")
    arr = _as_map(values)
    if signed is None:
        signed = bool(arr.min() < 0)
    floor = offset(arr, signed) if floor is None else floor
    norm, _ = normalize(arr, signed, outlier_perc, scale, floor)
    if image is None:
        return np.rint(colorize(norm, signed, cmap) * 255).astype(np.uint8)
    rgb = to_rgb(image)
    norm = resize_map(norm, rgb.shape[:2])
    colours = colorize(norm, signed, cmap)
    base = _gray(rgb) if grayscale else rgb / 255.0
    weight = float(alpha) * np.abs(norm)[..., None]
    blended = (1.0 - weight) * base + weight * colours
    return np.clip(np.rint(blended * 255), 0, 255).astype(np.uint8)


def title(method=None, target=None, labels=None, probability=None):
    """``"grad_cam · class 3 'cat' · p=0.97"``: method, target and probability.

    ``labels`` is a sequence of class names indexed by class (or a dict); the name is
    added when the target is in it.
    """
    parts = []
    if method is not None:
        parts.append(str(getattr(method, "name", method)))
    if target is not None:
        text = f"class {int(target)}"
        name = _label(labels, target)
        if name is not None and name != str(int(target)):
            text += f" '{name}'"
        parts.append(text)
    if probability is not None and np.isfinite(probability):
        p = float(probability)
        parts.append(f"p={p:.2f}" if p >= 0.01 or p == 0 else f"p={p:.1e}")
    return " · ".join(parts)


def _label(labels, target):
    if labels is None or target is None:
        return None
    try:
        return str(labels[int(target)])
    except (IndexError, KeyError, TypeError):
        return None


def format_value(value):
    """A short label for a colour-bar value: 3 significant digits."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-2 <= magnitude < 1e4:
        return f"{value:.3g}"
    return f"{value:.1e}"


# -- matplotlib panels ----------------------------------------------------------
def _panel(figure, axes, values, image, *, signed, alpha, outlier_perc, cmap, heading,
           colorbar, fontsize):
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    arr = _as_map(values)
    floor = offset(arr, signed)
    _, scale = normalize(arr, signed, outlier_perc, floor=floor)
    picture = overlay(arr, image, signed=signed, alpha=alpha, outlier_perc=outlier_perc,
                      cmap=cmap, scale=scale if scale > 0 else None)
    axes.imshow(picture, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    if heading:
        axes.set_title(heading, fontsize=fontsize)
    if colorbar:
        bound = scale if scale > 0 else 1.0
        norm = Normalize(-bound if signed else floor, bound + floor)
        mappable = ScalarMappable(norm=norm, cmap=colormap(cmap or (DIVERGING if signed
                                                                        else SEQUENTIAL)))
        bar = figure.colorbar(mappable, ax=axes, fraction=0.046, pad=0.02, shrink=0.9)
        ticks = [-bound, 0.0, bound] if signed else [floor, floor + bound]
        bar.set_ticks(ticks)
        bar.set_ticklabels([format_value(t) for t in ticks])
        bar.ax.tick_params(labelsize=fontsize - 1)
    return scale


def render(values, image=None, *, method=None, target=None, labels=None, probability=None,
           signed=None, alpha=0.8, outlier_perc=DEFAULT_OUTLIER_PERC, cmap=None,
           colorbar=True, heading=None, size=3.0, dpi=100):
    """One titled panel: the map over the image with a colour bar; uint8 RGB.

    The title is :func:`title` of ``method``, ``target``, ``labels`` and
    ``probability`` unless ``heading`` is given. ``signed`` defaults to
    :func:`is_signed` of the method and the map. The colour bar is in the map's units,
    from ``-s`` to ``s`` (signed) or ``f`` to ``f + s`` (unsigned; ``f`` is :func:`offset`,
    0 unless the whole map lies above 0), ``s`` the outlier-clipped scale.
    """
    if signed is None:
        signed = is_signed(method, values)
    if heading is None:
        heading = title(method, target, labels, probability)
    figure = new_figure(size * (1.3 if colorbar else 1.0), size + (0.35 if heading else 0.0), dpi)
    axes = figure.add_subplot(1, 1, 1)
    _panel(figure, axes, values, image, signed=signed, alpha=alpha, outlier_perc=outlier_perc,
           cmap=cmap, heading=heading, colorbar=colorbar, fontsize=9)
    return figure_array(figure)


def render_grid(maps, images=None, *, method=None, targets=None, labels=None,
                probabilities=None, signed=None, alpha=0.8, outlier_perc=DEFAULT_OUTLIER_PERC,
                cmap=None, captions=None, suptitle=None, size=2.2, dpi=100, show_inputs=True):
    """A grid of titled panels, one column per image, one row per target.

    Args:
        maps: ``(N, H, W)`` (one target per image) or ``(N, K, H, W)`` (K targets), or
            a list of per-image maps of those shapes (images of different sizes).
        images: the N inputs as displayed (any range :func:`to_rgb` accepts), or None.
        targets, probabilities: ``(N,)`` or ``(N, K)`` class indices and probabilities.
        labels: class names, indexed by class.
        captions: optional text per image (e.g. file names), drawn above the inputs.
        show_inputs: a first row with the inputs themselves.
    Returns:
        uint8 RGB array of the whole figure.
    """
    per_image = [np.asarray(m, dtype=np.float64) for m in maps]
    n = len(per_image)
    if n == 0:
        raise ValueError("maps: expected at least one map.")
    per_image = [m[None] if m.ndim == 2 or (m.ndim == 3 and m.shape[-1] == 1) else m
                 for m in per_image]
    k = max(m.shape[0] for m in per_image)
    targets = _per_row(targets, n, k)
    probabilities = _per_row(probabilities, n, k)
    if signed is None:
        signed = is_signed(method, np.concatenate([m.ravel() for m in per_image]))
    rows = k + (1 if show_inputs and images is not None else 0)
    figure = new_figure(size * 1.3 * n, size * rows + 0.3 + (0.3 if suptitle else 0.0), dpi)
    row = 0
    if show_inputs and images is not None:
        for i in range(n):
            axes = figure.add_subplot(rows, n, i + 1)
            axes.imshow(to_rgb(images[i]), interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            caption = captions[i] if captions is not None else f"input {i}"
            axes.set_title(str(caption), fontsize=8)
        row = 1
    for j in range(k):
        for i in range(n):
            axes = figure.add_subplot(rows, n, (row + j) * n + i + 1)
            if j >= per_image[i].shape[0]:
                axes.axis("off")
                continue
            heading = title(method, targets[i][j], labels, probabilities[i][j])
            _panel(figure, axes, per_image[i][j], None if images is None else images[i],
                   signed=signed, alpha=alpha, outlier_perc=outlier_perc, cmap=cmap,
                   heading=heading, colorbar=True, fontsize=7)
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    return figure_array(figure)


def _per_row(values, n, k):
    if values is None:
        return [[None] * k for _ in range(n)]
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    return [[arr[i, j] if j < arr.shape[1] else None for j in range(k)] for i in range(n)]


def colorbar_strip(signed, cmap=None, width=12, height=120):
    """A vertical colour bar (top: +max, bottom: -max or 0) as uint8 RGB, no labels;
    the HTML report labels it with text."""
    position = np.linspace(1.0, -1.0 if signed else 0.0, height)[:, None]
    colours = colorize(np.repeat(position, width, axis=1), signed, cmap)
    return np.rint(colours * 255).astype(np.uint8)


# -- files ----------------------------------------------------------------------
def png_bytes(image):
    """PNG bytes of a uint8 image ``(H, W)`` or ``(H, W, 1|3|4)``."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = to_rgb(arr)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def save_png(image, path):
    """Write ``image`` (uint8 or any range :func:`to_rgb` accepts) to ``path`` as PNG."""
    path = pathlib.Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(image))
    return path


def grid_shape(count):
    """``(rows, columns)`` of a near-square grid holding ``count`` cells."""
    columns = max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / columns), columns
