"""The bulk API: explain many inputs at once and get raw float maps back.

``outputs, maps = kerascope.explain(method, model, x, targets, batch_size=32)``
(the shape of keras-explainable's API). ``x`` is an array, a backend tensor or an
iterable of batches; ``targets`` as in ``kerascope.targets``; ``batch_size`` bounds
the rows sent to the device at once, noisy copies and path points included.
"""

from kerascope import methods as methods_lib


def explain(method, /, model, x, targets=None, batch_size=32, postprocessing=None,
            output_index=0, use_logits=None, **method_options):
    """Explain ``model`` on ``x`` with ``method``; return ``(outputs, maps)``.

    Args:
        method: a ``Method`` instance or class, a name (``"vanilla_gradients"``,
            ``"smoothgrad"``, ...) or a ``kerascope.methods`` function.
        model: a Keras model (Sequential, Functional, nested or subclassed).
        x: inputs: numpy array, backend tensor, or iterable of batches.
        targets: class index, per-sample indices ``(N,)`` or ``(N, K)``,
            ``"predicted"`` (default), ``kerascope.top_k(k)`` or a score callable.
        batch_size: rows per device call.
        postprocessing: optional function applied to the maps (e.g.
            ``kerascope.filters.absolute_normalize``).
        output_index: which output of a multi-output model to explain.
        use_logits: explain the score before a final softmax/sigmoid; None (default)
            means the method's own default: True for gradient and CAM methods, False
            for occlusion and RISE (tf-explain's 1 - probability).
        **method_options: options of the method (``num_samples``, ``n_steps``...).

    Returns:
        ``outputs``: float32 model outputs per input; ``maps``: float32 maps,
        ``(N, ...)`` for one target per input or ``(N, K, ...)`` for K.
    """
    method = methods_lib.get(method, **method_options)
    outputs, maps = method.explain(model, x, targets, batch_size=batch_size,
                                   output_index=output_index, use_logits=use_logits)
    if postprocessing is not None:
        maps = postprocessing(maps)
    return outputs, maps


def gradients(model, x, targets=None, **options):
    """Vanilla gradients (saliency); returns ``(outputs, maps)``."""
    return explain("vanilla_gradients", model, x, targets, **options)


def gradients_inputs(model, x, targets=None, **options):
    """Gradients * Inputs; returns ``(outputs, maps)``."""
    return explain("gradients_inputs", model, x, targets, **options)


def smoothgrad(model, x, targets=None, **options):
    """SmoothGrad (``variant="vargrad"``/``"squaregrad"`` too); returns ``(outputs, maps)``."""
    return explain("smoothgrad", model, x, targets, **options)


def integrated_gradients(model, x, targets=None, **options):
    """Integrated Gradients; returns ``(outputs, maps)``."""
    return explain("integrated_gradients", model, x, targets, **options)


def grad_cam(model, x, targets=None, **options):
    """Grad-CAM (paper: mean-gradient weights, ReLU, upsampled); returns ``(outputs, maps)``."""
    return explain("grad_cam", model, x, targets, **options)


def grad_cam_plus_plus(model, x, targets=None, **options):
    """Grad-CAM++ (Eq. 19); returns ``(outputs, maps)``."""
    return explain("grad_cam_plus_plus", model, x, targets, **options)


def score_cam(model, x, targets=None, **options):
    """Score-CAM (masked forward passes, batched); returns ``(outputs, maps)``."""
    return explain("score_cam", model, x, targets, **options)


def layer_cam(model, x, targets=None, **options):
    """Layer-CAM; returns ``(outputs, maps)``."""
    return explain("layer_cam", model, x, targets, **options)


def xgrad_cam(model, x, targets=None, **options):
    """XGrad-CAM; returns ``(outputs, maps)``."""
    return explain("xgrad_cam", model, x, targets, **options)


def hires_cam(model, x, targets=None, **options):
    """HiResCAM; returns ``(outputs, maps)``."""
    return explain("hires_cam", model, x, targets, **options)


def eigen_cam(model, x, targets=None, **options):
    """Eigen-CAM (class independent); returns ``(outputs, maps)``."""
    return explain("eigen_cam", model, x, targets, **options)


def guided_backprop(model, x, targets=None, **options):
    """Guided backpropagation; returns ``(outputs, maps)``."""
    return explain("guided_backprop", model, x, targets, **options)


def deconvnet(model, x, targets=None, **options):
    """Deconvnet; returns ``(outputs, maps)``."""
    return explain("deconvnet", model, x, targets, **options)


def guided_smoothgrad(model, x, targets=None, **options):
    """SmoothGrad of guided-backpropagation gradients; returns ``(outputs, maps)``."""
    return explain("guided_smoothgrad", model, x, targets, **options)


def guided_grad_cam(model, x, targets=None, **options):
    """Guided Grad-CAM (guided backprop times upsampled Grad-CAM); returns ``(outputs, maps)``."""
    return explain("guided_grad_cam", model, x, targets, **options)


def occlusion(model, x, targets=None, **options):
    """Occlusion sensitivity (probabilities by default, as tf-explain); returns ``(outputs, maps)``."""
    return explain("occlusion", model, x, targets, **options)


def rise(model, x, targets=None, **options):
    """RISE (probabilities by default, as the paper); returns ``(outputs, maps)``."""
    return explain("rise", model, x, targets, **options)
