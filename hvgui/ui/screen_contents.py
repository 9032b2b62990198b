"""What a thumbnail's screen shows: the top of the guest's disk as the checkpoint froze it.

A checkpoint's frozen disk never changes, so its listing is read once (in the background) and
kept; the running VM's ("Now") is read again whenever the host changes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from hvgui.backend import VM, HardDrive, Snapshot
from hvgui.fat.partitioned import GuestFS
from hvgui.vhdx import open_disk

MAX_LINES = 6
COLUMNS = 18  # what the thumbnail's little console shows of a line


def first_virtual_disk(drives: list[HardDrive]) -> Path | None:
    """The guest's first disk: a lab host's file here (only a host with Capability.GUEST
    shows its guest)."""
    return next((Path(d.path) for d in drives if not d.pass_through), None)


def root_listing(disk_path: Path, subject: str) -> list[str]:
    """`dir C:\\` of the guest on this disk (chain), as a few short lines."""
    # ---- runs on a pool thread ----
    with open_disk(disk_path) as disk:
        fs = GuestFS(disk.as_file(), writable=False, sector_size=disk.logical_sector_size,
                     subject=subject)
        entries = [e for e in fs.list_dir("/") if e.name not in (".", "..")]
    lines = ["C:\\> dir"]
    for entry in sorted(entries, key=lambda e: (not e.is_dir, e.name.casefold())):
        lines.append(f"{'<DIR>' if entry.is_dir else '     '} {entry.name}")
    return lines[:MAX_LINES]


def unavailable(reason: str) -> list[str]:
    """The screen of a VM whose guest this host cannot show: why, wrapped to fit."""
    return textwrap.wrap(reason, COLUMNS)[:MAX_LINES]


def unreadable() -> list[str]:
    """The screen of a guest whose disk cannot be read (a broken chain, a damaged file): said
    in words that fit the little console; the details' Disk chain and the inspector say why
    (the error's own text names host paths, which the console would cut to a fragment)."""
    return ["C:\\> dir", *textwrap.wrap("The disk cannot be read: Inspect Files... says why.",
                                         COLUMNS)][:MAX_LINES]


def listing_for(obj: Snapshot | VM) -> tuple[Path, str] | None:
    """The disk to list and a subject for errors, or None (no virtual disk)."""
    if isinstance(obj, Snapshot):
        path = first_virtual_disk(obj.hard_drives)
        return (path, f"{obj.vm_name} at \"{obj.name}\"") if path else None
    path = first_virtual_disk(obj.hard_drives)
    return (path, obj.name) if path else None
