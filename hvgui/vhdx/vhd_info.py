"""Get-VHD and Test-VHD for legacy VHD files: the engine opens each file strictly (vhd.py);
what it refuses and how the chain links is what is reported."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hvgui.errors import Finding
from hvgui.vhdx.errors import VhdxError
from hvgui.vhdx.locator import find_parent, parent_file_name
from hvgui.vhdx.vhd import VhdImage
from hvgui.vhdx.vhd_format import from_vhd_time, to_vhd_time
from hvgui.vhdx.vhdx_info import VhdInfo
from hvgui.vhdx.walk import WRITABLE, walk_chain


def get_legacy_vhd(path: str | os.PathLike[str]) -> VhdInfo:
    """Get-VHD of a VHD file (VhdFormat "VHD"); a VhdxError for a file the engine refuses."""
    with VhdImage.open(path) as image:
        parent_path: str | None = None
        parent_found: bool | None = None
        if image.has_parent:
            found = find_parent(image.path, image.locator)
            parent_found = found is not None
            parent_path = str(found.resolve()) if found else (
                image.locator.get("absolute_win32_path") or parent_file_name(image.locator))
        return VhdInfo(
            path=image.path.resolve(),
            vhd_type=image.disk_type,
            file_size=image.file_size,
            size=image.virtual_size,
            minimum_size=None,
            logical_sector_size=image.logical_sector_size,
            physical_sector_size=image.physical_sector_size,
            block_size=0 if image.header is None else image.header.block_size,
            parent_path=parent_path,
            disk_identifier=str(image.unique_id).upper(),
            fragmentation_percentage=_fragmentation(image),
            alignment=1,
            parent_found=parent_found,
            vhd_format="VHD",
        )


def _fragmentation(image: VhdImage) -> int:
    """Percent of allocated blocks not right after the previous one in the file."""
    sectors = image.sectors
    used = sectors[sectors >= 0]
    if len(used) < 2 or image.header is None:
        return 0
    step = (image.header.bitmap_bytes + image.header.block_size) // 512
    jumps = used[1:] != used[:-1] + step
    return round(100 * int(np.count_nonzero(jumps)) / (len(used) - 1))


def _time_stamp(image: VhdImage, stamp: int, parent_path: Path) -> list[Finding]:
    """The child records its parent's time stamp when it is made. Writers differ in which
    time they record (the parent's modification time, or its footer's time stamp): matching
    neither is a sign the parent changed since (the unique id, checked on open, decides)."""
    try:
        with VhdImage.open(parent_path, load_bat=False) as parent:
            footer_stamp = parent.footer.timestamp
        modified = to_vhd_time(datetime.fromtimestamp(os.stat(parent_path).st_mtime, UTC))
    except (VhdxError, OSError):
        return []
    if stamp in (footer_stamp, modified):
        return []
    return [Finding(
        "warning", image.path,
        f"it records its parent's time stamp as {from_vhd_time(stamp).isoformat()}, but "
        f"{parent_path.name} was modified at {from_vhd_time(modified).isoformat()}: the parent "
        "may have been changed after this disk was made (or copied without its times)",
        "vhd-parent-time-stamp")]


def legacy_findings(path: Path) -> list[Finding]:
    """Test-VHD over a chain of VHD files: each link as walk_chain sees it, the footer copy
    used in place of a damaged footer, and anything the engine refuses on a full open."""
    from hvgui.vhdx.chain import open_disk

    findings: list[Finding] = []
    for link in walk_chain(path):
        if link.code:
            severity = "warning" if link.code == WRITABLE else "error"
            findings.append(Finding(severity, link.path, link.problem, f"vhd-{link.code}"))
    links = [link for link in walk_chain(path) if link.exists]
    for link, parent in zip(links, [*links[1:], None], strict=True):
        try:
            with VhdImage.open(link.path, load_bat=False) as image:
                if image.footer_problem:
                    findings.append(Finding("warning", link.path, image.footer_problem,
                                            "vhd-footer-copy"))
                if parent is not None and image.header is not None:
                    findings += _time_stamp(image, image.header.parent_timestamp, parent.path)
        except VhdxError:
            pass  # already a walk finding
    if not any(f.severity == "error" for f in findings):
        try:
            with open_disk(path):
                pass
        except VhdxError as exc:
            findings.append(Finding("error", Path(exc.subject), exc.problem, "engine-refuses"))
    return findings


def dump_vhd(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The inspector's view of a VHD file: footer, dynamic header, parent locators and the BAT
    in numbers (JSON-ready); a VhdxError for a file the engine refuses."""
    with VhdImage.open(path) as image:
        f = image.footer
        out: dict[str, Any] = {
            "footer": {
                "offset": image.file_size - 512,
                "length": 512,
                "disk_type": image.disk_type,
                "current_size": f.current_size,
                "original_size": f.original_size,
                "dynamic_header_at": None if image.header is None else f.data_offset,
                "time_stamp": from_vhd_time(f.timestamp).isoformat(),
                "creator": f"{f.creator_app} on {f.creator_os}",
                "geometry": "{} cylinders, {} heads, {} sectors per track".format(*f.geometry),
                "unique_id": str(f.unique_id),
                "saved_state": f.saved_state,
                "checksum": f"{f.checksum:#010x}",
            },
        }
        if image.footer_problem:
            out["footer"]["problem"] = image.footer_problem
        h = image.header
        if h is not None:
            allocated = image.allocated_blocks()
            out["dynamic_header"] = {
                "offset": f.data_offset,
                "length": 1024,
                "table_offset": h.table_offset,
                "max_table_entries": h.max_table_entries,
                "block_size": h.block_size,
                "sector_bitmap_bytes": h.bitmap_bytes,
                "checksum": f"{h.checksum:#010x}",
            }
            out["bat"] = {
                "offset": h.table_offset,
                "length": h.max_table_entries * 4,
                "entries": h.max_table_entries,
                "allocated_blocks": allocated,
                "not_allocated": h.max_table_entries - allocated,
                "fragmentation_percentage": _fragmentation(image),
            }
            out["sector_bitmaps"] = _sector_bitmaps(image)
            if image.has_parent:
                out["parent"] = {
                    "unique_id": str(h.parent_unique_id),
                    "time_stamp": from_vhd_time(h.parent_timestamp).isoformat(),
                    "name": h.parent_name,
                    "locators": [
                        {"platform": e.code, "offset": e.data_offset, "length": e.data_length,
                         "space": e.data_space}
                        for e in h.locators
                    ],
                    "paths": image.parent_locator,
                }
        return out


MAX_BITMAPS_LISTED = 64  # allocated blocks whose sector bitmap the inspector lists


def _sector_bitmaps(image: VhdImage) -> dict[str, Any]:
    """Each allocated block's sector bitmap (before its data in the file): where it is and how
    many of the block's sectors it marks present (a dynamic disk's allocated block is read
    whole; a differencing disk's unmarked sectors are read from the parent): the first
    MAX_BITMAPS_LISTED allocated blocks of the disk, in file order, and the count of all."""
    assert image.header is not None
    per_block = image.header.block_size // 512
    blocks = np.flatnonzero(image.sectors >= 0)[:MAX_BITMAPS_LISTED].tolist()
    listed = []
    for block in sorted(blocks, key=lambda b: int(image.sectors[b])):
        present = int(image.block_bitmap(block).sum())
        listed.append({
            "block": block,
            "offset": int(image.sectors[block]) * 512,
            "length": image.header.bitmap_bytes,
            "sectors_present": f"{present} of {per_block}",
        })
    return {"allocated_blocks": image.allocated_blocks(), "listed": listed}
