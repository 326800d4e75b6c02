"""The feature-visualization driver: gradient ascent of objectives over the input.

For a batch of objectives ``O_i`` (one image each) and regularizers ``R_j``, every
step maximizes ``sum_i [O_i(f(T(x_i))) - sum_j R_j(x_i)]`` where ``x = P(theta)`` is the
parametrized image, ``T`` the random transformations and ``f`` the model
(Erhan et al. 2009; Simonyan et al. 2013; Olah et al. 2017). The gradient with respect
to the parameters ``theta`` is optionally normalized per image
(``"l2"``: ``g / ||g||_2``, the seed post; ``"rms"``: ``g / (sqrt(mean g**2) + 1e-5)``,
the seed article), then applied by plain ascent ``theta += lr * g`` (``"sgd"``) or Adam
(Kingma & Ba 2015, ``"adam"``). All images of the batch are optimized together in one
compiled step per backend (``kerascope.backend.ascent_step``).

Recipes::

    visualize(model, [class_logit(c) for c in range(10)], **seed_post_recipe())
    visualize(model, [channel("block3_conv1", 0)], **seed_article_recipe())
"""

import copy
import math
import sys

import keras
import numpy as np

from kerascope import backend
from kerascope.feature_visualization import regularizers as regs
from kerascope.feature_visualization import transforms as tfm
from kerascope.feature_visualization.objectives import Context, Objective
from kerascope.feature_visualization.parametrizations import (
    FourierImage,
    Parametrization,
    PixelImage,
)
from kerascope.engine.surgery import ModelView, channel_axis
from kerascope.engine.validation import check_positive_int

_OPTIMIZERS = ("sgd", "adam")
_NORMALIZATIONS = (None, "l2", "rms")


_POST_SHAPE = (299, 299, 3)  # the seed post's Xception input, values in [-1, 1]


class FromInputShape:
    """A setting that depends on the image size, resolved by :func:`visualize` with the
    image's ``(H, W, C)`` (the model's input, or ``image_shape``)."""

    def __init__(self, make):
        self.make = make

    def resolve(self, shape_hw_c):
        return self.make(tuple(shape_hw_c))


def _post_sizes(image_shape):
    """``(learning rate, roll in px)`` of the seed post carried over to ``image_shape``."""
    pixels = float(np.prod(image_shape))
    lr = 10.0 * math.sqrt(pixels / float(np.prod(_POST_SHAPE)))
    return lr, 15.0 * min(image_shape[:2]) / float(_POST_SHAPE[0])


def seed_post_recipe(image_shape=None, value_range=None):
    """The seed post's settings: lr 10, L2 0.1, TV 0.1, 200 steps, L2-normalized
    gradient, rotation by ``randn * 0.05`` rad and roll by ``randn * 15`` px each step,
    pixel image ``centre + (u - 0.5) * range / 8`` clipped to the range.

    The post optimized 299x299x3 images. With ``image_shape`` the two size-dependent
    numbers are carried over to that size: the roll keeps its fraction of the image
    (``15 * H / 299``) and the learning rate keeps the per-pixel step of an
    L2-normalized gradient (``10 * sqrt(H W C / (299 * 299 * 3))``). Without
    ``image_shape`` both are taken from the model's input when ``visualize`` runs
    (:class:`FromInputShape`), so a 28x28 model gets 28x28 settings. ``value_range``
    centres the L2 penalty on the middle of the range (0 on the post's [-1, 1]).
    """
    if image_shape is None:  # taken from the model's input by visualize
        lr = FromInputShape(lambda shape: _post_sizes(shape)[0])
        transforms = FromInputShape(lambda shape: tfm.post_transforms(_post_sizes(shape)[1]))
    else:
        lr, shift = _post_sizes(image_shape)
        transforms = tfm.post_transforms(shift)
    centre = 0.0 if value_range is None else 0.5 * (value_range[0] + value_range[1])
    return dict(
        steps=200, learning_rate=lr, optimizer="sgd", normalize_gradients="l2",
        regularizers=[0.1 * regs.l2(centre), 0.1 * regs.total_variation()],
        transforms=transforms, parametrization=PixelImage(),
    )


def seed_article_recipe():
    """The seed article's settings: 100 steps of ascent with the gradient divided by
    its RMS, step size 1 (in the article's 0..255 pixel units: pass
    ``learning_rate=range/255`` for another range), no transforms or regularizers."""
    return dict(
        steps=100, learning_rate=1.0, optimizer="sgd", normalize_gradients="rms",
        regularizers=[], transforms=[], parametrization=PixelImage(),
    )


