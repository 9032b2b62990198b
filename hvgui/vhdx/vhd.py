"""One legacy VHD file (fixed, dynamic or differencing), read through the interface `Disk`
reads a VhdxImage through: map_range, preadinto, coverage, the sizes and the parent link.

Every structure is decoded and checked at open (vhd_format.py): footer, dynamic header, parent
locators and the whole BAT, each bounded by the file's size, so a hostile file costs at most a
read of its own tables. Writes allocate a block where the footer was (the footer moves to the
new end first), fill it, set its sector bits, and only then point the BAT at it: a crash
leaves at worst an unreferenced block, never a BAT entry over data that is not there.
"""

from __future__ import annotations

import itertools
import os
import struct
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hvgui import portable
from hvgui.vhdx import vhd_format as V
from hvgui.vhdx.errors import CorruptFileError, ReadOnlyError, UnsupportedError, VhdxError
from hvgui.vhdx.files import OpenImage, copy_range, open_disk_file, pwrite_all, write_zeros
from hvgui.vhdx.image import DATA, PARENT, ZERO, Run, append_run
from hvgui.vhdx.log import Overlay
from hvgui.vhdx.problems import Malformed, Unsupported

if TYPE_CHECKING:
    import numpy as np

# Virtual bytes per map unit of a fixed disk (it has no blocks; Get-VHD says BlockSize 0).
FIXED_UNIT = 2 << 20
_BITMAP_CACHE_LIMIT = 4096


