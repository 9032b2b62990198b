"""Parse and build the fixed VHDX structures: file identifier, headers, region table, metadata.

Parsers take bytes and return frozen dataclasses, raising `Malformed` (the structure is invalid)
or `Unsupported` (valid but not supported). `VhdxImage` turns those into errors naming the file.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import crc32c as _crc32c

from hvgui.vhdx import format as F


class Malformed(Exception):
    """A structure is invalid; the message says which and why."""


class Unsupported(Exception):
    """A structure is valid but uses a feature this engine does not support."""


def crc32c(data: bytes | bytearray | memoryview) -> int:
    return int(_crc32c.crc32c(data))


def checksum_with_field_zeroed(
    buf: bytes | bytearray | memoryview, field_offset: int = 4
) -> int:
    copy = bytearray(buf)
    copy[field_offset : field_offset + 4] = b"\0\0\0\0"
    return crc32c(copy)


def guid_from(buf: bytes | bytearray | memoryview, offset: int) -> uuid.UUID:
    return uuid.UUID(bytes_le=bytes(buf[offset : offset + 16]))


# --- file type identifier ---------------------------------------------------------------


@dataclass(frozen=True)
class FileIdentifier:
    creator: str


def parse_file_identifier(buf: bytes) -> FileIdentifier:
    if len(buf) < 8 or buf[:8] != F.SIG_FILE:
        raise Malformed("not a VHDX file (no 'vhdxfile' signature)")
    raw = buf[8 : 8 + 512]
    creator = raw.decode("utf-16-le", errors="replace").split("\0", 1)[0]
    return FileIdentifier(creator=creator)


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


def parse_header(buf: bytes) -> Header:
    if len(buf) < F.HEADER_SIZE:
        raise Malformed("header truncated")
    buf = buf[: F.HEADER_SIZE]
    sig, checksum, seq, fwg, dwg, lg, log_version, version, log_len, log_off = _HEADER.unpack_from(
        buf
    )
    if sig != F.SIG_HEADER:
        raise Malformed("header signature is not 'head'")
    if checksum_with_field_zeroed(buf) != checksum:
        raise Malformed("header checksum (CRC-32C) mismatch")
    if version != 1:
        raise Malformed(f"header version {version} (expected 1)")
    if log_version != 0:
        raise Malformed(f"log version {log_version} (expected 0)")
    if log_len % F.ALIGNMENT or log_off % F.ALIGNMENT or (log_len and log_off < F.HEADER_AREA):
        raise Malformed("log location is not 1 MiB aligned or overlaps the header area")
    return Header(
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


@dataclass(frozen=True)
class RegionEntry:
    guid: uuid.UUID
    file_offset: int
    length: int
    required: bool


@dataclass(frozen=True)
class RegionTable:
    entries: tuple[RegionEntry, ...]

    def find(self, guid: uuid.UUID) -> RegionEntry | None:
        for entry in self.entries:
            if entry.guid == guid:
                return entry
        return None


def parse_region_table(buf: bytes) -> RegionTable:
    if len(buf) < F.REGION_TABLE_SIZE:
        raise Malformed("region table truncated")
    buf = buf[: F.REGION_TABLE_SIZE]
    sig, checksum, count, _ = _REGION_HEADER.unpack_from(buf)
    if sig != F.SIG_REGION:
        raise Malformed("region table signature is not 'regi'")
    if checksum_with_field_zeroed(buf) != checksum:
        raise Malformed("region table checksum (CRC-32C) mismatch")
    if count > F.MAX_TABLE_ENTRIES:
        raise Malformed(f"region table claims {count} entries (at most 2047)")
    entries = []
    for i in range(count):
        raw_guid, off, length, flags = _REGION_ENTRY.unpack_from(buf, 16 + 32 * i)
        entries.append(RegionEntry(uuid.UUID(bytes_le=raw_guid), off, length, bool(flags & 1)))
    return RegionTable(tuple(entries))


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
_META_ENTRY = struct.Struct("<16sIIII")


@dataclass(frozen=True)
class MetadataEntry:
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


@dataclass(frozen=True)
class Metadata:
    """The parsed metadata region: the disk's parameters and its raw table."""

    block_size: int
    leave_block_allocated: bool
    has_parent: bool
    virtual_size: int
    logical_sector_size: int
    physical_sector_size: int
    page83: uuid.UUID
    parent_locator: dict[str, str] | None
    entries: tuple[MetadataEntry, ...] = field(default=())


def parse_metadata_table(buf: bytes) -> tuple[MetadataEntry, ...]:
    if len(buf) < F.METADATA_TABLE_SIZE:
        raise Malformed("metadata table truncated")
    sig, _, count, _ = _META_HEADER.unpack_from(buf)
    if sig != F.SIG_METADATA:
        raise Malformed("metadata table signature is not 'metadata'")
    if count > F.MAX_TABLE_ENTRIES:
        raise Malformed(f"metadata table claims {count} entries (at most 2047)")
    entries = []
    seen: set[tuple[uuid.UUID, bool]] = set()
    for i in range(count):
        raw_id, off, length, flags, _ = _META_ENTRY.unpack_from(buf, 32 + 32 * i)
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
            raise Malformed(f"metadata item {entry.name} appears twice")
        seen.add(key)
        entries.append(entry)
    return tuple(entries)


