"""Decode and build the fixed VHDX structures: file identifier, headers, region table,
metadata table and items, parent locator.

Each structure has one decoder, which reports what is wrong to a `Problems` sink
(problems.py) and returns what it could decode: opening a disk passes a strict sink (the first
error raises `Malformed` or `Unsupported`, which `VhdxImage` turns into an error naming the
file); the survey behind Get-VHD, Test-VHD and the inspector passes a collecting one.
Records are NamedTuples, immutable and cheap to define (a frozen dataclass costs hvctl's
start-up about a millisecond each); `Header` stays a dataclass, changed with `replace`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import itertools
import os
import struct
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, NamedTuple

from hvgui.vhdx import format as F
from hvgui.vhdx.problems import Problems


def _load_crc32c() -> Callable[[bytes | bytearray | memoryview, int], int]:
    """The crc32c package's C function, loaded without the package's __init__, which looks up
    its own version through importlib.metadata: 25 ms, a third of hvctl get-vhd's start-up."""
    name = "crc32c._crc32c"
    module = sys.modules.get(name) or _load_extension(name)
    if module is None:  # another layout of the package: the ordinary import
        import crc32c

        return crc32c.crc32c
    function: Callable[[bytes | bytearray | memoryview, int], int] = module.crc32c
    return function


def _load_extension(name: str) -> ModuleType | None:
    """Extension module `package.module` loaded from the package's folder, without running
    the package's __init__; registered, so that importing the package later reuses it."""
    package, _, module_name = name.rpartition(".")
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, module_name + suffix)
            if not os.path.exists(path):
                continue
            loader = importlib.machinery.ExtensionFileLoader(name, path)
            found = importlib.util.spec_from_file_location(name, path, loader=loader)
            if found is None:
                continue
            module = importlib.util.module_from_spec(found)
            loader.exec_module(module)
            sys.modules[name] = module
            return module
    return None


