"""Feature ablation over feature masks, and the feature-mask machinery that
KernelSHAP (``kerascope.methods.shapley``) and LIME (``kerascope.methods.lime``)
share.

A *feature mask* assigns every element of an input a feature id; the elements
sharing an id form one feature and are switched off together, replaced by their
*baseline* values (Captum's ``feature_mask`` semantics; ids are shared across the
inputs of a model with several inputs too). Masks serve every kind of input:

* tables ``(N, F)``: by default each column is a feature; ``feature_groups`` ids
  group columns;
* time series ``(N, T, C)``: by default each step (all its channels) is a feature;
  ``time_windows(T, w)`` makes windows of ``w`` steps;
* images ``(N, H, W, C)``: by default ``superpixels(images)``, per-image SLIC
  segments (``skimage.segmentation.slic``), returned in ``extras["feature_mask"]``;
* tokens ``(N, T)`` of integer ids: each token (the baseline is then a token id,
  e.g. padding).

A mask is an int array of one input's shape (axes of size 1 broadcast; a mask of
the leading axes, e.g. ``(H, W)`` for ``(H, W, C)`` images, covers the rest), an
array of the input's rank with one mask per sample ``(N, ...)``, a callable
``rows -> (n, ...)`` masks, or, for several inputs, a list/tuple/dict of those
(inputs without one get a default mask with ids of their own).

Baselines: a number, an array of one input's shape, one per sample ``(N, ...)``,
or ``references=`` a reference set ``(M, ...)``: feature ablation and LIME replace
switched-off features by the references' mean, KernelSHAP averages the score over
the reference rows (the interventional Shapley value of Lundberg & Lee).

Feature ablation (Captum's FeatureAblation; Zeiler & Fergus 2014,
arXiv:1311.2901, for the occlusion idea): each feature ``j`` in turn is switched
off, ``a_j = S_c(x) - S_c(x with feature j at its baseline)``, and every element
of feature ``j`` gets ``a_j``. For a linear model ``S(x) = w.x + b`` with a zero
baseline and one feature per element this is exactly ``w_i * x_i``.

All perturbed rows are scored with forward passes only, ``batch_size`` rows at a
time, by default on the model's outputs (probabilities; ``use_logits=True`` for
logits). Maps have the input's shape; for inputs of rank >= 3 the channel axis is
then reduced (``channel_reduction="mean"``: with the default masks all channels of
a position share one feature, so this is that feature's value; None keeps it).
"""

import numpy as np

from kerascope.inputs import arrays as data
from kerascope.methods.base import Method
from kerascope.methods.integrated_gradients import match_references, rows_for
from kerascope.methods.occlusion import (
    PerturbationMethod,
    explained_inputs,
    input_list,
    row_slices,
)
from kerascope.engine.validation import check_positive_int


# -- masks -------------------------------------------------------------------------


def time_windows(length, window):
    """Feature ids ``(length, 1)`` grouping a sequence's steps into windows of
    ``window`` steps (all channels of a step together): ``feature_mask`` of
    ``(N, length, C)`` time series."""
    length = check_positive_int(length, "length")
    window = check_positive_int(window, "window")
    return (np.arange(length) // window).reshape(length, 1).astype(np.int64)


def feature_groups(groups, num_features):
    """Feature ids ``(num_features,)`` of a table from ``groups``: a list of lists of
    column indices (each list one feature); columns in no group are features of
    their own."""
    num_features = check_positive_int(num_features, "num_features")
    ids = np.full(num_features, -1, dtype=np.int64)
    for gid, group in enumerate(groups):
        for column in group:
            if not 0 <= int(column) < num_features:
                raise ValueError(
                    f"groups: column {column} is out of range for {num_features} features."
                )
            if ids[column] >= 0:
                raise ValueError(f"groups: column {column} is in two groups.")
            ids[column] = gid
    rest = ids < 0
    ids[rest] = len(groups) + np.arange(rest.sum())
    return ids


def superpixels(images, n_segments=50, compactness=10.0, channel_axis=-1, **slic_options):
    """Per-image SLIC superpixels (Achanta et al. 2012) as feature masks.

    ``images``: ``(N, H, W, C)`` (or ``(N, C, H, W)`` with ``channel_axis=1``, or
    grayscale ``(N, H, W)``). Returns int masks of the images' rank, ``(N, H, W, 1)``
    (``(N, 1, H, W)``, ``(N, H, W)``): one mask per image, for ``feature_mask=``.
    Each image is rescaled to [0, 1] first, so ``compactness`` means the same for
    images in [0, 255] and in [0, 1]. Needs scikit-image.
    """
    try:
        from skimage.segmentation import slic
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "superpixels needs scikit-image: pip install scikit-image"
        ) from None
    images = np.asarray(images, dtype=np.float64)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"images: expected (N, H, W), (N, H, W, C) or (N, C, H, W), got shape "
            f"{images.shape}."
        )
    masks = []
    for image in images:
        if image.ndim == 3 and channel_axis in (1, -3):
            image = np.moveaxis(image, 0, -1)
        low, high = image.min(), image.max()
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
        multichannel = image.ndim == 3 and image.shape[-1] > 1
        if image.ndim == 3 and not multichannel:
            image = image[..., 0]
        segments = slic(image, n_segments=n_segments, compactness=compactness,
                        start_label=0, channel_axis=-1 if multichannel else None,
                        **slic_options)
        masks.append(segments)
    masks = np.stack(masks).astype(np.int64)
    if images.ndim == 4:
        masks = masks[:, None] if channel_axis in (1, -3) else masks[..., None]
    return masks


