"""Get-VHD and the inspector's structural dump, built on a survey that never gives up.

`survey(path)` reads one VHDX file the way a forensic tool would: every structure it can decode,
each CRC checked and remembered rather than enforced, every oddity recorded as a `Problem`. The
engine's `open_disk` refuses a bad file; the survey describes it. `get_vhd`, `dump_vhdx` and
`test_vhd` (check.py) are views of the survey.

Reads are bounded by the file's size and by the structures' legal sizes (a hostile length field
cannot make it allocate more than the file holds).
"""

from __future__ import annotations

import json
import os
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crc32c
import numpy as np

from hvgui import portable
from hvgui.vhdx import format as F
from hvgui.vhdx.errors import VhdxError
from hvgui.vhdx.files import open_disk_file
from hvgui.vhdx.format import MAX_SEQUENCE, KiB, MiB, TiB
from hvgui.vhdx.locator import candidate_paths, find_parent
from hvgui.vhdx.log import Overlay, find_active_sequence
from hvgui.vhdx.structures import Malformed, Unsupported

# The format's constants under the names this module reads best with.
HEADER_OFFSETS = F.HEADER_OFFSETS
REGION_TABLE_OFFSETS = F.REGION_TABLE_OFFSETS
BAT_REGION = F.REGION_BAT
METADATA_REGION = F.REGION_METADATA
FILE_PARAMETERS = F.META_FILE_PARAMETERS
VIRTUAL_DISK_SIZE = F.META_VIRTUAL_DISK_SIZE
PAGE83 = F.META_PAGE83
LOGICAL_SECTOR = F.META_LOGICAL_SECTOR
PHYSICAL_SECTOR = F.META_PHYSICAL_SECTOR
PARENT_LOCATOR = F.META_PARENT_LOCATOR
VHDX_LOCATOR_TYPE = F.PARENT_LOCATOR_TYPE
ZERO_GUID = F.NULL_GUID
METADATA_NAMES = F.KNOWN_METADATA
PAYLOAD_STATES = F.PAYLOAD_STATE_NAMES
BITMAP_STATES = {0: "NOT_PRESENT", 6: "PRESENT"}
FULLY_PRESENT = F.PAYLOAD_BLOCK_FULLY_PRESENT
PARTIALLY_PRESENT = F.PAYLOAD_BLOCK_PARTIALLY_PRESENT
MAX_METADATA_ENTRIES = F.MAX_TABLE_ENTRIES


@dataclass(frozen=True)
class Problem:
    """Something wrong in one file: severity "error" | "warning" | "info", a stable code and
    a sentence for a person."""

    severity: str
    code: str
    message: str


@dataclass
class HeaderView:
    slot: int
    offset: int
    signature_ok: bool = False
    crc_ok: bool = False
    checksum: int = 0
    sequence_number: int = 0
    file_write_guid: uuid.UUID = ZERO_GUID
    data_write_guid: uuid.UUID = ZERO_GUID
    log_guid: uuid.UUID = ZERO_GUID
    log_version: int = 0
    version: int = 0
    log_length: int = 0
    log_offset: int = 0

    @property
    def valid(self) -> bool:
        return self.signature_ok and self.crc_ok


@dataclass
class RegionEntry:
    guid: uuid.UUID
    offset: int
    length: int
    required: bool

    @property
    def name(self) -> str:
        return {BAT_REGION: "BAT", METADATA_REGION: "Metadata"}.get(self.guid, "unknown")


@dataclass
class RegionTableView:
    slot: int
    offset: int
    signature_ok: bool = False
    crc_ok: bool = False
    entries: list[RegionEntry] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.signature_ok and self.crc_ok


@dataclass
class MetadataItem:
    guid: uuid.UUID
    offset: int
    length: int
    is_user: bool
    is_virtual_disk: bool
    is_required: bool
    value: Any = None

    @property
    def name(self) -> str:
        return METADATA_NAMES.get(self.guid, "unknown")