_crc32c: Callable[[bytes | bytearray | memoryview, int], int] | None = None


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C of `data`, continuing from `value` (the CRC of the bytes before it)."""
    global _crc32c
    if _crc32c is None:
        _crc32c = _load_crc32c()
    return int(_crc32c(data, value))


def checksum_with_field_zeroed(
    buf: bytes | bytearray | memoryview, field_offset: int = 4
) -> int:
    copy = bytearray(buf)
    copy[field_offset : field_offset + 4] = b"\0\0\0\0"
    return crc32c(copy)


def guid_from(buf: bytes | bytearray | memoryview, offset: int) -> uuid.UUID:
    return uuid.UUID(bytes_le=bytes(buf[offset : offset + 16]))


# --- file type identifier ---------------------------------------------------------------


class FileIdentifier(NamedTuple):
    creator: str


def decode_file_identifier(
    buf: bytes, file_size: int, problems: Problems
) -> FileIdentifier | None:
    """The file type identifier (None: this is not a VHDX at all, nothing else to decode)."""
    if len(buf) < 8 or buf[:8] != F.SIG_FILE:
        what = ("is empty, too small for a VHDX" if file_size == 0
                else "does not start with the 'vhdxfile' signature")
        problems.error("not-vhdx", f"this is not a VHDX file: it {what}")
        return None
    if file_size < F.HEADER_AREA:
        problems.error(
            "truncated",
            f"the file is truncated: {file_size} bytes, too small for a VHDX (its header area "
            "alone takes 1 MiB)",
        )
    raw = buf[8 : 8 + 512]
    return FileIdentifier(raw.decode("utf-16-le", errors="replace").split("\0", 1)[0])


def build_file_identifier(creator: str = F.CREATOR) -> bytes:
    raw = creator.encode("utf-16-le")[:512]
    return F.SIG_FILE + raw + bytes(512 - len(raw))


# --- headers ------------------------------------------------------------------------------

_HEADER = struct.Struct("<4sIQ16s16s16sHHIQ")


@dataclass(frozen=True)
class Header:
    sequence_number: int
    file_write_guid: uuid.UUID
    data_write_guid: uuid.UUID
    log_guid: uuid.UUID
    log_length: int
    log_offset: int
    log_version: int = 0
    version: int = 1
    checksum: int = 0


class HeaderSlot(NamedTuple):
    """One of the two header copies as stored: its fields (None when the file ends before
    it), whether its signature and checksum are right, and why it cannot be used ("" when it
    can)."""

    slot: int  # 1 or 2
    offset: int
    header: Header | None
    signature_ok: bool = False
    crc_ok: bool = False
    problem: str = "cut short by the end of the file"

    @property
    def valid(self) -> bool:
        return not self.problem


def decode_header(slot: int, buf: bytes) -> HeaderSlot:
    offset = F.HEADER_OFFSETS[slot - 1]
    if len(buf) < F.HEADER_SIZE:
        return HeaderSlot(slot, offset, None)
    buf = buf[: F.HEADER_SIZE]
    sig, checksum, seq, fwg, dwg, lg, log_version, version, log_len, log_off = _HEADER.unpack_from(
        buf
    )
    header = Header(
        sequence_number=seq,
        file_write_guid=uuid.UUID(bytes_le=fwg),
        data_write_guid=uuid.UUID(bytes_le=dwg),
        log_guid=uuid.UUID(bytes_le=lg),
        log_length=log_len,
        log_offset=log_off,
        log_version=log_version,
        version=version,
        checksum=checksum,
    )
    signature_ok = sig == F.SIG_HEADER
    crc_ok = checksum_with_field_zeroed(buf) == checksum
    if not signature_ok:
        problem = "bad signature"
    elif not crc_ok:
        problem = "bad checksum"
    elif version != 1:
        problem = f"version {version}, not 1"
    elif log_version != 0:
        problem = f"log version {log_version}, not 0"
    elif log_len % F.ALIGNMENT or log_off % F.ALIGNMENT or (log_len and log_off < F.HEADER_AREA):
        problem = "its log is not 1 MiB aligned or overlaps the header area"
    else:
        problem = ""
    return HeaderSlot(slot, offset, header, signature_ok, crc_ok, problem)


def choose_header(slots: list[HeaderSlot], problems: Problems) -> HeaderSlot | None:
    """The current header: the valid copy with the higher sequence number."""
    valid = [s for s in slots if s.valid and s.header is not None]
    if not valid:
        problems.error(
            "headers-invalid",
            "both headers are invalid (header 1: {}; header 2: {}): the file cannot be used"
            .format(*(s.problem for s in slots)),
        )
        return None
    best = max(valid, key=lambda s: s.header.sequence_number if s.header else 0)
    assert best.header is not None
    for s in slots:
        if not s.valid:
            problems.warning(
                "header-crc",
                f"header {s.slot} is damaged ({s.problem}); header {best.slot} is used. Some "
                "tools (7-Zip) refuse such a file",
            )
    if best.header.sequence_number > F.MAX_SEQUENCE - 2:  # an update writes +1 and +2
        problems.warning(
            "header-sequence-max",
            f"header {best.slot}'s sequence number {best.header.sequence_number} is at its "
            "maximum: the file can be read but never changed",
        )
    return best


def build_header(h: Header) -> bytes:
    buf = bytearray(F.HEADER_SIZE)
    _HEADER.pack_into(
        buf,
        0,
        F.SIG_HEADER,
        0,
        h.sequence_number,
        h.file_write_guid.bytes_le,
        h.data_write_guid.bytes_le,
        h.log_guid.bytes_le,
        h.log_version,
        h.version,
        h.log_length,
        h.log_offset,
    )
    struct.pack_into("<I", buf, 4, crc32c(buf))
    return bytes(buf)


# --- region table ---------------------------------------------------------------------------

_REGION_HEADER = struct.Struct("<4sIII")
_REGION_ENTRY = struct.Struct("<16sQII")


class RegionEntry(NamedTuple):
    guid: uuid.UUID
    file_offset: int
    length: int
    required: bool

    @property
    def name(self) -> str:
        return {F.REGION_BAT: "BAT", F.REGION_METADATA: "Metadata"}.get(self.guid, "unknown")

    @property
    def what(self) -> str:
        """The region in a sentence."""
        if self.guid == F.REGION_BAT:
            return "the BAT region"
        if self.guid == F.REGION_METADATA:
            return "the metadata region"
        return f"region {self.guid}"


class RegionTable(NamedTuple):
    entries: tuple[RegionEntry, ...]

    def find(self, guid: uuid.UUID) -> RegionEntry | None:
        for entry in self.entries:
            if entry.guid == guid:
                return entry
        return None


class RegionTableSlot(NamedTuple):
    """One of the two region table copies: its entries as stored and why it cannot be used
    ("" when it can)."""

    slot: int  # 1 or 2
    offset: int
    table: RegionTable
    problem: str

    @property
    def valid(self) -> bool:
        return not self.problem


def decode_region_table(slot: int, buf: bytes) -> RegionTableSlot:
    offset = F.REGION_TABLE_OFFSETS[slot - 1]
    if len(buf) < F.REGION_TABLE_SIZE:
        return RegionTableSlot(slot, offset, RegionTable(()), "cut short by the end of the file")
    buf = buf[: F.REGION_TABLE_SIZE]
    sig, checksum, count, _ = _REGION_HEADER.unpack_from(buf)
    entries = []
    for i in range(min(count, F.MAX_TABLE_ENTRIES)):
        raw_guid, off, length, flags = _REGION_ENTRY.unpack_from(buf, 16 + 32 * i)
        entries.append(RegionEntry(uuid.UUID(bytes_le=raw_guid), off, length, bool(flags & 1)))
    if sig != F.SIG_REGION:
        problem = "signature is not 'regi'"
    elif checksum_with_field_zeroed(buf) != checksum:
        problem = "checksum (CRC-32C) mismatch"
    elif count > F.MAX_TABLE_ENTRIES:
        problem = f"region table claims {count} entries (at most 2047)"
    else:
        problem = ""
    return RegionTableSlot(slot, offset, RegionTable(tuple(entries)), problem)


class Regions(NamedTuple):
    """Where the BAT and the metadata are (from the region table in use)."""

    table: RegionTable
    bat: RegionEntry | None
    metadata: RegionEntry | None

    def fixed(self, header: Header | None) -> list[tuple[int, int, str]]:
        """(offset, length, name) of the structures no block may overlap: the BAT and
        metadata regions and the log."""
        spans = [(e.file_offset, e.length, e.what) for e in (self.bat, self.metadata) if e]
        if header is not None and header.log_length:
            spans.append((header.log_offset, header.log_length, "the log"))
        return spans


def choose_region_table(
    slots: list[RegionTableSlot], header: Header | None, file_size: int, problems: Problems
) -> Regions | None:
    """The region table in use (the first valid copy), its entries checked: known or not
    required, 1 MiB aligned above the header area, inside the file, apart from each other and
    from the log."""
    valid = [s for s in slots if s.valid]
    if not valid:
        problems.error(
            "region-table-invalid",
            "both region tables are invalid (1: {}; 2: {}): the BAT and metadata cannot be "
            "found".format(*(s.problem for s in slots)),
        )
        return None
    for s in slots:
        if not s.valid:
            problems.warning("region-table-crc",
                             f"region table {s.slot} is damaged ({s.problem}); the other copy "
                             "is used")
    table = valid[0].table
    if len(valid) == 2 and sorted(map(str, valid[0].table.entries)) != sorted(
            map(str, valid[1].table.entries)):
        problems.warning("region-tables-differ", "the two region tables disagree")
    spans: list[tuple[int, int, str]] = []
    if header is not None and header.log_length:
        spans.append((header.log_offset, header.log_length, "the log"))
    for e in table.entries:
        if e.guid not in (F.REGION_BAT, F.REGION_METADATA) and e.required:
            problems.error("unknown-region",
                           f"unknown required region {e.guid}: the file needs it and no reader "
                           "here understands it", unsupported=True)
            continue
        if e.file_offset % F.ALIGNMENT or e.length % F.ALIGNMENT or e.length == 0 \
                or e.file_offset < F.HEADER_AREA:
            problems.error("region-misplaced",
                           f"{e.what} (at {e.file_offset}, {e.length} bytes) is not 1 MiB "
                           "aligned above the header area")
            continue
        if e.file_offset + e.length > file_size:
            problems.error("region-past-eof",
                           f"{e.what} ends at {e.file_offset + e.length}, past the end of the "
                           f"file ({file_size} bytes): the file is truncated")
            continue
        spans.append((e.file_offset, e.length, e.what))
    spans.sort()
    for (a_off, a_len, a_name), (b_off, _, b_name) in itertools.pairwise(spans):
        if b_off < a_off + a_len:
            problems.error("region-overlap", f"{a_name} overlaps {b_name}")
    bat, meta = table.find(F.REGION_BAT), table.find(F.REGION_METADATA)
    for entry, name in ((bat, "BAT"), (meta, "metadata")):
        if entry is None:
            problems.error("region-missing", f"the region table has no {name} region")
    return Regions(table, bat, meta)


def build_region_table(entries: list[RegionEntry]) -> bytes:
    buf = bytearray(F.REGION_TABLE_SIZE)
    _REGION_HEADER.pack_into(buf, 0, F.SIG_REGION, 0, len(entries), 0)
    for i, e in enumerate(entries):
        _REGION_ENTRY.pack_into(
            buf, 16 + 32 * i, e.guid.bytes_le, e.file_offset, e.length, int(e.required)
        )
    struct.pack_into("<I", buf, 4, crc32c(buf))
    return bytes(buf)


# --- metadata ---------------------------------------------------------------------------------

_META_HEADER = struct.Struct("<8sHH20s")
_LOCATOR_HEADER = struct.Struct("<16sHH")
_LOCATOR_ENTRY = struct.Struct("<IIHH")
_META_ENTRY = struct.Struct("<16sIIII")


class MetadataEntry(NamedTuple):
    item_id: uuid.UUID
    offset: int
    length: int
    is_user: bool
    is_virtual_disk: bool
    is_required: bool

    @property
    def name(self) -> str:
        return F.KNOWN_METADATA.get(self.item_id, str(self.item_id))

    @property
    def flags(self) -> int:
        return (
            (F.META_IS_USER if self.is_user else 0)
            | (F.META_IS_VIRTUAL_DISK if self.is_virtual_disk else 0)
            | (F.META_IS_REQUIRED if self.is_required else 0)
        )


class Metadata(NamedTuple):
    """The parsed metadata region: the disk's parameters and its raw table."""

    block_size: int
    leave_block_allocated: bool
    has_parent: bool
    virtual_size: int
    logical_sector_size: int
    physical_sector_size: int
    page83: uuid.UUID
    parent_locator: dict[str, str] | None
    entries: tuple[MetadataEntry, ...] = ()


