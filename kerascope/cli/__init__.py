"""The ``kerascope`` command (Click + rich): ``explain``, ``evaluate``, ``sanity``,
``methods``, ``demo``. Keras is imported only when work starts."""

from kerascope.cli.main import cli, main

__all__ = ["cli", "main"]