@dataclass
class Survey:
    """All that could be read from one VHDX file, plus what was wrong with it."""

    path: Path
    file_size: int = 0
    problems: list[Problem] = field(default_factory=list)
    is_vhdx: bool = False
    creator: str = ""
    headers: list[HeaderView] = field(default_factory=list)
    current_header: int | None = None
    region_tables: list[RegionTableView] = field(default_factory=list)
    regions: list[RegionEntry] = field(default_factory=list)
    metadata: list[MetadataItem] = field(default_factory=list)
    block_size: int | None = None
    leave_block_allocated: bool = False
    has_parent: bool = False
    virtual_size: int | None = None
    logical_sector_size: int | None = None
    physical_sector_size: int | None = None
    disk_identifier: uuid.UUID | None = None
    locator: dict[str, str] | None = None
    locator_type: uuid.UUID | None = None
    bat_offset: int | None = None
    bat_entries: int = 0  # how many entries the disk's geometry needs
    # The BAT, sparse: indexes and values of the non-zero entries (zero = NOT_PRESENT), so a
    # 64 TiB disk with little allocated costs little memory.
    bat_index: np.ndarray | None = None
    bat_value: np.ndarray | None = None
    # Payload entries in the unallocated states 1-3 (clean bits) are only counted, by state:
    # a trimmed 64 TiB disk has tens of millions of them.
    bat_unallocated: dict[int, int] = field(default_factory=dict)
    payload_count: int = 0
    chunk_ratio: int = 0
    log_entries_found: int = 0

    def problem(self, severity: str, code: str, message: str) -> None:
        self.problems.append(Problem(severity, code, message))

    @property
    def header(self) -> HeaderView | None:
        return None if self.current_header is None else self.headers[self.current_header]

    @property
    def disk_type(self) -> str | None:
        if self.block_size is None:
            return None
        if self.has_parent:
            return "Differencing"
        return "Fixed" if self.leave_block_allocated else "Dynamic"

    def payload_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """(block numbers, entry values) of the non-zero payload entries, in block order."""
        if self.bat_index is None or self.bat_value is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
        period = self.chunk_ratio + 1
        mask = self.bat_index % period != self.chunk_ratio
        index = self.bat_index[mask]
        return index - index // period, self.bat_value[mask]

    def bitmap_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk numbers, entry values) of the non-zero sector-bitmap entries."""
        if self.bat_index is None or self.bat_value is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
        period = self.chunk_ratio + 1
        mask = self.bat_index % period == self.chunk_ratio
        return self.bat_index[mask] // period, self.bat_value[mask]

    def payload_state_counts(self) -> dict[int, int]:
        _, values = self.payload_entries()
        states, counts = np.unique((values & np.uint64(7)).astype(np.int64), return_counts=True)
        result = {int(v): int(c) for v, c in zip(states, counts, strict=True)}
        for state, count in self.bat_unallocated.items():
            result[state] = result.get(state, 0) + count
        result[0] = (result.get(0, 0) + self.payload_count - len(values)
                     - sum(self.bat_unallocated.values()))
        return {k: v for k, v in sorted(result.items()) if v}


def _guid(data: bytes) -> uuid.UUID:
    return uuid.UUID(bytes_le=bytes(data[:16]))


def _crc_ok(block: bytes, checksum_at: int) -> tuple[bool, int]:
    stored = struct.unpack_from("<I", block, checksum_at)[0]
    zeroed = block[:checksum_at] + b"\0\0\0\0" + block[checksum_at + 4 :]
    return crc32c.crc32c(zeroed) == stored, stored


def _read(fobj: Any, offset: int, length: int, file_size: int,
          overlay: Overlay | None = None) -> bytes:
    """Read up to `length` bytes at `offset`, never past the end of the file, with the log's
    replayed writes applied when there is a log to replay."""
    length = max(0, min(length, file_size - offset))
    if length == 0:
        return b""
    fobj.seek(offset)
    data = bytearray(fobj.read(length))
    if overlay:
        overlay.apply(data, offset)
    return bytes(data)


def survey(path: str | os.PathLike[str]) -> Survey:
    """Survey one VHDX file. Never raises for a malformed file (an unreadable one included)."""
    result = Survey(Path(path))
    try:
        fd = open_disk_file(result.path)
    except VhdxError as exc:
        why = f"it {exc.problem}" if exc.problem.startswith("is ") else exc.problem
        result.problem("error", "unreadable", f"the file cannot be read: {why}")
        return result
    try:
        with os.fdopen(fd, "rb") as fobj:
            result.file_size = os.fstat(fobj.fileno()).st_size
            _survey_file(result, fobj)
    except OSError as exc:
        result.problem("error", "unreadable", f"the file cannot be read: {exc.strerror or exc}")
    except (ValueError, struct.error, IndexError, OverflowError) as exc:
        # A structure so malformed that a decoder gave up: what was read so far stays valid.
        result.problem("error", "undecodable", f"the file could not be fully decoded ({exc})")
    return result


def _survey_file(s: Survey, fobj: Any) -> None:
    ident = _read(fobj, 0, 8 + 512, s.file_size)
    if ident[:8] != b"vhdxfile":
        what = "is empty" if s.file_size == 0 else "does not start with the 'vhdxfile' signature"
        s.problem("error", "not-vhdx", f"this is not a VHDX file: it {what}")
        return
    s.is_vhdx = True
    s.creator = ident[8:].decode("utf-16-le", "replace").split("\0", 1)[0]
    if s.file_size < MiB:
        s.problem(
            "error", "truncated",
            f"the file is truncated: {s.file_size} bytes, less than the 1 MiB a VHDX header "
            "area takes",
        )
    _survey_headers(s, fobj)
    overlay = _survey_log(s, fobj)
    _survey_region_tables(s, fobj)
    _survey_metadata(s, fobj, overlay)
    _survey_bat(s, fobj, overlay)


def _survey_headers(s: Survey, fobj: Any) -> None:
    for slot, offset in enumerate(HEADER_OFFSETS, start=1):
        view = HeaderView(slot, offset)
        block = _read(fobj, offset, 4 * KiB, s.file_size)
        s.headers.append(view)
        if len(block) < 4 * KiB:
            continue
        view.signature_ok = block[:4] == b"head"
        view.crc_ok, view.checksum = _crc_ok(block, 4)
        (view.sequence_number,) = struct.unpack_from("<Q", block, 8)
        view.file_write_guid = _guid(block[16:32])
        view.data_write_guid = _guid(block[32:48])
        view.log_guid = _guid(block[48:64])
        view.log_version, view.version, view.log_length, view.log_offset = struct.unpack_from(
            "<HHIQ", block, 64
        )
    valid = [h for h in s.headers if h.valid]
    if not valid:
        s.problem("error", "headers-invalid",
                  "both headers are damaged (bad signature or checksum): the file cannot be used")
        return
    best = max(valid, key=lambda h: h.sequence_number)
    s.current_header = best.slot - 1
    if best.sequence_number > MAX_SEQUENCE - 2:  # an update writes +1 and +2
        s.problem("warning", "header-sequence-max",
                  f"header {best.slot}'s sequence number {best.sequence_number} is at its "
                  "maximum: the file can be read but never changed")
    for h in s.headers:
        if not h.valid:
            s.problem(
                "warning", "header-crc",
                f"header {h.slot} is damaged (bad {'checksum' if h.signature_ok else 'signature'})"
                f"; header {best.slot} is used. Some tools (7-Zip) refuse such a file",
            )
    if best.version != 1:
        s.problem("error", "header-version", f"header version {best.version} is not 1")
    if best.log_version != 0:
        s.problem("error", "log-version", f"log version {best.log_version} is not 0")


def _survey_region_tables(s: Survey, fobj: Any) -> None:
    for slot, offset in enumerate(REGION_TABLE_OFFSETS, start=1):
        view = RegionTableView(slot, offset)
        s.region_tables.append(view)
        block = _read(fobj, offset, 64 * KiB, s.file_size)
        if len(block) < 64 * KiB:
            continue
        view.signature_ok = block[:4] == b"regi"
        view.crc_ok, _ = _crc_ok(block, 4)
        (count,) = struct.unpack_from("<I", block, 8)
        for i in range(min(count, 2047)):
            base = 16 + 32 * i
            guid = _guid(block[base : base + 16])
            offset_, length, flags = struct.unpack_from("<QII", block, base + 16)
            view.entries.append(RegionEntry(guid, offset_, length, bool(flags & 1)))
        if count > 2047 and view.valid:
            s.problem("error", "region-count", f"region table {slot} claims {count} entries")
    valid = [t for t in s.region_tables if t.valid]
    if not valid:
        s.problem("error", "region-table-invalid",
                  "both region tables are damaged: the BAT and metadata cannot be found")
        return
    for t in s.region_tables:
        if not t.valid:
            s.problem("warning", "region-table-crc",
                      f"region table {t.slot} is damaged; the other copy is used")
    s.regions = valid[0].entries
    if len(valid) == 2 and _region_key(valid[0]) != _region_key(valid[1]):
        s.problem("warning", "region-tables-differ", "the two region tables disagree")
    for entry in s.regions:
        if entry.guid not in (BAT_REGION, METADATA_REGION) and entry.required:
            s.problem("error", "unknown-region",
                      f"the file requires region {entry.guid}, which no reader here understands")
        if entry.offset % MiB or entry.offset < MiB:
            s.problem("error", "region-misplaced",
                      f"the {entry.name} region at offset {entry.offset} is not 1 MiB aligned "
                      "above the header area")
        if entry.offset + entry.length > s.file_size:
            s.problem("error", "region-past-eof",
                      f"the {entry.name} region ({entry.offset}+{entry.length}) runs past the "
                      f"end of the file ({s.file_size} bytes): the file is truncated")
    for guid, name in ((BAT_REGION, "BAT"), (METADATA_REGION, "metadata")):
        if not any(e.guid == guid for e in s.regions):
            s.problem("error", "region-missing", f"the region table has no {name} region")


def _region_key(table: RegionTableView) -> list[tuple[str, int, int, bool]]:
    return sorted((str(e.guid), e.offset, e.length, e.required) for e in table.entries)


def _region(s: Survey, guid: uuid.UUID) -> RegionEntry | None:
    return next((e for e in s.regions if e.guid == guid), None)


def _survey_metadata(s: Survey, fobj: Any, overlay: Overlay) -> None:
    region = _region(s, METADATA_REGION)
    if region is None:
        return
    table = _read(fobj, region.offset, 64 * KiB, s.file_size, overlay)
    if table[:8] != b"metadata":
        s.problem("error", "metadata-signature", "the metadata table has no 'metadata' signature")
        return
    (count,) = struct.unpack_from("<H", table, 10)
    if count > MAX_METADATA_ENTRIES:
        s.problem("error", "metadata-count", f"the metadata table claims {count} entries")
        count = MAX_METADATA_ENTRIES
    for i in range(count):
        base = 32 + 32 * i
        if base + 32 > len(table):
            break
        guid = _guid(table[base : base + 16])
        offset, length, flags = struct.unpack_from("<III", table, base + 16)
        item = MetadataItem(guid, offset, length, bool(flags & 1), bool(flags & 2),
                            bool(flags & 4))
        s.metadata.append(item)
        if offset + length > region.length or (length and offset < 64 * KiB):
            s.problem("error", "metadata-item-bounds",
                      f"metadata item {item.name} ({guid}) lies outside the metadata region")
            continue
        raw = _read(fobj, region.offset + offset, min(length, MiB), s.file_size, overlay)
        _decode_item(s, item, raw)
    for guid in (FILE_PARAMETERS, VIRTUAL_DISK_SIZE, LOGICAL_SECTOR, PHYSICAL_SECTOR, PAGE83):
        if not any(i.guid == guid for i in s.metadata):
            s.problem("error", "metadata-missing",
                      f"the required metadata item {METADATA_NAMES[guid]} is missing")
    if s.has_parent and s.locator is None:
        s.problem("error", "locator-missing",
                  "the disk says it has a parent but has no parent locator")


def _decode_item(s: Survey, item: MetadataItem, raw: bytes) -> None:
    need = {FILE_PARAMETERS: 8, VIRTUAL_DISK_SIZE: 8, LOGICAL_SECTOR: 4, PHYSICAL_SECTOR: 4,
            PAGE83: 16, PARENT_LOCATOR: 20}.get(item.guid)
    if need is None:
        if item.is_required:
            s.problem("error", "unknown-metadata",
                      f"the file requires metadata item {item.guid}, which no reader here "
                      "understands")
        return
    if len(raw) < need:
        s.problem("error", "metadata-short", f"metadata item {item.name} is cut short")
        return
    if item.guid == FILE_PARAMETERS:
        block_size, flags = struct.unpack_from("<II", raw)
        item.value = {"BlockSize": block_size, "LeaveBlockAllocated": bool(flags & 1),
                      "HasParent": bool(flags & 2)}
        s.leave_block_allocated, s.has_parent = bool(flags & 1), bool(flags & 2)
        if block_size < MiB or block_size > 256 * MiB or block_size & (block_size - 1):
            s.problem("error", "block-size",
                      f"block size {block_size} is not a power of two from 1 to 256 MiB")
        else:
            s.block_size = block_size
    elif item.guid == VIRTUAL_DISK_SIZE:
        (s.virtual_size,) = struct.unpack_from("<Q", raw)
        item.value = s.virtual_size
        if s.virtual_size == 0 or s.virtual_size > 64 * TiB:
            s.problem("error", "virtual-size",
                      f"virtual size {s.virtual_size} is outside 1 byte..64 TiB")
            s.virtual_size = None
    elif item.guid in (LOGICAL_SECTOR, PHYSICAL_SECTOR):
        (value,) = struct.unpack_from("<I", raw)
        item.value = value
        if value not in (512, 4096):
            s.problem("error", "sector-size", f"{item.name} {value} is neither 512 nor 4096")
        elif item.guid == LOGICAL_SECTOR:
            s.logical_sector_size = value
        else:
            s.physical_sector_size = value
    elif item.guid == PAGE83:
        s.disk_identifier = _guid(raw)
        item.value = str(s.disk_identifier).upper()
    else:
        _decode_locator(s, item, raw)


def _decode_locator(s: Survey, item: MetadataItem, raw: bytes) -> None:
    s.locator_type = _guid(raw)
    (count,) = struct.unpack_from("<H", raw, 18)
    pairs: dict[str, str] = {}
    for i in range(count):
        base = 20 + 12 * i
        if base + 12 > len(raw):
            s.problem("error", "locator-bounds", "the parent locator's entry table is cut short")
            break
        key_off, value_off, key_len, value_len = struct.unpack_from("<IIHH", raw, base)
        if key_off + key_len > len(raw) or value_off + value_len > len(raw):
            s.problem("error", "locator-bounds",
                      f"parent locator entry {i} points outside the locator")
            continue
        key = raw[key_off : key_off + key_len].decode("utf-16-le", "replace")
        pairs[key] = raw[value_off : value_off + value_len].decode("utf-16-le", "replace")
    s.locator = pairs
    item.value = {"type": str(s.locator_type).upper(), "entries": pairs}
    if s.locator_type != VHDX_LOCATOR_TYPE:
        s.problem("error", "locator-type",
                  f"the parent locator type {s.locator_type} is not the VHDX locator type")
    if "parent_linkage" not in pairs:
        s.problem("error", "locator-linkage", "the parent locator has no parent_linkage")
    if not any(k in pairs for k in ("relative_path", "volume_path", "absolute_win32_path")):
        s.problem("error", "locator-path", "the parent locator has no path to the parent")


def _survey_log(s: Survey, fobj: Any) -> Overlay:
    """Find the log's active sequence; its writes are applied to what the survey reads next,
    as any reader must before trusting the BAT and metadata."""
    header = s.header
    if header is None or header.log_guid == ZERO_GUID:
        return Overlay()
    if (header.log_offset % MiB or header.log_length % MiB or header.log_offset < MiB
            or header.log_offset + header.log_length > s.file_size):
        s.problem("error", "log-bounds", "the log region is misplaced or runs past the file")
        return Overlay()
    try:
        plan = find_active_sequence(
            _read(fobj, header.log_offset, header.log_length, s.file_size), header.log_guid)
    except (Malformed, Unsupported) as exc:
        s.problem("error", "log-invalid", f"the log cannot be replayed: {exc}")
        return Overlay()
    if plan is None:
        s.problem("info", "log-empty",
                  "the header names a log but the log holds no valid entry: nothing to replay")
        return Overlay()
    s.log_entries_found = len(plan.entries)
    s.problem(
        "warning", "log-unreplayed",
        f"the file has an unreplayed log ({len(plan.entries)} entries): it was not closed "
        "cleanly. hvgui replays it in memory when reading and into the file when opening it "
        "for writing; this survey shows the file as replayed",
    )
    return Overlay(plan.writes)


def _survey_bat(s: Survey, fobj: Any, overlay: Overlay) -> None:
    region = _region(s, BAT_REGION)
    if (region is None or s.block_size is None or s.virtual_size is None
            or s.logical_sector_size is None):
        return
    s.bat_offset = region.offset
    s.chunk_ratio = (1 << 23) * s.logical_sector_size // s.block_size
    s.payload_count = -(-s.virtual_size // s.block_size)
    chunks = -(-s.payload_count // s.chunk_ratio)
    if s.has_parent:
        total = chunks * (s.chunk_ratio + 1)
    else:
        total = s.payload_count + (s.payload_count - 1) // s.chunk_ratio
    s.bat_entries = total
    if total * 8 > region.length:
        s.problem("error", "bat-small",
                  f"the BAT region holds {region.length // 8} entries but the disk needs {total}")
    if region.offset + total * 8 > s.file_size:
        s.problem("error", "bat-truncated", "the BAT is cut short by the end of the file")
    indexes: list[np.ndarray] = []
    values: list[np.ndarray] = []
    piece = MiB
    start = 0
    allocated, room = 0, -(-s.file_size // MiB)
    while start < total * 8:
        pos = region.offset + start
        if not overlay:  # skip holes of a sparse file: they read as zeros
            found = portable.next_data(fobj.fileno(), pos)
            data_at = s.file_size if found is None else found  # None: a hole to the end
            if data_at >= region.offset + total * 8:
                break
            start = max(start, (data_at - region.offset) // piece * piece)
        raw = _read(fobj, region.offset + start, min(piece, total * 8 - start), s.file_size,
                    overlay)
        if not raw:
            break
        entries = np.frombuffer(raw[: len(raw) // 8 * 8], dtype="<u8").astype(np.uint64)
        nonzero = np.flatnonzero(entries)
        index = nonzero.astype(np.int64) + start // 8
        value = entries[nonzero]
        state = value & np.uint64(7)
        plain = ((index % (s.chunk_ratio + 1) != s.chunk_ratio)
                 & (state >= np.uint64(1)) & (state <= np.uint64(3))
                 & ((value & np.uint64(0xFFFF8)) == 0))
        if plain.any():
            kinds, counts = np.unique(state[plain].astype(np.int64), return_counts=True)
            for kind, count in zip(kinds.tolist(), counts.tolist(), strict=True):
                s.bat_unallocated[kind] = s.bat_unallocated.get(kind, 0) + count
            index, value = index[~plain], value[~plain]
        indexes.append(index)
        values.append(value)
        start += piece
        states = values[-1] & np.uint64(7)
        allocated += int(np.count_nonzero(
            (states == FULLY_PRESENT) | (states == PARTIALLY_PRESENT)))
        if allocated > room:  # 1 MiB aligned blocks that stay apart cannot be more than this
            s.problem("error", "blocks-overlap",
                      f"the BAT allocates more blocks than the file has room for ({allocated} "
                      f"in a file of {room} MiB): blocks overlap or lie past the end; the rest "
                      "of the BAT was not read")
            break
    s.bat_index = np.concatenate(indexes) if indexes else np.zeros(0, dtype=np.int64)
    s.bat_value = np.concatenate(values) if values else np.zeros(0, dtype=np.uint64)
    _check_bat(s)


def _check_bat(s: Survey) -> None:
    assert s.bat_value is not None and s.block_size is not None and s.virtual_size is not None
    blocks, entries = s.payload_entries()
    states = (entries & np.uint64(7)).astype(np.uint8)
    offsets = entries & np.uint64(0xFFFFFFFFFFF00000)
    reserved_bits = (s.bat_value & np.uint64(0xFFFF8)) != 0
    if reserved_bits.any():
        s.problem("warning", "bat-reserved-bits",
                  f"{int(reserved_bits.sum())} BAT entries have reserved bits set")
    bad_state = ~np.isin(states, list(PAYLOAD_STATES))
    if bad_state.any():
        first = int(np.flatnonzero(bad_state)[0])
        s.problem("error", "bat-reserved-state",
                  f"{int(bad_state.sum())} blocks have an undefined BAT state (first: block "
                  f"{int(blocks[first])}, state {int(states[first])})")
    partial = states == PARTIALLY_PRESENT
    if partial.any() and not s.has_parent:
        s.problem("error", "partial-without-parent",
                  f"{int(partial.sum())} blocks are PARTIALLY_PRESENT in a disk with no parent")
    missing_blocks = s.payload_count - int((states == FULLY_PRESENT).sum())
    if s.leave_block_allocated and missing_blocks:
        s.problem("warning", "fixed-not-allocated",
                  f"{missing_blocks} blocks of a fixed disk are not allocated")
    chunks, bitmap_entries = s.bitmap_entries()
    bitmap_states = (bitmap_entries & np.uint64(7)).astype(np.uint8)
    if not s.has_parent and len(bitmap_entries):
        s.problem("warning", "bitmap-without-parent",
                  f"{len(bitmap_entries)} sector-bitmap entries are set in a disk with no parent")
    bad_bitmap = ~np.isin(bitmap_states, list(BITMAP_STATES))
    if bad_bitmap.any():
        s.problem("error", "bitmap-reserved-state",
                  f"{int(bad_bitmap.sum())} sector-bitmap entries have an undefined state")
    bitmap_present = bitmap_states == 6
    if partial.any() and s.has_parent:
        missing = ~np.isin(blocks[partial] // s.chunk_ratio, chunks[bitmap_present])
        if missing.any():
            s.problem("error", "bitmap-missing",
                      f"{int(missing.sum())} PARTIALLY_PRESENT blocks have no sector bitmap")
    # Allocated extents: payload blocks and bitmap blocks, each must be inside the file, above
    # the header area, outside the BAT/metadata/log regions, and disjoint from each other.
    allocated = np.isin(states, (FULLY_PRESENT, PARTIALLY_PRESENT))
    # Only the part of the last block inside the virtual disk has to be in the file.
    block_numbers = blocks[allocated].astype(np.uint64)
    block_lengths = np.minimum(
        np.uint64(s.block_size),
        np.uint64(s.virtual_size) - block_numbers * np.uint64(s.block_size),
    )
    start = np.concatenate([
        offsets[allocated],
        bitmap_entries[bitmap_present] & np.uint64(0xFFFFFFFFFFF00000),
    ])
    length = np.concatenate([
        block_lengths, np.full(int(bitmap_present.sum()), MiB, dtype=np.uint64)])
    if len(start) == 0:
        return
    end = start + length
    past = end > np.uint64(s.file_size)
    if past.any():
        s.problem("error", "block-past-eof",
                  f"{int(past.sum())} blocks lie past the end of the file ({s.file_size} "
                  "bytes): the file is truncated or its BAT is damaged")
    low = start < np.uint64(MiB)
    if low.any():
        s.problem("error", "block-in-header",
                  f"{int(low.sum())} blocks point into the 1 MiB header area")
    fixed_regions = [(e.offset, e.offset + e.length, e.name) for e in s.regions]
    header = s.header
    if header is not None and header.log_length:
        fixed_regions.append((header.log_offset, header.log_offset + header.log_length, "log"))
    for r_start, r_end, name in fixed_regions:
        hit = (start < np.uint64(r_end)) & (end > np.uint64(r_start))
        if hit.any():
            s.problem("error", "block-overlaps-region",
                      f"{int(hit.sum())} blocks overlap the {name} region")
    order = np.argsort(start, kind="stable")
    sorted_start, sorted_end = start[order], end[order]
    overlap = sorted_end[:-1] > sorted_start[1:]
    if overlap.any():
        s.problem("error", "blocks-overlap",
                  f"{int(overlap.sum())} pairs of blocks share the same space in the file "
                  "(writing one would overwrite the other)")


# ---- the parent locator -------------------------------------------------------------------


def locator_candidates(child: Path, locator: dict[str, str]) -> list[Path]:
    """Where the parent may be, in the engine's lookup order (locator.candidate_paths)."""
    return candidate_paths(child, locator)