class ParentLocator(NamedTuple):
    type: uuid.UUID
    entries: dict[str, str]


@dataclass
class DecodedMetadata:
    """What could be decoded of a metadata region: its table, each known item's value
    (JSON-ready, for the inspector) and the disk's parameters (None where an item is missing
    or invalid)."""

    entries: list[MetadataEntry] = field(default_factory=list)
    values: dict[int, Any] = field(default_factory=dict)  # index in entries -> value
    block_size: int | None = None
    leave_block_allocated: bool = False
    has_parent: bool = False
    virtual_size: int | None = None
    logical_sector_size: int | None = None
    physical_sector_size: int | None = None
    page83: uuid.UUID | None = None
    locator: ParentLocator | None = None

    def complete(self) -> Metadata | None:
        """The parameters, when every one of them is known and valid."""
        if (self.block_size is None or self.virtual_size is None or self.page83 is None
                or self.logical_sector_size is None or self.physical_sector_size is None
                or (self.has_parent and self.locator is None)):
            return None
        return Metadata(
            block_size=self.block_size,
            leave_block_allocated=self.leave_block_allocated,
            has_parent=self.has_parent,
            virtual_size=self.virtual_size,
            logical_sector_size=self.logical_sector_size,
            physical_sector_size=self.physical_sector_size,
            page83=self.page83,
            parent_locator=None if self.locator is None else dict(self.locator.entries),
            entries=tuple(self.entries),
        )


