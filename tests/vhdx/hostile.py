"""Malicious VHDX files: each takes a valid small disk and makes one field lie as much as the
format lets it (valid CRCs where there is one, so the lie is not rejected by the checksum)."""

from __future__ import annotations

import os
import random
import struct
import uuid
from collections.abc import Callable
from pathlib import Path

import crc32c

from hvgui.vhdx import GiB, MiB, create_differencing, create_dynamic, open_disk
from hvgui.vhdx import format as F
from hvgui.vhdx.log import LogWrite, build_entry
from tests.vhdx.damage import read_at, set_bat_entry, write_at
from tests.vhdx.helpers import metadata_table_offset, rewrite_headers, rewrite_locator

LOG_OFFSET = 1 * MiB  # where create_* puts the 1 MiB log


def _base(path: Path) -> Path:
    create_dynamic(path, 16 * MiB, block_size=1 * MiB)
    with open_disk(path, writable=True) as disk:
        disk.write(0, b"\x5a" * 4096)
    return path


def _child(folder: Path, name: str) -> Path:
    parent = _base(folder / f"{name}.parent.vhdx")
    child = folder / name
    create_differencing(child, parent, block_size=1 * MiB)
    return child


def _metadata_entry(path: Path, index: int, *, offset: int, length: int) -> None:
    at = metadata_table_offset(path) + 32 + 32 * index + 16
    write_at(path, at, struct.pack("<II", offset, length))


def _locator_item(path: Path) -> tuple[int, int]:
    """(file offset, length) of the parent locator item."""
    table = metadata_table_offset(path)
    raw = read_at(path, table, 64 * 1024)
    (count,) = struct.unpack_from("<H", raw, 10)
    for i in range(count):
        base = 32 + 32 * i
        if uuid.UUID(bytes_le=raw[base : base + 16]) == F.META_PARENT_LOCATOR:
            offset, length = struct.unpack_from("<II", raw, base + 16)
            return table + offset, length
    raise AssertionError("no parent locator")


def _region_table(path: Path, count: int, extra: bytes = b"") -> None:
    """Both region tables claim `count` entries (CRC valid), with `extra` entries appended."""
    for offset in (192 * 1024, 256 * 1024):
        table = bytearray(read_at(path, offset, 64 * 1024))
        struct.pack_into("<I", table, 8, count)
        table[16 + 64 : 16 + 64 + len(extra)] = extra
        struct.pack_into("<I", table, 4, 0)
        struct.pack_into("<I", table, 4, crc32c.crc32c(bytes(table)))
        write_at(path, offset, bytes(table))


def _log(path: Path, writes: list[LogWrite], *, last: int | None = None) -> None:
    """An active log sequence of one entry doing `writes`."""
    size = os.path.getsize(path)
    guid = uuid.uuid4()
    entry = build_entry(log_guid=guid, sequence_number=5, tail=0, writes=writes,
                        flushed_file_offset=size, last_file_offset=size if last is None else last)
    write_at(path, LOG_OFFSET, entry)
    rewrite_headers(path, log_guid=guid)


def huge_metadata_length(folder: Path) -> Path:
    p = _base(folder / "huge-metadata-length.vhdx")
    _metadata_entry(p, 0, offset=64 * 1024, length=0xFFFFFFFF)
    return p


def metadata_offset_wraps(folder: Path) -> Path:
    p = _base(folder / "metadata-offset-wraps.vhdx")
    _metadata_entry(p, 1, offset=0xFFFFFFF0, length=0x20)
    return p


def metadata_count_absurd(folder: Path) -> Path:
    p = _base(folder / "metadata-count.vhdx")
    write_at(p, metadata_table_offset(p) + 10, struct.pack("<H", 0xFFFF))
    return p


def locator_absurd_count(folder: Path) -> Path:
    p = _child(folder, "locator-count.avhdx")
    at, _ = _locator_item(p)
    write_at(p, at + 18, struct.pack("<H", 0xFFFF))
    return p


