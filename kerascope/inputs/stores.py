"""Maps written to disk as the batches come: ``kerascope.explain(..., out=PATH)``.

``PATH`` ends in ``.npy`` (numpy's format, read back with ``np.load(PATH,
mmap_mode="r")``) or ``.zarr`` (a Zarr array; needs ``pip install
'kerascope[zarr]'``). The number of inputs need not be known up front: a ``.npy``
file gets its data first and its final header (``np.lib.format``) at the end; a
``.zarr`` array grows along axis 0. Only one batch of maps is in memory at a time.

Nothing is written half: every file goes to a temporary sibling path and is renamed
into place when the last batch is written; a failure removes it. An existing path is
replaced only with ``overwrite=True``.

A model with several inputs gets one file per explained input, ``maps.<input>.npy``
beside ``out="maps.npy"`` (``<input>``: the input's name, or its position for a list
without names), and the maps come back in the structure ``x`` came in; an input the
method leaves alone (None maps) gets no file.
"""

import contextlib
import os
import pathlib
import re
import shutil
import tempfile
import time

import numpy as np

from kerascope.inputs import arrays as data

SUFFIXES = (".npy", ".zarr")


def check_out(out, overwrite=False, single=True):
    """``out`` as a ``pathlib.Path``; ValueError for a wrong suffix or (for a model with
    one input, ``single``) an existing path without ``overwrite``; ImportError naming
    the extra when ``.zarr`` is asked for and zarr is missing."""
    if not isinstance(out, (str, os.PathLike)):
        raise ValueError(f"out: expected a path ending in .npy or .zarr, got {out!r}.")
    path = pathlib.Path(out)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"out: expected a path ending in .npy or .zarr, got {str(out)!r}.")
    if suffix == ".zarr":
        _zarr()
    if single:
        _check_free(path, overwrite)
    return path


def write(out, parts, overwrite=False):
    """Write the maps of ``parts`` (``Explanation`` per batch, maps as arrays or
    ``data.Inputs``) to ``out``; return ``(outputs, maps, extras)`` with ``maps`` the
    written array(s) opened read-only."""
    path = check_out(out, overwrite, single=False)
    outputs, extras = [], {}
    writers = None
    template = None
    try:
        for part in parts:
            maps = part.maps
            if writers is None:
                template = maps
                writers = [None if a is None else _writer(target, overwrite, a.shape[1:])
                           for target, a in zip(_targets(path, maps), data.arrays(maps))]
            for writer, array in zip(writers, data.arrays(maps)):
                if writer is not None:
                    writer.add(array)
            outputs.append(part.outputs)
            for key, value in part.extras.items():
                extras.setdefault(key, []).append(value)
        for writer in writers:
            if writer is not None:
                writer.finish()
        _publish([w for w in writers if w is not None], overwrite)
    except BaseException:
        for writer in writers or ():
            if writer is not None:
                writer.discard()
        raise
    opened = [None if w is None else w.open() for w in writers]
    maps = template.pack(opened) if isinstance(template, data.Inputs) else opened[0]
    extras = {key: np.concatenate(values) for key, values in extras.items()}
    return np.concatenate(outputs), maps, extras


def _targets(path, maps):
    if not isinstance(maps, data.Inputs):
        return [path]
    stem, suffix = path.name[: -len(path.suffix)], path.suffix
    names = [re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)) for name in maps.names]
    if len(set(names)) < len(names):
        names = [str(i) for i in range(len(names))]
    return [path.with_name(f"{stem}.{name}{suffix}") for name in names]


def _check_free(path, overwrite):
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise ValueError(f"out: {str(path)!r} exists; pass overwrite=True to replace it or "
                         "choose another path.")


def _zarr():
    try:
        import zarr
    except ImportError:
        raise ImportError(
            "out: writing .zarr needs the zarr package: pip install 'kerascope[zarr]' "
            "(or write .npy)."
        ) from None
    return zarr


def _writer(path, overwrite, sample_shape):
    _check_free(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npy":
        return _Npy(path, sample_shape)
    return _Zarr(path, sample_shape)


def _publish(writers, overwrite):
    """Rename every finished temporary into place (old paths first moved aside)."""
    for writer in writers:
        _check_free(writer.path, overwrite)
    trash = []
    for writer in writers:
        if writer.path.exists() or writer.path.is_symlink():
            old = writer.path.with_name(
                f".{writer.path.name}.old-{os.getpid()}-{time.time_ns()}")
            writer.path.rename(old)
            trash.append(old)
        os.replace(writer.tmp, writer.path)
        writer.tmp = None
    for old in trash:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                old.unlink()


class _Writer:
    def __init__(self, path, sample_shape):
        self.path = path
        self.sample_shape = tuple(int(d) for d in sample_shape)
        self.rows = 0

    def check(self, array):
        array = np.ascontiguousarray(array, dtype=np.float32)
        if array.shape[1:] != self.sample_shape:
            raise ValueError(
                f"out: maps of shape {array.shape[1:]} after maps of shape "
                f"{self.sample_shape}; {str(self.path)!r} holds maps of one shape (explain "
                "inputs of different sizes without out=, or one size at a time)."
            )
        self.rows += len(array)
        return array


class _Npy(_Writer):
    """``.npy`` written as it comes: a header for 0 rows, the rows, then the header for
    the final row count (numpy pads headers so that it fits in the same bytes)."""

    def __init__(self, path, sample_shape):
        super().__init__(path, sample_shape)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.tmp = pathlib.Path(tmp)
        self.file = os.fdopen(fd, "w+b")
        self._header(0)
        self.start = self.file.tell()

    def _header(self, rows):
        np.lib.format.write_array_header_1_0(self.file, {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
            "fortran_order": False,
            "shape": (rows,) + self.sample_shape,
        })

    def add(self, array):
        self.file.write(memoryview(self.check(array)).cast("B"))

    def finish(self):
        self.file.flush()
        self.file.seek(0)
        self._header(self.rows)
        if self.file.tell() != self.start:  # the header grew: move the data after it
            with tempfile.TemporaryFile(dir=self.path.parent) as moved:
                self.file.seek(self.start)
                shutil.copyfileobj(self.file, moved)
                self.file.seek(0)
                self.file.truncate()
                self._header(self.rows)
                moved.seek(0)
                shutil.copyfileobj(moved, self.file)
        self.file.close()
        _sync_mode(self.tmp)

    def discard(self):
        with contextlib.suppress(Exception):
            self.file.close()
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                self.tmp.unlink()

    def open(self):
        return np.load(self.path, mmap_mode="r")


class _Zarr(_Writer):
    """A Zarr array appended to along axis 0, one chunk per batch."""

    def __init__(self, path, sample_shape):
        super().__init__(path, sample_shape)
        zarr = _zarr()
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp",
                                                 dir=path.parent))
        _sync_mode(self.tmp, directory=True)
        self.array = None
        self.zarr = zarr

    def add(self, array):
        array = self.check(array)
        if self.array is None:
            self.array = self.zarr.open_array(
                str(self.tmp), mode="w", shape=(0,) + self.sample_shape,
                chunks=(max(1, len(array)),) + self.sample_shape, dtype="float32")
        self.array.append(array, axis=0)

    def finish(self):
        self.array = None

    def discard(self):
        self.array = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def open(self):
        return self.zarr.open_array(str(self.path), mode="r")


def _sync_mode(path, directory=False):
    """Give a temporary file the mode a plain ``open()`` would (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(path, (0o777 if directory else 0o666) & ~umask)
