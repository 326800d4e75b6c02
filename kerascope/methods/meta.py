"""Meta-methods: wrap any registered method.

* ``smooth``: SmoothGrad of anything (Smilkov et al. 2017, arXiv:1706.03825), as
  PAIR's ``GetSmoothedMask`` and Captum's ``NoiseTunnel``: the wrapped method's raw
  maps ``m(x_i)`` at ``num_samples`` noisy copies ``x_i = x + N(0, sigma^2)``,
  averaged (``variant="smoothgrad"``), squared then averaged (``"squaregrad"``) or
  their variance (``"vargrad"``), then the wrapped method's own post-processing
  (channel reduction). ``sigma = noise * (max(x) - min(x))`` per input
  (``relative=True``, PAIR's ``stdev_spread``) or ``sigma = noise``
  (``relative=False``, Captum's ``stdevs`` and keras-explainable). Smoothing
  ``vanilla_gradients`` is SmoothGrad; with ``noise=0`` the wrapped method's map comes
  back unchanged.
* ``tta``: test-time augmentation (keras-explainable's ``tta``): the wrapped method's
  maps of the input resized by each of ``scales`` (bilinear, half-pixel centres) and,
  with ``hflip``, of its horizontal mirror; every map is mapped back to the input's
  frame (flipped back, resized to the input's size) and the ``len(scales) * (2 if
  hflip else 1)`` maps are averaged. A scale of 1 is the input itself: ``scales=(1,)``
  without flip returns the wrapped method's map. (keras-explainable always adds the
  unscaled passes but divides by ``len(scales) * 2``.)

Both explain the units of the original input: targets such as ``"predicted"`` are
resolved on it once, then every noisy, resized or flipped copy explains those units.
Copies go through the wrapped method in batches (noisy copies of several inputs
together; both flips of one scale together).
"""

import numpy as np

import keras

from kerascope.engine import noise as noise_lib
from kerascope.methods import registry
from kerascope.methods.base import Method
from kerascope.methods.smoothgrad import noisy_rows
from kerascope.engine.numeric import upsample
from kerascope.engine.validation import check_choice, check_positive_int, model_input_shape

VARIANTS = ("smoothgrad", "squaregrad", "vargrad")
DEFAULT_SCALES = (0.5, 1.0, 1.5, 2.0)


class MetaMethod(Method):
    """Base of methods that wrap another registered method (``method`` + its options)."""

    family = "meta"
    evaluates_inputs = False  # units resolved on the original input, then explained

    def __init__(self, method, **method_options):
        self.method = registry.get(method, **method_options)
        inner = type(self.method)
        # What depends on the wrapped method (the driver and renderers read these).
        self.default_use_logits = self.method.default_use_logits
        self.signed = bool(getattr(self.method, "signed", inner.signed))
        self.wrapped_family = getattr(self.method, "family", inner.family)

    def rows_per_input(self):
        return self.copies() * self.method.rows_per_input()

    def copies(self):
        raise NotImplementedError


class Smooth(MetaMethod):
    """The wrapped method's maps averaged over noisy copies of the input.

    Args:
        method: a registered name, a ``Method`` class or instance (e.g.
            ``"grad_cam"``, ``"integrated_gradients"``).
        num_samples: noisy copies per input.
        noise: standard deviation, relative to each input's value range
            (``relative=True``) or absolute.
        relative: see ``noise``.
        variant: "smoothgrad" (mean), "squaregrad" (mean of squares) or "vargrad"
            (variance).
        seed: seed of the noise (``kerascope.engine.noise``, SmoothGrad's draws: smoothing
            ``vanilla_gradients`` gives ``smoothgrad``'s maps); None draws fresh noise.
        **method_options: options of ``method`` when it is a name or class.
    """

    name = "smooth"
    aliases = ("noise_tunnel", "smoothed")
    summary = "Any method's maps averaged over noisy copies of the input (SmoothGrad of anything)."
    paper = "Smilkov et al. 2017, arXiv:1706.03825"

    def __init__(self, method="vanilla_gradients", num_samples=25, noise=0.15, relative=True,
                 variant="smoothgrad", seed=None, **method_options):
        super().__init__(method, **method_options)
        self.num_samples = check_positive_int(num_samples, "num_samples")
        if isinstance(noise, bool) or not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise: expected a finite value >= 0, got {noise!r}.")
        self.noise = float(noise)
        self.relative = bool(relative)
        self.variant = check_choice(variant, "variant", VARIANTS)
        self.seed = seed
        if self.variant != "smoothgrad":
            self.signed = False

    def copies(self):
        return self.num_samples

    def noisy_copies(self, x, seed=None, samples=None):
        """``(len(x) * num_samples, ...)`` rows, input-major: SmoothGrad's noise
        (``kerascope.engine.noise``, keyed by ``seed``, default the method's, and each
        input's index ``samples``, default ``0..n-1``)."""
        seed = noise_lib.seed_value(self.seed if seed is None else seed)
        samples = np.arange(len(x)) if samples is None else samples
        rows = noisy_rows(x, self.noise, seed, np.asarray(samples, dtype=np.int32),
                          np.arange(self.num_samples, dtype=np.int32),
                          relative=self.relative)
        return keras.ops.convert_to_numpy(rows)

    def attribute(self, ctx, x, row_targets):
        samples = ctx.row_samples if ctx.row_samples is not None and len(
            ctx.row_samples) == len(x) else None
        rows = self.noisy_copies(x, ctx.seed(self.seed), samples)
        targets = np.repeat(row_targets, self.num_samples)
        maps = ctx.run(self.method, rows, targets, postprocess=False).astype(np.float64)
        maps = maps.reshape((len(x), self.num_samples) + maps.shape[1:])
        if self.variant == "smoothgrad":
            return maps.mean(axis=1)
        if self.variant == "squaregrad":
            return np.square(maps).mean(axis=1)
        return maps.var(axis=1)

    def postprocess(self, maps, x, ctx):
        return self.method.postprocess(maps, x, ctx)


