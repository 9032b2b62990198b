"""Replace or remove metadata items of a VHDX in one atomic step.

The new items are written into unused space of the metadata region (never over a live item),
flushed; then the table's header and entries, which lie in its first sector, are rewritten in
a single write of at most 512 bytes (or, when one item is only replaced, its entry's 8-byte
offset and length, wherever the entry lies), flushed again. A SIGKILL cannot split a write of one
page; a power cut cannot tear a single sector on the disks VHDX targets. So a reader finds
either every old item or every new one.
"""

from __future__ import annotations

import os
import struct
import uuid

from hvgui.vhdx import format as F
from hvgui.vhdx.errors import UnsupportedError
from hvgui.vhdx.files import pwrite_all
from hvgui.vhdx.image import VhdxImage
from hvgui.vhdx.structures import build_metadata_table

ITEM_ALIGN = 4 * F.KiB
SECTOR = 512
MAX_ENTRIES = (SECTOR - 32) // 32  # a table that still fits one sector: 15 entries


def fits_one_sector(image: VhdxImage) -> bool:
    """Whether the image's metadata table can be switched in one sector write."""
    return len(image.metadata.entries) <= MAX_ENTRIES


def switch_items(image: VhdxImage, changes: dict[uuid.UUID, bytes | None], *,
                 drop_user: bool = False) -> None:
    """Give each system item in `changes` the new bytes, or remove it (None), and with
    `drop_user` remove every user item, atomically. `image` must be open writable; its
    in-memory metadata is stale afterwards."""
    region = image.metadata_region
    entries = list(image.metadata.entries)
    replaced = [i for i, e in enumerate(entries)
                if not e.is_user and changes.get(e.item_id) is not None]
    dropped = drop_user and any(e.is_user for e in entries)
    # one item replaced, none removed
    one_entry = len(replaced) == 1 and len(changes) == 1 and not dropped
    if not one_entry and not fits_one_sector(image):
        raise UnsupportedError(image.path, f"the metadata table has {len(entries)} entries: "
                               f"too many to rewrite atomically (at most {MAX_ENTRIES})")
    used = [(e.offset, e.offset + e.length) for e in entries if e.length]
    placed: list[tuple[int, bytes]] = []
    table = []
    for entry in entries:
        if entry.is_user and drop_user:
            continue
        if entry.is_user or entry.item_id not in changes:
            table.append(entry)
            continue
        data = changes[entry.item_id]
        if data is None:
            continue
        offset = _free_offset(used, len(data))
        if offset + len(data) > region.length:
            raise UnsupportedError(image.path, "no room left in the metadata region for "
                                   f"a new {entry.name} item")
        used.append((offset, offset + len(data)))
        placed.append((offset, data))
        table.append(entry._replace(offset=offset, length=len(data)))
    image.begin_change(visible=False)
    fd = image.fileno
    for offset, data in placed:
        pwrite_all(fd, data, region.file_offset + offset)
    os.fsync(fd)
    if one_entry:  # its 8-byte offset and length, however long the table
        i = replaced[0]
        entry = table[i]
        pwrite_all(fd, struct.pack("<II", entry.offset, entry.length),
                   region.file_offset + 32 + 32 * i + 16)
    else:
        pwrite_all(fd, build_metadata_table(table, len(entries)), region.file_offset)
    os.fsync(fd)


def _free_offset(used: list[tuple[int, int]], length: int) -> int:
    """The first aligned offset past the table where `length` bytes overlap no used range."""
    offset = F.METADATA_TABLE_SIZE
    for start, end in sorted(used):
        if offset + length <= start:
            break
        if end > offset:
            offset = F.align_up(end, ITEM_ALIGN)
    return offset
