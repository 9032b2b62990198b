"""Opening disk files: regular files only, and never blocking on a FIFO or a device.

A plain open() of a FIFO waits for a writer forever, so every reader of a disk file goes
through `open_disk_file`: it opens without blocking, then refuses anything that is not a
regular file before a single byte is read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from hvgui import portable
from hvgui.vhdx.errors import ReadOnlyError, VhdxError

_WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
_READ_BITS = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


_READ_ONLY = "the file is read-only (a parent of a checkpoint?)"


def _read_only_attribute(path: Path) -> bool:
    """Readable but with no write bit at all: Hyper-V's read-only attribute, not a file
    that is closed to this user."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not mode & _WRITE_BITS and bool(mode & _READ_BITS)


def open_disk_file(path: Path, *, writable: bool = False) -> int:
    """A file descriptor on the regular file `path`, or a VhdxError saying why not.

    With `writable`, a file without write permission bits is refused even for root: that is
    the read-only attribute Hyper-V puts on the parents of checkpoints.
    """
    access = os.O_RDWR if writable else os.O_RDONLY
    flags = access | getattr(os, "O_NOCTTY", 0)
    try:
        fd = portable.open_without_blocking(path, flags)
    except FileNotFoundError:
        raise VhdxError(path, "no such file") from None
    except IsADirectoryError:
        raise VhdxError(path, "is a directory, not a disk file") from None
    except PermissionError:
        if writable and _read_only_attribute(path):  # as root, the check below says it
            raise ReadOnlyError(path, _READ_ONLY) from None
        if writable:
            raise ReadOnlyError(path, "no permission to write the file") from None
        raise VhdxError(path, "no permission to read the file") from None
    except OSError as exc:
        raise VhdxError(path, f"cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise VhdxError(path, "is a directory, not a disk file")
        if not stat.S_ISREG(st.st_mode):
            raise VhdxError(path, "is not a regular file (a FIFO, socket or device)")
        if writable and not st.st_mode & _WRITE_BITS:
            raise ReadOnlyError(path, _READ_ONLY)
        portable.make_blocking(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of `data` at `offset` (a positional write may write less than asked)."""
    mv = memoryview(data).cast("B")
    while mv:
        n = portable.pwrite(fd, mv, offset)
        mv = mv[n:]
        offset += n


_COPY_STEP = 64 << 20  # bytes per call, so that a cancel or a progress report is never far


def copy_range(src: int, src_offset: int, dst: int, dst_offset: int, length: int) -> int:
    """Copy `length` bytes of file `src` to file `dst`; return how many were copied (fewer
    only when `src` ends first). In the kernel where it can (copy_file_range: the bytes never
    pass through Python, and XFS/Btrfs share the blocks instead), else pread/pwrite."""
    done = 0
    kernel = True
    while done < length:
        step = min(length - done, _COPY_STEP)
        n = -1
        if kernel:
            copied = portable.kernel_copy(src, dst, step, src_offset + done, dst_offset + done)
            kernel = copied is not None
            n = -1 if copied is None else copied
        if n <= 0:  # no kernel copy, or 0 (the end of the source, or a file system that
            # copies nothing in the kernel, as procfs does): read to find out
            data = portable.pread(src, min(step, 4 << 20), src_offset + done)
            pwrite_all(dst, data, dst_offset + done)
            n = len(data)
        if n == 0:  # the end of the source
            break
        done += n
    return done


def write_zeros(fd: int, offset: int, length: int) -> None:
    """Write `length` zero bytes at `offset`, a few MiB at a time."""
    zeros = bytes(min(length, 4 << 20))
    while length > 0:
        n = min(length, len(zeros))
        pwrite_all(fd, memoryview(zeros)[:n], offset)
        offset += n
        length -= n


def data_extents(fd: int, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The parts of [start, end) where the file holds data. Holes and the space past its end
    read as zeros and are skipped; without hole support here, all of it up to the end."""
    end = min(end, os.fstat(fd).st_size)
    while start < end:
        data = portable.next_data(fd, start)
        if data is None or data >= end:
            return  # only holes are left
        hole = portable.next_hole(fd, data)
        yield data, min(hole, end)
        start = hole


def zero_allocated(fd: int, offset: int, length: int) -> None:
    """Make `length` bytes at `offset` read as zeros, writing only where the file holds data,
    so the bytes written are bounded by what the file really occupies, whatever `length`."""
    for start, stop in list(data_extents(fd, offset, offset + length)):
        write_zeros(fd, start, stop - start)


def allocated_bytes(fd: int) -> int:
    """The bytes the file open as `fd` really occupies (a sparse file's holes cost nothing)."""
    st = os.fstat(fd)
    return min(st.st_size, st.st_blocks * 512) if hasattr(st, "st_blocks") else st.st_size


class OpenImage:
    """The lifetime of one opened disk file (VHDX or VHD): its descriptor, flush on close, and
    use as a context manager."""

    _fd: int
    writable: bool

    def flush(self) -> None:
        if self.writable and self._fd >= 0:
            os.fsync(self._fd)

    @property
    def fileno(self) -> int:
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        if self._fd >= 0:
            try:
                self.flush()
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
