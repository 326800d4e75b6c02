"""Objectives for feature visualization: what the optimized input should maximize.

An ``Objective`` maps a batch of network states to one value per image. Objectives
compose linearly (``a + b``, ``a - b``, ``2.0 * a``, ``-a``, ``a / 2``), following
Olah, Mordvintsev & Schubert, "Feature Visualization", Distill 2017
(doi:10.23915/distill.00007) and Lucid's objective algebra:

* ``channel(layer, index)``: mean activation of one channel,
  ``mean_{y,x} A[y, x, index]`` (Erhan et al. 2009; the seed article's filter loss);
* ``neuron(layer, index, position)``: one unit ``A[y, x, index]`` (centre by default);
* ``class_logit(index)``: the class score before the final softmax/sigmoid
  (Simonyan et al. 2013, arXiv:1312.6034);
* ``direction(layer, vector)``: ``mean_{y,x} <A[y, x, :], v>``, a direction in the
  layer's activation space;
* ``deepdream(layer)``: ``mean A**2`` (Mordvintsev et al. 2015).

Unit indices, positions, vectors and weights are passed to the compiled step as
tensors, so visualizing another unit of the same kind does not recompile.
Layers are found by name anywhere in the model, nested models included.
"""

import numbers

import keras
import numpy as np

from kerascope.engine.surgery import find_layer


class Term:
    """One additive piece of an objective.

    ``structure`` is hashable and identifies what is computed (not with which unit);
    ``values`` are numpy arrays fed to the compiled step; ``__call__(ctx, values)``
    returns one value per image of ``ctx`` (keras.ops).
    """

    kind = "term"

    def __init__(self, layer=None, values=()):
        self.layer_ref = layer
        self.values = tuple(np.asarray(v) for v in values)
        self.layer = None

    def resolve(self, model):
        """Bind the layer reference to a layer object of ``model``."""
        if self.layer_ref is not None:
            try:
                self.layer = find_layer(model, self.layer_ref)
            except ValueError as error:
                message = str(error)
                if message.startswith("layer_name:"):
                    message = "layer:" + message[len("layer_name:"):]
                raise ValueError(message) from None
        return self

    def structure(self):
        return (self.kind, id(self.layer) if self.layer is not None else None,
                tuple((v.shape, str(v.dtype)) for v in self.values))

    def validate(self, shapes, channel_axis):
        """Check indices against ``shapes`` (layer id -> output shape, 'logits')."""

    def __call__(self, ctx, values):
        raise NotImplementedError


def _layer_channels(shape, channel_axis):
    axis = channel_axis if len(shape) > 2 else -1
    return shape[axis]


def _check_index(name, index, size, what):
    if not 0 <= index < size:
        raise ValueError(
            f"{name}: {what} index {index} is out of range; expected 0 <= {name} < {size}."
        )


class _Channel(Term):
    kind = "channel"

    def __init__(self, layer, index):
        super().__init__(layer, [np.int32(index)])
        self.index = int(index)

    def validate(self, shapes, channel_axis):
        channels = _layer_channels(shapes[id(self.layer)], channel_axis)
        _check_index("index", self.index, channels, f"channel of layer {self.layer.name!r} "
                     f"({channels} channels):")

    def __call__(self, ctx, values):
        return keras.ops.take(ctx.channel_means(self.layer), values[0], axis=1)


