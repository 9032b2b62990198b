"""The legacy VHD format (Virtual Hard Disk Image Format Specification, 2006): one decoder per
structure. Big-endian throughout.

A fixed disk is its raw data followed by a 512-byte footer. A dynamic or differencing disk
holds a copy of the footer at offset 0, a 1024-byte dynamic header (`cxsparse`), a block
allocation table of 32-bit sector numbers (0xFFFFFFFF = not allocated), and blocks that each
start with a sector bitmap (one bit per 512-byte sector, most significant bit first, padded to
a whole sector). A differencing disk names its parent by unique id and time stamp, and where
to find it in parent locator entries (`W2ru` relative and `W2ku` absolute, UTF-16 LE).
Each decoder raises `Malformed` (or `Unsupported`) with the problem in words.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from hvgui.vhdx.problems import Malformed, Unsupported
from hvgui.vhdx.sniff import VHD_FOOTER_COOKIE, VHD_FOOTER_SIZE

if TYPE_CHECKING:
    import numpy as np

SECTOR = 512
FOOTER_SIZE = VHD_FOOTER_SIZE
DYNAMIC_HEADER_SIZE = 1024
FOOTER_COOKIE = VHD_FOOTER_COOKIE
DYNAMIC_COOKIE = b"cxsparse"
VERSION_1 = 0x00010000
NO_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
UNUSED_BLOCK = 0xFFFFFFFF

FIXED, DYNAMIC, DIFFERENCING = 2, 3, 4
DISK_TYPES = {FIXED: "Fixed", DYNAMIC: "Dynamic", DIFFERENCING: "Differencing"}

# Hyper-V's largest VHD (2040 GiB); bounds checked before the work they bound.
MAX_VHD_SIZE = 2040 << 30
MIN_BLOCK, MAX_BLOCK = 4096, 256 << 20
MAX_BAT_ENTRIES = 1 << 24  # 2040 GiB of 128 KiB blocks; a 2 MiB-block VHD needs 1,044,480
MAX_LOCATOR_BYTES = 64 << 10  # a Windows path is at most 32,767 UTF-16 units
LOCATOR_KEYS = {b"W2ru": "relative_path", b"W2ku": "absolute_win32_path"}
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

_FOOTER = struct.Struct(">8sIIQI4sI4sQQIII16sB")
_DYNAMIC = struct.Struct(">8sQQIIII16sII512s")
_LOCATOR = struct.Struct(">4sIIIQ")


def checksum(block: bytes, at: int) -> int:
    """One's complement of the byte sum, the 4 bytes at `at` (the checksum field) left out."""
    total = sum(block) - sum(block[at : at + 4])  # a footer or header: 512 or 1024 bytes
    return ~total & 0xFFFFFFFF


