"""Input handling: arrays, backend tensors, several inputs and streams of batches.

``x`` may be a numpy array, a backend tensor (TensorFlow, JAX, PyTorch), or any
iterable of batches: ``tf.data.Dataset``, ``keras.utils.PyDataset``, a PyTorch
``DataLoader``, a generator. A batch may be ``x`` alone or a tuple/list/dict whose
first element (or ``"x"``/``"inputs"``/``"image"`` key) is ``x``; labels are ignored.

A model with several inputs takes ``x`` as a list, tuple or dict of arrays, one per
input (a dict keyed by input name), or batches of them (``([a, b], y)``,
``({"a": a, "b": b}, y)``, ``(a, b)``...). Inside kerascope those rows are an
``Inputs``: one numpy array per input, all with the same number of rows; maps come
back in the structure ``x`` came in. ``per_input``, ``repeat_rows`` and
``concat_rows`` let a method treat one array and several inputs alike.
"""

import os

import numpy as np

import keras

KINDS = ("list", "tuple", "dict")


class Inputs:
    """The rows of a model with several inputs: one numpy array per input.

    Attributes:
        arrays: the arrays, in the order of ``names`` (an entry may be None: a map
            of an input a method did not explain).
        names: one name per input (dict keys, else the model's input names).
        kind: ``"list"``, ``"tuple"`` or ``"dict"``: the structure ``x`` came in,
            which the model is called with and the maps come back in.

    ``len()`` is the number of rows; indexing (``x[i]``, ``x[a:b]``, ``x[index]``)
    selects rows of every array. It is not an array: ``np.asarray(inputs)`` raises.
    """

    __slots__ = ("arrays", "names", "kind")

    def __init__(self, arrays, names, kind="list"):
        self.arrays = tuple(arrays)
        self.names = tuple(names)
        self.kind = kind
        if len(self.arrays) != len(self.names):
            raise ValueError(
                f"x: {len(self.arrays)} arrays for {len(self.names)} input names."
            )
        if kind not in KINDS:
            raise ValueError(f"x: unknown input structure {kind!r}.")

    def __len__(self):
        for array in self.arrays:
            if array is not None:
                return len(array)
        return 0

    def __getitem__(self, index):
        return self.with_arrays(None if a is None else a[index] for a in self.arrays)

    def __iter__(self):
        raise TypeError(
            "Inputs is not iterable: use .arrays for the per-input arrays and "
            "indexing for rows."
        )

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "x: rows of a model with several inputs are not one array; use "
            "kerascope.inputs.arrays.per_input to handle each input."
        )

    def with_arrays(self, arrays):
        """The same structure holding ``arrays`` (one per input)."""
        return Inputs(arrays, self.names, self.kind)

    def pack(self, values=None):
        """``values`` (default: the arrays) in the structure ``x`` came in."""
        values = self.arrays if values is None else tuple(values)
        if self.kind == "dict":
            return dict(zip(self.names, values))
        if self.kind == "tuple":
            return tuple(values)
        return list(values)

    def index(self, name):
        """Position of input ``name`` (a name or a position)."""
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if 0 <= name < len(self.names):
                return int(name)
        elif name in self.names:
            return self.names.index(name)
        raise ValueError(
            f"inputs: no model input {name!r}; the inputs are "
            f"{', '.join(map(repr, self.names))} (or positions 0..{len(self.names) - 1})."
        )

    @property
    def shapes(self):
        return tuple(None if a is None else a.shape for a in self.arrays)

    def __repr__(self):
        parts = ", ".join(
            f"{name}: {None if a is None else (a.shape, str(a.dtype))}"
            for name, a in zip(self.names, self.arrays)
        )
        return f"Inputs({self.kind}; {parts})"


# -- one code path for one array and several inputs ----------------------------------


def is_multi(x):
    return isinstance(x, Inputs)