def resolve_parent(child: Path, locator: dict[str, str]) -> Path | None:
    return find_parent(child, locator)


def locator_display_path(locator: dict[str, str]) -> str | None:
    """The parent path a person recognises: the absolute Windows path when there is one."""
    for key in ("absolute_win32_path", "relative_path", "volume_path"):
        value = locator.get(key)
        if value:
            return value[4:] if value.startswith("\\\\?\\") else value
    return None


def linkage_matches(locator: dict[str, str], parent: Survey) -> bool | None:
    """Whether the parent's DataWriteGuid is one the child accepts (parent_linkage or the
    spec's alternate, parent_linkage2); None when it cannot be told."""
    header = parent.header
    if header is None:
        return None
    accepted = []
    for key in ("parent_linkage", "parent_linkage2"):
        try:
            guid = uuid.UUID(locator[key].strip("{}"))
        except (KeyError, ValueError):
            continue
        if guid != ZERO_GUID:  # Hyper-V writes a zero parent_linkage2 when it has none
            accepted.append(guid)
    if not accepted:
        return None
    return header.data_write_guid in accepted


# ---- Get-VHD -------------------------------------------------------------------------------


@dataclass
class VhdInfo:
    """Get-VHD's view of one file."""

    path: Path
    vhd_type: str | None
    file_size: int
    size: int | None
    minimum_size: int | None
    logical_sector_size: int | None
    physical_sector_size: int | None
    block_size: int | None
    parent_path: str | None
    disk_identifier: str | None
    fragmentation_percentage: int | None
    alignment: int
    attached: bool = False
    parent_found: bool | None = None  # None: not a differencing disk
    problems: list[Problem] = field(default_factory=list)
    vhd_format: str = "VHDX"  # or "VHD", the legacy format (vhd_info.py)

    def to_json(self) -> dict[str, Any]:
        return {
            "Path": str(self.path),
            "VhdFormat": self.vhd_format,
            "VhdType": self.vhd_type,
            "FileSize": self.file_size,
            "Size": self.size,
            "MinimumSize": self.minimum_size,
            "LogicalSectorSize": self.logical_sector_size,
            "PhysicalSectorSize": self.physical_sector_size,
            "BlockSize": self.block_size,
            "ParentPath": self.parent_path,
            "DiskIdentifier": self.disk_identifier,
            "FragmentationPercentage": self.fragmentation_percentage,
            "Alignment": self.alignment,
            "Attached": self.attached,
        }