MAX_KNOWN_ITEM = 1 * F.MiB


def parse_metadata(
    table: bytes, region_length: int, read_item: Callable[[int, int], bytes]
) -> Metadata:
    """Parse a metadata region: its 64 KiB `table` and the known items, read on demand with
    `read_item(offset_in_region, length)` so a hostile length never makes us read gigabytes."""
    entries = parse_metadata_table(table)
    items: dict[uuid.UUID, bytes] = {}
    for e in entries:
        if e.length == 0:
            if e.offset != 0:
                raise Malformed(f"metadata item {e.name} has length 0 but offset {e.offset}")
        elif e.offset < F.METADATA_TABLE_SIZE or e.offset + e.length > region_length:
            raise Malformed(f"metadata item {e.name} lies outside the metadata region")
        if e.is_user:
            continue
        if e.item_id not in F.KNOWN_METADATA:
            if e.is_required:
                raise Unsupported(f"unknown required metadata item {e.item_id}")
            continue
        if e.length > MAX_KNOWN_ITEM:
            raise Malformed(f"metadata item {e.name} is {e.length} bytes long")
        items[e.item_id] = read_item(e.offset, e.length)

    def item(guid: uuid.UUID, size: int) -> bytes:
        data = items.get(guid)
        if data is None:
            raise Malformed(f"metadata item {F.KNOWN_METADATA[guid]} is missing")
        if len(data) < size:
            raise Malformed(f"metadata item {F.KNOWN_METADATA[guid]} is too short")
        return data

    block_size, flags = struct.unpack_from("<II", item(F.META_FILE_PARAMETERS, 8))
    (virtual_size,) = struct.unpack_from("<Q", item(F.META_VIRTUAL_DISK_SIZE, 8))
    (logical,) = struct.unpack_from("<I", item(F.META_LOGICAL_SECTOR, 4))
    (physical,) = struct.unpack_from("<I", item(F.META_PHYSICAL_SECTOR, 4))
    page83 = uuid.UUID(bytes_le=bytes(item(F.META_PAGE83, 16)[:16]))
    if not F.is_power_of_two(block_size) or not F.MIN_BLOCK_SIZE <= block_size <= F.MAX_BLOCK_SIZE:
        raise Malformed(f"block size {block_size} is not a power of 2 between 1 and 256 MiB")
    if logical not in F.SECTOR_SIZES:
        raise Malformed(f"logical sector size {logical} (must be 512 or 4096)")
    if physical not in F.SECTOR_SIZES:
        raise Malformed(f"physical sector size {physical} (must be 512 or 4096)")
    if virtual_size == 0 or virtual_size % logical:
        raise Malformed(f"virtual size {virtual_size} is not a positive multiple of {logical}")
    if virtual_size > F.MAX_VIRTUAL_SIZE:
        raise Malformed(f"virtual size {virtual_size} exceeds the 64 TiB maximum")
    has_parent = bool(flags & F.HAS_PARENT)
    locator = None
    if has_parent:
        raw = items.get(F.META_PARENT_LOCATOR)
        if raw is None:
            raise Malformed("differencing disk without a parent locator")
        locator = parse_parent_locator(raw)
    return Metadata(
        block_size=block_size,
        leave_block_allocated=bool(flags & F.LEAVE_BLOCK_ALLOCATED),
        has_parent=has_parent,
        virtual_size=virtual_size,
        logical_sector_size=logical,
        physical_sector_size=physical,
        page83=page83,
        parent_locator=locator,
        entries=entries,
    )


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


# --- parent locator -------------------------------------------------------------------------

_LOCATOR_HEADER = struct.Struct("<16sHH")
_LOCATOR_ENTRY = struct.Struct("<IIHH")


def parse_parent_locator(buf: bytes) -> dict[str, str]:
    if len(buf) < _LOCATOR_HEADER.size:
        raise Malformed("parent locator truncated")
    raw_type, _, count = _LOCATOR_HEADER.unpack_from(buf)
    if uuid.UUID(bytes_le=raw_type) != F.PARENT_LOCATOR_TYPE:
        raise Unsupported(f"unknown parent locator type {uuid.UUID(bytes_le=raw_type)}")
    if _LOCATOR_HEADER.size + count * _LOCATOR_ENTRY.size > len(buf):
        raise Malformed(f"parent locator claims {count} entries but is {len(buf)} bytes")
    result: dict[str, str] = {}
    for i in range(count):
        key_off, val_off, key_len, val_len = _LOCATOR_ENTRY.unpack_from(
            buf, _LOCATOR_HEADER.size + i * _LOCATOR_ENTRY.size
        )
        if key_off + key_len > len(buf) or val_off + val_len > len(buf) or key_len == 0:
            raise Malformed("parent locator entry lies outside the locator")
        try:
            key = buf[key_off : key_off + key_len].decode("utf-16-le")
            value = buf[val_off : val_off + val_len].decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise Malformed("parent locator string is not valid UTF-16") from exc
        if key in result:
            raise Malformed(f"parent locator key {key!r} appears twice")
        result[key] = value
    if "parent_linkage" not in result:
        raise Malformed("parent locator has no parent_linkage")
    return result


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
