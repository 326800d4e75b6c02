"""``python -m kerascope``: the ``kerascope`` command."""

import sys

from kerascope.cli import run

if __name__ == "__main__":
    sys.exit(run())