class _Neuron(Term):
    kind = "neuron"

    def __init__(self, layer, index, position):
        values = [np.int32(index)]
        if position is not None:
            values.append(np.asarray(position, dtype=np.int32))
        super().__init__(layer, values)
        self.index = int(index)
        self.position = None if position is None else tuple(int(p) for p in position)

    def validate(self, shapes, channel_axis):
        shape = shapes[id(self.layer)]
        channels = _layer_channels(shape, channel_axis)
        _check_index("index", self.index, channels,
                     f"unit of layer {self.layer.name!r} ({channels} channels):")
        spatial = _spatial_shape(shape, channel_axis)
        if self.position is not None:
            if len(self.position) != len(spatial) or any(
                not 0 <= p < s for p, s in zip(self.position, spatial)
            ):
                raise ValueError(
                    f"position: expected {len(spatial)} indices within the spatial shape "
                    f"{tuple(spatial)} of layer {self.layer.name!r}, got {self.position}."
                )

    def __call__(self, ctx, values):
        acts = ctx.channels_last(self.layer)
        spatial = acts.shape[1:-1]
        for axis, size in enumerate(spatial):
            where = values[1][axis] if len(values) > 1 else size // 2
            acts = keras.ops.take(acts, where, axis=1)
        return keras.ops.take(acts, values[0], axis=1)


class _ClassLogit(Term):
    kind = "class_logit"

    def __init__(self, index):
        super().__init__(None, [np.int32(index)])
        self.index = int(index)

    def validate(self, shapes, channel_axis):
        classes = shapes["logits"][-1]
        _check_index("index", self.index, classes, f"class ({classes} outputs):")

    def __call__(self, ctx, values):
        logits = keras.ops.reshape(ctx.logits, (ctx.logits.shape[0], -1))
        return keras.ops.take(logits, values[0], axis=1)


class _Direction(Term):
    kind = "direction"

    def __init__(self, layer, vector):
        vector = np.asarray(vector, dtype=np.float32)
        if vector.ndim != 1:
            raise ValueError(f"vector: expected a 1-D array, got shape {vector.shape}.")
        super().__init__(layer, [vector])

    def validate(self, shapes, channel_axis):
        channels = _layer_channels(shapes[id(self.layer)], channel_axis)
        if self.values[0].shape[0] != channels:
            raise ValueError(
                f"vector: expected {channels} components (the channels of layer "
                f"{self.layer.name!r}), got {self.values[0].shape[0]}."
            )

    def __call__(self, ctx, values):
        acts = ctx.channels_last(self.layer)
        dots = keras.ops.sum(acts * values[0], axis=-1)
        return _mean_but_batch(dots)


class _DeepDream(Term):
    kind = "deepdream"

    def __init__(self, layer):
        super().__init__(layer, [])

    def __call__(self, ctx, values):
        return _mean_but_batch(keras.ops.square(ctx.layer_output(self.layer)))


class _ImageTerm(Term):
    """A term of the parametrized image itself (regularizers)."""

    def __init__(self, fn, kind, values=()):
        super().__init__(None, values)
        self.fn = fn
        self.kind = kind

    def __call__(self, ctx, values):
        return self.fn(ctx.image, *values)


def _mean_but_batch(t):
    if len(t.shape) == 1:
        return t
    return keras.ops.mean(t, axis=tuple(range(1, len(t.shape))))


def _spatial_shape(shape, channel_axis):
    if len(shape) <= 2:
        return ()
    return tuple(shape[2:]) if channel_axis == 1 else tuple(shape[1:-1])