def lucid_recipe(size=128):
    """Lucid's ``render_vis`` defaults: Fourier image with decorrelated colours,
    Adam with lr 0.05, 512 steps, the standard transformations."""
    return dict(
        steps=512, learning_rate=0.05, optimizer="adam", normalize_gradients=None,
        regularizers=[], transforms=tfm.standard_transforms(size),
        parametrization=FourierImage(),
    )


def visualize(model, objectives, steps=256, learning_rate=0.05, optimizer="adam",
              parametrization=None, transforms="standard", regularizers=(),
              normalize_gradients=None, value_range=(0.0, 1.0), image_shape=None,
              seed=0, output_index=0, use_logits=True, progress=None,
              return_values=False):
    """Images maximizing ``objectives``, one per objective, optimized as one batch.

    Args:
        model: a Keras model (never changed).
        objectives: an ``Objective`` or a list of them (one image each).
        steps: number of ascent steps (> 0).
        learning_rate: step size (> 0).
        optimizer: ``"adam"`` or ``"sgd"`` (plain ascent ``theta += lr * g``).
        parametrization: ``PixelImage()`` or ``FourierImage()`` (default).
        transforms: list of ``transforms.Transform``, ``"standard"`` (Lucid's set
            scaled to the image size) or ``None``/``[]``.
        regularizers: objectives subtracted from every image's objective, e.g.
            ``[0.1 * l2(), 0.1 * total_variation()]``.
        normalize_gradients: ``None``, ``"l2"`` or ``"rms"`` (per image).
        value_range: valid input range ``(low, high)``; ``None`` for unbounded
            (pixel images are then not clipped).
        image_shape: input shape without batch axis when the model's is not fixed.
        seed: int seed for the initial image and the transforms (same seed, same
            images on a backend); ``None`` draws one.
        output_index, use_logits: which model output; scores before the final
            softmax/sigmoid (``class_logit`` needs ``use_logits=True``).
        progress: show a progress bar (rich or tqdm); ``None``: only for runs of
            100 steps or more on a terminal.
        return_values: also return the final objective value of each image.

    Returns:
        float32 numpy images ``(N, *input_shape)`` in the model's data layout, and
        with ``return_values`` a float32 array ``(N,)``.
    """
    if isinstance(objectives, Objective):
        objectives = [objectives]
    objectives = list(objectives)
    if not objectives or not all(isinstance(o, Objective) for o in objectives):
        raise ValueError(
            "objectives: expected an Objective or a non-empty list of Objectives "
            "(e.g. objectives.channel('conv', 0))."
        )
    check_positive_int(steps, "steps")
    if not isinstance(model, keras.Model):
        raise ValueError(f"model: expected a keras.Model, got {type(model).__name__}.")
    axis = channel_axis(model)
    shape_hw_c = input_image_shape(model, image_shape, axis)
    if isinstance(learning_rate, FromInputShape):
        learning_rate = learning_rate.resolve(shape_hw_c)
    if isinstance(transforms, FromInputShape):
        transforms = transforms.resolve(shape_hw_c)
    if not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate: expected a positive number, got {learning_rate!r}.")
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {_OPTIMIZERS}, got {optimizer!r}.")
    if normalize_gradients not in _NORMALIZATIONS:
        raise ValueError(
            f"normalize_gradients: expected one of {_NORMALIZATIONS}, "
            f"got {normalize_gradients!r}."
        )
    regularizers = list(regularizers or [])
    if not all(isinstance(r, Objective) for r in regularizers):
        raise ValueError("regularizers: expected a list of Objectives, e.g. [0.1 * l2()].")
    if value_range is not None:
        if len(value_range) != 2 or not value_range[0] < value_range[1]:
            raise ValueError(
                f"value_range: expected (low, high) with low < high, got {value_range!r}."
            )
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed: expected an int or None, got {seed!r}.")

    if isinstance(transforms, str) and transforms == "standard":
        transforms = tfm.standard_transforms(max(shape_hw_c[:2]))
    transforms = list(transforms or [])
    if not all(isinstance(t, tfm.Transform) for t in transforms):
        raise ValueError("transforms: expected a list of transforms.Transform.")
    if parametrization is None:
        parametrization = FourierImage()
    if not isinstance(parametrization, Parametrization):
        raise ValueError(
            "parametrization: expected PixelImage() or FourierImage(), got "
            f"{type(parametrization).__name__}."
        )
    parametrization = copy.copy(parametrization).build(shape_hw_c, value_range)

    rows = [_private(objective, model) for objective in objectives]
    # Regularizers are the same for every image: evaluated once on the whole batch.
    penalty = _private(sum(regularizers), model) if regularizers else None
    layers = []
    for row in rows + ([penalty] if penalty is not None else []):
        for layer in row.layers():
            if not any(layer is seen for seen in layers):
                layers.append(layer)
    view = ModelView(model, output_index=output_index, use_logits=use_logits, layers=layers)
    shapes = layer_output_shapes(view, shape_hw_c, axis)
    for row in rows + ([penalty] if penalty is not None else []):
        for _, term in row.terms:
            term.validate(shapes, axis)

    batch = len(rows)
    rng = np.random.default_rng(seed)
    params = parametrization.init(rng, batch)
    state = [np.zeros_like(p) for p in params] * 2 if optimizer == "adam" else []
    values = [row.values() for row in rows]
    if penalty is not None:
        values.append(penalty.values())

    plan = _Plan(view, rows, penalty, parametrization, transforms, value_range, axis, shape_hw_c,
                 optimizer, normalize_gradients)
    key = (
        "ascent", backend.backend_name(), view.key, tuple(r.structure() for r in rows),
        penalty.structure() if penalty is not None else None,
        parametrization.key(), tuple(t.key() for t in transforms), value_range, axis,
        shape_hw_c, optimizer, normalize_gradients, batch,
    )
    step_fn, finish_fn = backend.ascent_step(key, view, plan.loss, plan.update, plan.finish)

    to_tensor = lambda a: keras.ops.convert_to_tensor(np.asarray(a))  # noqa: E731
    params = [to_tensor(p) for p in params]
    state = [to_tensor(s) for s in state]
    value_tensors = [[to_tensor(v) for v in row] for row in values]
    lr = to_tensor(np.float32(learning_rate))
    bar = _progress(progress, steps)
    try:
        for step in range(steps):
            draws = [to_tensor(t.draw(rng)) for t in transforms]
            args = dict(values=value_tensors, transforms=draws, lr=lr,
                        step=to_tensor(np.float32(step + 1)))
            params, state, _ = step_fn(params, state, args)
            if bar is not None:
                bar.advance()
    finally:
        if bar is not None:
            bar.close()
    images, final = finish_fn(params, value_tensors)
    images = keras.ops.convert_to_numpy(images).astype(np.float32)
    if axis == 1:
        images = np.transpose(images, (0, 3, 1, 2))
    images = np.ascontiguousarray(images)
    if return_values:
        return images, keras.ops.convert_to_numpy(final).astype(np.float32)
    return images