def get_vhd(path: str | os.PathLike[str]) -> VhdInfo:
    """Get-VHD. Raises a VhdxError for a file that is not a usable VHDX at all; a missing
    parent is not an error here (ParentPath then comes from the locator)."""
    from hvgui.vhdx.errors import CorruptFileError
    from hvgui.vhdx.vhd import is_vhd

    if is_vhd(path):
        from hvgui.vhdx.vhd_info import get_legacy_vhd

        return get_legacy_vhd(path)
    s = survey(path)
    fatal = [p for p in s.problems if p.severity == "error" and p.code in _FATAL_FOR_INFO]
    if fatal or s.virtual_size is None or s.block_size is None:
        first = fatal[0].message if fatal else next(
            (p.message for p in s.problems if p.severity == "error"), "it is not a usable VHDX")
        raise CorruptFileError(s.path, first)
    parent_path: str | None = None
    parent_found: bool | None = None
    if s.has_parent and s.locator is not None:
        resolved = resolve_parent(s.path, s.locator)
        parent_found = resolved is not None
        parent_path = str(resolved.resolve()) if resolved else locator_display_path(s.locator)
    return VhdInfo(
        path=s.path.resolve(),
        vhd_type=s.disk_type,
        file_size=s.file_size,
        size=s.virtual_size,
        minimum_size=_minimum_size(s),
        logical_sector_size=s.logical_sector_size,
        physical_sector_size=s.physical_sector_size,
        block_size=s.block_size,
        parent_path=parent_path,
        disk_identifier=None if s.disk_identifier is None else str(s.disk_identifier).upper(),
        fragmentation_percentage=_fragmentation(s),
        alignment=1,
        parent_found=parent_found,
        problems=list(s.problems),
    )


