"""What every ``kerascope`` command shares: the bad-input error, consoles, one-line
messages, option parsing, the ``--out`` checks and its staged folder. No Keras."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
import warnings

import click

#: Files ``kerascope explain`` writes besides the PNGs.
OUTPUT_FILES = ("maps.npz", "report.html")


class UserError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


def one_line(text):
    """``text`` with its whitespace runs (newlines included) made single spaces."""
    return " ".join(str(text).split())


def error(message):
    """Write ``kerascope: error: MESSAGE`` to stderr."""
    sys.stderr.write(f"kerascope: error: {message}\n")
    sys.stderr.flush()


def user_value_error(prefix, problem):
    """A :class:`UserError` from a ValueError's text, after ``prefix:`` when given."""
    message = str(problem)
    return UserError(f"{prefix}: {message}" if prefix else message)


def consoles(quiet):
    """``(stdout console, stderr console)``; the first says nothing when ``quiet``."""
    from rich.console import Console

    return (Console(quiet=quiet, highlight=False),
            Console(stderr=True, highlight=False, soft_wrap=True))


def progress_bar(console, quiet, width=24, eta=True):
    """A transient rich progress bar on ``console``."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    columns = [TextColumn("{task.description:<%d}" % width), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn()]
    if eta:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*columns, console=console, transient=True, disable=quiet)


def quiet_frameworks():
    """Silence TensorFlow's C++ logs, gRPC and Python warnings before Keras loads."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore")


# -- options ------------------------------------------------------------------------------
class BatchSize(click.ParamType):
    """``--batch-size``: a positive integer or ``auto``."""

    name = "INTEGER|auto"

    def convert(self, value, param, ctx):
        if value == "auto" or (isinstance(value, int) and value >= 1):
            return value
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            self.fail(f"expected a positive integer or 'auto', got {value!r}.", param, ctx)
        return number


#: Options of every command that writes a folder.
COMMON_OPTIONS = [
    click.option("--batch-size", type=BatchSize(), default="auto", show_default=True,
                 help="Rows per device call (noisy copies, path points and patches "
                      "included); auto: from a memory budget (the model's activation "
                      "size, at most 256 on a CPU, 512 on a GPU)."),
    click.option("--out", type=click.Path(file_okay=False, path_type=pathlib.Path),
                 default=None, help="Output folder."),
    click.option("--force", is_flag=True, help="Replace a non-empty output folder."),
    click.option("--quiet", is_flag=True, help="No progress bar and no summary."),
    click.option("--debug", is_flag=True, help="Show the traceback of an error."),
]


def with_options(options):
    """A decorator applying the Click ``options`` in order."""
    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def split_values(values):
    """The parts of repeatable, comma-separated option values."""
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


def parse_target(text):
    """``("predicted", None)``, ``("index", n)`` or ``("top", k)``."""
    value = str(text).strip().lower()
    if value in ("predicted", "pred"):
        return ("predicted", None)
    for prefix in ("top-", "top_", "top"):
        if value.startswith(prefix) and value[len(prefix):].isdigit():
            k = int(value[len(prefix):])
            if k < 1:
                break
            return ("top", k)
    if value.isdigit():
        return ("index", int(value))
    raise UserError(f"--target: expected 'predicted', a class index or top-K (e.g. top-3), "
                    f"got {text!r}.")


