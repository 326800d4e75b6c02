"""The one table of metrics: each metric registers itself with :func:`register`
(as methods do by their ``name``); :func:`get` and :func:`catalog` read it."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Callable

__all__ = ["MetricInfo", "REGISTRY", "ALIASES", "register", "get", "catalog"]


@dataclasses.dataclass(frozen=True)
class MetricInfo:
    """A registered metric: its function and what it needs."""

    name: str
    fn: Callable
    family: str
    higher_is_better: bool
    paper: str
    summary: str
    needs_masks: bool = False
    needs_method: bool = False
    has_curve: bool = False


REGISTRY = {}
ALIASES = {}


def register(name, family, higher_is_better, paper, summary, aliases=(), **needs):
    """Decorator registering a metric function under ``name`` (and ``aliases``)."""

    def add(fn):
        if name in REGISTRY:
            raise ValueError(f"metrics: {name!r} is registered twice.")
        fn = with_verbose(fn)
        REGISTRY[name] = MetricInfo(name, fn, family, higher_is_better, paper, summary, **needs)
        ALIASES.update({alias: name for alias in aliases})
        return fn

    return add


def with_verbose(fn):
    """``fn`` with a ``verbose=`` option (``kerascope.explain``'s convention): a progress
    bar of the rows the metric scores. A metric with its own ``verbose`` keeps it."""
    signature = inspect.signature(fn)
    if "verbose" in signature.parameters:
        return fn
    from kerascope.metrics.base import quiet, rows_progress

    @functools.wraps(fn)
    def metric(*args, verbose="auto", **kwargs):
        if quiet(verbose):
            return fn(*args, **kwargs)
        with rows_progress(verbose):
            return fn(*args, **kwargs)

    verbose = inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default="auto")
    parameters = list(signature.parameters.values())
    at = next((i for i, p in enumerate(parameters) if p.kind is p.VAR_KEYWORD), len(parameters))
    metric.__signature__ = signature.replace(parameters=parameters[:at] + [verbose] + parameters[at:])
    return metric


def get(name) -> MetricInfo:
    """The :class:`MetricInfo` of a metric name (or alias)."""
    if isinstance(name, MetricInfo):
        return name
    key = ALIASES.get(name, name) if isinstance(name, str) else None
    if key not in REGISTRY:
        raise ValueError(
            f"metrics: unknown metric {name!r}; expected one of {', '.join(sorted(REGISTRY))}."
        )
    return REGISTRY[key]


def catalog():
    """All registered metrics, as :class:`MetricInfo`, in registration order."""
    return list(REGISTRY.values())
