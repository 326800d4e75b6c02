"""The shared base of the explanation callbacks.

At the end of every ``every_n_epochs``-th epoch (``epoch % every_n_epochs == 0``, so
epoch 0 always is) an ``ExplanationCallback`` explains its validation images with
``self.model`` as it is then and writes each rendered grid to TensorBoard as an
image summary, step = epoch. It only reads the model: explanations go through
kerascope's ``ModelView`` and the backend's cached compiled passes (JAX passes the
variables as arguments, TensorFlow reads the captured variables), so nothing is
recompiled from one epoch to the next and the weights are untouched.

A failure inside the explanation (a bad layer name, a class index out of range...)
becomes a ``RuntimeWarning`` naming the cause and training goes on; with
``strict=True`` it is raised from ``fit``. A callback that could not write its event
files (no TensorBoard writer available, an output folder that cannot be created)
fails when it is constructed, never epoch after epoch.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from kerascope.compat.tf_explain.core.base import validation_images
from kerascope.engine import memory
from kerascope.engine.validation import check_positive_int

TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S.%f"


def check_can_write(owner, output_dir):
    """Raise now, at construction, what would make every epoch's write fail: no
    TensorBoard event writer (``tf.summary`` on the TensorFlow backend, else the
    ``tensorboard`` package, a kerascope dependency) or an ``output_dir`` that cannot be
    created."""
    from kerascope import backend

    native = (backend.backend_name() == "tensorflow"
              and importlib.util.find_spec("tensorflow") is not None)
    if not native:
        try:
            from tensorboard.compat.proto import event_pb2  # noqa: F401
            from tensorboard.summary.writer import record_writer  # noqa: F401
        except ImportError as error:
            raise ImportError(
                f"{owner}: writing TensorBoard event files needs the tensorboard package, a "
                f"dependency of kerascope (pip install tensorboard); importing it failed: "
                f"{error}."
            ) from error
    existing = Path(output_dir).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"output_dir: {str(output_dir)!r} cannot be created ({str(existing)!r} is not a "
            "writable folder)."
        )


def _class_indices(class_index):
    """``class_index`` as a tuple of ints and whether it was a list (one tag per class)."""
    if isinstance(class_index, (list, tuple, np.ndarray)):
        values = list(np.asarray(class_index).ravel())
        if not values:
            raise ValueError("class_index: expected an int or a non-empty list of ints, got [].")
        many = True
    else:
        values, many = [class_index], False
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(
                f"class_index: expected a non-negative int or a list of them, got {class_index!r}."
            )
    return tuple(int(v) for v in values), many


class WritingCallback(keras.callbacks.Callback):
    """What the writing callbacks share: the run folder
    ``output_dir/<timestamp %Y%m%d-%H%M%S.%f>`` (default ``./logs/<default_dir>``),
    checked at construction, created when training starts; the TensorBoard writer,
    opened on first use, closed when training ends; and :meth:`guarded`, which turns
    a failure into a ``RuntimeWarning`` (raised with ``strict=True``) and records
    ``failures`` and ``seconds``."""

    def __init__(self, output_dir, default_dir, strict):
        super().__init__()
        base = Path(output_dir) if output_dir is not None else Path("./logs") / default_dir
        self.output_dir = base / datetime.now().strftime(TIMESTAMP_FORMAT)
        check_can_write(type(self).__name__, self.output_dir)  # fail now, not every epoch
        self.strict = bool(strict)
        self.failures = []
        self.seconds = []
        self._writer = None
        self.writer_kind = None

    def _open_writer(self):
        """The run's ``SummaryWriter`` (opened on first use; the folder is created)."""
        if self._writer is None or self._writer.closed:
            from kerascope.callbacks.summary import SummaryWriter

            self._writer = SummaryWriter(self.output_dir)
            self.writer_kind = self._writer.kind
        return self._writer

    def guarded(self, when, fn, what):
        """Run ``fn()``; a failure (``what``: its description) warns or raises and is
        recorded in ``failures`` under ``when``, the time taken in ``seconds``."""
        start = time.perf_counter()
        try:
            fn()
        except Exception as error:  # noqa: BLE001 - reported, training goes on
            self.failures.append((when, error))
            if self.strict:
                raise
            warnings.warn(
                f"{type(self).__name__}: {what} failed and was skipped "
                f"({type(error).__name__}: {error}); training continues. Pass strict=True "
                "to raise instead.",
                RuntimeWarning,
                stacklevel=3,
            )
        finally:
            self.seconds.append((when, time.perf_counter() - start))

    def on_train_begin(self, logs=None):
        self.output_dir.mkdir(parents=True, exist_ok=True)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


