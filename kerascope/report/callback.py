"""``VisualLoggingCallback``: the first training batch of every epoch, as the model
receives it, into a visual log (see :mod:`kerascope.report.visual`)."""

from __future__ import annotations

import itertools
import logging

import keras

from kerascope.report.visual import VisualHandler, VisualRecord, to_numpy

__all__ = ["VisualLoggingCallback"]

_LOGGERS = itertools.count()  # one private logger per callback


class VisualLoggingCallback(keras.callbacks.Callback):
    """Log the first training batch of every epoch to an HTML page.

    The batch is taken from the training step's own input (after batching, shuffling
    and the data adapter), on every backend, and the step then runs on that same
    batch, so training is unchanged. To see it, ``model.train_function`` is wrapped
    from ``on_train_begin`` to ``on_train_end`` and restored after; the model is not
    otherwise touched.

    Args:
        path: the HTML page to write (a :class:`VisualHandler` on a private logger); or
        logger: a ``logging.Logger`` (or its name) with handlers of your own.
        max_images: images shown per batch.
        level: the logging level of the records (default ``DEBUG``).
        every_n_epochs: log epochs 0, n, 2n, ...

    Attributes:
        logged: the epochs logged so far.

    Example::

        model.fit(x, y, epochs=3, callbacks=[VisualLoggingCallback("batches.html")])
    """

    def __init__(self, path=None, logger=None, max_images=8, level=logging.DEBUG,
                 every_n_epochs=1):
        super().__init__()
        if path is None and logger is None:
            raise ValueError("path: expected an HTML file to write (or a logger with handlers).")
        for name, value in (("every_n_epochs", every_n_epochs), ("max_images", max_images)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}.")
        if logger is None:
            number = next(_LOGGERS)
            logger = logging.getLogger("kerascope.batches" + (f".{number}" if number else ""))
            logger.propagate = False
            logger.setLevel(level)
        elif isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger = logger
        self.handler = None
        if path is not None:
            self.handler = VisualHandler(path, title="kerascope: training batches")
            self.logger.addHandler(self.handler)
        self.max_images = max_images
        self.level = level
        self.every_n_epochs = every_n_epochs
        self.logged = []
        self._pending = None
        self._original = None

    def on_train_begin(self, logs=None):
        original = getattr(self.model, "train_function", None)
        if original is None or self._original is not None:
            return
        self._original = original
        callback = self

        def train_function(*args):
            if callback._pending is not None:
                epoch, callback._pending = callback._pending, None
                args = callback._peek(epoch, args)
            return original(*args)

        self.model.train_function = train_function

    def on_epoch_begin(self, epoch, logs=None):
        if epoch % self.every_n_epochs == 0:
            self._pending = epoch

    def on_train_end(self, logs=None):
        if self._original is not None:
            self.model.train_function = self._original
            self._original = None
        if self.handler is not None:
            self.handler.flush()

    def _peek(self, epoch, args):
        """Log the batch the step is about to consume; return the step's arguments."""
        last = args[-1]
        if isinstance(last, (list, tuple)) and last and isinstance(last[0], (list, tuple)):
            element = last[0]  # PyTorch: the list of this step's data
        elif hasattr(last, "__next__"):
            element = next(last)  # JAX and TensorFlow: the epoch's iterator
            args = args[:-1] + (itertools.chain([element], last),)
        else:
            element = last
        self.log(epoch, element)
        return args

    def log(self, epoch, element):
        """Log one pipeline element ``x`` or ``(x, y[, sample_weight])``."""
        x = element[0] if isinstance(element, (list, tuple)) else element
        footnote = f"epoch {epoch}, first training batch"
        if isinstance(element, (list, tuple)) and len(element) > 1 and element[1] is not None:
            labels = to_numpy(element[1])
            if labels.ndim:
                first = labels.reshape(len(labels), -1)[:8]
                shown = (first[:, 0] if first.shape[1] == 1 else first.argmax(axis=1)).tolist()
                footnote += f"; targets {labels.shape} {labels.dtype}, first classes {shown}"
        record = VisualRecord(f"epoch {epoch}: first training batch", x, footnote,
                              max_images=self.max_images)
        self.logger.log(self.level, record)
        self.logged.append(epoch)

    def close(self):
        """Detach and close the page's handler (also done when the process exits)."""
        if self.handler is not None:
            self.logger.removeHandler(self.handler)
            self.handler.close()
            self.handler = None
