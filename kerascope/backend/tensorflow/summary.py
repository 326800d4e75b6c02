"""TensorBoard image and scalar summaries through ``tf.summary`` (TensorFlow backend only)."""

import numpy as np
import tensorflow as tf


class TFSummaryWriter:
    """``tf.summary.create_file_writer`` in ``logdir``; images via ``tf.summary.image``."""

    kind = "tf.summary"

    def __init__(self, logdir):
        self.logdir = str(logdir)
        self._writer = tf.summary.create_file_writer(self.logdir)

    def image(self, tag, image, step):
        """Write one uint8 ``(H, W, C)`` image (C in 1, 3, 4) under ``tag`` at ``step``."""
        with self._writer.as_default():
            tf.summary.image(tag, np.asarray(image, dtype=np.uint8)[None], step=int(step),
                             max_outputs=1)
        self._writer.flush()

    def scalar(self, tag, value, step):
        """Write one float under ``tag`` at ``step`` via ``tf.summary.scalar``."""
        with self._writer.as_default():
            tf.summary.scalar(tag, float(value), step=int(step))
        self._writer.flush()

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()
