"""Runs a model view's compiled passes over many rows, ``batch_size`` at a time.

Methods expand their inputs into rows (noisy copies, path points, masked images)
and hand them to a ``PassRunner``; it feeds them to the backend in batches of at
most ``batch_size`` rows and returns numpy arrays. On JAX, where every new shape is a
new XLA compilation, a short batch is padded (its last row repeated) to the
smallest size already compiled that fits; TensorFlow relaxes its traced shapes
itself and PyTorch never compiles.

Rows are one array or, for a model with several inputs, ``kerascope.data.Inputs``
(one array per input, fed to the model in the structure the user gave). Integer
arrays (token ids) are fed as int32, everything else as float32. ``layer_values``
(one array or None per captured layer, row-aligned with ``x``) replace the captured
layers' outputs during the pass (layer attribution).
"""

import numpy as np

import keras

from kerascope import backend, data
from kerascope.backend.common import Passes
from kerascope.surgery import ModelView


class PassRunner:
    """Batched forward / forward+backward passes of one ``ModelView``.

    Args:
        view: the ``ModelView`` (which output, logits, captured layers).
        score: a ``Score`` from ``kerascope.targets``.
        batch_size: rows per compiled call; bounds device memory.
        dtype: input dtype fed to the model.
    """

    def __init__(self, view, score, batch_size=32, dtype="float32"):
        self.view = view
        self.score = score
        self.batch_size = int(batch_size)
        self.dtype = dtype
        self._compiled_sizes = set()

    @classmethod
    def for_model(cls, model, score, batch_size=32, output_index=0, use_logits=True,
                  layers=(), rules=()):
        view = ModelView(model, output_index=output_index, use_logits=use_logits,
                         layers=layers, rules=rules)
        return cls(view, score, batch_size=batch_size)

    def backprop(self, x, targets, wrt_inputs=True, layer_values=None):
        """Scores and gradients for rows ``x`` with int32 row ``targets``.

        ``input_grads`` has the form of ``x`` (one array or ``Inputs``)."""
        fn = backend.compiled(self.view, self.score, gradients=True, wrt_inputs=wrt_inputs)
        return self._run(fn, x, targets, layer_values)

    def forward(self, x, targets=None, layer_values=None):
        """Outputs, scores and captured layer outputs for rows ``x``, no gradients."""
        if targets is None:
            targets = np.zeros(len(x), dtype=np.int32)
        fn = backend.compiled(self.view, self.score, gradients=False)
        return self._run(fn, x, targets, layer_values)

    def _tensor(self, array):
        array = np.asarray(array)
        dtype = "int32" if np.issubdtype(array.dtype, np.integer) else self.dtype
        return keras.ops.convert_to_tensor(array, dtype=dtype)

    def _feed(self, xb):
        """Rows as the model takes them: one tensor, or the user's structure."""
        if isinstance(xb, data.Inputs):
            tensors = [self._tensor(a) for a in xb.arrays]
            return tensors[0] if len(tensors) == 1 else xb.pack(tensors)
        return self._tensor(xb)

    def _run(self, fn, x, targets, layer_values=None):
        n = len(x)
        if n == 0:
            raise ValueError("x: empty batch; expected at least one input.")
        if layer_values is not None:
            layer_values = _check_values(layer_values, len(self.view.layers), n)
        pad = backend.pads_batches()
        pieces = []
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            xb, tb = x[start:stop], targets[start:stop]
            vb = None if layer_values is None else [
                None if v is None else v[start:stop] for v in layer_values
            ]
            if pad:
                extra = self._padded_rows(stop - start) - (stop - start)
                if extra:
                    xb = data.concat_rows([xb, data.repeat_rows(xb[-1:], extra)])
                    tb = np.concatenate([tb, np.repeat(tb[-1:], extra, axis=0)])
                    if vb is not None:
                        vb = [None if v is None else np.concatenate(
                            [v, np.repeat(v[-1:], extra, axis=0)]) for v in vb]
            values = None if vb is None else [
                None if v is None else keras.ops.convert_to_tensor(v, dtype=self.dtype)
                for v in vb
            ]
            args = (self._feed(xb), keras.ops.convert_to_tensor(np.asarray(tb, dtype=np.int32)))
            result = fn(*args) if values is None else fn(*args, values)
            pieces.append((stop - start, _to_numpy(result, x)))
        return _concat(pieces)

    def _padded_rows(self, rows):
        """Rows a chunk of ``rows`` is padded to on JAX (each size is one compilation):
        the smallest size already compiled that fits, else ``rows`` itself (a new
        compilation). A short first call never caps later, larger ones, and a method
        that always hands the same number of rows is never padded."""
        fitting = [size for size in self._compiled_sizes if size >= rows]
        size = min(fitting) if fitting else rows
        self._compiled_sizes.add(size)
        return size


def _check_values(values, count, rows):
    values = list(values)
    if len(values) != count:
        raise ValueError(
            f"layer_values: expected one array (or None) per captured layer ({count}), "
            f"got {len(values)}."
        )
    values = [None if v is None else np.asarray(v, dtype=np.float32) for v in values]
    for v in values:
        if v is not None and len(v) != rows:
            raise ValueError(
                f"layer_values: expected {rows} rows like x, got shape {v.shape}."
            )
    return values


def _input_grads(grads, x):
    """Input gradients in the form of the rows ``x``: one array or ``Inputs``."""
    if grads is None:
        return None
    if isinstance(x, data.Inputs):
        if len(x.arrays) == 1:
            values = [grads]
        elif isinstance(grads, dict):
            values = [grads[name] for name in x.names]
        else:
            values = list(grads)
        return x.with_arrays(keras.ops.convert_to_numpy(g) for g in values)
    return keras.ops.convert_to_numpy(grads)


def _to_numpy(result, x):
    convert = lambda t: None if t is None else keras.ops.convert_to_numpy(t)  # noqa: E731
    return Passes(
        outputs=convert(result.outputs),
        scores=convert(result.scores),
        units=convert(result.units),
        input_grads=_input_grads(result.input_grads, x),
        layer_outputs=tuple(map(convert, result.layer_outputs)),
        layer_grads=tuple(map(convert, result.layer_grads)),
    )


def _concat(pieces):
    def join(arrays):
        if arrays[0][1] is None:
            return None
        return data.concat_rows([a[:n] for n, a in arrays])

    first = pieces[0][1]
    return Passes(
        outputs=join([(n, p.outputs) for n, p in pieces]),
        scores=join([(n, p.scores) for n, p in pieces]),
        units=join([(n, p.units) for n, p in pieces]),
        input_grads=join([(n, p.input_grads) for n, p in pieces]),
        layer_outputs=tuple(
            join([(n, p.layer_outputs[i]) for n, p in pieces])
            for i in range(len(first.layer_outputs))
        ),
        layer_grads=tuple(
            join([(n, p.layer_grads[i]) for n, p in pieces])
            for i in range(len(first.layer_grads))
        ),
    )