def locator_absurd_offsets(folder: Path) -> Path:
    p = _child(folder, "locator-offsets.avhdx")
    at, _ = _locator_item(p)
    write_at(p, at + 20, struct.pack("<IIHH", 0xFFFFFFF0, 0x7FFFFFFF, 0xFFFF, 0xFFFF))
    return p


def locator_odd_utf16(folder: Path) -> Path:
    p = _child(folder, "locator-utf16.avhdx")
    at, _ = _locator_item(p)
    key_offset, value_offset, key_len, _ = struct.unpack("<IIHH", read_at(p, at + 20, 12))
    write_at(p, at + 20, struct.pack("<IIHH", key_offset, value_offset, key_len, 3))
    return p


def region_count_absurd(folder: Path) -> Path:
    p = _base(folder / "region-count.vhdx")
    _region_table(p, 0xFFFFFFFF)
    return p


def region_huge_length(folder: Path) -> Path:
    p = _base(folder / "region-huge.vhdx")
    entry = uuid.uuid4().bytes_le + struct.pack("<QII", 1 << 62, 0xFFF00000, 0)
    _region_table(p, 3, entry)
    return p


def log_writes_far_away(folder: Path) -> Path:
    p = _base(folder / "log-far.vhdx")
    _log(p, [LogWrite((1 << 47) & ~0xFFF, 4096, b"\xee" * 4096)], last=1 << 47)
    return p


def log_zeroes_a_terabyte(folder: Path) -> Path:
    p = _base(folder / "log-zero.vhdx")
    _log(p, [LogWrite(8 * MiB, 1 << 40, None)])
    return p


def log_zeroes_16_gib(folder: Path) -> Path:
    """A 4 MiB file whose log zeroes 16 GiB past its end (each descriptor within the limits):
    replayed as written, it fills the file system."""
    p = _base(folder / "log-zero-16g.vhdx")
    _log(p, [LogWrite(8 * MiB + k * GiB, GiB, None) for k in range(16)])
    return p


def log_grows_the_file_past_the_free_space(folder: Path) -> Path:
    """The log's LastFileOffset makes room for its writes: the file would grow by 200 TiB."""
    p = _base(folder / "log-grows.vhdx")
    _log(p, [LogWrite(200 << 40, 4096, b"\xee" * 4096)], last=(200 << 40) + MiB)
    return p


def header_sequence_at_its_maximum(folder: Path) -> Path:
    """Both headers at sequence number 2^64-1: the next header update cannot count on."""
    p = _base(folder / "sequence-max.vhdx")
    rewrite_headers(p, sequence_number=2**64 - 1)
    return p


def log_many_descriptors(folder: Path) -> Path:
    """An entry filling the whole 1 MiB log with 4 KiB zero descriptors over the payload."""
    p = _base(folder / "log-many.vhdx")
    count = (MiB - 4096) // 32 - 2
    _log(p, [LogWrite(4 * MiB + 4096 * (i % 256), 4096, None) for i in range(count)])
    return p


def log_too_many_changes(folder: Path) -> Path:
    """One valid entry (right checksum) of 20000 zero descriptors."""
    p = _base(folder / "log-changes.vhdx")
    _log(p, [LogWrite(4 * MiB + 4096 * (i % 64), 4096, None) for i in range(20000)])
    return p