def per_input(fn, *xs):
    """``fn`` applied to the arrays of ``xs`` (arrays or ``Inputs``), input by input.

    With ``Inputs`` among ``xs``, ``fn`` runs once per input on the matching arrays
    (plain arrays and other values are passed to every call as they are) and the
    results come back as ``Inputs``; an input whose first argument is None gives
    None. With plain arrays only, this is ``fn(*xs)``.
    """
    template = next((x for x in xs if isinstance(x, Inputs)), None)
    if template is None:
        return fn(*xs)
    results = []
    for i in range(len(template.arrays)):
        args = [x.arrays[i] if isinstance(x, Inputs) else x for x in xs]
        results.append(None if args[0] is None else fn(*args))
    return template.with_arrays(results)


def arrays(x):
    """The arrays of ``x``: ``x.arrays`` for ``Inputs``, ``(x,)`` for one array."""
    return x.arrays if isinstance(x, Inputs) else (x,)


def rebuild(template, values):
    """``values`` (one per input) shaped like ``template``: ``Inputs`` or one array."""
    values = tuple(values)
    return template.with_arrays(values) if isinstance(template, Inputs) else values[0]


def repeat_rows(x, repeats):
    """Each row of ``x`` ``repeats`` times in a row (``np.repeat`` along axis 0)."""
    return per_input(lambda a: np.repeat(a, repeats, axis=0), x)


def concat_rows(parts):
    """Rows of ``parts`` (arrays or ``Inputs`` alike) one after the other."""
    first = parts[0]
    if isinstance(first, Inputs):
        joined = []
        for i in range(len(first.arrays)):
            pieces = [part.arrays[i] for part in parts]
            joined.append(None if pieces[0] is None else np.concatenate(pieces))
        return first.with_arrays(joined)
    return np.concatenate(parts)


# -- reading user input -------------------------------------------------------------


def is_array_like(x):
    """True for numpy arrays, backend tensors and nested lists of numbers."""
    if isinstance(x, np.ndarray):
        return True
    if isinstance(x, (list, tuple)):
        return len(x) > 0
    return hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "__next__")


def _is_tensor(x):
    return isinstance(x, np.ndarray) or (
        hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "__next__")
    )


