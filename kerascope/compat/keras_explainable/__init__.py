"""keras-explainable's API on kerascope: ``from kerascope.compat import keras_explainable as ke``.

keras-explainable (lucasdavid/keras-explainable, 2022) imports Keras 2 internals and
cannot run on Keras 3. This face keeps its functions, arguments and shapes, on
kerascope's batched passes, on TensorFlow, JAX and PyTorch::

    logits, maps = ke.gradients(model, x, y, batch_size="auto")        # maps (N, H, W, K)
    logits, maps = ke.explain(ke.methods.gradient.gradients, model, x, y,
                              postprocessing=ke.filters.absolute_normalize)
    ke.utils.visualize([*images, *maps])

``y``: the output units to explain per sample, ``(N, K)`` (None: every unit). Shortcuts
with keras-explainable's post-processing: ``gradients`` and ``full_gradients``
(``filters.normalize``, maps at the input's size), ``cam``, ``gradcam``, ``gradcampp``
(``filters.positive_normalize``, resized to the input) and ``scorecam``
(``positive_normalize``). What differs on purpose: the score is taken before a final
softmax/sigmoid, ``filters.negative`` keeps the negative part, ``methods.meta.tta``
divides by the right number of passes, ``full_gradients`` gives one map per unit, and
the methods cannot be wrapped in ``tf.function`` (kerascope compiles its own passes),
except ``methods.gradient.gradients``, which runs traced (traceable ops, same maps).
"""

from kerascope.compat.keras_explainable import filters, inspection, methods, utils
from kerascope.compat.keras_explainable.engine import explaining
from kerascope.compat.keras_explainable.engine.explaining import explain, partial_explain

__version__ = "0.0.2+kerascope"

cam = partial_explain(methods.cams.cam, postprocessing=filters.positive_normalize)
"""``explain(methods.cams.cam, ...)`` keeping the positive part, normalized."""

gradcam = partial_explain(methods.cams.gradcam, postprocessing=filters.positive_normalize)
"""``explain(methods.cams.gradcam, ...)`` keeping the positive part, normalized."""

gradcampp = partial_explain(methods.cams.gradcampp, postprocessing=filters.positive_normalize)
"""``explain(methods.cams.gradcampp, ...)`` keeping the positive part, normalized."""

scorecam = partial_explain(methods.cams.scorecam, postprocessing=filters.positive_normalize,
                           resizing=False)
"""``explain(methods.cams.scorecam, ...)`` keeping the positive part, normalized."""

gradients = partial_explain(methods.gradient.gradients, postprocessing=filters.normalize,
                            resizing=False)
"""``explain(methods.gradient.gradients, ...)``, normalized."""

full_gradients = partial_explain(methods.gradient.full_gradients,
                                 postprocessing=filters.normalize, resizing=False)
"""``explain(methods.gradient.full_gradients, ...)``, normalized."""

__all__ = [
    "methods", "inspection", "filters", "utils", "explaining", "explain", "partial_explain",
    "gradients", "full_gradients", "cam", "gradcam", "gradcampp", "scorecam",
]