def is_image(x, channel_axis):
    """Whether rows ``x`` are images ``(N, H, W, C)`` / ``(N, C, H, W)`` (H, W > 1)."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        return False
    spatial = x.shape[2:] if channel_axis in (1, -3) else x.shape[1:3]
    return min(spatial) > 1


def _as_ids(mask, name):
    mask = np.asarray(mask)
    if not np.issubdtype(mask.dtype, np.integer):
        if mask.dtype == bool or not np.all(np.isfinite(mask)) or np.any(mask != np.round(mask)):
            raise ValueError(f"{name}: expected integer feature ids, got dtype {mask.dtype}.")
        mask = mask.astype(np.int64)
    if mask.size and mask.min() < 0:
        raise ValueError(f"{name}: feature ids must be >= 0, got {int(mask.min())}.")
    return mask.astype(np.int64, copy=False)


def _broadcast_mask(mask, shape, name):
    """One mask broadcast to one input's ``shape`` (leading-axes masks expanded)."""
    try:
        return np.broadcast_to(mask, shape)
    except ValueError:
        pass
    if mask.ndim < len(shape) and mask.shape == tuple(shape[:mask.ndim]):
        return np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)), shape)
    raise ValueError(
        f"{name}: a mask of shape {mask.shape} does not fit inputs of shape {tuple(shape)}; "
        f"expected one input's shape (axes of size 1 broadcast), its leading axes, or one "
        f"mask per sample of shape (N,) + {tuple(shape)}."
    )


def default_mask(shape, channel_axis):
    """One feature per element for a rank-1 sample (tables, tokens), one per position
    (all channels together) for higher ranks."""
    if len(shape) <= 1:
        return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    axis = channel_axis % (len(shape) + 1) - 1
    positions = tuple(size for i, size in enumerate(shape) if i != axis)
    ids = np.arange(int(np.prod(positions)), dtype=np.int64).reshape(positions)
    return np.broadcast_to(np.expand_dims(ids, axis), shape)


class MaskPlan:
    """Feature masks of one call's rows, resolved to columns.

    ``groups``: a list of ``(rows, columns, num_features)``: the row indices sharing
    one feature set, and per input an int array ``(1 or len(rows), *shape)`` giving
    each element's feature column (None for an input left alone).
    """

    def __init__(self, groups):
        self.groups = groups