def to_numpy(x):
    """A numpy array from an array, a tensor of any installed framework (TensorFlow,
    JAX, PyTorch, also when it is not the Keras backend) or a nested list."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, Inputs):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray([to_numpy(item) for item in x])
    try:
        return np.asarray(keras.ops.convert_to_numpy(x))
    except Exception:  # noqa: BLE001 - a tensor of another framework than the backend's
        detach = getattr(x, "detach", None)
        if callable(detach):  # a torch tensor under another backend: no grad, on the host
            x = detach().cpu()
        numpy = getattr(x, "numpy", None)
        return np.asarray(numpy() if callable(numpy) else x)


def structure(x, names=None):
    """``x`` as ``Inputs`` when it holds several inputs, else None.

    ``names``: the model's input names (None when the model does not declare its
    inputs). A dict is always a structure (keys are input names). A list or tuple is
    one when the model has several inputs; for a model that does not declare its
    inputs, when it is a tuple of arrays, or a list of arrays of different shapes.
    """
    if isinstance(x, Inputs):
        return x
    if isinstance(x, dict):
        if not x:
            raise ValueError("x: an empty dict; expected one array per model input.")
        return Inputs([to_numpy(v) for v in x.values()], [str(k) for k in x], "dict")
    if not isinstance(x, (list, tuple)) or not x:
        return None
    kind = "tuple" if isinstance(x, tuple) else "list"
    if names is not None and len(names) > 1:
        if len(x) != len(names):
            # a list of samples for a multi-input model is not something we can read
            raise ValueError(
                f"x: the model has {len(names)} inputs ({', '.join(map(repr, names))}); "
                f"expected a list, tuple or dict of {len(names)} arrays, got a {kind} "
                f"of {len(x)}."
            )
        return Inputs([to_numpy(v) for v in x], names, kind)
    if names is None and all(_is_tensor(v) for v in x) and len(x) > 1:
        shapes = {tuple(np.shape(v)) for v in x}
        if kind == "tuple" or len(shapes) > 1:
            return Inputs([to_numpy(v) for v in x], [f"input_{i}" for i in range(len(x))], kind)
    return None


def _features(batch, names=None):
    multi = names is not None and len(names) > 1
    if isinstance(batch, dict):
        for key in ("x", "inputs", "input", "image", "images"):
            if key in batch and not (multi and key in names):
                return batch[key]
        if multi:
            return batch
        return next(iter(batch.values()))
    if isinstance(batch, (tuple, list)):
        if multi:
            if len(batch) in (2, 3) and isinstance(batch[0], (tuple, list, dict)):
                return batch[0]
            return batch
        if len(batch) in (2, 3) and isinstance(batch[0], dict):
            return batch[0]
        if len(batch) in (2, 3) and not _looks_like_samples(batch):
            return batch[0]
    return batch


def _looks_like_samples(batch):
    """A list of same-shaped arrays (images) rather than an (x, y) pair."""
    shapes = {tuple(np.shape(item)) for item in batch}
    return len(shapes) == 1 and len(next(iter(shapes))) >= 2


def _reject_path(x):
    if isinstance(x, (str, bytes, os.PathLike)):
        raise ValueError(
            f"x: expected an input array (or tensor, list/dict of arrays, or stream of "
            f"batches), got the {type(x).__name__} {x!r}; a path or string is not an input "
            f"array. Read image files with kerascope.io.load_images(paths, model) (also "
            f"kerascope.load_images) and pass the result."
        )


def num_samples(x, names=None):
    """Number of samples in ``x`` (array-like or several inputs); None for streams."""
    _reject_path(x)
    multi = structure(x, names) if isinstance(x, (dict, list, tuple, Inputs)) else None
    if multi is not None:
        return len(multi)
    if is_array_like(x):
        return int(np.shape(x)[0]) if np.ndim(x) else 0
    return None


def iterate(x, chunk, names=None):
    """Yield batches of at most ``chunk`` samples from ``x``: numpy arrays, or
    ``Inputs`` for several inputs (``names``: the model's input names, if known)."""
    _reject_path(x)
    multi = structure(x, names) if isinstance(x, (dict, list, tuple, Inputs)) else None
    if multi is not None:
        _check_rows(multi)
        n = len(multi)
        if n == 0:
            yield multi
            return
        for start in range(0, n, chunk):
            yield multi[start:start + chunk]
        return
    if is_array_like(x):
        array = x if isinstance(x, np.ndarray) else None
        n = num_samples(x)
        if n == 0:
            yield to_numpy(x)
            return
        for start in range(0, n, chunk):
            part = array[start:start + chunk] if array is not None else x[start:start + chunk]
            yield to_numpy(part)
        return
    if hasattr(x, "as_numpy_iterator"):
        stream = x.as_numpy_iterator()
    elif isinstance(x, keras.utils.PyDataset):
        stream = (x[i] for i in range(len(x)))
    else:
        try:
            stream = iter(x)
        except TypeError:
            raise ValueError(
                f"x: expected an array, a tensor, a list/tuple/dict of arrays (one per "
                f"model input) or an iterable of batches, got {type(x).__name__}."
            ) from None
    for batch in stream:
        features = _features(batch, names)
        multi = structure(features, names) if isinstance(features, (dict, list, tuple)) else None
        features = multi if multi is not None else to_numpy(features)
        if multi is not None:
            _check_rows(multi)
        for start in range(0, len(features), chunk):
            yield features[start:start + chunk]


def _check_rows(inputs):
    rows = {name: (np.shape(a)[0] if np.ndim(a) else 0)
            for name, a in zip(inputs.names, inputs.arrays)}
    if len(set(rows.values())) > 1:
        listed = ", ".join(f"{name!r}: {count}" for name, count in rows.items())
        raise ValueError(
            f"x: every input needs the same number of samples, got {listed}."
        )
