"""What the host hands out: immutable snapshots of VMs, checkpoints, events and results.

`to_json()` uses the property names of the matching PowerShell cmdlets (Get-VM, Get-VMSnapshot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePath
from typing import Any

from hvgui.errors import Finding as Finding  # the host check's findings, as every check's


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_uptime(span: timedelta) -> str:
    """PowerShell's TimeSpan text: `hh:mm:ss`, with `d.` in front past a day."""
    total = int(span.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}.{text}" if days else text


@dataclass(frozen=True)
class HardDrive:
    controller_type: str  # "IDE" | "SCSI"
    controller_number: int
    controller_location: int
    path: PurePath
    pass_through: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "ControllerType": self.controller_type,
            "ControllerNumber": self.controller_number,
            "ControllerLocation": self.controller_location,
            "Path": str(self.path),
            "PassThrough": self.pass_through,
        }


@dataclass(frozen=True)
class FibreChannelAdapter:
    id: str
    san_name: str
    world_wide_node_name: str
    world_wide_port_name: str

    def to_json(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "SanName": self.san_name,
            "WorldWideNodeNameSetA": self.world_wide_node_name,
            "WorldWidePortNameSetA": self.world_wide_port_name,
        }


@dataclass(frozen=True)
class VM:
    id: str
    name: str
    state: str
    cpu_usage: int
    memory_assigned: int
    uptime: timedelta
    status: str
    path: PurePath
    configuration_location: PurePath
    snapshot_file_location: PurePath
    parent_snapshot_id: str | None
    parent_snapshot_name: str | None
    checkpoint_type: str
    processor_count: int
    memory_startup: int
    generation: int
    version: str
    notes: str
    hard_drives: list[HardDrive]
    fibre_channel: list[FibreChannelAdapter]
    config_path: PurePath  # the configuration file itself
    snapshot_count: int = 0
    merge_pending: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "State": self.state,
            "CPUUsage": self.cpu_usage,
            "MemoryAssigned": self.memory_assigned,
            "Uptime": format_uptime(self.uptime),
            "Status": self.status,
            "Id": self.id,
            "Path": str(self.path),
            "ConfigurationLocation": str(self.configuration_location),
            "SnapshotFileLocation": str(self.snapshot_file_location),
            "CheckpointFileLocation": str(self.snapshot_file_location),
            "ParentSnapshotId": self.parent_snapshot_id,
            "ParentSnapshotName": self.parent_snapshot_name,
            "CheckpointType": self.checkpoint_type,
            "ProcessorCount": self.processor_count,
            "MemoryStartup": self.memory_startup,
            "Generation": self.generation,
            "Version": self.version,
            "Notes": self.notes,
            "HardDrives": [d.to_json() for d in self.hard_drives],
            "FibreChannelHostBusAdapters": [a.to_json() for a in self.fibre_channel],
        }


@dataclass(frozen=True)
class Snapshot:
    id: str
    name: str
    vm_id: str
    vm_name: str
    snapshot_type: str  # "Standard" | "Production"
    creation_time: datetime
    parent_snapshot_id: str | None
    parent_snapshot_name: str | None
    path: PurePath  # the checkpoint file location (its Snapshots folder's parent)
    config_path: PurePath
    bin_path: PurePath | None
    vsv_path: PurePath | None
    hard_drives: list[HardDrive]
    state: str  # the VM's state when it was taken
    fibre_channel: list[FibreChannelAdapter] = field(default_factory=list)
    # The VM's settings as they were (the checkpoint's own configuration), as Get-VMSnapshot.
    processor_count: int = 1
    memory_startup: int = 0  # bytes
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Id": self.id,
            "VMName": self.vm_name,
            "VMId": self.vm_id,
            "SnapshotType": self.snapshot_type,
            "CreationTime": _iso(self.creation_time),
            "ParentSnapshotId": self.parent_snapshot_id,
            "ParentSnapshotName": self.parent_snapshot_name,
            "Path": str(self.path),
            "State": self.state,
            "ProcessorCount": self.processor_count,
            "MemoryStartup": self.memory_startup,
            "Notes": self.notes,
            "HardDrives": [d.to_json() for d in self.hard_drives],
        }


@dataclass(frozen=True)
class DiskEvent:
    time: datetime
    operation: str
    vm_id: str
    action: str  # created | grown | read-only | merged | deleted | moved | written | modified
    # | warning (an operation's warning, in the log only: detail is its text)
    path: PurePath
    size: int | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "Time": _iso(self.time),
            "Operation": self.operation,
            "VMId": self.vm_id,
            "Action": self.action,
            "Path": str(self.path),
            "Size": self.size,
            "Detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DiskEvent:
        size = data.get("Size")
        time = datetime.fromisoformat(str(data["Time"]).replace("Z", "+00:00"))
        return cls(
            time=time if time.tzinfo else time.replace(tzinfo=UTC),  # never naive: comparable
            operation=str(data.get("Operation", "")),
            vm_id=str(data.get("VMId", "")),
            action=str(data["Action"]),
            path=Path(str(data["Path"])),
            size=int(size) if isinstance(size, int) else None,
            detail=str(data.get("Detail", "")),
        )


Event = DiskEvent


@dataclass
class OperationResult:
    operation: str  # "Checkpoint", "Apply", ...
    vm_id: str
    events: list[DiskEvent]
    warnings: list[str]
    powershell: str
    snapshot: Snapshot | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "Operation": self.operation,
            "VMId": self.vm_id,
            "PowerShell": self.powershell,
            "Warnings": list(self.warnings),
            "Events": [e.to_json() for e in self.events],
            "Snapshot": self.snapshot.to_json() if self.snapshot else None,
        }


@dataclass(frozen=True)
class Health:
    """A disk chain's verdict: `short` for the Status column, `text` for the details pane."""

    short: str = ""
    text: str = ""
    broken: bool = False  # reads fail (a writable parent is a risk, not yet a break)
    path: PurePath | None = None  # the file where the chain breaks

    @property
    def sound(self) -> bool:
        return not self.short


SOUND = Health()
