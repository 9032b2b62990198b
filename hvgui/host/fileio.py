"""Small file helpers every host module shares: atomic replace, sizes, path normalisation."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from hvgui.host.errors import HostError


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to a new file beside `path`, then rename it over `path` (all or nothing)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk must not keep the half-written copy
            os.unlink(tmp)
        raise


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """`os.open` for a file the host reads: a FIFO or device in a host folder must not block
    or stream forever, so anything but a regular file is a HostError."""
    fd = os.open(path, flags | os.O_NONBLOCK, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise HostError(path, "not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(path: Path, limit: int) -> bytes:
    """At most `limit + 1` bytes of a regular file: more than `limit` means "too large"."""
    with os.fdopen(open_regular(path), "rb") as handle:
        return handle.read(limit + 1)


def parse_json(data: bytes | str) -> Any:
    """`json.loads` for input from disk: absurd nesting is a ValueError like any other
    malformed JSON (json raises RecursionError for it)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def norm(path: str | os.PathLike[str]) -> Path:
    """An absolute, normalised path: the one spelling used for comparisons."""
    return Path(os.path.normpath(os.path.abspath(os.fspath(path))))


def file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree if it exists (read-only files included)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def link_or_copy(source: Path, destination: Path) -> bool:
    """Give `source`'s content a second name: a hard link when possible (instant), else a copy.

    Returns True for a link. Refuses to overwrite `destination`.
    """
    try:
        os.link(source, destination)
        return True
    except OSError:
        pass
    copy_sparse(source, destination)
    shutil.copymode(source, destination)
    return False


def copy_sparse(source: Path, destination: Path, chunk: int = 8 << 20) -> None:
    """Copy only the data regions of `source` (SEEK_DATA/SEEK_HOLE): holes stay holes, so a
    sparse memory file or disk does not grow when copied to another file system."""
    with open(source, "rb") as fin, open(destination, "xb") as fout:
        size = os.fstat(fin.fileno()).st_size
        src, dst = fin.fileno(), fout.fileno()
        offset = 0
        while offset < size:
            try:
                start = os.lseek(src, offset, os.SEEK_DATA)
                end = os.lseek(src, start, os.SEEK_HOLE)
            except OSError:  # no more data (ENXIO) or no hole support: copy the rest plainly
                start, end = offset, size
                if _at_end_of_data(src, offset):
                    break
            while start < end:
                data = os.pread(src, min(chunk, end - start), start)
                if not data:
                    break
                os.pwrite(dst, data, start)
                start += len(data)
            offset = end
        os.ftruncate(dst, size)


def _at_end_of_data(fd: int, offset: int) -> bool:
    try:
        os.lseek(fd, offset, os.SEEK_DATA)
    except OSError as exc:
        return exc.errno == errno.ENXIO  # only a hole is left
    return False
