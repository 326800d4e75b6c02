"""Similarity of two maps, per input: the correlations shared by the sanity checks
(Adebayo et al. 2018, arXiv:1810.03292, Sec. 4) and mu-fidelity (Bhatt et al. 2020).

* ``spearman_abs`` / ``spearman``: Spearman rank correlation of the absolute / signed maps;
* ``ssim``: structural similarity (Wang et al. 2004) of the absolute maps scaled to [0, 1]
  by their maximum; ``hog``: Pearson correlation of their histograms of oriented
  gradients (Dalal & Triggs 2005). Both need 2-D maps (NaN otherwise).

Constant rows: :func:`row_correlation` is NaN when either row is constant (the
correlation is undefined). The sanity measures count two identical maps as 1 and any
other pair with a constant map as 0 (a constant map carries no ranking); mu-fidelity
counts it as 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MEASURES", "row_correlation", "similarity"]

MEASURES = ("spearman_abs", "spearman", "ssim", "hog")


def _rank_rows(values):
    from scipy.stats import rankdata

    return rankdata(values, axis=1)


def row_correlation(a, b, kind="pearson"):
    """Per-row Pearson or Spearman correlation of ``(N, S)`` arrays; NaN if a row is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if kind == "spearman":
        a, b = _rank_rows(a), _rank_rows(b)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (a * b).sum(axis=1) / denominator
    corr[denominator <= 0] = np.nan
    return np.clip(corr, -1.0, 1.0)


def _agreement(a, b, kind):
    """:func:`row_correlation`, 1 for identical rows and 0 where undefined otherwise."""
    same = np.all(a == b, axis=1)
    corr = np.nan_to_num(row_correlation(a, b, kind), nan=0.0)
    return np.where(same, 1.0, corr)


def _scaled_abs(maps):
    values = np.abs(maps)
    top = values.reshape(len(values), -1).max(axis=1)
    top = np.where(top > 0, top, 1.0).reshape((-1,) + (1,) * (values.ndim - 1))
    return values / top


def _ssim(a, b):
    from skimage.metrics import structural_similarity

    out = np.empty(len(a))
    side = min(a.shape[1:])
    win = min(7, side if side % 2 else side - 1)
    for i, (first, second) in enumerate(zip(a, b)):
        if np.array_equal(first, second):
            out[i] = 1.0
        elif win < 3:
            out[i] = np.nan
        else:
            out[i] = structural_similarity(first, second, data_range=1.0, win_size=win)
    return out


def _hog_features(image):
    from skimage.feature import hog

    cell = max(2, min(image.shape) // 7)
    return hog(image, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2),
               feature_vector=True)


def _hog(a, b):
    out = np.empty(len(a))
    for i, (first, second) in enumerate(zip(a, b)):
        if np.array_equal(first, second):
            out[i] = 1.0
            continue
        try:
            fa, fb = _hog_features(first), _hog_features(second)
        except ValueError:  # too small for one HOG block
            out[i] = np.nan
            continue
        out[i] = _agreement(fa[None], fb[None], "pearson")[0]
    return out


def similarity(a, b, measures=MEASURES, feature_shape=None):
    """Per-input similarity of two map batches ``(N, ...)``: ``{measure: (N,)}``.

    ``feature_shape``: the shape of one map (default ``a.shape[1:]``); SSIM and HOG
    are computed for 2-D maps only (NaN otherwise).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps: the two map batches differ in shape: {a.shape} vs {b.shape}.")
    for measure in measures:
        if measure not in MEASURES:
            raise ValueError(
                f"measures: unknown similarity {measure!r}; expected some of {MEASURES}."
            )
    n = len(a)
    feature_shape = tuple(feature_shape or a.shape[1:])
    flat_a, flat_b = a.reshape(n, -1), b.reshape(n, -1)
    images = len(feature_shape) == 2
    out = {}
    for measure in measures:
        if measure == "spearman_abs":
            out[measure] = _agreement(np.abs(flat_a), np.abs(flat_b), "spearman")
        elif measure == "spearman":
            out[measure] = _agreement(flat_a, flat_b, "spearman")
        elif not images:
            out[measure] = np.full(n, np.nan)
        else:
            sa = _scaled_abs(a.reshape((n,) + feature_shape))
            sb = _scaled_abs(b.reshape((n,) + feature_shape))
            out[measure] = _ssim(sa, sb) if measure == "ssim" else _hog(sa, sb)
    return out
