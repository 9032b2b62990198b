"""Convert-VHD: VHDX (any chain, flattened) or raw in, dynamic VHDX or sparse raw out.

The format of each side comes from its extension: `.raw`/`.img` is a raw disk image, anything
else a VHDX. The output is written under a temporary name beside the destination and renamed
into place at the end, so a failed or cancelled conversion never leaves a half file under the
destination's name. Ranges that hold nothing (unallocated blocks, holes in the source file,
all-zero blocks) are not written: the raw output stays sparse, the VHDX output leaves them
unallocated. The output is on the disk before the rename (`qemu-img convert` leaves it in the
page cache, cache mode "unsafe", unless given `-t writeback`): a power cut after success never
leaves a destination that reads differently from the source.
"""

from __future__ import annotations

import bisect
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from hvgui import durable, portable
from hvgui.progress import CancelToken, Progress, check, report
from hvgui.vhdx import format as F
from hvgui.vhdx.chain import Disk, open_disk, served_ranges
from hvgui.vhdx.create import create_dynamic
from hvgui.vhdx.errors import UnsupportedError, VhdxError
from hvgui.vhdx.files import copy_range, open_disk_file, pwrite_all
from hvgui.vhdx.image import VhdxImage

PHASE = "Converting"
RAW_SUFFIXES = (".raw", ".img")
VHDX_SUFFIXES = (".vhdx", ".avhdx")
_CHUNK = 64 * F.MiB
_READ_CHUNK = 4 * F.MiB
_ZERO_GRANULE = 64 * F.KiB
_ZEROS = bytes(_ZERO_GRANULE)
_PROBE = 16  # bytes read first from each granule: any non-zero there and it is copied whole
_WRITEBACK_STEP = 32 * F.MiB


