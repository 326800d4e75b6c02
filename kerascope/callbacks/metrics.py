"""Measure explanations during training: metrics per epoch and a final sanity check.

* :class:`MetricsCallback` computes chosen explanation metrics (deletion,
  insertion, MuFidelity, ... see ``kerascope.metrics.catalog()``) of one or more
  methods on a fixed validation batch every ``every_n_epochs`` epochs and writes
  each as a TensorBoard scalar ``<metric>/<method>`` (step = epoch), plus the
  deletion / insertion / ROAD curves as images ``<metric>_curve/<method>``.
* :class:`SanityCheckCallback` runs the cascading model parameter randomization
  (Adebayo et al. 2018, arXiv:1810.03292) at the end of training and writes the
  similarity per randomized layer as scalars ``sanity/<measure>`` (step = number of
  layers randomized), the paper's figure and the map strip as images, and warns
  when the maps barely change (``threshold``).

Both only read the model (the sanity check randomizes a copy), draw their random
numbers from their own seeded numpy generators, and write with
``kerascope.callbacks.summary.SummaryWriter`` (``tf.summary`` on TensorFlow, the
tensorboard package's record writer on JAX and PyTorch); training is the same with
or without them. A failure inside a metric becomes a ``RuntimeWarning`` (training
goes on) unless ``strict=True``.
"""

from __future__ import annotations

import warnings

import numpy as np

from kerascope.callbacks.base import WritingCallback
from kerascope.inputs.arrays import to_numpy
from kerascope.engine.validation import check_positive_int

__all__ = ["MetricsCallback", "SanityCheckCallback"]


def _split_validation(validation_data):
    """``(images, labels or None)`` from ``(images, labels)`` or images alone."""
    if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2 \
            and np.ndim(validation_data[0]) >= 2:
        images, labels = validation_data
    else:
        images, labels = validation_data, None
    images = np.asarray(to_numpy(images))
    if images.ndim < 2 or len(images) == 0:
        raise ValueError(
            "validation_data: expected (images, labels) or images with at least one image, "
            f"got images of shape {images.shape}."
        )
    if labels is not None:
        labels = np.asarray(to_numpy(labels))
        if len(labels) != len(images):
            raise ValueError(
                f"validation_data: got {len(images)} images and {len(labels)} labels."
            )
        if labels.ndim == 2 and labels.shape[1] > 1:  # one-hot
            labels = labels.argmax(axis=1)
        labels = labels.reshape(len(images), -1)[:, 0] if labels.ndim > 1 else labels
        if not np.issubdtype(labels.dtype, np.integer):
            if np.all(labels == np.round(labels)):
                labels = labels.astype(np.int64)
            else:
                raise ValueError("validation_data: labels must be class indices or one-hot rows.")
    return images, labels


def _targets(labels, class_index, n):
    """Explained classes: ``class_index`` if given, else the labels, else predicted."""
    if class_index is not None:
        return class_index
    if labels is not None:
        return labels
    return "predicted"


