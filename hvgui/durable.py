"""Durable state changes: what hvgui reports as done survives a power cut.

A file system keeps new data, new names and removals in memory for seconds; a power cut then
loses them, and a file renamed over another can come back empty (the rename reached the disk,
the data did not). Every state change of hvgui goes through this module, in the order a
database uses: the data durable first, then the name or entry that makes it visible, then the
folder holding that entry.

- `replace_file`: write a temp beside, fsync it, rename it over the file, fsync the folder.
- `create_file`: a new file (never an overwrite), data and folder entry durable.
- `append`: an O_APPEND write (one write: never interleaved with another process), fsynced.
- `rename`, `remove`, `make_folders`, `set_mode`: the change, then fsync of what records it.
- `sync_file`, `sync_folder`, `sync_tree`: make durable what another writer produced (a copy,
  a disk created by the VHDX engine) before anything refers to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from hvgui import portable


def sync_folder(folder: Path) -> None:
    """Make the entries of `folder` (files created, renamed or removed in it) durable."""
    portable.fsync_dir(folder)


def sync_file(path: Path) -> None:
    """Make the data and attributes of an existing file durable (it was written elsewhere)."""
    fd = portable.open_fd(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(path: Path) -> None:
    """Make a file, or a folder with everything in it, durable, and its entry in its folder."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        for entry in os.scandir(path):
            sync_tree(Path(entry.path))
        sync_folder(path)
    elif stat.S_ISREG(st.st_mode):
        sync_file(path)
    sync_folder(path.parent)


def replace_file(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to a temp file beside `path` and rename it over `path` (all or nothing).

    `durable=False` only for scratch files that are rebuilt after a crash (the status board,
    the revision stamp): all or nothing still, but it may be lost to a power cut."""
    # One per thread too: the window's operations run in threads of one process, and two of
    # them bump the revision at once (found by the soak: one's rename took the other's file).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}{_TEMP}")
    try:
        _write_new(tmp, data, sync=durable)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(path.parent)


_TEMP = ".tmp"


def temp_files_of(folder: Path, pid: int) -> list[Path]:
    """The temp files replace_file in process `pid` left in `folder` (killed mid-write):
    regular files only, never a folder or link that happens to have such a name."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    return [Path(e.path) for e in entries
            if e.name.endswith(_TEMP) and e.name.startswith(".")
            and e.name.split(".")[-3:-2] == [str(pid)] and e.is_file(follow_symlinks=False)]


def create_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create `path` (refusing to overwrite anything) holding `data`, durable with its entry."""
    _write_new(path, data, sync=True, mode=mode)
    sync_folder(path.parent)


def _write_new(path: Path, data: bytes, *, sync: bool, mode: int = 0o644) -> None:
    fd = portable.open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        _write_all(fd, data)
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_append(path: Path, flags: int) -> int:
    return portable.open_fd(path, flags, 0o644)


def append(path: Path, data: bytes, opener: Callable[[Path, int], int] = _open_append) -> None:
    """Append `data` to `path` (created if missing) in one write, durable before returning.

    `opener(path, flags)` opens the file (the host refuses FIFOs and devices there)."""
    new = not os.path.lexists(path)
    fd = opener(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        _write_all(fd, data)  # one write unless the file system writes less than asked
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        sync_folder(path.parent)


def rename(src: Path, dst: Path) -> None:
    """Rename `src` over `dst`, durable in both folders (the data must be durable already)."""
    os.replace(src, dst)
    sync_folder(dst.parent)
    if src.parent != dst.parent:
        sync_folder(src.parent)


def remove(path: Path) -> None:
    """Remove a file or a folder tree if it exists (read-only files included), durably."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return
    sync_folder(path.parent)


def make_folders(folder: Path) -> None:
    """`mkdir -p`, each new folder's entry durable in its parent."""
    missing: list[Path] = []
    at = folder
    while not at.is_dir():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for made in reversed(missing):
            sync_folder(made.parent)
    except BaseException:
        for made in missing:  # all or nothing: no empty folder left behind by a failure
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


def set_mode(path: Path, mode: int) -> None:
    """chmod, durable (a frozen disk must not come back writable after a power cut)."""
    os.chmod(path, mode)
    sync_file(path)
