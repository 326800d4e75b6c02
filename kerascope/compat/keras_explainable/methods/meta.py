"""keras-explainable's meta methods on kerascope: ``smooth`` and ``tta``.

Given one of this package's method functions they wrap its kerascope method with
kerascope's meta-methods (``kerascope.methods.meta``), so the noisy, resized and mirrored
copies go through the model in batches. Differences from keras-explainable, on purpose:

* ``smooth`` averages ``repetitions`` noisy copies (keras-explainable: the clean input
  plus ``repetitions - 1`` noisy copies), with absolute ``noise`` as keras-explainable.
* ``tta`` averages the unscaled passes and the passes of every scale, each plain and
  mirrored (``hflip``), dividing by their number, ``(1 + len(scales)) * (2 if hflip
  else 1)``; keras-explainable divides by ``len(scales) * 2`` although it adds the
  unscaled passes too. The logits returned are those of the original input.

Any other callable ``method(model, inputs, *args, **params) -> (logits, maps)`` is
wrapped the same way in plain Python loops.
"""

import numpy as np

from kerascope.compat.keras_explainable.inspection import KERNEL_AXIS, SPATIAL_AXIS
from kerascope.compat.keras_explainable.methods._run import run
from kerascope.methods.meta import Smooth, TestTimeAugmentation
from kerascope.engine.numeric import upsample
from kerascope.compat.tf_explain.utils.image import as_numpy

_RUN_KEYS = ("indices", "indices_axis", "indices_batch_dims", "batch_size")


def _split(args, params):
    """keras-explainable's call ``(model, inputs, indices, ...)``: run options and the
    method's own parameters."""
    params = dict(params)
    if args:
        if "indices" in params:
            raise ValueError("indices: given both positionally and by name.")
        params["indices"] = args[0]
        if len(args) > 1:
            raise ValueError(
                "args: pass the method's options by name (indices_axis=..., spatial_axis=...)."
            )
    run_options = {key: params.pop(key) for key in _RUN_KEYS if key in params}
    run_options.setdefault("indices_axis", KERNEL_AXIS)
    run_options.setdefault("indices_batch_dims", -1)
    return run_options, params


def _wrap(method, make_meta, fallback, suffix):
    build = getattr(method, "kerascope_method", None)

    def apply(model, inputs, *args, **params):
        if build is None:
            return fallback(model, inputs, *args, **params)
        run_options, params = _split(args, params)
        spatial_axis = params.pop("spatial_axis", SPATIAL_AXIS)
        meta = make_meta(build(model, inputs, spatial_axis=spatial_axis, **params))
        return run(meta, model, inputs, **run_options)

    def meta_build(model, inputs, spatial_axis=SPATIAL_AXIS, **params):
        return make_meta(build(model, inputs, spatial_axis=spatial_axis, **params))

    if build is not None:
        apply.kerascope_method = meta_build
    apply.__name__ = f"{getattr(method, '__name__', 'method')}_{suffix}"
    return apply


def smooth(method, repetitions=20, noise=0.1):
    """``method`` averaged over ``repetitions`` copies of the input with Gaussian noise of
    standard deviation ``noise`` (absolute): SmoothGrad of any method."""

    def make(inner):
        return Smooth(inner, num_samples=repetitions, noise=noise, relative=False)

    def fallback(model, inputs, *args, **params):
        x = np.asarray(as_numpy(inputs), dtype=np.float32)
        total_logits, total_maps = 0.0, 0.0
        for _ in range(repetitions):
            noisy = x + np.random.normal(0, noise, x.shape).astype(np.float32)
            logits, maps = method(model, noisy, *args, **params)
            total_logits = total_logits + as_numpy(logits)
            total_maps = total_maps + as_numpy(maps)
        return total_logits / repetitions, total_maps / repetitions

    return _wrap(method, make, fallback, "smooth")


def tta(method, scales=(0.5, 1.5, 2.0), hflip=True, resize_method="bilinear"):
    """``method``'s maps of the input and of its copies resized by ``scales`` (and their
    mirrors, ``hflip``), mapped back to the input's frame and averaged. Scales other than
    1 need a model taking inputs of any size."""
    if resize_method != "bilinear":
        raise ValueError(
            f"resize_method: only 'bilinear' (half-pixel centres, no antialiasing) is "
            f"supported, got {resize_method!r}."
        )
    all_scales = (1.0, *[float(s) for s in scales])

    def make(inner):
        return TestTimeAugmentation(inner, scales=all_scales, hflip=hflip)

    def fallback(model, inputs, spatial_axis=SPATIAL_AXIS, **params):
        x = np.asarray(as_numpy(inputs), dtype=np.float32)
        size = x.shape[1:-1]
        logits_sum, maps_sum, count = 0.0, 0.0, 0
        for scale in all_scales:
            scaled = upsample(x, tuple(max(1, int(scale * s)) for s in size))
            for flip in (False, True) if hflip else (False,):
                rows = np.flip(scaled, axis=-2) if flip else scaled
                logits, maps = method(model, rows, spatial_axis=spatial_axis, **params)
                maps = np.asarray(as_numpy(maps), dtype=np.float32)
                maps = np.flip(maps, axis=-2) if flip else maps
                maps_sum = maps_sum + upsample(maps, size)
                logits_sum = logits_sum + (as_numpy(logits) if scale == 1.0 and not flip else 0)
                count += 1
        return logits_sum, maps_sum / count

    return _wrap(method, make, fallback, "tta")


__all__ = ["smooth", "tta"]