def plan_masks(feature_mask, x, ctx, explained):
    """A ``MaskPlan`` for rows ``x`` (one array or ``Inputs``)."""
    arrays = data.arrays(x)
    names = x.names if isinstance(x, data.Inputs) else ("x",)
    if isinstance(x, data.Inputs) and (isinstance(feature_mask, dict) or (
            isinstance(feature_mask, (list, tuple)) and len(feature_mask) == len(arrays))):
        if isinstance(feature_mask, dict):
            unknown = [key for key in feature_mask if key not in names]
            if unknown:
                raise ValueError(
                    f"feature_mask: {unknown[0]!r} is not a model input; the inputs are "
                    f"{', '.join(map(repr, names))}."
                )
            given = [feature_mask.get(name) for name in names]
        else:
            given = list(feature_mask)
    else:
        given = [feature_mask] * len(arrays) if feature_mask is not None else [None] * len(arrays)
        if isinstance(x, data.Inputs) and feature_mask is not None and not callable(feature_mask):
            if len(explained) != 1:
                raise ValueError(
                    "feature_mask: the model has several inputs; give one mask per input "
                    "(a list, tuple or dict), or name one input with inputs=."
                )
    masks, per_sample = [None] * len(arrays), False
    for k in explained:
        a, spec = arrays[k], given[k]
        label = "feature_mask" if len(arrays) == 1 else f"feature_mask[{names[k]!r}]"
        if spec is None:
            continue
        if callable(spec):
            ids = _as_ids(spec(a), label)
            if ids.shape[0] != len(a) or ids.ndim != a.ndim:
                raise ValueError(
                    f"{label}: the callable returned masks of shape {ids.shape} for rows of "
                    f"shape {a.shape}; expected one mask per row, shape (n, ...)."
                )
            masks[k] = np.broadcast_to(ids, a.shape) if ids.shape != a.shape else ids
            per_sample = True
            continue
        ids = _as_ids(spec, label)
        if ids.ndim == a.ndim and len(ids) > 1:
            samples = ctx.row_samples
            if samples.max() >= len(ids):
                raise ValueError(
                    f"{label}: {len(ids)} per-sample masks, but x has at least "
                    f"{samples.max() + 1} samples; expected one mask per sample."
                )
            masks[k] = _broadcast_mask(ids[samples], a.shape, label)
            per_sample = True
        else:
            one = ids[0] if ids.ndim == a.ndim else ids
            masks[k] = _broadcast_mask(one, a.shape[1:], label)[None]
    top = max((int(m.max()) + 1 for m in masks if m is not None and m.size), default=0)
    for k in explained:
        if masks[k] is None:
            ids = default_mask(arrays[k].shape[1:], ctx.channel_axis)
            masks[k] = (ids + top)[None]
            top += int(ids.max()) + 1 if ids.size else 0
    if not per_sample:
        return MaskPlan([(np.arange(len(x)), *_columns(masks))])
    groups = []
    for row in range(len(x)):
        row_masks = [None if m is None else m[row if len(m) > 1 else 0][None] for m in masks]
        groups.append((np.array([row]), *_columns(row_masks)))
    return MaskPlan(groups)


def _columns(masks):
    """``(columns, M)``: masks' ids mapped to ``0..M-1`` (shared across inputs)."""
    present = [m for m in masks if m is not None]
    ids = np.unique(np.concatenate([np.unique(m) for m in present])) if present else np.array([])
    columns = [None if m is None else np.searchsorted(ids, m) for m in masks]
    return columns, len(ids)


# -- baselines ---------------------------------------------------------------------


def fill_values(x, ctx, explained, baseline, references, mean_references):
    """Per input: what switched-off elements take, ``(1 or n, R, *shape)``.

    ``references`` (already ``(M, ...)`` arrays) win over ``baseline``; with
    ``mean_references`` their mean is one baseline (R = 1), else every reference
    row is one (R = M).
    """
    arrays = data.arrays(x)
    names = x.names if isinstance(x, data.Inputs) else ("x",)
    if references is not None:
        refs = data.arrays(match_references(references, x, "references"))
        fills = []
        for k, (a, ref) in enumerate(zip(arrays, refs)):
            if k not in explained:
                fills.append(None)
                continue
            ref = ref.mean(axis=0, keepdims=True) if mean_references else ref
            fills.append(ref[None].astype(a.dtype if _is_int(a) else np.float32))
        return fills
    if isinstance(x, data.Inputs):
        from kerascope.methods.integrated_gradients import per_input_options

        specs = per_input_options(baseline, x, "baseline", 0.0)
    else:
        specs = [baseline]
    fills = []
    for k, (a, spec) in enumerate(zip(arrays, specs)):
        if k not in explained:
            fills.append(None)
            continue
        label = "baseline" if len(arrays) == 1 else f"baseline[{names[k]!r}]"
        rows = rows_for(spec, a, ctx, label)
        if _is_int(a):
            rows = np.round(rows).astype(a.dtype)
        fills.append(rows[:, None])
    return fills