def log_every_sector_an_entry(folder: Path) -> Path:
    """An 8 MiB log whose every sector starts an entry claiming to fill the whole log: checking
    each claim's checksum would hash 2048 x 8 MiB."""
    p = _base(folder / "log-headers-everywhere.vhdx")
    log_offset, log_length = os.path.getsize(p), 8 * MiB
    os.truncate(p, log_offset + log_length)
    guid = uuid.uuid4()
    sector = bytearray(4096)
    struct.pack_into("<4sIIIQII16sQQ", sector, 0, b"loge", 0, log_length, 0, 5, 1, 0,
                     guid.bytes_le, log_offset, log_offset)
    write_at(p, log_offset, bytes(sector) * (log_length // 4096))
    rewrite_headers(p, log_guid=guid, log_offset=log_offset, log_length=log_length)
    return p


def log_into_headers(folder: Path) -> Path:
    p = _base(folder / "log-headers.vhdx")
    _log(p, [LogWrite(64 * 1024, 4096, b"\0" * 4096)])
    return p


def bat_points_at_headers(folder: Path) -> Path:
    p = _base(folder / "bat-headers.vhdx")
    set_bat_entry(p, 1, 0 | F.PAYLOAD_BLOCK_FULLY_PRESENT)
    return p


def bat_points_at_metadata(folder: Path) -> Path:
    p = _base(folder / "bat-metadata.vhdx")
    set_bat_entry(p, 1, 2 * MiB | F.PAYLOAD_BLOCK_FULLY_PRESENT)
    return p


def parent_cycle(folder: Path) -> Path:
    """a -> b -> a through the locators (each accepting the other's DataWriteGuid)."""
    a = _child(folder, "cycle-a.avhdx")
    b = folder / "cycle-b.avhdx"
    create_differencing(b, a, block_size=1 * MiB)
    from hvgui.vhdx import VhdxImage

    with VhdxImage.open(b, load_bat=False) as image:
        b_guid = image.data_write_guid
    rewrite_locator(a, {"parent_linkage": "{" + str(b_guid) + "}",
                        "relative_path": ".\\cycle-b.avhdx"})
    return a


def parent_is_itself(folder: Path) -> Path:
    a = _child(folder, "self.avhdx")
    from hvgui.vhdx import VhdxImage

    with VhdxImage.open(a, load_bat=False) as image:
        guid = image.data_write_guid
    rewrite_locator(a, {"parent_linkage": "{" + str(guid) + "}", "relative_path": ".\\self.avhdx"})
    return a


def parent_is_a_fifo(folder: Path) -> Path:
    a = _child(folder, "fifo-parent.avhdx")
    rewrite_locator(a, {"parent_linkage": "{" + str(uuid.uuid4()) + "}",
                        "relative_path": ".\\pipe.vhdx"})
    os.mkfifo(folder / "pipe.vhdx")
    return a


def virtual_size_64_tib_small_bat(folder: Path) -> Path:
    """A 64 TiB disk with 1 MiB blocks needs a 512 MiB BAT; the region claims it, the file is
    a few MiB."""
    p = _base(folder / "big-bat.vhdx")
    at = metadata_table_offset(p)
    raw = read_at(p, at, 64 * 1024)
    for i in range(struct.unpack_from("<H", raw, 10)[0]):
        base = 32 + 32 * i
        if uuid.UUID(bytes_le=raw[base : base + 16]) == F.META_VIRTUAL_DISK_SIZE:
            (offset,) = struct.unpack_from("<I", raw, base + 16)
            write_at(p, at + offset, struct.pack("<Q", 64 << 40))
    for offset in (192 * 1024, 256 * 1024):
        table = bytearray(read_at(p, offset, 64 * 1024))
        for i in range(struct.unpack_from("<I", table, 8)[0]):
            base = 16 + 32 * i
            if uuid.UUID(bytes_le=bytes(table[base : base + 16])) == F.REGION_BAT:
                struct.pack_into("<I", table, base + 24, 512 * MiB)
        struct.pack_into("<I", table, 4, 0)
        struct.pack_into("<I", table, 4, crc32c.crc32c(bytes(table)))
        write_at(p, offset, bytes(table))
    os.truncate(p, 600 * MiB)  # sparse: the BAT region is "inside" the file, all holes
    return p


def truncated_in_the_region_table(folder: Path) -> Path:
    p = _base(folder / "truncated.vhdx")
    os.truncate(p, 200 * 1024)
    return p


def truncated_in_the_bat(folder: Path) -> Path:
    p = _base(folder / "truncated-bat.vhdx")
    os.truncate(p, 3 * MiB + 1234)
    return p


def both_headers_damaged(folder: Path) -> Path:
    p = _base(folder / "headers.vhdx")
    for offset in (64 * 1024 + 100, 128 * 1024 + 100):
        write_at(p, offset, bytes([read_at(p, offset, 1)[0] ^ 0xFF]))
    return p


def bat_offset_absurd(folder: Path) -> Path:
    p = _base(folder / "bat-absurd.vhdx")
    set_bat_entry(p, 0, (1 << 50) | F.PAYLOAD_BLOCK_FULLY_PRESENT)
    return p


def metadata_table_garbage(folder: Path) -> Path:
    p = _base(folder / "metadata-garbage.vhdx")
    write_at(p, metadata_table_offset(p), b"\xff" * 64)
    return p


def garbage_after_the_signature(folder: Path) -> Path:
    p = folder / "garbage.vhdx"
    p.write_bytes(b"vhdxfile" + random.Random(5).randbytes(2 * MiB))
    return p


def bat_all_clashing(folder: Path) -> Path:
    """32 MiB of BAT (4M entries) all pointing at the same block: a reader that collects
    every offset before looking for overlaps allocates hundreds of MiB."""
    import numpy as np

    p = folder / "bat-clash.vhdx"
    create_dynamic(p, 64 << 40, block_size=MiB)
    entries = np.full(4 << 20, 4 * MiB | F.PAYLOAD_BLOCK_FULLY_PRESENT, dtype="<u8")
    entries[4096 :: 4097] = 0  # the sector bitmap entries (chunk ratio 4096) stay empty
    write_at(p, 3 * MiB, entries.tobytes())
    return p


def directory(folder: Path) -> Path:
    p = folder / "folder.vhdx"
    p.mkdir()
    return p


def fifo(folder: Path) -> Path:
    p = folder / "fifo.vhdx"
    os.mkfifo(p)
    return p


def empty(folder: Path) -> Path:
    p = folder / "empty.vhdx"
    p.touch()
    return p


# --- legacy VHD: the same lies, told in the VHD's structures (checksums kept valid) ---


def _vhd(path: Path, *, differencing: bool = False) -> Path:
    """A small dynamic VHD (or a differencing child of one) with one block written."""
    from hvgui.vhdx.vhd_create import create_vhd, create_vhd_differencing

    if differencing:
        base = _vhd(path.with_name(path.name + ".parent.vhd"))
        create_vhd_differencing(path, base)
    else:
        create_vhd(path, 16 * MiB)
    with open_disk(path, writable=True) as disk:
        disk.write(0, b"\x5a" * 4096)
    return path


def _vhd_footer(path: Path, at: int, data: bytes) -> None:
    """Both footers (the end and the copy at 0) say `data` at `at`, checksum recomputed."""
    from hvgui.vhdx.vhd_format import checksum

    size = os.path.getsize(path)
    for offset in (0, size - 512):
        footer = bytearray(read_at(path, offset, 512))
        footer[at : at + len(data)] = data
        struct.pack_into(">I", footer, 64, 0)
        struct.pack_into(">I", footer, 64, checksum(bytes(footer), 64))
        write_at(path, offset, bytes(footer))


def _vhd_header(path: Path, at: int, data: bytes) -> None:
    from hvgui.vhdx.vhd_format import checksum

    header = bytearray(read_at(path, 512, 1024))
    header[at : at + len(data)] = data
    struct.pack_into(">I", header, 36, checksum(bytes(header), 36))
    write_at(path, 512, bytes(header))


def _vhd_bat(path: Path, index: int, sector: int) -> None:
    (table,) = struct.unpack(">Q", read_at(path, 512 + 16, 8))
    write_at(path, table + 4 * index, struct.pack(">I", sector))


def vhd_size_absurd(folder: Path) -> Path:
    p = _vhd(folder / "size.vhd")
    _vhd_footer(p, 48, struct.pack(">Q", 1 << 62))
    return p


def vhd_footer_checksum(folder: Path) -> Path:
    p = folder / "checksum.vhd"
    from hvgui.vhdx.vhd_create import create_vhd

    create_vhd(p, 4 * MiB, fixed=True)
    write_at(p, 4 * MiB + 40, b"\x7f")  # the original size, checksum left stale
    return p


def vhd_header_offset_absurd(folder: Path) -> Path:
    p = _vhd(folder / "header-offset.vhd")
    _vhd_footer(p, 16, struct.pack(">Q", (1 << 64) - 1024))
    return p


def vhd_bat_entries_absurd(folder: Path) -> Path:
    p = _vhd(folder / "bat-entries.vhd")
    _vhd_header(p, 28, struct.pack(">I", 0xFFFFFFFF))
    return p


def vhd_block_size_odd(folder: Path) -> Path:
    p = _vhd(folder / "block-size.vhd")
    _vhd_header(p, 32, struct.pack(">I", 3 * MiB))
    return p


def vhd_block_past_the_end(folder: Path) -> Path:
    p = _vhd(folder / "block-far.vhd")
    _vhd_bat(p, 3, 0xFFFFFF00)
    return p


def vhd_blocks_overlap(folder: Path) -> Path:
    p = _vhd(folder / "block-clash.vhd")
    with open_disk(p, writable=True) as disk:
        disk.write(4 * MiB, b"\x5a" * 4096)  # a second block, after the first in the file
    (sector,) = struct.unpack(">I", read_at(p, 1536, 4))  # block 0's sector
    _vhd_bat(p, 5, sector + 1)
    return p


def vhd_block_over_the_header(folder: Path) -> Path:
    p = _vhd(folder / "block-header.vhd")
    _vhd_bat(p, 2, 2)  # sector 2: inside the dynamic header
    return p


def vhd_locator_huge(folder: Path) -> Path:
    p = _vhd(folder / "locator-huge.avhd", differencing=True)
    _vhd_header(p, 576 + 8, struct.pack(">I", 0xFFFFFFF0))
    return p


def vhd_locator_outside(folder: Path) -> Path:
    p = _vhd(folder / "locator-far.avhd", differencing=True)
    _vhd_header(p, 576 + 16, struct.pack(">Q", 1 << 60))
    return p


def vhd_parent_is_itself(folder: Path) -> Path:
    p = _vhd(folder / "self.avhd", differencing=True)
    (offset,) = struct.unpack(">Q", read_at(p, 512 + 576 + 16, 8))  # the W2ku data
    path = str(p).replace("/", "\\").encode("utf-16-le")
    write_at(p, offset, path)
    _vhd_header(p, 576 + 8, struct.pack(">I", len(path)))
    (offset,) = struct.unpack(">Q", read_at(p, 512 + 576 + 24 + 16, 8))  # the W2ru data
    write_at(p, offset, ".\\self.avhd".encode("utf-16-le"))
    _vhd_header(p, 576 + 24 + 8, struct.pack(">I", len(".\\self.avhd") * 2))
    return p


def vhd_truncated(folder: Path) -> Path:
    p = _vhd(folder / "truncated.vhd")
    os.truncate(p, 1024 + 200)
    return p


VHD: list[Callable[[Path], Path]] = [
    vhd_size_absurd,
    vhd_footer_checksum,
    vhd_header_offset_absurd,
    vhd_bat_entries_absurd,
    vhd_block_size_odd,
    vhd_block_past_the_end,
    vhd_blocks_overlap,
    vhd_block_over_the_header,
    vhd_locator_huge,
    vhd_locator_outside,
    vhd_parent_is_itself,
    vhd_truncated,
]


ALL: list[Callable[[Path], Path]] = [
    huge_metadata_length,
    metadata_offset_wraps,
    metadata_count_absurd,
    locator_absurd_count,
    locator_absurd_offsets,
    locator_odd_utf16,
    region_count_absurd,
    region_huge_length,
    log_writes_far_away,
    log_zeroes_a_terabyte,
    log_zeroes_16_gib,
    log_grows_the_file_past_the_free_space,
    header_sequence_at_its_maximum,
    log_many_descriptors,
    log_too_many_changes,
    log_every_sector_an_entry,
    log_into_headers,
    bat_points_at_headers,
    bat_points_at_metadata,
    bat_all_clashing,
    parent_cycle,
    parent_is_itself,
    parent_is_a_fifo,
    virtual_size_64_tib_small_bat,
    truncated_in_the_region_table,
    truncated_in_the_bat,
    both_headers_damaged,
    bat_offset_absurd,
    metadata_table_garbage,
    garbage_after_the_signature,
    directory,
    fifo,
    empty,
    *VHD,
]
