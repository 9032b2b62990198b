"""Get-VHD of a VHDX file: a sound chain as opened, a damaged file (or one whose parent is
missing) as far as its survey (info.py) can describe it; one that is not a usable VHDX at all
is refused. `VhdInfo` is the record for
both formats (a VHD's comes from vhd_info.py)."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hvgui.vhdx.errors import CorruptFileError, VhdxError
from hvgui.vhdx.image import VhdxImage
from hvgui.vhdx.info import Survey, locator_display_path, resolve_parent, survey
from hvgui.vhdx.problems import Problem

if TYPE_CHECKING:
    from hvgui.vhdx.chain import Disk


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


# Without these the file tells nothing Get-VHD shows.
_FATAL_FOR_INFO = {"not-vhdx", "unreadable", "headers-invalid", "region-table-invalid",
                   "region-missing", "metadata-signature"}


def get_vhd(path: str | os.PathLike[str]) -> VhdInfo:
    """Get-VHD. Raises a VhdxError for a file that is not a usable VHDX at all; a missing
    parent is not an error here (ParentPath then comes from the locator).

    A sound chain is decoded once, strictly, as opening it does (MinimumSize reads the disk);
    a file that cannot be opened (damaged, or its parent missing) is described by its survey."""
    from hvgui.vhdx.chain import open_disk
    from hvgui.vhdx.sniff import is_vhd

    if is_vhd(path):
        from hvgui.vhdx.vhd_info import get_legacy_vhd

        return get_legacy_vhd(path)
    try:
        with open_disk(path) as disk:
            return _opened(disk)
    except (VhdxError, OSError):
        pass
    return _surveyed(survey(path))


def _opened(disk: Disk) -> VhdInfo:
    leaf = disk.leaf
    assert isinstance(leaf, VhdxImage)  # not a VHD: sniffed above
    return VhdInfo(
        path=leaf.path.resolve(),
        vhd_type=leaf.disk_type,
        file_size=os.stat(leaf.path).st_size,  # as stored (a log replayed in memory may grow it)
        size=leaf.virtual_size,
        minimum_size=_partitions_end(disk),
        logical_sector_size=leaf.logical_sector_size,
        physical_sector_size=leaf.physical_sector_size,
        block_size=leaf.block_size,
        parent_path=str(disk.chain[1].resolve()) if leaf.has_parent else None,
        disk_identifier=str(leaf.disk_identifier).upper(),
        fragmentation_percentage=leaf.fragmentation(),
        alignment=1,
        parent_found=True if leaf.has_parent else None,
    )


def _surveyed(s: Survey) -> VhdInfo:
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
    page83 = s.metadata.page83
    return VhdInfo(
        path=s.path.resolve(),
        vhd_type=s.disk_type,
        file_size=s.file_size,
        size=s.virtual_size,
        minimum_size=None,  # the chain cannot be read
        logical_sector_size=s.logical_sector_size,
        physical_sector_size=s.metadata.physical_sector_size,
        block_size=s.block_size,
        parent_path=parent_path,
        disk_identifier=None if page83 is None else str(page83).upper(),
        fragmentation_percentage=None if s.bat is None else s.bat.fragmentation(),
        alignment=1,
        parent_found=parent_found,
        problems=list(s.problems),
    )


def _partitions_end(disk: Disk) -> int | None:
    """The end of the last partition (what Resize-VHD could shrink to), when the disk holds
    an MBR or GPT partition table; None otherwise."""
    try:
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


def _gpt_end(disk: Disk, header: bytes, sector: int) -> int | None:
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