def _private(objective, model):
    """A copy of ``objective`` with its own terms, bound to ``model``'s layers."""
    return Objective([(w, copy.copy(t)) for w, t in objective.terms]).resolve(model)


def input_image_shape(model, image_shape, axis):
    """``(H, W, C)`` of the image to optimize (channels last)."""
    if image_shape is None:
        try:
            shape = tuple(model.input_shape[1:])
        except (AttributeError, ValueError):
            shape = ()
        if not shape or any(s is None for s in shape):
            raise ValueError(
                "image_shape: the model's input shape is not fixed "
                f"({shape or 'unknown'}); pass image_shape=(H, W, C)."
            )
    else:
        shape = tuple(image_shape)
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ValueError(
            f"image_shape: expected 3 positive sizes (an image without batch axis), got {shape}."
        )
    shape = tuple(int(s) for s in shape)
    if axis == 1:
        shape = (shape[1], shape[2], shape[0])
    return shape


def layer_output_shapes(view, shape_hw_c, axis):
    """Output shapes of the view's captured layers and of the logits (one eager pass)."""
    shapes = {}

    def hook(index, output):
        shapes[id(view.layers[index])] = tuple(output.shape)
        return output

    sample = np.zeros((1,) + shape_hw_c, np.float32)
    if axis == 1:
        sample = np.transpose(sample, (0, 3, 1, 2))
    _, logits = view.forward(keras.ops.convert_to_tensor(sample), hook)
    shapes["logits"] = tuple(logits.shape)
    return shapes