def _is_int(a):
    return np.issubdtype(a.dtype, np.integer)


def _check_baseline(baseline):
    if isinstance(baseline, dict):
        for key, value in baseline.items():
            _check_baseline_value(value, f"baseline[{key!r}]")
    elif isinstance(baseline, (list, tuple)) and len({np.shape(b) for b in baseline}) > 1:
        for i, value in enumerate(baseline):
            _check_baseline_value(value, f"baseline[{i}]")
    else:
        _check_baseline_value(baseline, "baseline")
    return baseline


def _check_baseline_value(value, name):
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number or an array, got {type(value).__name__}.") from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: contains NaN or infinite values.")


# -- scoring coalitions --------------------------------------------------------------


def coalition_scores(ctx, x, units, columns, coalitions, fills):
    """Mean scores of rows ``x`` with the features where ``coalitions`` is False
    switched off: ``(n, K)``.

    ``columns``: per input, element -> feature column ``(1 or n, *shape)`` (None: an
    input left alone); ``coalitions``: ``(K, M)`` bool, True = the feature keeps its
    value; ``fills``: per input ``(1 or n, R, *shape)`` replacement values, averaged
    over ``R``. Rows are built on the host ``batch_size * 8`` at a time and scored
    ``batch_size`` rows per pass.
    """
    n, k_count = len(x), len(coalitions)
    reps = max(f.shape[1] for f in fills if f is not None)
    keep = np.concatenate([coalitions, np.ones((k_count, 1), bool)], axis=1)
    arrays = data.arrays(x)
    flat = [None if c is None else c.reshape(len(c), -1) for c in columns]
    total = n * k_count * reps
    scores = np.empty(total, dtype=np.float64)
    for start, stop in row_slices(total, ctx.batch_size):
        index = np.arange(start, stop)
        row, coalition, rep = index // (k_count * reps), (index // reps) % k_count, index % reps
        built = []
        for a, cols, fill in zip(arrays, flat, fills):
            if cols is None:
                built.append(a[row])
                continue
            which = np.take_along_axis(keep[coalition], cols[row if len(cols) > 1 else 0 * row],
                                       axis=1)
            replacement = fill[row if len(fill) > 1 else 0 * row,
                               rep if fill.shape[1] > 1 else 0 * rep]
            built.append(np.where(which.reshape((len(index),) + a.shape[1:]), a[row],
                                  replacement).astype(a.dtype, copy=False))
        scores[start:stop] = ctx.forward(data.rebuild(x, built), units[row]).scores
    return scores.reshape(n, k_count, reps).mean(axis=2)


def spread(values, columns, x):
    """Per-feature ``values`` ``(n, M)`` written to every element of each feature:
    maps of ``x``'s form (None for inputs left alone)."""
    n = len(values)
    out = []
    for a, cols in zip(data.arrays(x), columns):
        if cols is None:
            out.append(None)
            continue
        cols = np.broadcast_to(cols, (n,) + a.shape[1:]).reshape(n, -1)
        out.append(np.take_along_axis(values, cols, axis=1).reshape((n,) + a.shape[1:]))
    return data.rebuild(x, out)