def decode_metadata_table(table: bytes, problems: Problems) -> list[MetadataEntry]:
    table += bytes(max(0, F.METADATA_TABLE_SIZE - len(table)))  # cut short by the end of file
    if table[:8] != F.SIG_METADATA:
        problems.error("metadata-signature", "the metadata table signature is not 'metadata'")
        return []
    _, _, count, _ = _META_HEADER.unpack_from(table)
    if count > F.MAX_TABLE_ENTRIES:
        problems.error("metadata-count",
                       f"the metadata table claims {count} entries (at most 2047)")
        count = F.MAX_TABLE_ENTRIES
    entries = []
    seen: set[tuple[uuid.UUID, bool]] = set()
    for i in range(count):
        raw_id, off, length, flags, _ = _META_ENTRY.unpack_from(table, 32 + 32 * i)
        entry = MetadataEntry(
            uuid.UUID(bytes_le=raw_id),
            off,
            length,
            bool(flags & F.META_IS_USER),
            bool(flags & F.META_IS_VIRTUAL_DISK),
            bool(flags & F.META_IS_REQUIRED),
        )
        key = (entry.item_id, entry.is_user)
        if key in seen:
            problems.error("metadata-duplicate", f"metadata item {entry.name} appears twice")
        seen.add(key)
        entries.append(entry)
    return entries


