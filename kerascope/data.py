"""Input handling: arrays, backend tensors and streams of batches.

``x`` may be a numpy array, a backend tensor (TensorFlow, JAX, PyTorch), or any
iterable of batches: ``tf.data.Dataset``, ``keras.utils.PyDataset``, a PyTorch
``DataLoader``, a generator. A batch may be ``x`` alone or a tuple/list/dict whose
first element (or ``"x"``/``"inputs"``/``"image"`` key) is ``x``; labels are ignored.
"""

import numpy as np

import keras


def is_array_like(x):
    """True for numpy arrays, backend tensors and nested lists of numbers."""
    if isinstance(x, np.ndarray):
        return True
    if isinstance(x, (list, tuple)):
        return len(x) > 0
    return hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "__next__")


def to_numpy(x):
    """A numpy array from an array, tensor or nested list."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray([to_numpy(item) for item in x])
    try:
        return np.asarray(keras.ops.convert_to_numpy(x))
    except Exception:  # pragma: no cover - unusual tensor types
        return np.asarray(x)


def _features(batch):
    if isinstance(batch, dict):
        for key in ("x", "inputs", "input", "image", "images"):
            if key in batch:
                return batch[key]
        return next(iter(batch.values()))
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3) and not _looks_like_samples(batch):
        return batch[0]
    return batch


def _looks_like_samples(batch):
    """A list of same-shaped arrays (images) rather than an (x, y) pair."""
    shapes = {tuple(np.shape(item)) for item in batch}
    return len(shapes) == 1 and len(next(iter(shapes))) >= 2


def num_samples(x):
    """Number of samples in array-like ``x``; None for streams."""
    if is_array_like(x):
        return int(np.shape(x)[0]) if np.ndim(x) else 0
    return None


def iterate(x, chunk):
    """Yield numpy batches of at most ``chunk`` samples from ``x``."""
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
                f"x: expected an array, a tensor or an iterable of batches, got "
                f"{type(x).__name__}."
            ) from None
    for batch in stream:
        features = to_numpy(_features(batch))
        for start in range(0, len(features), chunk):
            yield features[start:start + chunk]