_FATAL_FOR_INFO = {"not-vhdx", "unreadable", "headers-invalid", "region-table-invalid",
                   "region-missing", "metadata-signature"}


def _fragmentation(s: Survey) -> int | None:
    """Percent of allocated blocks that do not follow the previous allocated block in the file
    (0 for a disk laid out in virtual order)."""
    if s.bat_value is None or s.block_size is None:
        return None
    _, entries = s.payload_entries()
    states = entries & np.uint64(7)
    offsets = (entries & np.uint64(0xFFFFFFFFFFF00000))[
        np.isin(states, (FULLY_PRESENT, PARTIALLY_PRESENT))]
    if len(offsets) < 2:
        return 0
    jumps = offsets[1:] != offsets[:-1] + np.uint64(s.block_size)
    return round(100 * int(jumps.sum()) / (len(offsets) - 1))


def _minimum_size(s: Survey) -> int | None:
    """The end of the last partition (what Resize-VHD could shrink to), when the chain can be
    read and holds an MBR or GPT partition table; None otherwise."""
    from hvgui.vhdx import open_disk
    from hvgui.vhdx.errors import VhdxError

    if s.logical_sector_size is None:
        return None
    try:
        with open_disk(s.path) as disk:
            sector = disk.logical_sector_size
            mbr = disk.read(0, sector)
            gpt = disk.read(sector, sector) if disk.size >= 2 * sector else b""
            if gpt[:8] == b"EFI PART":
                return _gpt_end(disk, gpt, sector)
            return _mbr_end(mbr, sector)
    except (VhdxError, OSError, ValueError, struct.error):
        return None


