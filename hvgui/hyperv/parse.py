"""Result records as hvgui's model: Get-VM -> VM, Get-VMSnapshot -> Snapshot, Get-VHD -> VhdInfo.

The scripts cast what Windows PowerShell 5.1 prints badly, but a record is read as 5.1 would
print it uncast too: enums as numbers, dates as `\\/Date(ms)\\/`, TimeSpans as objects, a
one-element array as the element itself, GUIDs in any case and braces. Paths are the host's
(Windows) paths, kept as text: never joined with local paths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hvgui.backend import ps_enums
from hvgui.backend.formats import host_path
from hvgui.backend.model import VM, FibreChannelAdapter, HardDrive, Snapshot
from hvgui.backend.phases import Phase, status_text
from hvgui.backend.states import CheckpointType, VMState
from hvgui.hyperv.records import RecordError, shorten
from hvgui.vhdx import VhdInfo


def _by_number(table: Mapping[str, int]) -> dict[int, str]:
    """An enum's names by number (the first name of a number: Standard, not Production)."""
    names: dict[int, str] = {}
    for name, number in table.items():
        names.setdefault(number, name)
    return names


# The enums as uncast 5.1 prints them (numbers), back to their names.
VM_STATES = _by_number(ps_enums.VM_STATE)
CHECKPOINT_TYPES = _by_number(ps_enums.CHECKPOINT_TYPE)
SNAPSHOT_TYPES = _by_number(ps_enums.SNAPSHOT_TYPE)
CONTROLLER_TYPES = _by_number(ps_enums.CONTROLLER_TYPE)
VHD_FORMATS = _by_number(ps_enums.VHD_FORMAT)
VHD_TYPES = _by_number(ps_enums.VHD_TYPE)
# Hyper-V Manager's words for the states PowerShell spells differently.
_STATE_WORDS = {"FastSaved": "Saved", "FastSaving": "Saving"}

# Msvm_ConcreteJob.JobType -> the Status column's phase (Hyper-V Manager's words).
JOB_PHASES = {
    70: Phase.CREATE, 71: Phase.APPLY, 72: Phase.DELETE, 50: Phase.MERGE, 62: Phase.EXPORT,
    63: Phase.MOVE,
}
_JOB_RUNNING = {2, 3, 4, 5, 6}
_IDLE_STATUS = {"operating normally", ""}

_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d+):(\d+):(\d+)(?:\.(\d+))?$")


def field(obj: Mapping[str, Any], name: str) -> Any:
    """A property by name, in any case (PowerShell's names are case-insensitive)."""
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return value
    return None


def text(obj: Mapping[str, Any], name: str, default: str = "") -> str:
    value = field(obj, name)
    return default if value is None else str(value)


def optional_text(obj: Mapping[str, Any], name: str) -> str | None:
    value = field(obj, name)
    return None if value is None or value == "" else str(value)