class _Plan:
    """The step's pieces in keras.ops: ``loss`` and ``update`` (backend-agnostic)."""

    def __init__(self, view, rows, penalty, parametrization, transforms, value_range, axis,
                 shape_hw_c, optimizer, normalize):
        self.view = view
        self.rows = rows
        self.penalty = penalty
        self.param = parametrization
        self.transforms = transforms
        self.value_range = value_range
        self.axis = axis
        self.shape = shape_hw_c
        self.optimizer = optimizer
        self.normalize = normalize

    def model_input(self, image, draws):
        x = image
        for transform, params in zip(self.transforms, draws):
            x = transform.apply(x, params, self.value_range)
        h, w = self.shape[:2]
        if x.shape[1] != h or x.shape[2] != w:
            top, left = (x.shape[1] - h) // 2, (x.shape[2] - w) // 2
            x = x[:, top:top + h, left:left + w, :]
        if self.axis == 1:
            x = keras.ops.transpose(x, (0, 3, 1, 2))
        return x

    def evaluate(self, image, x, values, variables):
        captured = [None] * len(self.view.layers)

        def hook(index, output):
            captured[index] = output
            return output

        outputs, logits = self.view.forward(x, hook, variables=variables)
        layer_outputs = {id(layer): captured[i] for i, layer in enumerate(self.view.layers)}
        ctx = Context(image, layer_outputs, logits, outputs, self.axis)
        scores = [
            row.evaluate(ctx.row(i), values[i]) for i, row in enumerate(self.rows)
        ]
        scores = keras.ops.concatenate([keras.ops.reshape(s, (1,)) for s in scores])
        if self.penalty is not None:
            scores = scores - self.penalty.evaluate(ctx, values[len(self.rows)])
        return scores

    def loss(self, params, args, variables):
        """``(sum of per-image objectives, per-image objectives)``."""
        image = self.param.image(params)
        x = self.model_input(image, args["transforms"])
        scores = self.evaluate(image, x, args["values"], variables)
        return keras.ops.sum(scores), scores

    def update(self, params, grads, state, args):
        """One ascent step on ``params`` (keras.ops); returns ``(params, state)``."""
        ops = keras.ops
        if self.normalize is not None:
            per_image = None
            for g in grads:
                axes = tuple(range(1, len(g.shape)))
                s = ops.sum(ops.square(g), axis=axes)
                per_image = s if per_image is None else per_image + s
            if self.normalize == "l2":
                scale = ops.rsqrt(ops.maximum(per_image, 1e-12))
            else:
                count = sum(int(np.prod(g.shape[1:])) for g in grads)
                scale = 1.0 / (ops.sqrt(per_image / count) + 1e-5)
            grads = [g * ops.reshape(scale, (-1,) + (1,) * (len(g.shape) - 1)) for g in grads]
        lr = args["lr"]
        if self.optimizer == "sgd":
            new = [p + lr * g for p, g in zip(params, grads)]
            new_state = list(state)
        else:
            beta1, beta2, eps = 0.9, 0.999, 1e-8
            t = args["step"]
            n = len(params)
            m = [beta1 * m0 + (1 - beta1) * g for m0, g in zip(state[:n], grads)]
            v = [beta2 * v0 + (1 - beta2) * ops.square(g) for v0, g in zip(state[n:], grads)]
            c1 = 1.0 - ops.power(beta1, t)
            c2 = 1.0 - ops.power(beta2, t)
            new = [
                p + lr * (mi / c1) / (ops.sqrt(vi / c2) + eps)
                for p, mi, vi in zip(params, m, v)
            ]
            new_state = m + v
        return list(self.param.project(new)), new_state

    def finish(self, params, values, variables):
        """The images (channels last) and their objectives without transforms."""
        image = self.param.image(params)
        x = self.model_input(image, [])
        return image, self.evaluate(image, x, values, variables)


class _Bar:
    def __init__(self, steps):
        self._close = None
        try:
            from rich.progress import Progress

            progress = Progress(transient=True)
            progress.start()
            task = progress.add_task("feature visualization", total=steps)
            self.advance = lambda: progress.advance(task)
            self._close = progress.stop
        except ImportError:  # pragma: no cover - rich is a dependency
            from tqdm import tqdm

            bar = tqdm(total=steps, desc="feature visualization", leave=False)
            self.advance = lambda: bar.update(1)
            self._close = bar.close

    def close(self):
        self._close()


def _progress(progress, steps):
    if progress is None:
        progress = steps >= 100 and sys.stderr.isatty()
    return _Bar(steps) if progress else None


__all__ = ["visualize", "seed_post_recipe", "seed_article_recipe", "lucid_recipe", "FromInputShape"]
