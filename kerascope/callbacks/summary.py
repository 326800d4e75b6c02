"""Write image summaries that TensorBoard shows, with or without TensorFlow.

``SummaryWriter(logdir).image(tag, image, step)`` appends one image to an event
file in ``logdir`` (``.scalar(tag, value, step)`` one scalar). On the TensorFlow backend it goes through ``tf.summary.image``
(``kerascope.backend.native_summary_writer``); elsewhere the record is built here with
the ``tensorboard`` package's protos and record writer, which never import
TensorFlow. Both write the same thing: a string tensor ``[width, height, png]``
tagged for TensorBoard's images plugin, read back by
``EventAccumulator(logdir).Tensors(tag)`` (or ``read_images`` below).
"""

from __future__ import annotations

import io
import itertools
import os
import socket
import time

import numpy as np
from PIL import Image

from kerascope import backend
from kerascope.compat.tf_explain.utils.image import to_uint8

__all__ = ["SummaryWriter", "EventFileWriter", "encode_png", "read_images", "read_scalars"]

_FILE_COUNTER = itertools.count()


def _as_image(image) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` with C in 1, 3, 4 -> uint8 ``(H, W, C)``."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"image: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}."
        )
    if arr.dtype != np.uint8:
        arr = to_uint8(arr)
    return np.ascontiguousarray(arr)


def encode_png(image) -> bytes:
    """PNG bytes of a uint8 ``(H, W[, C])`` image (grayscale, RGB or RGBA)."""
    arr = _as_image(image)
    pil = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


class EventFileWriter:
    """A TensorFlow-free event file writer for image summaries.

    Records are framed by ``tensorboard.summary.writer.record_writer.RecordWriter``
    (TFRecord with masked CRC32C) into ``events.out.tfevents.<time>.<host>.<pid>.<n>.v2``.
    """

    kind = "tensorboard"

    def __init__(self, logdir):
        try:
            from tensorboard.compat.proto import event_pb2
            from tensorboard.summary.writer.record_writer import RecordWriter
        except ImportError as error:  # pragma: no cover - depends on environment
            raise ImportError(
                "Writing TensorBoard summaries without TensorFlow needs the tensorboard "
                "package: pip install 'kerascope[tensorboard]'."
            ) from error
        self._event_pb2 = event_pb2
        self.logdir = str(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_FILE_COUNTER)}.v2")
        self.path = os.path.join(self.logdir, name)
        self._file = open(self.path, "wb")
        self._records = RecordWriter(self._file)
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def _write(self, event):
        self._records.write(event.SerializeToString())

    def image(self, tag, image, step):
        """Write one image under ``tag`` at ``step`` (same record as ``tf.summary.image``)."""
        from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
        from tensorboard.plugins.image import metadata

        arr = _as_image(image)
        height, width = arr.shape[:2]
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)]),
            string_val=[str(width).encode(), str(height).encode(), encode_png(arr)],
        )
        value = summary_pb2.Summary.Value(
            tag=str(tag), tensor=tensor,
            metadata=metadata.create_summary_metadata(display_name=None, description=None),
        )
        self._write(self._event_pb2.Event(
            wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=[value])))
        self.flush()

    def scalar(self, tag, value, step):
        """Write one float under ``tag`` at ``step`` (same record as ``tf.summary.scalar``:
        a float32 scalar tensor tagged for TensorBoard's scalars plugin)."""
        from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
        from tensorboard.plugins.scalar import metadata

        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
            float_val=[float(value)],
        )
        summary_value = summary_pb2.Summary.Value(
            tag=str(tag), tensor=tensor,
            metadata=metadata.create_summary_metadata(display_name=None, description=None),
        )
        self._write(self._event_pb2.Event(
            wall_time=time.time(), step=int(step),
            summary=summary_pb2.Summary(value=[summary_value])))
        self.flush()

    def flush(self):
        if not self._file.closed:
            self._records.flush()

    def close(self):
        if not self._file.closed:
            self._records.flush()
            self._file.close()


class SummaryWriter:
    """Image summaries in ``logdir`` (created if missing) for TensorBoard.

    Args:
        logdir: folder of the event file (one TensorBoard run).
        use_tensorflow: ``tf.summary`` (True) or the tensorboard package's record
            writer (False); default: ``tf.summary`` on the TensorFlow backend only.
    """

    def __init__(self, logdir, use_tensorflow=None):
        self.logdir = str(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        native = backend.native_summary_writer(self.logdir) if use_tensorflow is not False else None
        if use_tensorflow and native is None:
            raise ValueError(
                "use_tensorflow: tf.summary needs the TensorFlow backend with tensorflow "
                "installed; pass use_tensorflow=None or False."
            )
        self._impl = native if native is not None else EventFileWriter(self.logdir)
        self.closed = False

    @property
    def kind(self):
        """'tf.summary' or 'tensorboard': which writer is used."""
        return self._impl.kind

    def image(self, tag, image, step):
        """Write ``image`` (uint8 ``(H, W)`` or ``(H, W, 1|3|4)``) under ``tag`` at ``step``."""
        if self.closed:
            raise ValueError("SummaryWriter: the writer is closed.")
        self._impl.image(tag, _as_image(image), step)

    def scalar(self, tag, value, step):
        """Write the float ``value`` under ``tag`` at ``step`` (TensorBoard's scalars)."""
        if self.closed:
            raise ValueError("SummaryWriter: the writer is closed.")
        value = float(value)
        self._impl.scalar(tag, value, step)

    def flush(self):
        self._impl.flush()

    def close(self):
        if not self.closed:
            self._impl.close()
            self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_images(logdir):
    """Images written to ``logdir``: ``{tag: [(step, uint8 array (H, W, C)), ...]}``.

    Reads with TensorBoard's ``EventAccumulator``: image tensors (``tf.summary.image``
    and :class:`SummaryWriter`) and legacy ``Summary.Image`` values alike.
    """
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={event_accumulator.IMAGES: 0, event_accumulator.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    found = {}
    for name in tags.get(event_accumulator.TENSORS, []):
        if acc.SummaryMetadata(name).plugin_data.plugin_name != "images":
            continue
        found[name] = [(event.step, _decode(event.tensor_proto.string_val[2]))
                       for event in acc.Tensors(name)]
    for name in tags.get(event_accumulator.IMAGES, []):
        found[name] = [(event.step, _decode(event.encoded_image_string))
                       for event in acc.Images(name)]
    return found


def read_scalars(logdir):
    """Scalars written to ``logdir``: ``{tag: [(step, float), ...]}``.

    Reads with TensorBoard's ``EventAccumulator``: scalar tensors (``tf.summary.scalar``
    and :meth:`SummaryWriter.scalar`) and legacy ``Summary.simple_value`` alike.
    """
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    acc = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    found = {}
    for name in tags.get(event_accumulator.TENSORS, []):
        if acc.SummaryMetadata(name).plugin_data.plugin_name != "scalars":
            continue
        found[name] = [(event.step, float(tensor_util.make_ndarray(event.tensor_proto)))
                       for event in acc.Tensors(name)]
    for name in tags.get(event_accumulator.SCALARS, []):
        found[name] = [(event.step, float(event.value)) for event in acc.Scalars(name)]
    return found


def _decode(png: bytes) -> np.ndarray:
    arr = np.asarray(Image.open(io.BytesIO(png)))
    return arr[..., None] if arr.ndim == 2 else arr
