"""Get-VHD and Test-VHD for legacy VHD files: the engine opens each file strictly (vhd.py);
what it refuses and how the chain links is what is reported."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hvgui.vhdx.check import Finding
from hvgui.vhdx.errors import VhdxError
from hvgui.vhdx.info import VhdInfo
from hvgui.vhdx.locator import find_parent, parent_file_name
from hvgui.vhdx.vhd import VhdImage
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


def legacy_findings(path: Path) -> list[Finding]:
    """Test-VHD over a chain of VHD files: each link as walk_chain sees it, the footer copy
    used in place of a damaged footer, and anything the engine refuses on a full open."""
    from hvgui.vhdx.chain import open_disk

    findings: list[Finding] = []
    for link in walk_chain(path):
        if link.code:
            severity = "warning" if link.code == WRITABLE else "error"
            findings.append(Finding(severity, link.path, link.problem, f"vhd-{link.code}"))
    for link in walk_chain(path):
        if not link.exists:
            continue
        try:
            with VhdImage.open(link.path, load_bat=False) as image:
                if image.footer_problem:
                    findings.append(Finding("warning", link.path, image.footer_problem,
                                            "vhd-footer-copy"))
        except VhdxError:
            pass  # already a walk finding
    if not any(f.severity == "error" for f in findings):
        try:
            with open_disk(path):
                pass
        except VhdxError as exc:
            findings.append(Finding("error", Path(exc.subject), exc.problem, "engine-refuses"))
    return findings
