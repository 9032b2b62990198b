"""Copying file ranges with O_DIRECT writes straight from the source's pages in the page cache.

The forward merge copies the child's stored blocks into the parent. On ext4 copy_file_range
copies every byte through memory into new page-cache pages of the parent, which the kernel
then writes back: ~0.2 s of system CPU for 512 MiB on the development machine. Here the
source range is mapped (its pages are in the page cache already) and written with O_DIRECT:
the disk reads the bytes from those pages, nothing is copied in memory and the parent gets
no cached pages. Two threads write, each dropping its source pages from the cache once
written (the merged file is deleted next: its deletion then frees none) while the other's
write goes on. The disk's time is the same as the kernel copy's writeback (it was the limit
of both); what goes is the CPU, which a busy machine does not have to give
(benchmarks/README.md).

Only where it is worth it and possible: `portable.direct_writer` says where (a local
ext2/3/4; elsewhere copy_file_range shares blocks or copies on the server), and only ranges
aligned to 4 KiB on both sides (mapped at a page boundary; O_DIRECT wants the logical block
size, at most 4 KiB on the disks this runs on). A write the kernel refuses (EINVAL: another
alignment rule), a source shorter than asked (EFAULT, or a file cut since it was opened) or
one that cannot be mapped is copied the ordinary way instead (copy_range, zeros past the
source's end), and the rest too. Durability is the caller's, as with any write: fsync after
`finish`.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Self

from hvgui import portable
from hvgui.vhdx.files import copy_range, write_zeros

# A page (where a mapping may start) and any logical block size O_DIRECT asks for.
_ALIGN = max(4096, mmap.ALLOCATIONGRANULARITY)
_STEP = 32 << 20  # bytes per write: the disk gets several requests of its largest size
_WRITERS = 2  # writes in flight (and source pages dropped by one while the other writes)
_QUEUED = 4  # writes handed out and not finished: progress reports stay near the truth
# What the kernel says when a direct write cannot be made here, not "the disk failed".
_NOT_DIRECT = {errno.EINVAL, errno.EFAULT, errno.EOPNOTSUPP, errno.ENOTSUP}


class DirectCopier:
    """Copies file ranges into `out_fd` with O_DIRECT writes where it can (see the module
    docstring); `copy` says whether it took the range. Use as a context manager: leaving it
    waits for every write; `finish` also raises the first failure."""

    def __init__(self, out_fd: int) -> None:
        self._out = out_fd
        self._direct = portable.direct_writer(out_fd)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()
        self._refused = False  # a direct write was refused: the rest is copied the other way

    def copy(self, src_fd: int, src_offset: int, dst_offset: int, length: int) -> bool:
        """Start copying `length` bytes of `src_fd` at `src_offset` to `dst_offset`; False when
        the range is not for O_DIRECT here (the caller copies it)."""
        if self._direct is None or self._refused or (src_offset | dst_offset | length) % _ALIGN:
            return False
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_WRITERS, thread_name_prefix="hvgui-direct")
        done = 0
        while done < length:
            n = min(_STEP, length - done)
            while len(self._pending) >= _QUEUED:
                self._pending.popleft().result()
            self._pending.append(self._pool.submit(
                self._write, src_fd, src_offset + done, dst_offset + done, n))
            done += n
        return True

    def _write(self, src_fd: int, src_offset: int, dst_offset: int, length: int) -> None:
        try:
            self._write_direct(src_fd, src_offset, dst_offset, length)
        except (OSError, ValueError) as exc:  # ValueError: the source is shorter than that
            if isinstance(exc, OSError) and exc.errno not in _NOT_DIRECT:
                raise  # EIO, ENOSPC: the copy failed
            self._refused = True
            copied = copy_range(src_fd, src_offset, self._out, dst_offset, length)
            if copied < length:  # past the source's end: zeros, as copy_piece writes
                write_zeros(self._out, dst_offset + copied, length - copied)
        portable.forget_cached(src_fd, src_offset, length)

    def _write_direct(self, src_fd: int, src_offset: int, dst_offset: int, length: int) -> None:
        direct = self._direct
        if direct is None or self._refused:
            raise OSError(errno.EINVAL, "no direct writes")
        try:
            mapped = mmap.mmap(src_fd, length, offset=src_offset, access=mmap.ACCESS_READ)
        except OSError as exc:  # a file system mapping no files (FUSE's direct_io: ENODEV),
            # no address space left (ENOMEM): the source is copied the other way
            raise OSError(errno.EINVAL, f"the source cannot be mapped: {exc.strerror}") from exc
        # Every view of the mapping is released on the way out, even when a write fails (a
        # traceback keeps the failed call's arguments alive): the mapping can then be closed.
        with mapped, memoryview(mapped) as view:
            done = 0
            while done < length:
                with view[done:] as rest:
                    n = portable.pwrite(direct, rest, dst_offset + done)
                if n <= 0:
                    raise OSError(errno.EINVAL, "the direct write made no progress")
                done += n

    def finish(self) -> None:
        """Wait for every write; raise the first failure."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            for future in self._pending:  # after a failure or a cancel: let them end
                future.exception()
            self._pending.clear()
            if self._pool is not None:
                self._pool.shutdown()
        finally:
            if self._direct is not None:
                os.close(self._direct)
                self._direct = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