class TestTimeAugmentation(MetaMethod):
    """The wrapped method's maps over resized and mirrored inputs, mapped back, averaged.

    Args:
        method: a registered name, a ``Method`` class or instance.
        scales: resize factors of the input's spatial size (1 is the input itself);
            scaled sizes are ``floor(scale * size)``. Scales other than 1 need a model
            that takes inputs of any spatial size. None (default): ``(0.5, 1, 1.5, 2)``
            for such a model, ``(1,)`` (mirroring only) for a model of fixed input size.
        hflip: also explain the horizontal mirror of every scaled input.
        **method_options: options of ``method`` when it is a name or class.
    """

    name = "tta"
    aliases = ("test_time_augmentation",)
    summary = "Any method's maps averaged over rescaled and mirrored inputs, mapped back."
    paper = "keras-explainable's tta (Lucas David 2022); test-time augmentation"

    __test__ = False  # not a pytest class

    def __init__(self, method="grad_cam", scales=None, hflip=True, **method_options):
        super().__init__(method, **method_options)
        if scales is None:
            self.scales = None
            self.hflip = bool(hflip)
            return
        scales = [scales] if np.ndim(scales) == 0 else list(scales)
        if not scales:
            raise ValueError("scales: expected at least one scale, got none.")
        for scale in scales:
            if isinstance(scale, bool) or not np.isfinite(scale) or scale <= 0:
                raise ValueError(f"scales: expected positive numbers, got {scale!r}.")
        self.scales = tuple(float(s) for s in scales)
        self.hflip = bool(hflip)

    def copies(self, scales=None):
        scales = scales or self.scales or DEFAULT_SCALES
        return len(scales) * (2 if self.hflip else 1)

    def scales_for(self, ctx, axes):
        """The scales of this call: the option, or the default for ``ctx.model``."""
        if self.scales is not None:
            return self.scales
        expected = model_input_shape(ctx.model)
        if expected is not None and any(expected[a] is not None for a in axes):
            return (1.0,)
        return DEFAULT_SCALES

    @staticmethod
    def _spatial(x, ctx):
        """Axes of ``x``'s spatial dimensions (rows, then spatial, channels)."""
        if x.ndim < 3:
            raise ValueError(
                f"x: test-time augmentation resizes and mirrors spatial inputs "
                f"(batch, *spatial, channels); got shape {x.shape}."
            )
        first = 2 if ctx.channel_axis == 1 else 1
        return tuple(range(first, first + x.ndim - 2))

    @staticmethod
    def _resize(array, axes, size):
        """``array`` resized on ``axes`` (consecutive) to ``size``."""
        if tuple(array.shape[a] for a in axes) == tuple(size):
            return array
        moved = np.moveaxis(array, axes, range(1, 1 + len(axes)))
        out = upsample(moved, size)
        return np.moveaxis(out, range(1, 1 + len(axes)), axes)

    def _map_axes(self, maps, x, ctx):
        n_spatial = x.ndim - 2
        if maps.ndim == x.ndim - 1:
            return tuple(range(1, 1 + n_spatial))
        if maps.ndim == x.ndim:
            return self._spatial(maps, ctx)
        raise ValueError(
            f"method: {type(self.method).__name__} returned maps of shape {maps.shape[1:]} "
            f"for inputs of shape {x.shape[1:]}; test-time augmentation needs maps with "
            f"the input's spatial axes."
        )

    def attribute(self, ctx, x, row_targets):
        x = np.asarray(x, dtype=np.float32)
        axes = self._spatial(x, ctx)
        size = tuple(x.shape[a] for a in axes)
        width = axes[-1]
        total = None
        n = len(x)
        scales = self.scales_for(ctx, axes)
        for scale in scales:
            scaled_size = tuple(max(1, int(scale * s)) for s in size)
            self._check_size(ctx, axes, scaled_size, scale)
            rows = self._resize(x, axes, scaled_size).astype(np.float32)
            targets = row_targets
            if self.hflip:
                rows = np.concatenate([rows, np.flip(rows, axis=width)])
                targets = np.concatenate([row_targets, row_targets])
            maps = ctx.run(self.method, rows, targets).astype(np.float64)
            map_axes = self._map_axes(maps, x, ctx)
            if self.hflip:
                maps[n:] = np.flip(maps[n:], axis=map_axes[-1])
            maps = self._resize(maps, map_axes, size)
            summed = maps[:n] + maps[n:] if self.hflip else maps
            total = summed if total is None else total + summed
        return (total / self.copies(scales)).astype(np.float32)

    @staticmethod
    def _check_size(ctx, axes, scaled_size, scale):
        expected = model_input_shape(ctx.model)
        if expected is None:
            return
        fixed = tuple(expected[a] for a in axes)
        if any(f is not None and f != s for f, s in zip(fixed, scaled_size)):
            raise ValueError(
                f"scales: scale {scale} resizes the inputs to {scaled_size}, but model "
                f"{ctx.model.name!r} takes inputs of spatial size {fixed} only; use "
                f"scales=(1.0,) (mirroring only) or a model built with None spatial sizes "
                f"(keras.Input((None, None, channels)))."
            )

    def postprocess(self, maps, x, ctx):
        return maps


__all__ = ["MetaMethod", "Smooth", "TestTimeAugmentation"]