def from_vhd_time(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Footer:
    features: int
    data_offset: int
    timestamp: int
    creator_app: str
    creator_os: str
    original_size: int
    current_size: int
    geometry: tuple[int, int, int]  # cylinders, heads, sectors per track
    disk_type: int
    checksum: int
    unique_id: uuid.UUID
    saved_state: bool


def parse_footer(raw: bytes, file_size: int) -> Footer:
    if len(raw) < FOOTER_SIZE or raw[:8] != FOOTER_COOKIE:
        raise Malformed("no VHD footer (the 'conectix' cookie is missing)")
    (_, features, version, data_offset, timestamp, app, _, host_os, original, current,
     geometry, disk_type, stored, unique, saved) = _FOOTER.unpack_from(raw)
    computed = checksum(raw[:FOOTER_SIZE], 64)
    if stored != computed:
        raise Malformed(f"footer checksum mismatch (stored {stored:#010x}, computed "
                        f"{computed:#010x})")
    if version >> 16 != 1:
        raise Unsupported(f"VHD format version {version >> 16}.{version & 0xFFFF} (only 1.x)")
    if disk_type not in DISK_TYPES:
        raise Unsupported(f"disk type {disk_type} (only fixed 2, dynamic 3, differencing 4)")
    if current == 0 or current % SECTOR or current > MAX_VHD_SIZE:
        raise Malformed(f"disk size {current} is not a multiple of 512 between 512 bytes and "
                        f"{MAX_VHD_SIZE >> 30} GiB")
    if disk_type == FIXED:
        if current > file_size - FOOTER_SIZE:
            raise Malformed(f"a fixed disk of {current} bytes needs a file of "
                            f"{current + FOOTER_SIZE} bytes; the file has {file_size}")
    elif data_offset < FOOTER_SIZE or data_offset % SECTOR \
            or data_offset + DYNAMIC_HEADER_SIZE > file_size - FOOTER_SIZE:
        raise Malformed(f"dynamic header offset {data_offset} is outside the file")
    return Footer(
        features=features, data_offset=data_offset, timestamp=timestamp,
        creator_app=app.decode("latin-1").rstrip("\0 "),
        creator_os=host_os.decode("latin-1").rstrip("\0 "), original_size=original,
        current_size=current,
        geometry=(geometry >> 16, (geometry >> 8) & 0xFF, geometry & 0xFF),
        disk_type=disk_type, checksum=stored, unique_id=uuid.UUID(bytes=unique),
        saved_state=bool(saved),
    )


@dataclass(frozen=True)
class LocatorEntry:
    code: str
    data_space: int
    data_length: int
    data_offset: int


@dataclass(frozen=True)
class DynamicHeader:
    table_offset: int
    max_table_entries: int
    block_size: int
    checksum: int
    parent_unique_id: uuid.UUID
    parent_timestamp: int
    parent_name: str
    locators: tuple[LocatorEntry, ...]

    @property
    def bitmap_bytes(self) -> int:
        """The sector bitmap in front of each block, padded to whole sectors."""
        bits = self.block_size // SECTOR
        return -(-bits // 8 // SECTOR) * SECTOR

    @property
    def bat_bytes(self) -> int:
        return -(-self.max_table_entries * 4 // SECTOR) * SECTOR


def parse_dynamic_header(raw: bytes, footer: Footer, file_size: int) -> DynamicHeader:
    if len(raw) < DYNAMIC_HEADER_SIZE or raw[:8] != DYNAMIC_COOKIE:
        raise Malformed(f"no dynamic header at offset {footer.data_offset} (the 'cxsparse' "
                        "cookie is missing)")
    (_, _, table_offset, version, entries, block_size, stored, parent_id, parent_ts, _,
     name_raw) = _DYNAMIC.unpack_from(raw)
    computed = checksum(raw[:DYNAMIC_HEADER_SIZE], 36)
    if stored != computed:
        raise Malformed(f"dynamic header checksum mismatch (stored {stored:#010x}, computed "
                        f"{computed:#010x})")
    if version >> 16 != 1:
        raise Unsupported(f"dynamic header version {version >> 16}.{version & 0xFFFF}")
    if block_size & (block_size - 1) or not MIN_BLOCK <= block_size <= MAX_BLOCK:
        raise Malformed(f"block size {block_size} is not a power of two from 4 KiB to 256 MiB")
    needed = -(-footer.current_size // block_size)
    if entries < needed:
        raise Malformed(f"the BAT has {entries} entries; a {footer.current_size}-byte disk of "
                        f"{block_size}-byte blocks needs {needed}")
    if entries > MAX_BAT_ENTRIES:
        raise Malformed(f"the BAT has {entries} entries, more than {MAX_BAT_ENTRIES}")
    if table_offset % SECTOR or table_offset < FOOTER_SIZE \
            or table_offset + entries * 4 > file_size - FOOTER_SIZE:
        raise Malformed(f"the BAT ({entries} entries at offset {table_offset}) is not inside "
                        "the file")
    locators = []
    for i in range(8):
        code, space, length, _, offset = _LOCATOR.unpack_from(raw, 576 + 24 * i)
        if code == b"\0\0\0\0":
            continue
        locators.append(LocatorEntry(code.decode("latin-1"), space, length, offset))
    return DynamicHeader(
        table_offset=table_offset, max_table_entries=entries, block_size=block_size,
        checksum=stored, parent_unique_id=uuid.UUID(bytes=parent_id),
        parent_timestamp=parent_ts, parent_name=_utf16(name_raw, "utf-16-be", "parent name"),
        locators=tuple(locators),
    )


def locator_ranges(header: DynamicHeader, file_size: int) -> list[tuple[LocatorEntry, int]]:
    """The W2ru/W2ku entries to read: (entry, bytes to read), each checked to be in the file."""
    out = []
    for entry in header.locators:
        if entry.code.encode("latin-1") not in LOCATOR_KEYS:
            continue  # Wi2r/Wi2k (deprecated ANSI), Mac: not used on Windows hosts
        if entry.data_length > MAX_LOCATOR_BYTES or entry.data_length % 2:
            raise Malformed(f"parent locator {entry.code} holds {entry.data_length} bytes, "
                            "not a UTF-16 path")
        if entry.data_offset + entry.data_length > file_size - FOOTER_SIZE:
            raise Malformed(f"parent locator {entry.code} at offset {entry.data_offset} is "
                            "outside the file")
        out.append((entry, entry.data_length))
    return out


def parse_locator_value(entry: LocatorEntry, raw: bytes) -> tuple[str, str]:
    """(our locator key, the path) of one W2ru/W2ku entry's data."""
    key = LOCATOR_KEYS[entry.code.encode("latin-1")]
    return key, _utf16(raw, "utf-16-le", f"parent locator {entry.code}")


def _utf16(raw: bytes, codec: str, what: str) -> str:
    try:
        return raw.decode(codec).split("\0", 1)[0]
    except UnicodeDecodeError:
        raise Malformed(f"the {what} is not valid UTF-16 text") from None


def parse_bat(raw: bytes, header: DynamicHeader, file_size: int) -> np.ndarray:
    """The BAT as sector numbers (int64; -1 = not allocated), each block checked to lie inside
    the file, after the structures, and apart from every other block."""
    import numpy as np

    sectors = np.frombuffer(raw, dtype=">u4", count=header.max_table_entries).astype(np.int64)
    sectors[sectors == UNUSED_BLOCK] = -1
    used = np.flatnonzero(sectors >= 0)
    starts = sectors[used] * SECTOR
    span = header.bitmap_bytes + header.block_size
    outside = np.flatnonzero((starts < FOOTER_SIZE) | (starts + span > file_size - FOOTER_SIZE))
    if len(outside):
        block = int(used[outside[0]])
        raise Malformed(f"block {block} at offset {int(starts[outside[0]])} is not inside the "
                        f"file ({file_size} bytes)")
    order = np.argsort(starts, kind="stable")
    ordered = starts[order]
    clash = np.flatnonzero(ordered[1:] < ordered[:-1] + span)
    if len(clash):
        a, b = sorted((int(used[order[clash[0]]]), int(used[order[clash[0] + 1]])))
        raise Malformed(f"blocks {a} and {b} overlap in the file")
    return sectors


# --- building (vhd_create.py) -----------------------------------------------------------------


def to_vhd_time(moment: datetime) -> int:
    return max(0, int((moment - _EPOCH).total_seconds())) & 0xFFFFFFFF


def chs_geometry(size: int) -> tuple[int, int, int]:
    """Cylinders, heads, sectors per track for `size` bytes (the specification's algorithm)."""
    total = min(size // SECTOR, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cyl_heads = total // spt
    else:
        spt = 17
        cyl_heads = total // spt
        heads = max((cyl_heads + 1023) // 1024, 4)
        if cyl_heads >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cyl_heads = total // spt
        if cyl_heads >= heads * 1024:
            spt, heads = 63, 16
            cyl_heads = total // spt
    return cyl_heads // heads, heads, spt


def build_footer(disk_type: int, size: int, unique_id: uuid.UUID, timestamp: int,
                 data_offset: int) -> bytes:
    """A footer as Hyper-V writes one (creator "win ", host "Wi2k"), checksum set."""
    cylinders, heads, spt = chs_geometry(size)
    raw = bytearray(_FOOTER.pack(
        FOOTER_COOKIE, 2, VERSION_1, data_offset, timestamp, b"win ", 0x000A0000, b"Wi2k",
        size, size, cylinders << 16 | heads << 8 | spt, disk_type, 0, unique_id.bytes, 0))
    raw += bytes(FOOTER_SIZE - len(raw))
    struct.pack_into(">I", raw, 64, checksum(bytes(raw), 64))
    return bytes(raw)


def build_dynamic_header(table_offset: int, entries: int, block_size: int,
                         parent: tuple[uuid.UUID, int, str] | None = None,
                         locators: tuple[LocatorEntry, ...] = ()) -> bytes:
    """A dynamic header; `parent` = (unique id, time stamp, file name) for a differencing disk."""
    parent_id, parent_ts, name = parent or (uuid.UUID(int=0), 0, "")
    name_raw = name.encode("utf-16-be")[:512]
    raw = bytearray(_DYNAMIC.pack(
        DYNAMIC_COOKIE, NO_DATA_OFFSET, table_offset, VERSION_1, entries, block_size, 0,
        parent_id.bytes, parent_ts, 0, name_raw))
    raw += bytes(DYNAMIC_HEADER_SIZE - len(raw))
    for i, entry in enumerate(locators[:8]):
        _LOCATOR.pack_into(raw, 576 + 24 * i, entry.code.encode("latin-1"), entry.data_space,
                           entry.data_length, 0, entry.data_offset)
    struct.pack_into(">I", raw, 36, checksum(bytes(raw), 36))
    return bytes(raw)