MAX_KNOWN_ITEM = 1 * F.MiB
# The known items and the bytes each needs.
_ITEM_SIZES = {
    F.META_FILE_PARAMETERS: 8,
    F.META_VIRTUAL_DISK_SIZE: 8,
    F.META_LOGICAL_SECTOR: 4,
    F.META_PHYSICAL_SECTOR: 4,
    F.META_PAGE83: 16,
    F.META_PARENT_LOCATOR: _LOCATOR_HEADER.size,
}


def decode_metadata(
    table: bytes, region_length: int, read_item: Callable[[int, int], bytes], problems: Problems
) -> DecodedMetadata:
    """Decode a metadata region: its 64 KiB `table` and the known items, read on demand with
    `read_item(offset_in_region, length)` so a hostile length never makes us read gigabytes."""
    out = DecodedMetadata(entries=decode_metadata_table(table, problems))
    raw: dict[uuid.UUID, tuple[int, bytes]] = {}  # known item -> (index, bytes)
    for index, e in enumerate(out.entries):
        if e.length == 0:
            if e.offset != 0:
                problems.error("metadata-item-bounds",
                               f"metadata item {e.name} has length 0 but offset {e.offset}")
                continue
        elif e.offset < F.METADATA_TABLE_SIZE or e.offset + e.length > region_length:
            problems.error("metadata-item-bounds",
                           f"metadata item {e.name} lies outside the metadata region")
            continue
        if e.is_user:
            continue
        if e.item_id not in F.KNOWN_METADATA:
            if e.is_required:
                problems.error("unknown-metadata",
                               f"unknown required metadata item {e.item_id}: the file needs it "
                               "and no reader here understands it", unsupported=True)
            continue
        if e.length > MAX_KNOWN_ITEM:
            problems.error("metadata-item-size", f"metadata item {e.name} is {e.length} bytes long")
            continue
        raw.setdefault(e.item_id, (index, read_item(e.offset, e.length)))

    def item(guid: uuid.UUID) -> tuple[int, bytes] | None:
        found = raw.get(guid)
        name = F.KNOWN_METADATA[guid]
        if found is None:
            if guid != F.META_PARENT_LOCATOR:
                problems.error("metadata-missing", f"metadata item {name} is missing")
            return None
        if len(found[1]) < _ITEM_SIZES[guid]:
            problems.error("metadata-short", f"metadata item {name} is too short")
            return None
        return found

    if found := item(F.META_FILE_PARAMETERS):
        index, data = found
        block_size, flags = struct.unpack_from("<II", data)
        out.leave_block_allocated = bool(flags & F.LEAVE_BLOCK_ALLOCATED)
        out.has_parent = bool(flags & F.HAS_PARENT)
        out.values[index] = {"BlockSize": block_size,
                             "LeaveBlockAllocated": out.leave_block_allocated,
                             "HasParent": out.has_parent}
        if F.is_power_of_two(block_size) and F.MIN_BLOCK_SIZE <= block_size <= F.MAX_BLOCK_SIZE:
            out.block_size = block_size
        else:
            problems.error("block-size",
                           f"block size {block_size} is not a power of 2 between 1 and 256 MiB")
    for guid, which in ((F.META_LOGICAL_SECTOR, "logical"), (F.META_PHYSICAL_SECTOR, "physical")):
        if found := item(guid):
            index, data = found
            (value,) = struct.unpack_from("<I", data)
            out.values[index] = value
            if value not in F.SECTOR_SIZES:
                problems.error("sector-size",
                               f"{which} sector size {value} (must be 512 or 4096)")
            elif which == "logical":
                out.logical_sector_size = value
            else:
                out.physical_sector_size = value
    if found := item(F.META_VIRTUAL_DISK_SIZE):
        index, data = found
        (size,) = struct.unpack_from("<Q", data)
        out.values[index] = size
        logical = out.logical_sector_size or 512
        if size == 0 or size % logical:
            problems.error("virtual-size",
                           f"virtual size {size} is not a positive multiple of {logical}")
        elif size > F.MAX_VIRTUAL_SIZE:
            problems.error("virtual-size", f"virtual size {size} exceeds the 64 TiB maximum")
        else:
            out.virtual_size = size
    if found := item(F.META_PAGE83):
        index, data = found
        out.page83 = guid_from(data, 0)
        out.values[index] = str(out.page83).upper()
    found = item(F.META_PARENT_LOCATOR)
    if found is not None and (out.has_parent or not problems.strict):  # else unused
        index, data = found
        out.locator = decode_parent_locator(data, problems)
        out.values[index] = {"type": str(out.locator.type).upper(),
                             "entries": dict(out.locator.entries)}
    if out.has_parent and out.locator is None and F.META_PARENT_LOCATOR not in raw:
        problems.error("locator-missing",
                       "differencing disk without a parent locator: it cannot find its parent")
    return out