class VhdImage(OpenImage):
    """A single opened VHD file (no parent resolution); `has_parent` for differencing."""

    overlay = Overlay()  # VHD has no log: nothing ever patches what the file holds
    logical_sector_size = V.SECTOR
    physical_sector_size = V.SECTOR

    def __init__(self, path: Path, fd: int, writable: bool) -> None:
        import numpy as np

        self.path = path
        self._fd = fd
        self.writable = writable
        self.file_size = os.fstat(fd).st_size
        self.footer_problem: str | None = None  # the end footer was bad; the copy was used
        self.header: V.DynamicHeader | None = None
        self.locator: dict[str, str] = {}
        self.sectors = np.zeros(0, dtype=np.int64)
        self._bitmaps: dict[int, np.ndarray] = {}

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, writable: bool = False, load_bat: bool = True
    ) -> VhdImage:
        p = Path(path)
        image = cls(p, open_disk_file(p, writable=writable), writable)
        try:
            image._load(load_bat)
        except Malformed as exc:
            image.close()
            raise CorruptFileError(p, f"VHD: {exc}") from None
        except Unsupported as exc:
            image.close()
            raise UnsupportedError(p, f"VHD: {exc}") from None
        except BaseException:
            image.close()
            raise
        return image

    def _load(self, load_bat: bool) -> None:
        import numpy as np

        size = self.file_size
        if size < V.FOOTER_SIZE:
            raise Malformed(f"the file is {size} bytes, shorter than a VHD footer")
        try:
            self.footer = V.parse_footer(self.pread(size - V.FOOTER_SIZE, V.FOOTER_SIZE), size)
        except Malformed as exc:  # a dynamic disk keeps a copy of its footer at offset 0
            copy = self.pread(0, V.FOOTER_SIZE)
            if copy[:8] != V.FOOTER_COOKIE:
                raise
            self.footer = V.parse_footer(copy, size)
            if self.footer.disk_type == V.FIXED:
                raise
            self.footer_problem = f"the footer at the end is damaged ({exc}); its copy at " \
                                  "offset 0 was used"
        if self.footer.disk_type == V.FIXED:
            return
        raw = self.pread(self.footer.data_offset, V.DYNAMIC_HEADER_SIZE)
        header = V.parse_dynamic_header(raw, self.footer, size)
        self.header = header
        reserved = [(0, V.FOOTER_SIZE), (self.footer.data_offset,
                                         self.footer.data_offset + V.DYNAMIC_HEADER_SIZE),
                    (header.table_offset, header.table_offset + header.max_table_entries * 4)]
        if self.has_parent:
            for entry, length in V.locator_ranges(header, size):
                key, value = V.parse_locator_value(entry, self.pread(entry.data_offset, length))
                if value and key not in self.locator:
                    self.locator[key] = value
                reserved.append((entry.data_offset, entry.data_offset + length))
            if not self.locator and header.parent_name:  # only the name: look beside us
                self.locator["relative_path"] = ".\\" + header.parent_name
        if load_bat:
            raw = self.pread(header.table_offset, header.max_table_entries * 4)
            self.sectors = V.parse_bat(raw, header, size)
            starts = self.sectors[self.sectors >= 0] * V.SECTOR
            span = header.bitmap_bytes + header.block_size
            for a, b in reserved:
                hit = np.flatnonzero((starts < b) & (starts + span > a))
                if len(hit):
                    raise Malformed(f"a block at offset {int(starts[hit[0]])} overlaps the "
                                    f"VHD's own structures at {a}")

    # --- what the disk is ------------------------------------------------------------------

    @property
    def virtual_size(self) -> int:
        return self.footer.current_size

    @property
    def block_size(self) -> int:
        return FIXED_UNIT if self.header is None else self.header.block_size

    @property
    def has_parent(self) -> bool:
        return self.footer.disk_type == V.DIFFERENCING

    @property
    def disk_type(self) -> str:
        return V.DISK_TYPES[self.footer.disk_type]

    @property
    def parent_locator(self) -> dict[str, str]:
        return dict(self.locator)

    @property
    def unique_id(self) -> uuid.UUID:
        return self.footer.unique_id

    @property
    def disk_identifier(self) -> uuid.UUID:
        return self.footer.unique_id

    # --- reading ---------------------------------------------------------------------------

    def pread(self, offset: int, length: int) -> bytes:
        buf = bytearray(length)
        self.preadinto(memoryview(buf), offset)
        return bytes(buf)

    def preadinto(self, buf: memoryview, offset: int) -> None:
        done, total = 0, len(buf)
        while done < total:
            n = portable.preadinto(self._fd, buf[done:], offset + done)
            if n <= 0:
                buf[done:] = bytes(total - done)
                break
            done += n

    def block_data_offset(self, block: int) -> int:
        """Where the data of an allocated block starts in the file."""
        if self.header is None:
            return block * FIXED_UNIT
        return int(self.sectors[block]) * V.SECTOR + self.header.bitmap_bytes

    def block_bitmap(self, block: int) -> np.ndarray:
        """Per-sector booleans of an allocated block (True = the sector is in this file)."""
        import numpy as np

        cached = self._bitmaps.get(block)
        if cached is not None:
            return cached
        assert self.header is not None
        per_block = self.header.block_size // V.SECTOR
        raw = self.pread(int(self.sectors[block]) * V.SECTOR, -(-per_block // 8))
        bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="big")
        bits = bits[:per_block].astype(bool)
        if len(self._bitmaps) >= _BITMAP_CACHE_LIMIT:
            self._bitmaps.clear()
        self._bitmaps[block] = bits
        return bits

    def map_range(self, offset: int, length: int) -> list[Run]:
        """Virtual [offset, offset+length) as DATA/ZERO/PARENT runs, as VhdxImage.map_range."""
        runs: list[Run] = []
        end = min(offset + length, self.virtual_size)
        if self.header is None and offset < end:
            runs.append(Run(offset, end - offset, DATA, offset))
        elif offset < end:
            bs = self.block_size
            pos = offset
            while pos < end:
                block = pos // bs
                stop = min(end, (block + 1) * bs)
                self._map_block(block, pos, stop - pos, runs)
                pos = stop
        if offset + length > max(end, offset):
            start = max(end, offset)
            runs.append(Run(start, offset + length - start, ZERO))
        return runs

    def _map_block(self, block: int, pos: int, length: int, runs: list[Run]) -> None:
        import numpy as np

        bs = self.block_size
        if self.sectors[block] < 0:
            append_run(runs, Run(pos, length, PARENT if self.has_parent else ZERO))
            return
        base = self.block_data_offset(block) - block * bs
        if not self.has_parent:  # a dynamic disk's allocated block is read whole, as qemu does
            append_run(runs, Run(pos, length, DATA, base + pos))
            return
        bits = self.block_bitmap(block)
        first, last = (pos - block * bs) // V.SECTOR, -(-(pos + length - block * bs) // V.SECTOR)
        piece = bits[first:last]
        cuts = [0, *(np.flatnonzero(piece[1:] != piece[:-1]) + 1).tolist(), len(piece)]
        for a, b in itertools.pairwise(cuts):
            lo = max(pos, block * bs + (first + a) * V.SECTOR)
            hi = min(pos + length, block * bs + (first + b) * V.SECTOR)
            if piece[a]:
                append_run(runs, Run(lo, hi - lo, DATA, base + lo))
            else:
                append_run(runs, Run(lo, hi - lo, PARENT))

    def coverage(self) -> list[tuple[int, int, int]]:
        """Sorted (start, end, DATA) virtual runs this file holds (see chain.coverage)."""
        import numpy as np

        size = self.virtual_size
        if self.header is None:
            return [(0, size, DATA)]
        bs = self.block_size
        runs: list[tuple[int, int, int]] = []
        for block in np.flatnonzero(self.sectors >= 0).tolist():
            start, end = block * bs, min(size, (block + 1) * bs)
            if start >= end:
                continue
            if not self.has_parent:
                runs.append((start, end, DATA))
                continue
            bits = self.block_bitmap(block)
            cuts = [0, *(np.flatnonzero(bits[1:] != bits[:-1]) + 1).tolist(), len(bits)]
            for a, b in itertools.pairwise(cuts):
                if bits[a] and start + a * V.SECTOR < end:
                    runs.append((start + a * V.SECTOR, min(end, start + b * V.SECTOR), DATA))
        return runs

    def allocated_blocks(self) -> int:
        return int((self.sectors >= 0).sum())

    # --- lifetime --------------------------------------------------------------------------

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write `data` at virtual `offset` (whole sectors in a differencing disk: Disk.write
        completes the edges from the parent)."""
        mv = memoryview(data).cast("B")
        self._put(offset, len(mv), lambda pos, n, at: pwrite_all(self._fd, mv[pos : pos + n], at))

    def copy_from(self, offset: int, src: int, src_offset: int, length: int) -> None:
        """Write `length` bytes of file `src` (from `src_offset`) at virtual `offset`, as
        `write` does, file to file (copy_range: in the kernel where it can, the bytes never
        come into Python); past the end of `src` it writes zeros, as a read there gives."""

        def put(pos: int, n: int, at: int) -> None:
            copied = copy_range(src, src_offset + pos, self._fd, at, n)
            if copied < n:
                write_zeros(self._fd, at + copied, n - copied)

        self._put(offset, length, put)

    def _put(self, offset: int, length: int, put: Callable[[int, int, int], None]) -> None:
        """Place `length` virtual bytes at `offset`: `put(pos, n, file_offset)` stores bytes
        [pos, pos + n) of them at `file_offset` once their block has its place."""
        if not self.writable:
            raise ReadOnlyError(self.path, "the disk is open read-only")
        if offset < 0 or offset + length > self.virtual_size:
            raise VhdxError(self.path, f"write at {offset}+{length} is outside the disk")
        if self.header is None:
            put(0, length, offset)
            return
        bs = self.block_size
        pos = 0
        while pos < length:
            block, within = divmod(offset + pos, bs)
            n = min(length - pos, bs - within)
            new = self.sectors[block] < 0
            if new:
                self._allocate(block)
            put(pos, n, self.block_data_offset(block) + within)
            if self.has_parent:
                self._mark_present(block, within, n)
            if new:  # the BAT last: it makes the block visible
                pwrite_all(self._fd, struct.pack(">I", int(self.sectors[block])),
                           self.header.table_offset + 4 * block)
            pos += n

    def _allocate(self, block: int) -> None:
        """Room for a block where the footer is: the footer first moves to the new end."""
        assert self.header is not None
        start = self.file_size - V.FOOTER_SIZE
        if start % V.SECTOR:
            raise VhdxError(self.path, "the file does not end on a sector boundary; "
                            "it cannot grow")
        span = self.header.bitmap_bytes + self.header.block_size
        footer = self.pread(start, V.FOOTER_SIZE)
        pwrite_all(self._fd, footer, start + span)
        self.file_size = start + span + V.FOOTER_SIZE
        # a dynamic block is all in this file; a differencing one reads its parent until written
        bitmap = b"\x00" if self.has_parent else b"\xff"
        pwrite_all(self._fd, bitmap * self.header.bitmap_bytes, start)
        pwrite_all(self._fd, bytes(V.FOOTER_SIZE), start + self.header.bitmap_bytes)
        self.sectors[block] = start // V.SECTOR

    def _mark_present(self, block: int, within: int, length: int) -> None:
        import numpy as np

        bits = self.block_bitmap(block).copy()
        bits[within // V.SECTOR : -(-(within + length) // V.SECTOR)] = True
        packed = np.packbits(bits, bitorder="big").tobytes()
        pwrite_all(self._fd, packed, int(self.sectors[block]) * V.SECTOR)
        self._bitmaps[block] = bits

    def __repr__(self) -> str:
        return f"VhdImage({str(self.path)!r})"
