"""What happened on a real host's disks: the VM's files listed before and after an operation,
each disk with Get-VHD's parent, compared into the same events the lab host records as it
works (a merge names the AVHDX and the parent it went into)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hvgui.backend.formats import file_name, host_path
from hvgui.backend.model import DiskEvent
from hvgui.hyperv.parse import field, integer, moment, text

DISKS = (".vhd", ".vhdx", ".avhd", ".avhdx")


@dataclass(frozen=True)
class FileFacts:
    path: str
    length: int
    written: datetime
    read_only: bool
    parent: str | None = None  # a disk's Get-VHD ParentPath ("": a base disk; None: not known)


def file_from_record(obj: Any) -> FileFacts:
    parent = field(obj, "ParentPath")
    return FileFacts(
        path=text(obj, "Path"),
        length=integer(obj, "Length"),
        written=moment(field(obj, "LastWriteTime"), "LastWriteTime"),
        read_only=bool(field(obj, "IsReadOnly")),
        parent=None if parent is None else str(parent),
    )


def compare(operation: str, vm_id: str, before: list[FileFacts],
            after: list[FileFacts]) -> list[DiskEvent]:
    """The events between two listings: created, grown, read-only, modified, deleted.
    A disk gone whose parent is still there was merged into it (Hyper-V merges a differencing
    disk into its parent, which takes its place); where Get-VHD gave no parent, a disk gone
    while another disk of the VM was written is said to be merged."""
    now = datetime.now(UTC)
    old = {f.path.casefold(): f for f in before}
    new = {f.path.casefold(): f for f in after}
    events: list[DiskEvent] = []
    into = {key: new[f.parent.casefold()] for key, f in old.items()
            if key not in new and f.parent and f.parent.casefold() in new}
    received: dict[str, list[str]] = {}
    for key, parent in into.items():
        received.setdefault(parent.path.casefold(), []).append(file_name(old[key].path))

    def event(action: str, facts: FileFacts, detail: str = "") -> None:
        events.append(DiskEvent(now, operation, vm_id, action, host_path(facts.path), facts.length,
                                detail))

    written_disks = False
    for key, facts in new.items():
        was = old.get(key)
        if was is None:
            event("created", facts,
                  f"differencing disk of {file_name(facts.parent)}" if facts.parent else "")
            continue
        merged_here = ", ".join(received.get(key, []))
        merged_here = f"{merged_here} merged into it" if merged_here else ""
        if facts.length > was.length:
            event("grown", facts, ", ".join(filter(None, [
                f"{facts.length - was.length} bytes more", merged_here])))
        elif facts.written != was.written or facts.length != was.length or merged_here:
            event("modified", facts, merged_here)
        if facts.read_only and not was.read_only:
            event("read-only", facts)
        if facts.path.lower().endswith(DISKS) and facts.written != was.written:
            written_disks = True
    for key, facts in old.items():
        if key in into:
            event("merged", facts, f"merged into {file_name(into[key].path)}, then deleted")
        elif key not in new:
            merged = (facts.parent is None and facts.path.lower().endswith(DISKS)
                      and written_disks)
            event("merged" if merged else "deleted", facts,
                  "merged into its parent, then deleted" if merged else "")
    return events


def created(operation: str, vm_id: str, files: list[FileFacts]) -> list[DiskEvent]:
    """An export's files: each one created."""
    now = datetime.now(UTC)
    return [DiskEvent(now, operation, vm_id, "created", host_path(f.path), f.length) for f in files]