def build_metadata_region(
    *,
    block_size: int,
    leave_block_allocated: bool,
    virtual_size: int,
    logical_sector_size: int,
    physical_sector_size: int,
    page83: uuid.UUID,
    parent_locator: dict[str, str] | None,
    region_length: int = F.MiB,
) -> bytes:
    """The bytes of a complete metadata region with the standard items, as Hyper-V lays it out."""
    flags = (F.LEAVE_BLOCK_ALLOCATED if leave_block_allocated else 0) | (
        F.HAS_PARENT if parent_locator is not None else 0
    )
    required = F.META_IS_REQUIRED
    virtual = F.META_IS_REQUIRED | F.META_IS_VIRTUAL_DISK
    items: list[tuple[uuid.UUID, bytes, int]] = [
        (F.META_FILE_PARAMETERS, struct.pack("<II", block_size, flags), required),
        (F.META_VIRTUAL_DISK_SIZE, struct.pack("<Q", virtual_size), virtual),
        (F.META_LOGICAL_SECTOR, struct.pack("<I", logical_sector_size), virtual),
        (F.META_PHYSICAL_SECTOR, struct.pack("<I", physical_sector_size), virtual),
        (F.META_PAGE83, page83.bytes_le, virtual),
    ]
    if parent_locator is not None:
        items.append((F.META_PARENT_LOCATOR, build_parent_locator(parent_locator), required))
    buf = bytearray(region_length)
    _META_HEADER.pack_into(buf, 0, F.SIG_METADATA, 0, len(items), bytes(20))
    offset = F.METADATA_TABLE_SIZE
    for i, (guid, data, item_flags) in enumerate(items):
        _META_ENTRY.pack_into(buf, 32 + 32 * i, guid.bytes_le, offset, len(data), item_flags, 0)
        buf[offset : offset + len(data)] = data
        offset += len(data)
    if offset > region_length:
        raise ValueError("metadata does not fit its region")
    return bytes(buf)


