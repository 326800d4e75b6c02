"""The ``kerascope`` command (Click + rich): ``explain``, ``evaluate``, ``sanity``,
``methods``, ``demo``. Keras is imported only when work starts."""

from kerascope.cli.main import cli, main, run

__all__ = ["cli", "main", "run"]
