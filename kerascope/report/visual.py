"""Visual logging: images from any point of a data pipeline into one HTML page.

As the VisualLogging library the seed article uses, a :class:`VisualRecord` is the
message of an ordinary ``logging`` call and a handler turns it into HTML::

    import logging
    from kerascope.report import VisualHandler, VisualRecord

    logger = logging.getLogger("pipeline")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(VisualHandler("pipeline.html"))
    logger.debug(VisualRecord("after augmentation", batch, "random flips and crops"))

:class:`VisualHandler` writes one self-contained page (images embedded as PNG data
URIs, no network), complete after every record, so it can be opened while training
runs. Images may be numpy arrays, backend tensors (TensorFlow, JAX, PyTorch), a
``tf.data`` element ``(images, labels)``, a ``tf.data.Dataset`` (its first element) or
a dict of arrays; one image ``(H, W[, C])`` or ``(C, H, W)`` with C in 1, 3, 4 (PyTorch's
layout), or a batch ``(N, H, W[, C])``, ``(N, C, H, W)`` or ``(N, H, W)`` (grayscale). Each image is shown with its
shape, dtype and value range, so a wrong scaling or a channel swap is seen at once.
``str(record)`` is the HTML fragment, so a plain ``logging.FileHandler("x.html")``
writes a page too, as with VisualLogging.

:class:`kerascope.report.VisualLoggingCallback` logs the first training batch of every
epoch as the model receives it (after batching, shuffling and the data adapter).
"""

from __future__ import annotations

import base64
import datetime
import html
import logging
import os
import pathlib

import numpy as np

from kerascope.inputs.arrays import to_numpy

