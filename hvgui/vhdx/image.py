"""One VHDX file: open and validate it, map virtual ranges to the file, write and allocate.

`VhdxImage` knows nothing about parents: reads report PARENT runs and the chain (chain.py)
resolves them. Every structure is validated at open; any problem raises a VhdxError subclass
naming the file.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hvgui import portable
from hvgui.vhdx import format as F
from hvgui.vhdx.bat import Bat, BatGeometry, decode_bat
from hvgui.vhdx.errors import CorruptFileError, ReadOnlyError, UnsupportedError, VhdxError
from hvgui.vhdx.files import OpenImage, open_disk_file, pwrite_all, zero_allocated
from hvgui.vhdx.log import Overlay, ReplayPlan, decode_log
from hvgui.vhdx.problems import Malformed, Problems, Unsupported
from hvgui.vhdx.structures import (
    FileIdentifier,
    Header,
    Metadata,
    RegionEntry,
    Regions,
    RegionTable,
    build_header,
    choose_header,
    choose_region_table,
    decode_file_identifier,
    decode_header,
    decode_metadata,
    decode_region_table,
)

if TYPE_CHECKING:
    import numpy as np

_STRICT = Problems(strict=True)  # opening a file: the first problem raises

# Kinds of run returned by VhdxImage.map_range.
DATA = 0  # bytes stored in this file at file_offset
ZERO = 1  # reads as zeros
PARENT = 2  # read the parent disk

_BITMAP_CACHE_LIMIT = 4096


class Run(NamedTuple):
    """A piece of a virtual range: `length` bytes from virtual `offset`, served as `kind`."""

    offset: int
    length: int
    kind: int
    file_offset: int = 0


def bit_runs(raw: bytes, count: int) -> tuple[list[int], bool]:
    """The first `count` bits of `raw` (least significant first) as runs: bounds [0, ...,
    count] between which the bits alternate, and whether the first run is set. Pure Python:
    the work is per change of bit, on one big integer, not per bit."""
    value = int.from_bytes(raw, "little") & ((1 << count) - 1)
    changes = (value ^ (value >> 1)) & ((1 << (count - 1)) - 1)  # bit i: bits i, i+1 differ
    cuts = [0]
    while changes:
        lowest = changes & -changes
        cuts.append(lowest.bit_length())  # bit i set: a new run starts at i + 1
        changes ^= lowest
    cuts.append(count)
    return cuts, bool(value & 1)


class VhdxImage(OpenImage):
    """A single opened VHDX/AVHDX file (no parent resolution).

    Public attributes for inspection: identifier, headers (slot 0 and 1, None if invalid),
    header_problems, current_slot, region_table, metadata, geometry, log_plan, log_state,
    file_size. `bat` is the sparse BAT (loaded and validated at open unless load_bat=False).
    """

    def __init__(self, path: Path, fd: int, writable: bool) -> None:
        self.path = path
        self._fd = fd
        self.writable = writable
        self.file_size = 0
        self.identifier = FileIdentifier("")
        self.headers: list[Header | None] = [None, None]
        self.header_problems: list[str | None] = [None, None]
        self.current_slot = 0
        self.region_table = RegionTable(())
        self.region_problems: list[str | None] = [None, None]
        self.metadata: Metadata
        self.geometry: BatGeometry
        self.bat_region: RegionEntry
        self.metadata_region: RegionEntry
        self.regions: Regions
        self.log_plan: ReplayPlan | None = None
        # "empty" (LogGuid zero), "replayed" (into the file), "replayed in memory"
        # (read-only open), or "no valid entries" (LogGuid set, nothing to replay).
        self.log_state = "empty"
        self.overlay = Overlay()
        self._bat: Bat | None = None
        self._fragmentation = 0
        self._bitmaps: dict[int, np.ndarray] = {}
        self._runs: dict[int, tuple[list[int], bool]] = {}
        self._file_guid_renewed = False
        self._data_guid_renewed = False

    # --- opening ------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, writable: bool = False, load_bat: bool = True
    ) -> VhdxImage:
        p = Path(path)
        fd = open_disk_file(p, writable=writable)
        image = cls(p, fd, writable)
        try:
            image._load(load_bat)
        except Malformed as exc:
            image.close()
            raise CorruptFileError(p, str(exc)) from None
        except Unsupported as exc:
            image.close()
            raise UnsupportedError(p, str(exc)) from None
        except OSError as exc:  # an I/O error, or a log replay the file system refuses
            image.close()
            raise VhdxError(p, f"cannot read the file: {exc.strerror or exc}") from None
        except BaseException:
            image.close()
            raise
        return image

    def _load(self, load_bat: bool) -> None:
        """Decode every structure strictly: the first problem raises."""
        self.file_size = os.fstat(self._fd).st_size
        identifier = decode_file_identifier(self.pread(0, 8 + 512), self.file_size, _STRICT)
        assert identifier is not None
        self.identifier = identifier
        self._load_headers()
        self._load_log()
        self._load_region_table()
        self._load_metadata()
        if load_bat:
            self._load_bat()

    def _load_headers(self) -> None:
        slots = [decode_header(n, self.pread(offset, F.HEADER_SIZE))
                 for n, offset in enumerate(F.HEADER_OFFSETS, start=1)]
        current = choose_header(slots, _STRICT)
        assert current is not None
        self.headers = [s.header if s.valid else None for s in slots]
        self.header_problems = [s.problem or None for s in slots]
        self.current_slot = current.slot - 1

    @property
    def header(self) -> Header:
        """The current header (the valid one with the higher sequence number)."""
        h = self.headers[self.current_slot]
        assert h is not None
        return h

    def _load_log(self) -> None:
        h = self.header
        plan = decode_log(h, self.pread, self.file_size, _STRICT)
        self.log_plan = plan
        if h.log_guid == F.NULL_GUID:
            return
        if plan is None:
            self.log_state = "no valid entries"
            if self.writable:
                self.update_header(log_guid=F.NULL_GUID, file_write_guid=uuid.uuid4())
                self._file_guid_renewed = True
            return
        growth = max(0, plan.last_file_offset - self.file_size)
        if not self.writable:
            self.overlay = Overlay(plan.writes)
            self.file_size = max(self.file_size, plan.last_file_offset)
            self.log_state = "replayed in memory"
            return
        # Replay into the file: apply, make the size at least LastFileOffset, flush, then
        # clear LogGuid in both headers so the log is empty from now on. What the replay can
        # claim on the file system (growth, data sectors) must be free before it starts;
        # zeroing writes only where the file already holds data.
        needed = growth + sum(len(w.data) for w in plan.writes if w.data is not None)
        free = portable.free_space(self.path)
        if needed > free:
            raise Unsupported(
                f"replaying the log needs {needed} bytes (the file grows by {growth}); "
                f"{free} free on its file system"
            )
        self.update_header(file_write_guid=uuid.uuid4())
        self._file_guid_renewed = True
        try:
            for w in plan.writes:
                if w.data is not None:
                    self._pwrite_all(w.data, w.offset)
                else:
                    zero_allocated(self._fd, w.offset, w.length)
            if os.fstat(self._fd).st_size < plan.last_file_offset:
                os.ftruncate(self._fd, plan.last_file_offset)
            os.fsync(self._fd)
        except OSError as exc:
            end = max([plan.last_file_offset, *(w.offset + w.length for w in plan.writes)])
            raise Malformed(
                f"the log cannot be replayed: it grows the file to {end} bytes and the file "
                f"system refuses ({exc.strerror or exc})"
            ) from None
        self.file_size = os.fstat(self._fd).st_size
        self.update_header(log_guid=F.NULL_GUID)
        self.log_state = "replayed"

    def _load_region_table(self) -> None:
        slots = [decode_region_table(n, self.pread(offset, F.REGION_TABLE_SIZE))
                 for n, offset in enumerate(F.REGION_TABLE_OFFSETS, start=1)]
        self.region_problems = [s.problem or None for s in slots]
        regions = choose_region_table(slots, self.header, self.file_size, _STRICT)
        assert regions is not None and regions.bat is not None and regions.metadata is not None
        self.regions = regions
        self.region_table = regions.table
        self.bat_region, self.metadata_region = regions.bat, regions.metadata

    def _load_metadata(self) -> None:
        base = self.metadata_region.file_offset
        decoded = decode_metadata(
            self.pread(base, F.METADATA_TABLE_SIZE),
            self.metadata_region.length,
            lambda off, length: self.pread(base + off, length),
            _STRICT,
        )
        metadata = decoded.complete()
        assert metadata is not None
        self.metadata = m = metadata
        self.geometry = BatGeometry(
            m.block_size, m.logical_sector_size, m.virtual_size, m.has_parent
        )

    def _load_bat(self) -> None:
        """Read and check the BAT, skipping holes of a sparse file (they read as zeros)."""
        scan = decode_bat(
            self.geometry,
            (self.bat_region.file_offset, self.bat_region.length),
            self.file_size,
            self.pread,
            None if self.overlay else lambda offset: portable.next_data(self._fd, offset),
            self.regions.fixed(self.header),
            _STRICT,
        )
        self._bat = scan.bat
        self._fragmentation = scan.fragmentation()

    def fragmentation(self) -> int:
        """Get-VHD's FragmentationPercentage, as the file was when opened (BatScan)."""
        _ = self.bat  # loaded and checked
        return self._fragmentation

    @property
    def bat(self) -> Bat:
        if self._bat is None:
            try:
                self._load_bat()
            except Malformed as exc:
                raise CorruptFileError(self.path, str(exc)) from None
        assert self._bat is not None
        return self._bat

    # --- facts ---------------------------------------------------------------------------

    @property
    def virtual_size(self) -> int:
        return self.metadata.virtual_size

    @property
    def block_size(self) -> int:
        return self.metadata.block_size

    @property
    def logical_sector_size(self) -> int:
        return self.metadata.logical_sector_size

    @property
    def physical_sector_size(self) -> int:
        return self.metadata.physical_sector_size

    @property
    def has_parent(self) -> bool:
        return self.metadata.has_parent

    @property
    def parent_locator(self) -> dict[str, str]:
        return dict(self.metadata.parent_locator or {})

    @property
    def disk_identifier(self) -> uuid.UUID:
        """The Page 83 disk GUID (Get-VHD's DiskIdentifier); shared by a chain."""
        return self.metadata.page83

    @property
    def data_write_guid(self) -> uuid.UUID:
        return self.header.data_write_guid

    @property
    def file_write_guid(self) -> uuid.UUID:
        return self.header.file_write_guid

    @property
    def disk_type(self) -> str:
        if self.metadata.has_parent:
            return "Differencing"
        return "Fixed" if self.metadata.leave_block_allocated else "Dynamic"

    # --- raw file access ---------------------------------------------------------------------

    def pread(self, offset: int, length: int) -> bytes:
        """`length` bytes of the file from `offset` (zeros past the end), log overlay applied."""
        buf = bytearray(length)
        self.preadinto(memoryview(buf), offset)
        return bytes(buf)

    def preadinto(self, buf: memoryview, offset: int) -> None:
        done = 0
        total = len(buf)
        while done < total:
            n = portable.preadinto(self._fd, buf[done:], offset + done)
            if n <= 0:
                buf[done:] = bytes(total - done)  # past the end of the file: zeros
                break
            done += n
        if self.overlay:
            self.overlay.apply(buf, offset)

    def _pwrite_all(self, data: bytes | bytearray | memoryview, offset: int) -> None:
        pwrite_all(self._fd, data, offset)

    # --- mapping virtual ranges ----------------------------------------------------------

    def map_range(self, offset: int, length: int) -> list[Run]:
        """Split virtual [offset, offset+length) into DATA/ZERO/PARENT runs, merging neighbours."""
        runs: list[Run] = []
        end = min(offset + length, self.virtual_size)
        if offset < end:
            bs = self.block_size
            pos = offset
            while pos < end:
                block = pos // bs
                block_end = min(end, (block + 1) * bs)
                self._map_block(block, pos, block_end - pos, runs)
                pos = block_end
        if offset + length > max(end, offset):  # past our virtual size (a smaller parent)
            start = max(end, offset)
            runs.append(Run(start, offset + length - start, ZERO))
        return runs

    def _map_block(self, block: int, pos: int, length: int, runs: list[Run]) -> None:
        entry = self.bat.payload_entry(block)
        state = entry & F.BAT_STATE_MASK
        within = pos - block * self.metadata.block_size
        if state == F.PAYLOAD_BLOCK_FULLY_PRESENT:
            append_run(runs, Run(pos, length, DATA, (entry & F.BAT_OFFSET_MASK) + within))
        elif state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
            block_start = pos - within
            file_base = (entry & F.BAT_OFFSET_MASK) - block_start
            bounds, first_present = self.block_runs(block)
            ss = self.metadata.logical_sector_size
            start, end = within // ss, -(-(within + length) // ss)
            i = bisect.bisect_right(bounds, start) - 1
            last = len(bounds) - 1
            while i < last and bounds[i] < end:
                lo = max(pos, block_start + bounds[i] * ss)
                hi = min(pos + length, block_start + bounds[i + 1] * ss)
                if first_present == (i % 2 == 0):
                    append_run(runs, Run(lo, hi - lo, DATA, file_base + lo))
                else:
                    append_run(runs, Run(lo, hi - lo, PARENT))
                i += 1
        elif state == F.PAYLOAD_BLOCK_NOT_PRESENT and self.has_parent:
            append_run(runs, Run(pos, length, PARENT))
        else:
            append_run(runs, Run(pos, length, ZERO))

    def block_data_offset(self, block: int) -> int:
        """Where the data of a present block starts in the file."""
        return self.bat.payload_entry(block) & F.BAT_OFFSET_MASK

    def block_runs(self, block: int) -> tuple[list[int], bool]:
        """The sector bitmap of a block as runs: sector bounds [0, ..., n] between which the
        bits alternate, and whether the first run is present in this file."""
        cached = self._runs.get(block)
        if cached is not None:
            return cached
        bits = self._bitmaps.get(block)  # a write or merge has it as bits already
        if bits is not None:
            import numpy as np

            cuts = np.flatnonzero(bits[1:] != bits[:-1]) + 1
            result = ([0, *cuts.tolist(), len(bits)], bool(bits[0]))
        else:  # a read: no numpy to load (~0.1 s of CPU) for one block's bitmap
            result = bit_runs(self._bitmap_bytes(block), self.geometry.sectors_per_block)
        if len(self._runs) >= _BITMAP_CACHE_LIMIT:
            self._runs.clear()
        self._runs[block] = result
        return result

    def block_bitmap(self, block: int) -> np.ndarray:
        """Per-sector booleans of a block's sector bitmap (True = the sector is in this file)."""
        import numpy as np

        cached = self._bitmaps.get(block)
        if cached is not None:
            return cached
        raw = np.frombuffer(self._bitmap_bytes(block), dtype=np.uint8)
        bits = np.unpackbits(raw, bitorder="little")[: self.geometry.sectors_per_block]
        bits = bits.astype(bool)
        if len(self._bitmaps) >= _BITMAP_CACHE_LIMIT:
            self._bitmaps.clear()
        self._bitmaps[block] = bits
        return bits

    def _bitmap_bytes(self, block: int) -> bytes:
        """A block's sector bitmap as stored (bit i, least significant first: sector i is in
        this file); all clear when its chunk has no sector bitmap block."""
        g = self.geometry
        chunk, byte_offset = g.bitmap_location(block)
        entry = self.bat.bitmap_entry(chunk) if self.has_parent else 0
        if entry & F.BAT_STATE_MASK != F.SB_BLOCK_PRESENT:
            state = self.bat.payload_entry(block) & F.BAT_STATE_MASK
            if state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                raise CorruptFileError(
                    self.path,
                    f"block {block} is partially present but its sector bitmap is not present",
                )
            return bytes(g.bitmap_bytes_per_block)
        return self.pread((entry & F.BAT_OFFSET_MASK) + byte_offset, g.bitmap_bytes_per_block)

    # --- writing ----------------------------------------------------------------------------

    def _require_writable(self) -> None:
        if not self.writable:
            raise ReadOnlyError(self.path, "the disk is open read-only")

    def update_header(self, **changes: object) -> None:
        """Write a new header into both slots (other slot first), each followed by a flush.

        `changes` are Header fields (file_write_guid, data_write_guid, log_guid, ...).
        """
        self._require_writable()
        current = self.header
        if current.sequence_number > F.MAX_SEQUENCE - 2:
            raise UnsupportedError(
                self.path,
                f"the header sequence number {current.sequence_number} is at its maximum: "
                "the file cannot be changed",
            )
        base = replace(current, **changes)  # type: ignore[arg-type]
        other = 1 - self.current_slot
        first = replace(base, sequence_number=current.sequence_number + 1)
        self._pwrite_all(build_header(first), F.HEADER_OFFSETS[other])
        os.fsync(self._fd)
        self.headers[other] = first
        self.header_problems[other] = None
        self.current_slot = other
        second = replace(base, sequence_number=current.sequence_number + 2)
        self._pwrite_all(build_header(second), F.HEADER_OFFSETS[1 - other])
        os.fsync(self._fd)
        self.headers[1 - other] = second
        self.header_problems[1 - other] = None
        self.current_slot = 1 - other

    def begin_change(self, *, visible: bool) -> None:
        """Renew FileWriteGuid before the session's first change, and DataWriteGuid before its
        first visible one (data, size, user metadata), as the spec asks."""
        changes: dict[str, object] = {}
        if not self._file_guid_renewed:
            changes["file_write_guid"] = uuid.uuid4()
        if visible and not self._data_guid_renewed:
            changes["data_write_guid"] = uuid.uuid4()
        if changes:
            self.update_header(**changes)
            self._file_guid_renewed = True
            self._data_guid_renewed = self._data_guid_renewed or visible

    def allocate(self, length: int) -> int:
        """Reserve `length` bytes (a block) at the end of the file, 1 MiB aligned; zero-filled."""
        offset = max(F.align_up(self.file_size), F.MIN_PAYLOAD_OFFSET)
        self.file_size = offset + length
        os.ftruncate(self._fd, self.file_size)
        return offset

    def give_back_unused_end(self) -> None:
        """Cut the file where the last thing any of its structures points at ends. A merge
        killed between its copy and the BAT entries that make it the file's left blocks
        there that nothing points at: its rerun allocates in their place, not after them
        (cut any number of times, it ends as big as an uncut one; 7-Zip warns of a tail).
        Nothing past that end is read by anyone, so the cut needs no flush of its own."""
        h = self.header
        end = max(F.MIN_PAYLOAD_OFFSET, h.log_offset + h.log_length,
                  self.bat_region.file_offset + self.bat_region.length,
                  self.metadata_region.file_offset + self.metadata_region.length,
                  self.bat.used_end())
        if self.file_size > end:
            self.begin_change(visible=False)
            os.ftruncate(self._fd, end)
            self.file_size = end

    def set_bat_entry(self, index: int, value: int) -> None:
        self._pwrite_all(int(value).to_bytes(8, "little"), self.bat_region.file_offset + index * 8)
        self.bat.set(index, value)

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write virtual bytes into this file, allocating blocks as needed.

        In a differencing file, a write that leaves part of a new block unwritten must be
        sector aligned (Disk.write pads it), since the sector bitmap has sector granularity.
        Order for crash safety: data into new space, flush, sector bitmaps, flush, BAT entries.
        """
        self._require_writable()
        mv = memoryview(data).cast("B")
        if offset < 0 or offset + len(mv) > self.virtual_size:
            raise VhdxError(self.path, f"write at {offset}+{len(mv)} is outside the disk")
        if not mv:
            return
        if self.has_parent and (offset | len(mv)) % self.logical_sector_size:
            raise VhdxError(self.path, "writes to a differencing file must be sector aligned")
        self.begin_change(visible=True)
        g = self.geometry
        bs = g.block_size
        ss = self.logical_sector_size
        data_writes: list[tuple[int, memoryview]] = []
        bit_updates: list[tuple[int, int, int]] = []  # (block, first sector, end sector)
        payload_updates: list[tuple[int, int]] = []
        bitmap_updates: list[tuple[int, int]] = []
        new_partial: set[int] = set()
        size_before, bitmaps_before = self.file_size, []
        pos = offset
        end = offset + len(mv)
        while pos < end:
            block = pos // bs
            within = pos - block * bs
            n = min(end, (block + 1) * bs) - pos
            piece = mv[pos - offset : pos - offset + n]
            entry = self.bat.payload_entry(block)
            state = entry & F.BAT_STATE_MASK
            if state in (F.PAYLOAD_BLOCK_FULLY_PRESENT, F.PAYLOAD_BLOCK_PARTIALLY_PRESENT):
                data_writes.append(((entry & F.BAT_OFFSET_MASK) + within, piece))
                first, stop = within // ss, -(-(within + n) // ss)
                if state == F.PAYLOAD_BLOCK_PARTIALLY_PRESENT and not bool(
                    self.block_bitmap(block)[first:stop].all()
                ):
                    bit_updates.append((block, first, stop))
            else:
                block_offset = self.allocate(bs)
                data_writes.append((block_offset + within, piece))
                whole = within == 0 and n == g.block_length(block)
                if self.has_parent and state == F.PAYLOAD_BLOCK_NOT_PRESENT and not whole:
                    chunk, _ = g.bitmap_location(block)
                    if self.bat.bitmap_entry(chunk) & F.BAT_STATE_MASK != F.SB_BLOCK_PRESENT:
                        bm = self.allocate(F.BITMAP_BLOCK_SIZE)
                        bitmap_updates.append((g.bitmap_index(chunk), bm | F.SB_BLOCK_PRESENT))
                        bitmaps_before.append((g.bitmap_index(chunk), self.bat.bitmap_entry(chunk)))
                        self.bat.set(g.bitmap_index(chunk), bm | F.SB_BLOCK_PRESENT)
                    new_partial.add(block)
                    bit_updates.append((block, within // ss, (within + n) // ss))
                    new_state = F.PAYLOAD_BLOCK_PARTIALLY_PRESENT
                else:
                    new_state = F.PAYLOAD_BLOCK_FULLY_PRESENT
                payload_updates.append((g.payload_index(block), block_offset | new_state))
            pos += n
        try:
            for file_offset, piece in data_writes:
                self._pwrite_all(piece, file_offset)
        except OSError:
            # Nothing points at the blocks this write took yet: give their space back, so a
            # full file system keeps the little room the write found (e.g. for the VM's
            # configuration recording Paused-Critical).
            for index, value in bitmaps_before:
                self.bat.set(index, value)
            if self.file_size > size_before:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size_before)
                self.file_size = size_before
            raise
        if not (bit_updates or payload_updates or bitmap_updates):
            return
        portable.sync_data(self._fd)
        for index, value in bitmap_updates:
            self.set_bat_entry(index, value)
        promoted: list[int] = []  # partial blocks whose every sector is now in this file
        for block, first, stop in bit_updates:
            if block in new_partial:
                import numpy as np

                self._bitmaps[block] = np.zeros(g.sectors_per_block, dtype=bool)
                new_partial.discard(block)
            self._runs.pop(block, None)
            bits = self.block_bitmap(block)
            bits[first:stop] = True
            self._write_block_bitmap(block, bits)
            if bits.all():
                promoted.append(block)
        if bitmap_updates:
            portable.sync_data(self._fd)
        for index, value in payload_updates:
            self.set_bat_entry(index, value)
        for block in promoted:
            entry = self.bat.payload_entry(block)
            self.set_bat_entry(
                g.payload_index(block),
                (entry & F.BAT_OFFSET_MASK) | F.PAYLOAD_BLOCK_FULLY_PRESENT,
            )

    def _write_block_bitmap(self, block: int, bits: np.ndarray) -> None:
        import numpy as np

        chunk, byte_offset = self.geometry.bitmap_location(block)
        entry = self.bat.bitmap_entry(chunk)
        raw = np.packbits(bits, bitorder="little").tobytes()
        self._pwrite_all(raw, (entry & F.BAT_OFFSET_MASK) + byte_offset)

    def __repr__(self) -> str:
        return f"VhdxImage({str(self.path)!r}, writable={self.writable})"


def append_run(runs: list[Run], run: Run) -> None:
    """Append `run`, merging it into the previous one when they continue each other."""
    if run.length <= 0:
        return
    if runs:
        last = runs[-1]
        if (
            last.kind == run.kind
            and last.offset + last.length == run.offset
            and (run.kind != DATA or last.file_offset + last.length == run.file_offset)
        ):
            runs[-1] = Run(last.offset, last.length + run.length, last.kind, last.file_offset)
            return
    runs.append(run)