class Objective:
    """A weighted sum of terms; ``objective(ctx)`` gives one value per image.

    Compose with ``+``, ``-``, unary ``-``, and ``*`` or ``/`` by a number.
    """

    def __init__(self, terms, name=None):
        self.terms = list(terms)  # [(weight, Term)]
        self.name = name

    # -- algebra ------------------------------------------------------------------
    def __add__(self, other):
        if isinstance(other, numbers.Number) and other == 0:
            return self
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + other.terms, _join(self.name, "+", other.name))

    def __radd__(self, other):  # sum([...]) starts from 0
        if isinstance(other, numbers.Number) and other == 0:
            return self
        return NotImplemented

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + (-other).terms, _join(self.name, "-", other.name))

    def __mul__(self, factor):
        if not isinstance(factor, numbers.Real):
            return NotImplemented
        name = f"{factor:g}*({self.name})" if self.name else None
        return Objective([(w * float(factor), t) for w, t in self.terms], name)

    __rmul__ = __mul__

    def __truediv__(self, factor):
        if not isinstance(factor, numbers.Real):
            return NotImplemented
        return self * (1.0 / float(factor))

    def __repr__(self):
        return f"Objective({self.name or len(self.terms)})"

    # -- evaluation ---------------------------------------------------------------
    def resolve(self, model):
        for _, term in self.terms:
            term.resolve(model)
        return self

    def layers(self):
        return [t.layer for _, t in self.terms if t.layer is not None]

    def structure(self):
        return tuple(t.structure() for _, t in self.terms)

    def values(self):
        """Flat list of numpy arrays: weights then each term's values."""
        flat = [np.asarray([w for w, _ in self.terms], dtype=np.float32)]
        for _, term in self.terms:
            flat.extend(term.values)
        return flat

    def evaluate(self, ctx, flat):
        """One value per image of ``ctx``, from tensors laid out like ``values()``."""
        weights, position = flat[0], 1
        total = None
        for i, (_, term) in enumerate(self.terms):
            count = len(term.values)
            value = weights[i] * term(ctx, flat[position:position + count])
            position += count
            total = value if total is None else total + value
        return total


def _join(a, op, b):
    return f"{a} {op} {b}" if a and b else None


def channel(layer, index):
    """Mean activation of channel ``index`` of ``layer`` (a conv filter's response)."""
    return Objective([(1.0, _Channel(layer, index))], f"channel({_name(layer)}, {index})")


def neuron(layer, index, position=None):
    """Activation of channel ``index`` of ``layer`` at ``position`` (default: centre)."""
    return Objective([(1.0, _Neuron(layer, index, position))],
                     f"neuron({_name(layer)}, {index})")


def class_logit(index):
    """Score of class ``index`` before the final softmax/sigmoid."""
    return Objective([(1.0, _ClassLogit(index))], f"class_logit({index})")


def direction(layer, vector):
    """Mean over positions of the dot product of ``layer``'s activations with ``vector``."""
    return Objective([(1.0, _Direction(layer, vector))], f"direction({_name(layer)})")


def deepdream(layer):
    """Mean squared activation of ``layer`` (DeepDream)."""
    return Objective([(1.0, _DeepDream(layer))], f"deepdream({_name(layer)})")


def image_objective(fn, kind, values=(), name=None):
    """An objective computed from the image alone: ``fn(image, *values) -> (B,)``."""
    return Objective([(1.0, _ImageTerm(fn, kind, values))], name or kind)


def _name(layer):
    return layer if isinstance(layer, str) else getattr(layer, "name", layer)


class Context:
    """What objectives see for a batch: the image, layer outputs and logits."""

    def __init__(self, image, layer_outputs, logits, outputs, channel_axis):
        self.image = image
        self._layer_outputs = layer_outputs  # id(layer) -> tensor
        self.logits = logits
        self.outputs = outputs
        self.channel_axis = channel_axis
        self._memo = {}

    def row(self, i):
        """The context of image ``i`` alone (a batch of one)."""
        sl = lambda t: None if t is None else t[i:i + 1]  # noqa: E731
        return Context(
            sl(self.image),
            {k: sl(v) for k, v in self._layer_outputs.items()},
            sl(self.logits),
            sl(self.outputs),
            self.channel_axis,
        )

    def layer_output(self, layer):
        return self._layer_outputs[id(layer)]

    def channels_last(self, layer):
        acts = self.layer_output(layer)
        if self.channel_axis == 1 and len(acts.shape) > 2:
            acts = keras.ops.moveaxis(acts, 1, -1)
        return acts

    def channel_means(self, layer):
        """``(B, C)``: the spatial mean of every channel (computed once per pass)."""
        key = ("means", id(layer))
        if key not in self._memo:
            acts = self.channels_last(layer)
            axes = tuple(range(1, len(acts.shape) - 1))
            self._memo[key] = keras.ops.mean(acts, axis=axes) if axes else acts
        return self._memo[key]