class ExplanationCallback(WritingCallback):
    """Write an explanation grid of ``validation_data`` to TensorBoard after epochs.

    Subclasses set ``method_dir`` (the default log folder ``./logs/<method_dir>``) and
    ``tag`` (the TensorBoard tag, tf-explain's), and implement ``explain_grid(images,
    model, class_index)`` returning the uint8 grid of the matching ``kerascope.compat.tf_explain.core``
    explainer; the explainer module is imported there, lazily.

    Args:
        validation_data: ``(images, labels)`` as in tf-explain; labels are ignored.
        output_dir: parent folder of the run; the events go to
            ``output_dir/<timestamp %Y%m%d-%H%M%S.%f>`` (tf-explain's layout), created
            when training starts. Default ``./logs/<method_dir>``.
        every_n_epochs: explain after epochs 0, n, 2n, ...
        max_images: explain at most the first ``max_images`` images (None: all).
        strict: raise an explanation failure instead of warning.
        batch_size: rows per compiled pass of the explainer; ``"auto"`` (default): from
            a memory budget (``kerascope.engine.memory``).

    Attributes:
        output_dir: the run folder (with the timestamp) holding the event file.
        failures: ``[(epoch, exception), ...]`` of explanations that failed.
        seconds: ``[(epoch, seconds), ...]`` spent explaining and writing.
        writer_kind: ``'tf.summary'`` or ``'tensorboard'`` once a summary was written.
    """

    method_dir = "explanations"
    tag = "Explanation"

    def __init__(self, validation_data, class_index=None, output_dir=None, every_n_epochs=1,
                 max_images=None, strict=False, batch_size="auto"):
        images = validation_images(validation_data)
        if np.ndim(images) < 2 or len(images) == 0:
            raise ValueError(
                "validation_data: expected (images, labels) with at least one image, got "
                f"images of shape {np.shape(images)}."
            )
        self.every_n_epochs = check_positive_int(every_n_epochs, "every_n_epochs")
        self.max_images = check_positive_int(max_images, "max_images", allow_none=True)
        self.batch_size = memory.check(batch_size)
        super().__init__(output_dir, self.method_dir, strict)
        self.validation_data = validation_data
        self.images = np.asarray(images)[: self.max_images]
        if class_index is not None:
            self.class_indices, self._many = _class_indices(class_index)
        else:
            self.class_indices, self._many = (None,), False
        self.class_index = class_index

    # -- what subclasses provide -------------------------------------------------
    def explain_grid(self, images, model, class_index):
        """The uint8 grid (``(H, W)`` or ``(H, W, C)``) for one class index."""
        raise NotImplementedError

    # -- writing ------------------------------------------------------------------
    def tag_for(self, class_index):
        """``tag`` for one class, ``tag/class_<c>`` when several classes are explained."""
        return f"{self.tag}/class_{class_index}" if self._many else self.tag

    def explain_and_write(self, epoch):
        """Explain the images with the current model and write one image per class."""
        model = self.model
        for class_index in self.class_indices:
            grid = np.asarray(self.explain_grid(self.images, model, class_index))
            if grid.ndim == 2:
                grid = grid[..., None]
            self._open_writer().image(self.tag_for(class_index), grid, step=epoch)

    # -- keras hooks ----------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every_n_epochs:
            return
        self.guarded(epoch, lambda: self.explain_and_write(epoch),
                     f"the explanation after epoch {epoch}")