class FeatureMaskMethod(PerturbationMethod):
    """Shared options and plumbing of methods over feature masks.

    Args:
        feature_mask: feature ids (see the module docstring); ``"superpixels"``: SLIC
            superpixels of each image (:func:`superpixels`); None: the default masks
            (superpixels on images).
        baseline: the value of switched-off elements (number, array, per-sample
            ``(N, ...)`` array, or one per input).
        references: a reference set ``(M, ...)`` (one per input for several inputs)
            instead of ``baseline``.
        inputs: for models with several inputs, the inputs to perturb (names or
            positions); None perturbs all. The others' maps are None.
        channel_reduction: "mean" (default) or another reduction of the channel
            axis of rank >= 3 inputs; None keeps the input's shape.
    """

    multi_input = True
    mean_references = True

    @classmethod
    def cli_defaults(cls, accepted, black, image_size):
        """On images, ``feature_mask="superpixels"``, named in the report's parameters."""
        options = super().cli_defaults(accepted, black, image_size)
        if image_size and all(image_size):
            options["feature_mask"] = "superpixels"
        return options

    def __init__(self, feature_mask=None, baseline=0.0, references=None, inputs=None,
                 channel_reduction="mean"):
        self.feature_mask = feature_mask
        self.baseline = _check_baseline(baseline)
        if references is not None:
            from kerascope.methods.integrated_gradients import reference_sets

            references = reference_sets(references)
        self.references = references
        self.inputs = input_list(inputs)
        self.channel_reduction = channel_reduction

    def postprocess(self, maps, x, ctx):
        return Method.postprocess(self, maps, x, ctx)

    def explained(self, x):
        if isinstance(x, data.Inputs):
            return explained_inputs(self.inputs, x)
        if self.inputs is not None:
            raise ValueError("inputs: only for models with several inputs.")
        return [0]

    #: without a ``feature_mask``, images are split into SLIC superpixels (a mask of
    #: single pixels moves the score by next to nothing per feature); the masks used
    #: come back in ``extras["feature_mask"]``
    image_superpixels = True

    def setup(self, ctx, x):
        """``(plan, fills)`` for rows ``x``."""
        explained = self.explained(x)
        feature_mask = self.feature_mask
        if (isinstance(feature_mask, str) and feature_mask == "superpixels") or (
                feature_mask is None and self.image_superpixels and is_image(x, ctx.channel_axis)):
            masks = superpixels(x, channel_axis=ctx.channel_axis)
            ctx.record("feature_mask", masks)
            feature_mask = lambda rows: masks  # noqa: E731 - one mask per row of x
        plan = plan_masks(feature_mask, x, ctx, explained)
        fills = fill_values(x, ctx, explained, self.baseline, self.references,
                            self.mean_references)
        return plan, fills


MAX_SURROGATE_FEATURES = 2048


def check_feature_count(m, method):
    """ValueError when a regression over ``m`` features would not fit (KernelSHAP, LIME)."""
    if m > MAX_SURROGATE_FEATURES:
        raise ValueError(
            f"feature_mask: {m} features is too many for {method}'s regression (at most "
            f"{MAX_SURROGATE_FEATURES}); group elements with a coarser mask, e.g. "
            f"feature_mask=kerascope.methods.superpixels(images) or time_windows(T, w)."
        )


def take_rows(fills, rows):
    """``fills`` of the rows ``rows`` of a group (shared fills stay as they are)."""
    return [None if f is None else (f[rows] if len(f) > 1 else f) for f in fills]


class FeatureAblation(FeatureMaskMethod):
    """Feature ablation: the score drop when each feature is set to its baseline.

    Args: as ``FeatureMaskMethod`` (``feature_mask``, ``baseline``, ``references``,
    ``inputs``, ``channel_reduction``). Maps: ``S_c(x) - S_c(x without feature j)``
    on every element of feature ``j``.
    """

    name = "feature_ablation"
    aliases = ("ablation",)
    summary = "Score drop when each feature (group of elements) is set to its baseline."
    paper = "Zeiler & Fergus 2014, arXiv:1311.2901 (Captum's FeatureAblation)"
    signed = True

    def attribute(self, ctx, x, row_targets):
        plan, fills = self.setup(ctx, x)
        full = ctx.forward(x, row_targets).scores.astype(np.float64)
        parts, order = [], []
        for rows, columns, m in plan.groups:
            sub = x[rows]
            values = np.zeros((len(rows), m), dtype=np.float64)
            if m:
                coalitions = ~np.eye(m, dtype=bool)
                off = coalition_scores(ctx, sub, row_targets[rows], columns, coalitions,
                                       take_rows(fills, rows))
                values = full[rows, None] - off
            parts.append(spread(values.astype(np.float32), columns, sub))
            order.append(rows)
        return in_order(parts, order, len(x))


def in_order(parts, order, n):
    """Maps of row groups put back in row order."""
    joined = data.concat_rows(parts) if len(parts) > 1 else parts[0]
    index = np.concatenate(order)
    if np.array_equal(index, np.arange(n)):
        return joined
    inverse = np.empty(n, dtype=np.int64)
    inverse[index] = np.arange(n)
    return joined[inverse]