__all__ = ["VisualRecord", "VisualHandler", "to_numpy", "as_images"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} .record{border-top:1px solid #ccc;padding:.6em 0;break-inside:avoid}
.meta{color:#666;font-size:.8em} .title{font-weight:600;font-size:1.05em}
.images{display:flex;flex-wrap:wrap;gap:10px;margin:.5em 0}
figure{margin:0;text-align:center} figure img{image-rendering:pixelated;border:1px solid #ddd;
min-width:64px;max-width:256px}
figcaption{font-size:.72em;color:#444;max-width:256px} .footnote{font-size:.85em;color:#333}
pre{margin:.2em 0;white-space:pre-wrap}
"""


# -- arrays ---------------------------------------------------------------------------

def _looks_like_images(arr):
    return arr.ndim in (2, 3, 4) and min(arr.shape[-2:] if arr.ndim == 2 else arr.shape[1:3]) > 1


def _features(value):
    """The image part of a pipeline element: ``x`` of ``(x, y[, w])``, image-like
    values of a dict, the first element of a dataset."""
    if hasattr(value, "as_numpy_iterator"):  # a tf.data.Dataset: its first element
        value = next(iter(value.as_numpy_iterator()))
    if isinstance(value, dict):
        return [v for v in value.values() if _looks_like_images(to_numpy(v))]
    if isinstance(value, tuple) and len(value) in (2, 3):
        first = to_numpy(value[0])
        rest = [to_numpy(v) for v in value[1:]]
        if _looks_like_images(first) and all(r.ndim <= 2 for r in rest):
            return [first]
    if isinstance(value, (list, tuple)):
        return [to_numpy(v) for v in value]
    return [to_numpy(value)]


def _split(arr):
    """An array as a list of ``(H, W, C)`` images (C in 1, 3, 4)."""
    arr = np.asarray(arr)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 2:
        return [arr[..., None]]
    if arr.ndim == 3:
        if arr.shape[-1] in (1, 3, 4):
            return [arr]
        if arr.shape[0] in (1, 3, 4) and arr.shape[-1] > 4:
            return [np.moveaxis(arr, 0, -1)]
        return [a[..., None] for a in arr]  # a batch of grayscale images
    if arr.ndim == 4:
        if arr.shape[-1] not in (1, 3, 4) and arr.shape[1] in (1, 3, 4):
            arr = np.moveaxis(arr, 1, -1)
        if arr.shape[-1] in (1, 3, 4):
            return list(arr)
        return [a[..., c:c + 1] for a in arr for c in range(arr.shape[-1])]
    if arr.ndim == 5:  # e.g. video batches: every frame
        return [frame for sample in arr for frame in _split(sample)]
    raise ValueError(
        f"images: expected an image (H, W[, C]) or a batch (N, H, W[, C]), got shape {arr.shape}."
    )


def _display(image):
    """``(uint8 image, note)``: the image mapped to [0, 255] and how it was mapped."""
    if image.dtype == np.uint8:
        return image, "uint8"
    values = np.nan_to_num(image.astype(np.float64))
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    for lo, hi in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
        if lo <= low and high <= hi:
            break
    else:
        lo, hi = low, (high if high > low else low + 1.0)
    scaled = np.clip(np.rint((values - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)
    return scaled, f"shown as [{lo:g}, {hi:g}]"


def as_images(images, max_images=16):
    """``[(uint8 (H, W, C), caption), ...]`` of the images in ``images`` (see module)."""
    out = []
    for arr in _features(images):
        arr = to_numpy(arr)
        for image in _split(arr):
            if len(out) >= max_images:
                return out
            shown, note = _display(image)
            values = image.astype(np.float64)
            caption = (f"{'x'.join(map(str, image.shape))} {image.dtype}, "
                       f"min {values.min():.4g} max {values.max():.4g} mean {values.mean():.4g}; "
                       f"{note}")
            out.append((shown, caption))
    return out


def _png_uri(image):
    from kerascope.rendering import png_bytes

    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def _jpeg_uri(image):
    import io

    from PIL import Image

    arr = image[..., 0] if image.shape[-1] == 1 else image[..., :3]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# -- the record ---------------------------------------------------------------------
class VisualRecord:
    """A log message holding images: ``logger.debug(VisualRecord(title, images, footnote))``.

    Args:
        title: a heading.
        images: an image, a batch, a list of them, a backend tensor or a pipeline
            element (see the module docstring).
        footnote: text shown under the images (a dict's values are joined).
        fmt: ``"png"`` (default, lossless) or ``"jpeg"``.
        max_images: at most this many images are kept (the first ones).
    """

    def __init__(self, title="", images=None, footnote="", fmt="png", max_images=16):
        if fmt not in ("png", "jpeg", "jpg"):
            raise ValueError(f"fmt: expected 'png' or 'jpeg', got {fmt!r}.")
        self.title = str(title)
        if isinstance(footnote, dict):
            footnote = " ".join(str(v) for v in footnote.values())
        self.footnote = "" if footnote is None else str(footnote)
        self.fmt = "jpeg" if fmt == "jpg" else fmt
        self.images = [] if images is None else as_images(images, max_images)

    def __repr__(self):
        return f"VisualRecord({self.title!r}, {len(self.images)} images)"

    def to_html(self):
        """The record as an HTML fragment (images as data URIs)."""
        encode = _png_uri if self.fmt == "png" else _jpeg_uri
        figures = []
        for image, caption in self.images:
            height, width = image.shape[:2]
            scale = max(1, 96 // max(1, max(height, width)))
            figures.append(
                f'<figure><img src="{encode(image)}" width="{width * scale}" '
                f'height="{height * scale}" alt="{html.escape(caption)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        footnote = (f'<div class="footnote">{html.escape(self.footnote)}</div>'
                    if self.footnote else "")
        return (f'<div class="title">{html.escape(self.title)}</div>'
                f'<div class="images">{"".join(figures)}</div>{footnote}')

    __str__ = to_html


# -- the handler --------------------------------------------------------------------
class VisualHandler(logging.Handler):
    """A ``logging`` handler writing records to one self-contained HTML page.

    ``VisualRecord`` messages are drawn; other records are written as text. The page is
    complete (closing tags included) after every record.

    Args:
        path: the HTML file.
        mode: ``"w"`` (default) starts a new page, ``"a"`` appends to an existing one.
        title: the page heading.
        level: the handler's level (default ``DEBUG``).
    """

    _FOOTER = "</main>\n</body>\n</html>\n"

    def __init__(self, path, mode="w", title="kerascope visual log", level=logging.DEBUG):
        super().__init__(level)
        if mode not in ("w", "a"):
            raise ValueError(f"mode: expected 'w' or 'a', got {mode!r}.")
        self.path = pathlib.Path(os.fspath(path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        footer = self._FOOTER.encode()
        if mode == "a" and self.path.is_file() and self.path.read_bytes().endswith(footer):
            self._file = open(self.path, "r+b")
        else:
            self._file = open(self.path, "w+b")
            head = (
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
                f"<h1>{html.escape(title)}</h1>\n<main>\n"
            )
            self._file.write(head.encode() + footer)
            self._file.flush()

    def emit(self, record):
        try:
            message = record.msg
            when = datetime.datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
            meta = (f'<div class="meta">{when} · {html.escape(record.levelname)} · '
                    f"{html.escape(record.name)}</div>")
            if isinstance(message, VisualRecord):
                body = message.to_html()
            else:
                body = f"<pre>{html.escape(self.format(record))}</pre>"
            fragment = f'<section class="record">{meta}{body}</section>\n'.encode()
            footer = self._FOOTER.encode()
            self._file.seek(-len(footer), os.SEEK_END)
            self._file.write(fragment + footer)
            self._file.truncate()
            self._file.flush()
        except Exception:  # noqa: BLE001 - logging's convention
            self.handleError(record)

    def close(self):
        self.acquire()
        try:
            if not self._file.closed:
                self._file.close()
        finally:
            self.release()
            super().close()