def parse_option_value(text):
    """A Python literal, true/false/none, or the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_keyed_options(values, flag, example):
    """``{owner: {key: value}}`` from ``OWNER.KEY=VALUE`` values of option ``flag``."""
    options = {}
    for value in values:
        head, sep, raw = value.partition("=")
        owner, dot, key = head.strip().partition(".")
        if not sep or not dot or not owner or not key.isidentifier():
            kind = "METRIC" if "metric" in flag else "METHOD"
            raise UserError(f"{flag}: expected {kind}.KEY=VALUE (e.g. {example}), "
                            f"got {value!r}.")
        options.setdefault(owner, {})[key] = parse_option_value(raw)
    return options


def parse_options(values, methods_run):
    """``{method: {key: value}}`` from ``-o METHOD.KEY=VALUE`` values."""
    options = parse_keyed_options(values, "-o", "occlusion.patch_size=4")
    for method, keys in options.items():
        if method not in methods_run:
            raise UserError(f"-o {method}.{next(iter(keys))}: method {method!r} is not among "
                            f"the methods run ({', '.join(methods_run)}).")
    return options


def read_labels(path):
    """Class names from a text file (one per line), a JSON list, or a JSON object
    ``{"0": name}`` / ``{"0": [id, name]}`` (Keras' ImageNet index)."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise UserError(f"--labels: cannot read {str(path)!r} ({problem}).") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as problem:
            raise UserError(f"--labels: {str(path)!r} is not valid JSON ({problem}).") from None
        if isinstance(data, list):
            return [str(v) for v in data]
        if isinstance(data, dict):
            try:
                items = sorted((int(k), v) for k, v in data.items())
            except ValueError:
                raise UserError(f"--labels: {str(path)!r}: expected class indices as keys.") \
                    from None
            labels = [""] * (items[-1][0] + 1 if items else 0)
            for index, value in items:
                labels[index] = str(value[-1] if isinstance(value, list) else value)
            return labels
        raise UserError(f"--labels: {str(path)!r}: expected a JSON list or object.")
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    if not labels:
        raise UserError(f"--labels: {str(path)!r} holds no labels (expected one per line).")
    return labels


# -- results --------------------------------------------------------------------------------
def params_text(parameters):
    """``k=v, ...`` of a method's parameters, or ``defaults``."""
    return ", ".join(f"{k}={v}" for k, v in parameters.items()) or "defaults"


def jsonable(value):
    """``value`` with numpy scalars and arrays made JSON types (others by ``repr``)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def resolve_out(out):
    """``--out`` with a symbolic link replaced by the folder it points to (the run writes
    into the link's target and leaves the link as it is); a dangling link is refused."""
    out = pathlib.Path(out)
    if out.is_symlink():
        target = out.resolve()
        if not target.exists():
            raise UserError(f"--out: {str(out)!r} is a link to {str(target)!r}, which does "
                            "not exist; create that folder or choose another --out.")
        return target
    return out


def check_out(out, force, replace_previous=False, files=OUTPUT_FILES):
    """Refuse an existing non-empty ``--out`` unless ``force`` (or, for the demo, when it
    holds only a previous run's ``files`` and PNGs)."""
    out = resolve_out(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {str(out)!r} exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()) and not force:
        previous = all(p.is_file() and (p.name in files or p.suffix == ".png")
                       for p in out.iterdir())
        if not (replace_previous and previous):
            raise UserError(f"--out: {str(out)!r} is not empty; pass --force to replace it "
                            "or choose another folder.")


@contextlib.contextmanager
def staged_output(out, force):
    """A temporary folder beside ``out``, moved to ``out`` when the block succeeds and
    removed when it fails: a failed run leaves nothing behind."""
    out = resolve_out(out).absolute()
    base = out.parent
    while not base.exists():
        base = base.parent
    try:
        stage = pathlib.Path(tempfile.mkdtemp(prefix=".kerascope-", dir=base))
    except OSError as problem:
        raise UserError(f"--out: cannot write in {str(base)!r} "
                        f"({problem.strerror or type(problem).__name__}).") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    trash = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            trash = out.parent / f".kerascope-old-{os.getpid()}-{time.time_ns()}"
            out.rename(trash)
        os.replace(stage, out)
    except OSError as problem:
        if trash is not None and not out.exists():
            trash.rename(out)  # put the user's folder back
        shutil.rmtree(stage, ignore_errors=True)
        raise UserError(f"--out: cannot write {str(out)!r} "
                        f"({problem.strerror or type(problem).__name__}).") from None
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