def build_metadata_table(entries: list[MetadataEntry], slots: int) -> bytes:
    """The first 32 + 32 * `slots` bytes of a metadata table listing `entries` (slots past
    them zeroed: an entry removed from the end of the table is cleared in the same write)."""
    buf = bytearray(32 + 32 * max(slots, len(entries)))
    _META_HEADER.pack_into(buf, 0, F.SIG_METADATA, 0, len(entries), bytes(20))
    for i, e in enumerate(entries):
        _META_ENTRY.pack_into(buf, 32 + 32 * i, e.item_id.bytes_le, e.offset, e.length,
                              e.flags, 0)
    return bytes(buf)


# --- parent locator -------------------------------------------------------------------------


def decode_parent_locator(buf: bytes, problems: Problems) -> ParentLocator:
    """The parent locator's type and key/value pairs (those that could be decoded)."""
    if len(buf) < _LOCATOR_HEADER.size:
        problems.error("locator-bounds", f"the parent locator is cut short ({len(buf)} bytes)")
        return ParentLocator(F.NULL_GUID, {})
    raw_type, _, count = _LOCATOR_HEADER.unpack_from(buf)
    locator = ParentLocator(uuid.UUID(bytes_le=raw_type), {})
    if locator.type != F.PARENT_LOCATOR_TYPE:
        problems.error("locator-type",
                       f"unknown parent locator type {locator.type}: not the VHDX locator type",
                       unsupported=True)
    if _LOCATOR_HEADER.size + count * _LOCATOR_ENTRY.size > len(buf):
        problems.error("locator-bounds",
                       f"the parent locator claims {count} entries but is {len(buf)} bytes")
        count = (len(buf) - _LOCATOR_HEADER.size) // _LOCATOR_ENTRY.size
    pairs = locator.entries
    for i in range(count):
        key_off, val_off, key_len, val_len = _LOCATOR_ENTRY.unpack_from(
            buf, _LOCATOR_HEADER.size + i * _LOCATOR_ENTRY.size
        )
        if key_off + key_len > len(buf) or val_off + val_len > len(buf) or key_len == 0:
            problems.error("locator-bounds", f"parent locator entry {i} lies outside the locator")
            continue
        raw_key, raw_value = buf[key_off : key_off + key_len], buf[val_off : val_off + val_len]
        try:
            key, value = raw_key.decode("utf-16-le"), raw_value.decode("utf-16-le")
        except UnicodeDecodeError:
            problems.error("locator-utf16", f"parent locator entry {i} is not valid UTF-16")
            key = raw_key.decode("utf-16-le", "replace")
            value = raw_value.decode("utf-16-le", "replace")
        if key in pairs:
            problems.error("locator-duplicate", f"parent locator key {key!r} appears twice")
        pairs[key] = value
    if "parent_linkage" not in pairs:
        problems.error("locator-linkage", "the parent locator has no parent_linkage")
    if not any(k in pairs for k in ("relative_path", "volume_path", "absolute_win32_path")):
        problems.error("locator-path", "the parent locator has no path to the parent")
    return locator


def build_parent_locator(entries: dict[str, str]) -> bytes:
    count = len(entries)
    table = bytearray(_LOCATOR_HEADER.size + count * _LOCATOR_ENTRY.size)
    _LOCATOR_HEADER.pack_into(table, 0, F.PARENT_LOCATOR_TYPE.bytes_le, 0, count)
    strings = bytearray()
    base = len(table)
    for i, (key, value) in enumerate(entries.items()):
        k = key.encode("utf-16-le")
        v = value.encode("utf-16-le")
        key_off = base + len(strings)
        strings += k
        val_off = base + len(strings)
        strings += v
        _LOCATOR_ENTRY.pack_into(
            table, _LOCATOR_HEADER.size + i * _LOCATOR_ENTRY.size, key_off, val_off, len(k), len(v)
        )
    return bytes(table + strings)
