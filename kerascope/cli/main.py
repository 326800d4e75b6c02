"""The ``kerascope`` command (also ``python -m kerascope``): the Click group, its
commands, and :func:`main`, which turns errors into exit codes.

``kerascope explain MODEL IMAGES...`` explains a saved Keras model on image files
(:mod:`kerascope.cli.explain`); ``kerascope demo`` does the same on the bundled model
and images; ``kerascope evaluate`` and ``kerascope sanity`` check the maps
(:mod:`kerascope.cli.trust`); ``kerascope methods`` lists the methods.

Bad input (a missing or unreadable file, an unknown method, layer or option, a target
out of range...) ends with one line on stderr naming the argument and what was
expected, exit code 2, and nothing written; an internal error exits 1. ``--debug``
shows the traceback. Output is written to a temporary folder and moved into place at
the end. Keras is imported only when work starts, so ``--help`` answers at once.
"""

from __future__ import annotations

import os
import sys

import click

from kerascope.cli.catalog import methods_command
from kerascope.cli.common import UserError, error, one_line
from kerascope.cli.demo import demo
from kerascope.cli.explain import explain
from kerascope.cli.trust import evaluate, sanity


class _Group(click.Group):
    def format_epilog(self, ctx, formatter):
        formatter.write_paragraph()
        formatter.write_text("Examples:")
        with formatter.indentation():
            formatter.write_text("kerascope demo")
            formatter.write_text("kerascope explain model.keras cat.png dog.jpg -m grad_cam "
                                 "-m integrated_gradients --target top-3 --out results")
            formatter.write_text("kerascope evaluate --metric deletion,insertion")
            formatter.write_text("kerascope sanity model.keras cat.png -m vanilla_gradients")
            formatter.write_text("kerascope methods")


def _version():
    try:
        from importlib.metadata import version

        return version("kerascope")
    except Exception:  # noqa: BLE001
        return "unknown"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="kerascope")
def cli():
    """Explain what a Keras model sees: saliency, attributions, CAMs and occlusion maps,
    written as PNGs, raw maps and a self-contained HTML report."""


for _command in (explain, evaluate, sanity, methods_command, demo):
    cli.add_command(_command)


def main(argv=None):
    """Run the command; returns the exit code (0, 1 internal error, 2 bad input)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="kerascope", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.exceptions.Abort:
        error("aborted.")
        return 130
    except click.ClickException as problem:
        if type(problem).__name__ == "NoArgsIsHelpError":  # bare `kerascope`: the help
            click.echo(problem.ctx.get_help() if problem.ctx else "")
            return 0
        if debug:
            raise
        error(one_line(problem.format_message()))
        return 2 if isinstance(problem, click.UsageError) else problem.exit_code or 2
    except UserError as problem:
        if debug:
            raise
        error(one_line(str(problem)))
        return 2
    except KeyboardInterrupt:
        error("interrupted; nothing was written.")
        return 130
    except Exception as problem:  # noqa: BLE001 - reported in one line, traceback with --debug
        if debug:
            raise
        error(f"internal error: {type(problem).__name__}: {one_line(str(problem))} "
              "(rerun with --debug for the traceback)")
        return 1


def run():
    """The console entry point: :func:`main`'s exit code. After an interrupt the process
    ends at once (exit 130), without the interpreter's teardown, where the frameworks'
    native threads can crash."""
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