class MetricsCallback(WritingCallback):
    """Explanation metrics of a fixed validation batch, as TensorBoard scalars.

    Args:
        validation_data: ``(images, labels)`` or images; labels (class indices or
            one-hot) are the explained classes unless ``class_index`` is given.
        metrics: metric names (``kerascope.metrics.catalog()``).
        method: the method explained: a registered name, a ``Method``, a callable
            ``(model, x, targets) -> maps``, or a list / dict of them (one scalar per
            metric and method).
        class_index: explained class(es) (int or one per image); default the labels,
            else the predicted class.
        output_dir: parent folder of the run; events go to
            ``output_dir/<timestamp>`` (default ``./logs/metrics``).
        every_n_epochs: evaluate after epochs 0, n, 2n, ...
        masks: ground-truth masks for localization metrics.
        metric_options: ``{metric: {option: value}}``, e.g.
            ``{"deletion": {"steps": 20}}``.
        method_options: options of the method when it is a name or class.
        curves: also write the curve metrics' curves as images.
        batch_size: rows per model call.
        strict: raise a metric failure instead of warning.

    Attributes:
        history: ``[{"epoch": e, "<metric>/<method>": value, ...}, ...]``.
        rows: the last evaluation's table (``kerascope.metrics.evaluate`` rows).
        output_dir, failures, seconds, writer_kind.
    """

    def __init__(self, validation_data, metrics=("deletion", "insertion"),
                 method="vanilla_gradients", class_index=None, output_dir=None,
                 every_n_epochs=1, masks=None, metric_options=None, method_options=None,
                 curves=True, batch_size=32, strict=False):
        from kerascope import metrics as metrics_lib

        super().__init__(output_dir, "metrics", strict)
        self.images, labels = _split_validation(validation_data)
        self.targets = _targets(labels, class_index, len(self.images))
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        if not names:
            raise ValueError("metrics: expected at least one metric name.")
        infos = [metrics_lib.get(name) for name in names]
        missing = [info.name for info in infos if info.needs_masks]
        if missing and masks is None:
            raise ValueError(f"masks: the metric(s) {', '.join(missing)} need ground-truth masks.")
        self.metric_names = [info.name for info in infos]
        self.methods = metrics_lib.named_methods(method)
        self.every_n_epochs = check_positive_int(every_n_epochs, "every_n_epochs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.masks = masks
        self.metric_options = dict(metric_options or {})
        self.method_options = dict(method_options or {})
        self.curves = bool(curves)
        self.history = []
        self.rows = []

    def evaluate(self, model, epoch):
        """Compute the metrics with ``model`` and write them at step ``epoch``."""
        from kerascope import metrics as metrics_lib

        method_options = {label: self.method_options for label in self.methods}
        rows = metrics_lib.evaluate(
            model, self.images, self.targets, methods=self.methods, metrics=self.metric_names,
            masks=self.masks, batch_size=self.batch_size, metric_options=self.metric_options,
            method_options=method_options)
        writer = self._open_writer()
        entry = {"epoch": int(epoch)}
        for row in rows:
            tag = f"{row['metric']}/{row['method']}"
            writer.scalar(tag, row["value"], step=epoch)
            entry[tag] = row["value"]
            result = row["result"]
            if self.curves and result.curves is not None:
                title = f"{row['metric']} of {row['method']} after epoch {epoch}"
                image = metrics_lib.png_to_array(metrics_lib.curves_png(result, title=title))
                writer.image(f"{row['metric']}_curve/{row['method']}", image, step=epoch)
        self.rows = rows
        self.history.append(entry)
        return rows

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every_n_epochs:
            return
        self.guarded(f"after epoch {epoch}", lambda: self.evaluate(self.model, epoch),
                     f"the evaluation after epoch {epoch}")


class SanityCheckCallback(WritingCallback):
    """Cascading randomization sanity check of a method at the end of training.

    Args:
        validation_data: ``(images, labels)`` or images (a few images suffice).
        method: the method checked (name, ``Method`` or callable).
        class_index: explained class(es); default the labels, else predicted.
        output_dir: parent folder of the run (default ``./logs/sanity``).
        measures: similarity measures (``kerascope.metrics.randomization.MEASURES``).
        randomization, layers, seed: as ``kerascope.metrics.randomization.cascading_randomization``.
        threshold: warn when the mean ``spearman_abs`` with every layer randomized
            is above it (the maps do not depend on the weights); None: never warn.
        num_inputs: inputs in the map strip image.
        batch_size, strict: as :class:`MetricsCallback`.

    Attributes:
        result: the ``kerascope.metrics.randomization.SanityResult`` once training ended.
    """

    def __init__(self, validation_data, method="vanilla_gradients", class_index=None,
                 output_dir=None, measures=None, randomization="normal", layers=None, seed=0,
                 threshold=0.5, num_inputs=3, batch_size=32, method_options=None, strict=False):
        from kerascope.metrics import randomization as sanity

        super().__init__(output_dir, "sanity", strict)
        self.images, labels = _split_validation(validation_data)
        self.targets = _targets(labels, class_index, len(self.images))
        self.method = method
        self.measures = tuple(measures) if measures is not None else sanity.MEASURES
        sanity.check_measures(self.measures)
        self.randomization = randomization
        self.layers = layers
        self.seed = seed
        self.threshold = threshold
        self.num_inputs = check_positive_int(num_inputs, "num_inputs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.method_options = method_options
        self.result = None

    def check(self, model):
        """Run the check on ``model`` and write its scalars and figures."""
        from kerascope.metrics import randomization as sanity

        result = sanity.cascading_randomization(
            model, self.images, self.targets, self.method, layers=self.layers,
            measures=self.measures, randomization=self.randomization,
            batch_size=self.batch_size, seed=self.seed, method_options=self.method_options)
        writer = self._open_writer()
        for row in result.rows():
            for measure in result.measures:
                writer.scalar(f"sanity/{measure}", row[measure], step=row["step"])
        writer.image("sanity/figure", result.figure_array(), step=0)
        writer.image("sanity/maps", result.strip_array(self.num_inputs), step=0)
        self.result = result
        if self.threshold is not None and "spearman_abs" in result.measures:
            final = result.final("spearman_abs")
            if final > self.threshold:
                warnings.warn(
                    f"SanityCheckCallback: with every layer randomized, the {result.method} "
                    f"maps still have a rank correlation of {final:.2f} with the trained "
                    f"model's (threshold {self.threshold}): they may not explain the model "
                    "(Adebayo et al. 2018).",
                    UserWarning,
                    stacklevel=2,
                )
        return result

    def on_train_end(self, logs=None):
        try:
            self.guarded("at the end of training", lambda: self.check(self.model),
                         "the evaluation at the end of training")
        finally:
            super().on_train_end(logs)