def convert_vhd(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Convert `source` to `destination` (formats by extension; a chain is flattened)."""
    src, dst = Path(source), Path(destination)
    if not (_is_raw(dst) or dst.suffix.lower() in VHDX_SUFFIXES):
        raise UnsupportedError(
            dst, f"unknown format {dst.suffix or '(no extension)'!r}: name the destination "
            ".vhdx for a dynamic VHDX, or .raw / .img for a raw disk image")
    if dst.exists():
        raise VhdxError(dst, "already exists; choose another destination or remove it first")
    temp = dst.with_name(f".{dst.name}.{os.getpid()}.partial")
    report(progress, 0.0, PHASE)
    try:
        if _is_raw(src):
            if _is_raw(dst):
                raise UnsupportedError(dst, "raw to raw is a plain copy; use cp")
            _raw_to_vhdx(src, temp, progress, cancel)
        else:
            with open_disk(src) as disk:
                if _is_raw(dst):
                    _disk_to_raw(disk, temp, progress, cancel)
                else:
                    _disk_to_vhdx(disk, temp, progress, cancel)
        durable.rename(temp, dst)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, OSError):  # no space, file too large, no permission, ...
            raise VhdxError(dst, f"cannot write the converted disk: {exc.strerror or exc}"
                            ) from None
        raise
    report(progress, 1.0, PHASE)


def _is_raw(path: Path) -> bool:
    return path.suffix.lower() in RAW_SUFFIXES


# --- where the data is ------------------------------------------------------------------------


def _served_runs(disk: Disk) -> list[tuple[int, int, int, int]]:
    """(virtual start, virtual end, file descriptor, file offset) of every stored range the
    chain reads from, in virtual order: computed once per image from its BAT (no per-range
    lookups), holes of the files left out (they read as zeros)."""
    assigned, _ = served_ranges(disk.images, disk.size)
    runs: list[tuple[int, int, int, int]] = []
    for start, end, level in assigned:
        if level < 0:
            continue
        image = disk.images[level]
        bs = image.block_size
        pos = start
        while pos < end:
            block = pos // bs
            stop = min(end, (block + 1) * bs)
            file_offset = image.block_data_offset(block) + pos - block * bs
            for data, n in _data_segments(image.fileno, file_offset, stop - pos):
                v = pos + data - file_offset
                last = runs[-1] if runs else None
                if last and last[1] == v and last[2] == image.fileno \
                        and last[3] + last[1] - last[0] == data:
                    runs[-1] = (last[0], v + n, last[2], last[3])
                else:
                    runs.append((v, v + n, image.fileno, data))
            pos = stop
    return runs


def _data_segments(fd: int, offset: int, length: int) -> Iterator[tuple[int, int]]:
    """(offset, length) pieces of [offset, offset+length) that are not holes of the file."""
    end = offset + length
    pos = offset
    while pos < end:
        data = portable.next_data(fd, pos)
        if data is None or data >= end:
            return  # a hole to the end of the file (or of the range)
        hole = min(end, portable.next_hole(fd, data))
        yield data, hole - data
        pos = hole


# --- VHDX to raw ------------------------------------------------------------------------------


def _disk_to_raw(disk: Disk, temp: Path, progress: Progress | None,
                 cancel: CancelToken | None) -> None:
    out = portable.open_fd(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(out, disk.size)
        if any(image.overlay for image in disk.images):
            _read_to_raw(disk, out, progress, cancel)
        else:
            _copy_to_raw(disk, out, progress, cancel)
        portable.sync_data(out)  # on the disk before the rename makes it visible
    finally:
        os.close(out)


def _read_to_raw(disk: Disk, out: int, progress: Progress | None,
                 cancel: CancelToken | None) -> None:
    """An unreplayed log patches what the files hold: copy what the chain reads."""
    buf = memoryview(bytearray(_READ_CHUNK))
    writeback = _Writeback(out)
    for offset in range(0, disk.size, _READ_CHUNK):
        check(cancel)
        n = min(_READ_CHUNK, disk.size - offset)
        disk.readinto(offset, buf[:n])
        _write_nonzero(out, offset, buf[:n])
        writeback.written_to(offset + n)
        report(progress, (offset + n) / disk.size, PHASE)


def _copy_to_raw(disk: Disk, out: int, progress: Progress | None,
                 cancel: CancelToken | None) -> None:
    """Each run is stored contiguously in one file: the kernel copies it file to file."""
    runs = _served_runs(disk)
    writeback = _Writeback(out)
    total = sum(end - start for start, end, _, _ in runs) or 1
    done = 0
    for start, end, fd, file_offset in runs:
        pos = start
        while pos < end:
            check(cancel)
            stop = min(end, pos + _CHUNK)
            _copy_nonzero(fd, file_offset + pos - start, out, pos, stop - pos)
            writeback.written_to(stop)
            done += stop - pos
            report(progress, done / total, PHASE)
            pos = stop


class _Writeback:
    """Has the kernel start writing the output to the disk every _WRITEBACK_STEP bytes of it
    written (in order, holes included), so that the disk works while the copy goes on and the
    sync that makes the output durable waits less."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.start = 0  # the output before this is being written back already

    def written_to(self, end: int) -> None:
        if end - self.start >= _WRITEBACK_STEP:
            portable.start_writeback(self.fd, self.start, end - self.start)
            self.start = end


def _copy_nonzero(src: int, src_offset: int, dst: int, dst_offset: int, length: int) -> None:
    """copy_range, leaving out the granules (_ZERO_GRANULE bytes of the output) that hold only
    zeros, so that the output stays sparse there. Only a granule's first bytes come into
    Python, and all of it only when they are zeros."""
    copied = 0  # bytes before this are copied or left out
    pos = 0
    while pos < length:
        end = min(length, (dst_offset + pos) // _ZERO_GRANULE * _ZERO_GRANULE
                  + _ZERO_GRANULE - dst_offset)
        head = portable.pread(src, _PROBE, src_offset + pos)
        if not head.strip(b"\0") and _all_zeros(portable.pread(src, end - pos, src_offset + pos)):
            copy_range(src, src_offset + copied, dst, dst_offset + copied, pos - copied)
            copied = end
        pos = end
    copy_range(src, src_offset + copied, dst, dst_offset + copied, length - copied)


def _all_zeros(data: bytes | memoryview) -> bool:
    """True if `data` holds only zero bytes: C comparisons granule by granule, stopping at the
    first granule whose first bytes are not zeros (at once, for data that is)."""
    view = memoryview(data)
    for lo in range(0, len(view), _ZERO_GRANULE):
        piece = view[lo : lo + _ZERO_GRANULE]
        if piece[:_PROBE].tobytes().strip(b"\0") or piece.tobytes() != _ZEROS[: len(piece)]:
            return False
    return True


def _write_nonzero(fd: int, offset: int, data: memoryview) -> None:
    """pwrite the parts of `data` that are not all zeros (granules of _ZERO_GRANULE bytes)."""
    start = None  # of the run of non-zero granules being gathered
    for lo in range(0, len(data), _ZERO_GRANULE):
        granule = data[lo : lo + _ZERO_GRANULE]
        if _all_zeros(granule):
            if start is not None:
                pwrite_all(fd, data[start:lo], offset + start)
                start = None
        elif start is None:
            start = lo
    if start is not None:
        pwrite_all(fd, data[start:], offset + start)


# --- to dynamic VHDX --------------------------------------------------------------------------


def _disk_to_vhdx(disk: Disk, temp: Path, progress: Progress | None,
                  cancel: CancelToken | None) -> None:
    create_dynamic(temp, disk.size, logical_sector_size=disk.logical_sector_size,
                   physical_sector_size=disk.physical_sector_size)
    if any(image.overlay for image in disk.images):
        # An unreplayed log patches what the files hold: read the disk as it reads.
        buf = bytearray()  # one block's bytes, grown to the block size at the first block

        def read_block(start: int, length: int) -> _BlockWriter | None:
            if len(buf) < length:
                buf.extend(bytes(length - len(buf)))
            view = memoryview(buf)[:length]
            disk.readinto(start, view)
            if _all_zeros(view):
                return None
            return lambda fd, offset: pwrite_all(fd, view, offset)

        _write_blocks(temp, disk.size, read_block, progress, cancel)
        return
    runs = _served_runs(disk)
    ends = [r[1] for r in runs]

    def pieces(start: int, length: int) -> list[_Piece]:
        end = start + length
        found = []
        i = bisect.bisect_right(ends, start)
        while i < len(runs) and runs[i][0] < end:
            r_start, r_end, fd, file_offset = runs[i]
            lo, hi = max(r_start, start), min(r_end, end)
            found.append((fd, file_offset + lo - r_start, lo - start, hi - lo))
            i += 1
        return found

    _copy_blocks(temp, disk.size, pieces, progress, cancel)


def _raw_to_vhdx(source: Path, temp: Path, progress: Progress | None,
                 cancel: CancelToken | None) -> None:
    with os.fdopen(open_disk_file(source), "rb") as raw:
        fd = raw.fileno()
        size = os.fstat(fd).st_size
        if size == 0 or size % 512:
            raise VhdxError(source, f"is {size} bytes, not a whole number of 512-byte sectors")
        if size > F.MAX_VIRTUAL_SIZE:
            raise UnsupportedError(source, "is larger than the 64 TiB a VHDX can hold")
        create_dynamic(temp, size)

        def pieces(start: int, length: int) -> list[_Piece]:
            return [(fd, data, data - start, n) for data, n in _data_segments(fd, start, length)]

        _copy_blocks(temp, size, pieces, progress, cancel)


# (source file descriptor, offset in it, offset in the block, length): a stored part of a block
_Piece = tuple[int, int, int, int]
# Writes one block's bytes at (output fd, offset of the block's new place in the file).
_BlockWriter = Callable[[int, int], None]


def _copy_blocks(temp: Path, size: int, pieces: Callable[[int, int], list[_Piece]],
                 progress: Progress | None, cancel: CancelToken | None) -> None:
    """Copy every block of the source that holds a non-zero byte into the new dynamic VHDX
    `temp`, its stored pieces file to file with copy_range (in the kernel: the bytes never
    come into Python, and the worker holds the interpreter lock only between the calls);
    the rest of the block stays a hole of the file, which reads as zeros."""
    scratch = memoryview(bytearray(_READ_CHUNK))

    def copy_block(start: int, length: int) -> _BlockWriter | None:
        parts = pieces(start, length)
        if not any(_holds_data(src, at, n, scratch) for src, at, _, n in parts):
            return None

        def write(fd: int, offset: int) -> None:
            for src, at, within, n in parts:
                copy_range(src, at, fd, offset + within, n)

        return write

    _write_blocks(temp, size, copy_block, progress, cancel)


def _write_blocks(temp: Path, size: int, block: Callable[[int, int], _BlockWriter | None],
                  progress: Progress | None, cancel: CancelToken | None) -> None:
    """Give every block that holds data (`block(start, length)` returns how to write it, None
    for an all-zero block, which stays unallocated) its place in the new dynamic VHDX `temp`,
    in order. The file is new and only renamed into place when complete, so no write ordering
    is needed here; one fsync at the end."""
    with VhdxImage.open(temp, writable=True) as image:
        image.begin_change(visible=True)
        g = image.geometry
        fd = image.fileno
        writeback = _Writeback(fd)  # blocks are appended in order
        for index in range(g.payload_blocks):
            check(cancel)
            start = index * g.block_size
            length = g.block_length(index)
            write = block(start, length)
            if write is not None:
                offset = image.allocate(g.block_size)
                write(fd, offset)
                writeback.written_to(offset + length)
                image.set_bat_entry(g.payload_index(index),
                                    offset | F.PAYLOAD_BLOCK_FULLY_PRESENT)
            report(progress, (start + length) / size, PHASE)
        os.fsync(fd)


def _holds_data(fd: int, offset: int, length: int, scratch: memoryview) -> bool:
    """True if the `length` bytes at `offset` of file `fd` are not all zeros. Data shows in the
    first bytes read, almost always: only a zero-looking range is read whole, a chunk at a
    time into `scratch`."""
    for lo in range(0, length, len(scratch)):
        n = min(len(scratch), length - lo)
        if portable.pread(fd, _PROBE, offset + lo).strip(b"\0"):
            return True
        got = portable.preadinto(fd, scratch[:n], offset + lo)
        if not _all_zeros(scratch[: max(got, 0)]):
            return True
    return False
