"""Small file helpers every host module shares: atomic replace, sizes, path normalisation."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from hvgui import durable, portable
from hvgui.host import freespace
from hvgui.host.errors import HostError
from hvgui.vhdx.files import allocated_bytes, copy_range, data_extents

# The host's names for durable writes (hvgui/durable.py holds the one implementation).
atomic_write = durable.replace_file
remove_path = durable.remove


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """`os.open` for a file the host reads: a FIFO or device in a host folder must not block
    or stream forever, so anything but a regular file is a HostError."""
    fd = portable.open_without_blocking(path, flags, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise HostError(path, "not a regular file")
        portable.make_blocking(fd)
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


def copy_sparse(source: Path, destination: Path) -> None:
    """Copy only the data regions of `source` (portable.next_data): holes stay holes, so a
    sparse memory file or disk does not grow when copied to another file system. Only a
    regular file is copied, and only when the destination's file system has room for it."""
    with os.fdopen(open_regular(source), "rb") as fin:
        src = fin.fileno()
        size = os.fstat(src).st_size
        freespace.require(str(source), "copying it", [(destination, allocated_bytes(src))])
        with open(destination, "xb") as fout:
            dst = fout.fileno()
            for start, end in data_extents(src, 0, size):
                # in the kernel where it can (no bytes through Python, the interpreter lock
                # free for the window meanwhile), else read and written a chunk at a time
                copy_range(src, start, dst, start, end - start)
            os.ftruncate(dst, size)