def integer(obj: Mapping[str, Any], name: str, default: int = 0) -> int:
    value = field(obj, name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise RecordError(name, f"not a number: {shorten(repr(value))}") from None


def listed(value: Any) -> list[Any]:
    """5.1 prints a one-element array as the element, an empty one as null."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def enum_text(value: Any, names: Mapping[int, str], name: str) -> str:
    """An enum cast to [string], or its number as uncast 5.1 prints it."""
    if isinstance(value, bool) or value is None:
        raise RecordError(name, f"not a value of {name}: {shorten(repr(value))}")
    if isinstance(value, int):
        if value not in names:
            raise RecordError(name, f"unknown {name} number {value}")
        return names[value]
    if isinstance(value, str) and value.isdecimal() and value.isascii() and int(value) in names:
        return names[int(value)]
    return str(value)


def vm_state(value: Any) -> str:
    """Get-VM's State in Hyper-V Manager's words: PausedCritical -> Paused-Critical."""
    state = enum_text(value, VM_STATES, "State")
    state = _STATE_WORDS.get(state, state)
    if state.endswith("Critical") and not state.endswith("-Critical"):
        state = state.removesuffix("Critical") + "-Critical"
    return state


def guid(value: Any, name: str = "Id") -> str:
    """A GUID as the lab host writes it: uppercase, no braces."""
    text_value = str(value or "").strip().strip("{}").upper()
    if not re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", text_value):
        raise RecordError(name, f"not a GUID: {shorten(repr(value))}")
    return text_value


def optional_guid(value: Any, name: str) -> str | None:
    if value is None or value == "" or str(value).strip("{}") == "00000000-0000-0000-0000-" \
            "000000000000":
        return None
    return guid(value, name)


def moment(value: Any, name: str = "CreationTime") -> datetime:
    """`.ToString('o')` text (with Z or an offset), or 5.1's `\\/Date(ms)\\/` (UTC)."""
    raw = str(value or "")
    try:
        match = _MS_DATE.match(raw)
        if match:
            return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        raise RecordError(name, f"not a date: {shorten(repr(value))}") from None


def timespan(value: Any, name: str = "Uptime") -> timedelta:
    """A TimeSpan as [string] (`d.hh:mm:ss.fffffff`), as 5.1's object (`Ticks`), or as the
    milliseconds GetSummaryInformation gives."""
    if value is None or value == "":
        return timedelta(0)
    try:
        if isinstance(value, dict):
            return timedelta(microseconds=integer(value, "Ticks") // 10)
        if isinstance(value, int) and not isinstance(value, bool):
            return timedelta(milliseconds=value)
    except OverflowError:
        raise RecordError(name, f"a time span out of range: {shorten(repr(value))}") from None
    match = _TIMESPAN.match(str(value))
    if not match:
        raise RecordError(name, f"not a time span: {shorten(repr(value))}")
    sign, days, hours, minutes, seconds, fraction = match.groups()
    try:
        span = timedelta(
            days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=int(seconds),
            microseconds=int((fraction or "0")[:6].ljust(6, "0")),
        )
    except OverflowError:
        raise RecordError(name, f"a time span out of range: {shorten(repr(value))}") from None
    return -span if sign else span


def hard_drive(obj: Mapping[str, Any]) -> HardDrive:
    return HardDrive(
        controller_type=enum_text(field(obj, "ControllerType"), CONTROLLER_TYPES,
                                  "ControllerType"),
        controller_number=integer(obj, "ControllerNumber"),
        controller_location=integer(obj, "ControllerLocation"),
        path=host_path(text(obj, "Path")),
        pass_through=bool(field(obj, "PassThrough")),
    )


def fibre_channel(obj: Mapping[str, Any]) -> FibreChannelAdapter:
    """Get-VMFibreChannelHba's object (as ConvertTo-HvguiVM prints it)."""
    return FibreChannelAdapter(
        id=text(obj, "Id"),
        san_name=text(obj, "SanName"),
        world_wide_node_name=text(obj, "WorldWideNodeNameSetA"),
        world_wide_port_name=text(obj, "WorldWidePortNameSetA"),
    )


def job_status(jobs: Any) -> str:
    """The Status column from the VM's running Msvm_ConcreteJobs: `Merge in progress (12%)`."""
    for job in listed(jobs):
        if not isinstance(job, dict):
            continue
        phase = JOB_PHASES.get(integer(job, "JobType", -1))
        if phase and integer(job, "JobState", 4) in _JOB_RUNNING:
            return status_text(phase, integer(job, "PercentComplete"))
    return ""


def vm_from_record(obj: Any) -> VM:
    """Get-VM's object (as get_vms.ps1 prints it) as a VM."""
    if not isinstance(obj, dict):
        raise RecordError("VM", "a VM record must be an object")
    status = job_status(field(obj, "RunningJobs"))
    if not status:
        status = text(obj, "Status")
        status = "" if status.strip().lower() in _IDLE_STATUS else status
    checkpoint_type = field(obj, "CheckpointType")
    snapshot_location = text(obj, "SnapshotFileLocation") or text(obj, "CheckpointFileLocation")
    return VM(
        id=guid(field(obj, "Id")),
        name=text(obj, "Name"),
        state=vm_state(field(obj, "State")),
        cpu_usage=integer(obj, "CPUUsage"),
        memory_assigned=integer(obj, "MemoryAssigned"),
        uptime=timespan(field(obj, "Uptime")),
        status=status,
        path=host_path(text(obj, "Path")),
        configuration_location=host_path(text(obj, "ConfigurationLocation")),
        snapshot_file_location=host_path(snapshot_location),
        parent_snapshot_id=optional_guid(field(obj, "ParentSnapshotId"), "ParentSnapshotId"),
        parent_snapshot_name=optional_text(obj, "ParentSnapshotName"),
        # Windows Server 2012 R2 has no CheckpointType ([string]$null is ""): Standard.
        checkpoint_type=(enum_text(checkpoint_type, CHECKPOINT_TYPES, "CheckpointType")
                         if checkpoint_type not in (None, "") else CheckpointType.STANDARD),
        processor_count=integer(obj, "ProcessorCount", 1),
        memory_startup=integer(obj, "MemoryStartup"),
        generation=integer(obj, "Generation", 1),
        version=text(obj, "Version"),
        notes=text(obj, "Notes"),
        hard_drives=[hard_drive(d) for d in listed(field(obj, "HardDrives"))
                     if isinstance(d, dict)],
        fibre_channel=[fibre_channel(a) for a in listed(field(obj, "FibreChannelHostBusAdapters"))
                       if isinstance(a, dict)],
        config_path=host_path(text(obj, "ConfigurationFile")),
        snapshot_count=integer(obj, "SnapshotCount"),
        merge_pending=False,
    )


def snapshot_from_record(obj: Any) -> Snapshot:
    """Get-VMSnapshot's object (as get_snapshots.ps1 prints it) as a Snapshot."""
    if not isinstance(obj, dict):
        raise RecordError("Snapshot", "a checkpoint record must be an object")
    memory = optional_text(obj, "MemoryFile")
    state = optional_text(obj, "StateFile")
    vm_state_text = field(obj, "State")
    return Snapshot(
        id=guid(field(obj, "Id")),
        name=text(obj, "Name"),
        vm_id=guid(field(obj, "VMId"), "VMId"),
        vm_name=text(obj, "VMName"),
        snapshot_type=enum_text(field(obj, "SnapshotType") or CheckpointType.STANDARD,
                                SNAPSHOT_TYPES,
                                "SnapshotType"),
        creation_time=moment(field(obj, "CreationTime")),
        parent_snapshot_id=optional_guid(field(obj, "ParentSnapshotId"), "ParentSnapshotId"),
        parent_snapshot_name=optional_text(obj, "ParentSnapshotName"),
        path=host_path(text(obj, "Path")),
        config_path=host_path(text(obj, "ConfigurationFile")),
        bin_path=host_path(memory) if memory else None,
        vsv_path=host_path(state) if state else None,
        hard_drives=[hard_drive(d) for d in listed(field(obj, "HardDrives"))
                     if isinstance(d, dict)],
        state=vm_state(vm_state_text) if vm_state_text is not None else VMState.OFF,
        processor_count=integer(obj, "ProcessorCount", 1),
        memory_startup=integer(obj, "MemoryStartup"),
        notes=text(obj, "Notes"),
    )


def tree_order(snapshots: list[Snapshot]) -> list[Snapshot]:
    """Checkpoints as the tree shows them (built from ParentSnapshotId): each parent before
    its children, siblings oldest first; one whose parent is missing is a root."""
    ids = {s.id for s in snapshots}
    children: dict[str | None, list[Snapshot]] = {}
    for snap in snapshots:
        key = snap.parent_snapshot_id if snap.parent_snapshot_id in ids else None
        children.setdefault(key, []).append(snap)
    out: list[Snapshot] = []
    seen: set[str] = set()
    stack = sorted(children.get(None, []), key=lambda s: s.creation_time, reverse=True)
    while stack:
        snap = stack.pop()
        if snap.id in seen:
            continue
        seen.add(snap.id)
        out.append(snap)
        stack.extend(sorted(children.get(snap.id, []), key=lambda s: s.creation_time,
                            reverse=True))
    # A parent loop (a hostile host) has no root: its members are still listed, as roots.
    out.extend(s for s in sorted(snapshots, key=lambda s: s.creation_time) if s.id not in seen)
    return out


def vhd_from_record(obj: Any) -> VhdInfo:
    """Get-VHD's object (as get_vhd.ps1 prints it) as a VhdInfo."""
    if not isinstance(obj, dict):
        raise RecordError("VHD", "a Get-VHD record must be an object")

    def number(name: str) -> int | None:
        return None if field(obj, name) is None else integer(obj, name)

    parent = optional_text(obj, "ParentPath")
    return VhdInfo(
        path=Path(text(obj, "Path")),  # the engine's type; chain_files gives the host's path
        vhd_type=enum_text(field(obj, "VhdType"), VHD_TYPES, "VhdType"),
        file_size=integer(obj, "FileSize"),
        size=number("Size"),
        minimum_size=number("MinimumSize"),
        logical_sector_size=number("LogicalSectorSize"),
        physical_sector_size=number("PhysicalSectorSize"),
        block_size=number("BlockSize"),
        parent_path=parent,
        disk_identifier=optional_text(obj, "DiskIdentifier"),
        fragmentation_percentage=number("FragmentationPercentage"),
        alignment=integer(obj, "Alignment", 1),
        attached=bool(field(obj, "Attached")),
        vhd_format=enum_text(field(obj, "VhdFormat"), VHD_FORMATS, "VhdFormat"),
    )
