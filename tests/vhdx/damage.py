"""Ways to damage a VHDX file in tests, each mimicking a real failure (torn write, bad disk,
a tool that wrote something wrong)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import crc32c

from tests.vhdx.helpers import patch

HEADER_OFFSETS = (64 << 10, 128 << 10)
REGION_TABLE_OFFSETS = (192 << 10, 256 << 10)


def read_at(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def write_at(path: Path, offset: int, data: bytes) -> None:
    patch(path, offset, data)


def truncate(path: Path, size: int) -> None:
    os.truncate(path, size)


def damage_header(path: Path, slot: int) -> None:
    """Flip a byte inside header `slot` (1 or 2) so that its CRC no longer matches."""
    offset = HEADER_OFFSETS[slot - 1] + 100
    write_at(path, offset, bytes([read_at(path, offset, 1)[0] ^ 0xFF]))


def current_header(path: Path) -> tuple[int, bytearray]:
    best: tuple[int, int, bytearray] | None = None
    for slot, offset in enumerate(HEADER_OFFSETS, start=1):
        block = bytearray(read_at(path, offset, 4096))
        seq = struct.unpack_from("<Q", block, 8)[0]
        if block[:4] == b"head" and (best is None or seq > best[0]):
            best = (seq, slot, block)
    assert best is not None
    return best[1], best[2]


def rewrite_header(path: Path, change: dict[str, bytes]) -> None:
    """Rewrite both headers with fields changed (valid CRCs): keys 'data_write_guid',
    'log_guid' (16 bytes each)."""
    fields = {"data_write_guid": 32, "log_guid": 48}
    _, block = current_header(path)
    for name, value in change.items():
        block[fields[name] : fields[name] + 16] = value
    for offset in HEADER_OFFSETS:
        block[4:8] = b"\0\0\0\0"
        struct.pack_into("<I", block, 4, crc32c.crc32c(bytes(block)))
        write_at(path, offset, bytes(block))


def region(path: Path, name: str) -> tuple[int, int]:
    """(offset, length) of the BAT or metadata region."""
    guids = {
        "bat": bytes.fromhex("6677c22d23f600429d64115e9bfd4a08"),
        "metadata": bytes.fromhex("06a27c8b90479a4bb8fe575f050f886e"),
    }
    table = read_at(path, REGION_TABLE_OFFSETS[0], 64 << 10)
    (count,) = struct.unpack_from("<I", table, 8)
    for i in range(count):
        base = 16 + 32 * i
        if table[base : base + 16] == guids[name]:
            offset, length = struct.unpack_from("<QI", table, base + 16)
            return offset, length
    raise AssertionError(f"no {name} region")


def bat_entry(path: Path, index: int) -> int:
    offset, _ = region(path, "bat")
    return int(struct.unpack("<Q", read_at(path, offset + 8 * index, 8))[0])


def set_bat_entry(path: Path, index: int, value: int) -> None:
    offset, _ = region(path, "bat")
    write_at(path, offset + 8 * index, struct.pack("<Q", value))


def damage_region_table(path: Path, slot: int) -> None:
    offset = REGION_TABLE_OFFSETS[slot - 1] + 20
    write_at(path, offset, bytes([read_at(path, offset, 1)[0] ^ 0xFF]))
