"""Reports and visual logs: self-contained HTML pages with embedded images.

* :func:`write_report` / :func:`render_report`: the report of an explanation run
  (``kerascope explain`` writes it as ``report.html``); :func:`explain_text` builds
  the ``Explained`` of a text model (token maps drawn as the text).
* :class:`VisualRecord` and :class:`VisualHandler`: visual logging from any point of a
  data pipeline with the standard ``logging`` module.
* :class:`VisualLoggingCallback`: a Keras callback logging the first training batch of
  each epoch as the model receives it.
"""

from kerascope.report.explanation import (
    Explained,
    MethodRun,
    mask_share,
    render_report,
    top_k,
    write_report,
)
from kerascope.report.text_run import explain_text
from kerascope.report.visual import VisualHandler, VisualRecord, as_images, to_numpy

__all__ = [
    "Explained", "MethodRun", "explain_text", "mask_share", "render_report", "top_k", "write_report",
    "VisualHandler", "VisualRecord", "VisualLoggingCallback", "as_images", "to_numpy",
]


def __getattr__(name):
    if name == "VisualLoggingCallback":  # imports Keras: only when asked for
        from kerascope.report.callback import VisualLoggingCallback

        return VisualLoggingCallback
    raise AttributeError(f"module 'kerascope.report' has no attribute {name!r}")