def _mbr_end(mbr: bytes, sector: int) -> int | None:
    if len(mbr) < 512 or mbr[510:512] != b"\x55\xaa":
        return None
    ends = []
    for i in range(4):
        entry = mbr[446 + 16 * i : 462 + 16 * i]
        start, count = struct.unpack_from("<II", entry, 8)
        if entry[4] and count:
            ends.append((start + count) * sector)
    return max(ends) if ends else None


def _gpt_end(disk: Any, header: bytes, sector: int) -> int | None:
    entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
    if entry_size < 128 or count > 1024:
        return None
    table = disk.read(entries_lba * sector, min(count * entry_size, 1024 * 128))
    ends = []
    for i in range(len(table) // entry_size):
        entry = table[i * entry_size : (i + 1) * entry_size]
        if entry[:16] != bytes(16):
            ends.append((struct.unpack_from("<Q", entry, 40)[0] + 1) * sector)
    return max(ends) if ends else None


# ---- the inspector's dump ------------------------------------------------------------------


def dump_vhdx(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the file inspector shows about one VHDX, JSON-ready. Works on damaged files:
    what can be decoded is shown and every problem is listed under "problems"."""
    s = survey(path)
    out: dict[str, Any] = {
        "path": str(s.path),
        "file_size": s.file_size,
        "file_type": {"signature_ok": s.is_vhdx, "creator": s.creator},
        "headers": [
            {
                "slot": h.slot,
                "offset": h.offset,
                "current": s.current_header == h.slot - 1,
                "signature_ok": h.signature_ok,
                "crc_ok": h.crc_ok,
                "checksum": f"0x{h.checksum:08X}",
                "sequence": h.sequence_number,
                "file_write_guid": str(h.file_write_guid),
                "data_write_guid": str(h.data_write_guid),
                "log_guid": str(h.log_guid),
                "log_version": h.log_version,
                "version": h.version,
                "log_length": h.log_length,
                "log_offset": h.log_offset,
            }
            for h in s.headers
        ],
        "region_table": [
            {
                "slot": t.slot,
                "valid": t.valid,
                "entries": [
                    {"guid": str(e.guid).upper(), "name": e.name, "offset": e.offset,
                     "length": e.length, "required": e.required}
                    for e in t.entries
                ],
            }
            for t in s.region_tables
        ],
        "metadata": [
            {
                "guid": str(i.guid).upper(),
                "name": i.name,
                "offset": i.offset,
                "length": i.length,
                "flags": {"is_user": i.is_user, "is_virtual_disk": i.is_virtual_disk,
                          "is_required": i.is_required},
                "value": i.value,
            }
            for i in s.metadata
        ],
        "disk": {
            "type": s.disk_type,
            "virtual_size": s.virtual_size,
            "block_size": s.block_size,
            "logical_sector_size": s.logical_sector_size,
            "physical_sector_size": s.physical_sector_size,
            "disk_identifier": None if s.disk_identifier is None
            else str(s.disk_identifier).upper(),
        },
        "parent_locator": _dump_locator(s),
        "bat": _dump_bat(s),
        "log": _dump_log(s),
        "problems": [
            {"severity": p.severity, "code": p.code, "message": p.message} for p in s.problems
        ],
    }
    json.dumps(out)  # fail here, not in the UI, if anything is not JSON-ready
    return out


def _dump_locator(s: Survey) -> dict[str, Any] | None:
    if s.locator is None:
        return None
    resolved = resolve_parent(s.path, s.locator)
    linkage: bool | None = None
    if resolved is not None:
        linkage = linkage_matches(s.locator, survey(resolved))
    return {
        "type": None if s.locator_type is None else str(s.locator_type).upper(),
        "entries": dict(s.locator),
        "candidates": [str(p) for p in locator_candidates(s.path, s.locator)],
        "resolved": None if resolved is None else str(resolved),
        "linkage_ok": linkage,
    }


def _dump_bat(s: Survey) -> dict[str, Any] | None:
    if s.bat_value is None:
        return None
    payload = {PAYLOAD_STATES.get(k, f"RESERVED_{k}"): n
               for k, n in s.payload_state_counts().items()}
    bitmap: dict[str, int] = {}
    if s.has_parent:
        _, values = s.bitmap_entries()
        b_values, b_counts = np.unique((values & np.uint64(7)).astype(np.int64),
                                       return_counts=True)
        bitmap = {BITMAP_STATES.get(int(v), f"RESERVED_{int(v)}"): int(c)
                  for v, c in zip(b_values, b_counts, strict=True)}
        chunks = -(-s.payload_count // max(s.chunk_ratio, 1))
        if chunks > len(values):
            bitmap["NOT_PRESENT"] = bitmap.get("NOT_PRESENT", 0) + chunks - len(values)
    return {
        "offset": s.bat_offset,
        "entries": s.bat_entries,
        "payload_blocks": s.payload_count,
        "chunk_ratio": s.chunk_ratio,
        "counts": payload,
        "bitmap_counts": bitmap,
        "fragmentation_percentage": _fragmentation(s),
    }


def _dump_log(s: Survey) -> dict[str, Any]:
    header = s.header
    if header is None:
        return {"state": "unknown (no valid header)"}
    empty = header.log_guid == ZERO_GUID or s.log_entries_found == 0
    return {
        "offset": header.log_offset,
        "length": header.log_length,
        "guid": str(header.log_guid),
        "state": "empty (nothing to replay)" if empty
        else "NOT EMPTY: must be replayed before the BAT and metadata can be trusted "
        "(replayed in memory for this view)",
        "entries_to_replay": s.log_entries_found,
    }
