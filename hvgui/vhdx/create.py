"""Create fixed, dynamic and differencing VHDX files, laid out as Hyper-V does.

Layout: headers and region tables in the first MiB, the log at 1 MiB (1 MiB long), the metadata
region at 2 MiB, the BAT from 3 MiB, payload from max(4 MiB, end of BAT). Everything is 1 MiB
aligned. Unallocated space is left sparse (ftruncate), so creating a child of a 64 TiB parent
writes only a few megabytes.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from hvgui import durable, portable
from hvgui.progress import CancelToken, Progress, check, report
from hvgui.vhdx import format as F
from hvgui.vhdx.bat import BatGeometry
from hvgui.vhdx.errors import UnsupportedError, VhdxError
from hvgui.vhdx.files import pwrite_all
from hvgui.vhdx.image import VhdxImage
from hvgui.vhdx.locator import parent_locator
from hvgui.vhdx.sniff import is_vhd
from hvgui.vhdx.structures import (
    Header,
    RegionEntry,
    build_file_identifier,
    build_header,
    build_metadata_region,
    build_region_table,
)

LOG_OFFSET = 1 * F.MiB
LOG_LENGTH = 1 * F.MiB
METADATA_OFFSET = 2 * F.MiB
METADATA_LENGTH = 1 * F.MiB
BAT_OFFSET = 3 * F.MiB
_BAT_WRITE_ENTRIES = 1 << 17  # entries per BAT write while filling a fixed disk's BAT


def _check_parameters(path: Path, size: int, block_size: int, logical: int, physical: int) -> None:
    if logical not in F.SECTOR_SIZES:
        raise VhdxError(path, f"logical sector size {logical} must be 512 or 4096")
    if physical not in F.SECTOR_SIZES:
        raise VhdxError(path, f"physical sector size {physical} must be 512 or 4096")
    if not F.is_power_of_two(block_size) or not F.MIN_BLOCK_SIZE <= block_size <= F.MAX_BLOCK_SIZE:
        raise VhdxError(path, f"block size {block_size} must be a power of 2 from 1 to 256 MiB")
    if size <= 0 or size % logical:
        raise VhdxError(path, f"size {size} must be a positive multiple of {logical} bytes")
    if size > F.MAX_VIRTUAL_SIZE:
        raise VhdxError(path, f"size {size} exceeds the VHDX maximum of 64 TiB")


def create_fixed(
    path: str | os.PathLike[str],
    size: int,
    *,
    block_size: int = F.DEFAULT_DYNAMIC_BLOCK,
    logical_sector_size: int = 512,
    physical_sector_size: int = 4096,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """A fixed disk: every block FULLY_PRESENT, contiguous after the BAT (the payload is sparse)."""
    _create(
        Path(path),
        size,
        block_size,
        logical_sector_size,
        physical_sector_size,
        page83=uuid.uuid4(),
        locator=None,
        fixed=True,
        progress=progress,
        cancel=cancel,
    )


def create_dynamic(
    path: str | os.PathLike[str],
    size: int,
    *,
    block_size: int = F.DEFAULT_DYNAMIC_BLOCK,
    logical_sector_size: int = 512,
    physical_sector_size: int = 4096,
) -> None:
    """A dynamic disk: an empty BAT; blocks are allocated on first write."""
    _create(
        Path(path),
        size,
        block_size,
        logical_sector_size,
        physical_sector_size,
        page83=uuid.uuid4(),
        locator=None,
        fixed=False,
    )


def create_differencing(
    path: str | os.PathLike[str],
    parent_path: str | os.PathLike[str],
    *,
    block_size: int = F.DEFAULT_DIFFERENCING_BLOCK,
) -> None:
    """A differencing disk (checkpoint) bound to the parent's current DataWriteGuid (an .avhd
    bound to the parent's unique id when the parent is a legacy VHD).

    Size, sector sizes and the disk identifier come from the parent. O(1) in the parent's size.
    """
    child = Path(path)
    parent = Path(parent_path)
    if is_vhd(parent):  # a legacy VHD's checkpoint is an .avhd, in the VHD format
        if child.suffix.lower() not in (".avhd", ".vhd"):
            raise UnsupportedError(
                child, f"its parent {parent} is a VHD: Hyper-V does not mix VHD and VHDX in "
                "one chain (name the differencing disk .avhd)")
        from hvgui.vhdx.vhd_create import create_vhd_differencing

        create_vhd_differencing(child, parent, block_size=block_size)
        return
    if child.suffix.lower() in (".avhd", ".vhd"):  # the name says VHD: Hyper-V's New-VHD too
        raise UnsupportedError(
            child, f"its parent {parent} is a VHDX: Hyper-V does not mix VHD and VHDX in one "
            "chain (name the differencing disk .avhdx)")
    with VhdxImage.open(parent, load_bat=False) as p:
        size = p.virtual_size
        logical, physical = p.logical_sector_size, p.physical_sector_size
        page83 = p.disk_identifier
        linkage = p.data_write_guid
    locator = parent_locator(child, parent, "{" + str(linkage).lower() + "}")
    _create(
        child,
        size,
        block_size,
        logical,
        physical,
        page83=page83,
        locator=locator,
        fixed=False,
    )


def _create(
    path: Path,
    size: int,
    block_size: int,
    logical: int,
    physical: int,
    *,
    page83: uuid.UUID,
    locator: dict[str, str] | None,
    fixed: bool,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> None:
    _check_parameters(path, size, block_size, logical, physical)
    g = BatGeometry(block_size, logical, size, locator is not None)
    bat_length = F.align_up(g.total_entries * 8)
    payload_start = max(F.MIN_PAYLOAD_OFFSET, F.align_up(BAT_OFFSET + bat_length))
    file_size = payload_start + (g.payload_blocks * block_size if fixed else 0)
    try:
        fd = portable.open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise VhdxError(path, "the file already exists") from None
    except OSError as exc:
        raise VhdxError(path, f"cannot create: {exc.strerror or exc}") from None
    try:
        report(progress, 0.0, "Creating")
        os.ftruncate(fd, file_size)
        pwrite_all(fd, build_file_identifier(), 0)
        regions = [
            RegionEntry(F.REGION_BAT, BAT_OFFSET, bat_length, True),
            RegionEntry(F.REGION_METADATA, METADATA_OFFSET, METADATA_LENGTH, True),
        ]
        table = build_region_table(regions)
        for offset in F.REGION_TABLE_OFFSETS:
            pwrite_all(fd, table, offset)
        meta = build_metadata_region(
            block_size=block_size,
            leave_block_allocated=fixed,
            virtual_size=size,
            logical_sector_size=logical,
            physical_sector_size=physical,
            page83=page83,
            parent_locator=locator,
            region_length=METADATA_LENGTH,
        )
        pwrite_all(fd, meta.rstrip(b"\0"), METADATA_OFFSET)
        if fixed:
            _write_fixed_bat(fd, g, payload_start, progress, cancel)
        os.fsync(fd)
        # Headers last: a file interrupted before this point is not a valid VHDX.
        guid_file, guid_data = uuid.uuid4(), uuid.uuid4()
        for seq, offset in enumerate(F.HEADER_OFFSETS, start=1):
            header = Header(seq, guid_file, guid_data, F.NULL_GUID, LOG_LENGTH, LOG_OFFSET)
            pwrite_all(fd, build_header(header), offset)
        os.fsync(fd)
        durable.sync_folder(path.parent)  # the new name too, before anything refers to it
        report(progress, 1.0, "Creating")
    except BaseException as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise VhdxError(path, f"cannot write: {exc.strerror or exc}") from None
        raise
    os.close(fd)


def _write_fixed_bat(
    fd: int,
    g: BatGeometry,
    payload_start: int,
    progress: Progress | None,
    cancel: CancelToken | None,
) -> None:
    """Point every payload entry at its place in the contiguous payload area, in slices."""
    import numpy as np  # here: only a fixed disk's BAT is computed in bulk

    total = g.total_entries
    ratio = g.chunk_ratio
    for first in range(0, total, _BAT_WRITE_ENTRIES):
        check(cancel)
        idx = np.arange(first, min(total, first + _BAT_WRITE_ENTRIES), dtype=np.uint64)
        is_bitmap = (idx % np.uint64(ratio + 1)) == np.uint64(ratio)
        blocks = idx - idx // np.uint64(ratio + 1)
        values = np.where(
            is_bitmap,
            np.uint64(0),
            (np.uint64(payload_start) + blocks * np.uint64(g.block_size))
            | np.uint64(F.PAYLOAD_BLOCK_FULLY_PRESENT),
        ).astype("<u8")
        pwrite_all(fd, values.tobytes(), BAT_OFFSET + first * 8)
        report(progress, min(total, first + _BAT_WRITE_ENTRIES) / total, "Creating")
