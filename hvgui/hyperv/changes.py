"""What happened on a real host's disks: the VM's files listed before and after an operation,
compared into the same events the lab host records as it works."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hvgui.backend.model import DiskEvent
from hvgui.hyperv.parse import field, integer, moment, text

DISKS = (".vhd", ".vhdx", ".avhd", ".avhdx")


@dataclass(frozen=True)
class FileFacts:
    path: str
    length: int
    written: datetime
    read_only: bool


def file_from_record(obj: Any) -> FileFacts:
    return FileFacts(
        path=text(obj, "Path"),
        length=integer(obj, "Length"),
        written=moment(field(obj, "LastWriteTime"), "LastWriteTime"),
        read_only=bool(field(obj, "IsReadOnly")),
    )


def compare(operation: str, vm_id: str, before: list[FileFacts],
            after: list[FileFacts]) -> list[DiskEvent]:
    """The events between two listings: created, grown, read-only, modified, deleted (a disk
    gone while another disk of the VM was written is said to be merged)."""
    now = datetime.now(UTC)
    old = {f.path.casefold(): f for f in before}
    new = {f.path.casefold(): f for f in after}
    events: list[DiskEvent] = []

    def event(action: str, facts: FileFacts, detail: str = "") -> None:
        events.append(DiskEvent(now, operation, vm_id, action, Path(facts.path), facts.length,
                                detail))

    written_disks = False
    for key, facts in new.items():
        was = old.get(key)
        if was is None:
            event("created", facts)
            continue
        if facts.length > was.length:
            event("grown", facts, f"{facts.length - was.length} bytes more")
        elif facts.written != was.written or facts.length != was.length:
            event("modified", facts)
        if facts.read_only and not was.read_only:
            event("read-only", facts)
        if facts.path.lower().endswith(DISKS) and facts.written != was.written:
            written_disks = True
    for key, facts in old.items():
        if key not in new:
            merged = facts.path.lower().endswith(DISKS) and written_disks
            event("merged" if merged else "deleted", facts,
                  "merged into its parent, then deleted" if merged else "")
    return events


def created(operation: str, vm_id: str, files: list[FileFacts]) -> list[DiskEvent]:
    """An export's files: each one created."""
    now = datetime.now(UTC)
    return [DiskEvent(now, operation, vm_id, "created", Path(f.path), f.length) for f in files]
