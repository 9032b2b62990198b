"""HyperVHost: a real Hyper-V host as a backend, over a transport running the shipped scripts.

Every read is one script (Get-VM, Get-VMSnapshot, Get-VHD ...); every operation is one script
whose progress records reach `progress` as they come ("Creating Checkpoint (37%)", then after
Remove-VMSnapshot "Merge in progress (NN%)" until the merge ends), and whose error record is
raised as hvgui's error with the host's own message. Cancel asks the host to terminate the
Hyper-V job where it is cancellable; elsewhere the phase says it cannot be cancelled.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from hvgui import portable
from hvgui.backend.errors import ConnectionLostError, HostError, NotFoundError
from hvgui.backend.formats import host_path, ps_quote, ps_size
from hvgui.backend.model import (
    SOUND,
    VM,
    DiskEvent,
    Finding,
    HardDrive,
    Health,
    OperationResult,
    Snapshot,
)
from hvgui.backend.names import find_snapshot, validate_name
from hvgui.backend.protocol import Capabilities, Capability, HostKind
from hvgui.hyperv.changes import FileFacts, compare, created, file_from_record
from hvgui.hyperv.errors import error_from_record
from hvgui.hyperv.files import fetch, local_name
from hvgui.hyperv.parse import snapshot_from_record, tree_order, vhd_from_record, vm_from_record
from hvgui.hyperv.records import Record, RecordError
from hvgui.hyperv.transport import Parameters, Transport
from hvgui.progress import Cancelled, CancelToken, Progress, check, report
from hvgui.vhdx import VhdInfo

if TYPE_CHECKING:
    from hvgui.backend.protocol import HostBackend

NOT_CANCELLABLE = "cannot be cancelled"
HEALTH_SECONDS = 30.0
POLL_SECONDS = 2.0
FIRST_STAMP_SECONDS = 30.0
COPIES_PREFIX = "hvgui-hyperv-"  # how often the watcher asks the host whether anything changed
# What a real host cannot give hvgui, with the reason the window shows as a tooltip.
CAPABILITIES = Capabilities({
    Capability.GUEST: "a real VM's guest (its files, memory and console) is reached through "
    "Virtual Machine Connection on the host",
    Capability.EVENT_LOG: "a real host keeps no log of what operations did to files: hvgui "
    "shows what its own operations changed in this session (the VM's files listed before and "
    "after each)",
    Capability.JOURNAL: "a real host keeps no lab journal: Hyper-V itself completes or rolls "
    "back its operations",
    Capability.CHECK_HOST: "Check Host reads a lab host's folders directly; on a real host run "
    "Test-VHD on each disk",
    Capability.OUTSIDE_FOLDERS: "on a real host Hyper-V's own permissions decide which folders "
    "an operation may use",
    Capability.LOCAL_FILES: "the host's files are on the host, not on this computer: give "
    "paths as the host names them (C:\\...)",
    Capability.CANCEL_APPLY: "Hyper-V cannot cancel applying a checkpoint once it started",
    Capability.CANCEL_DELETE: "Hyper-V cannot cancel deleting a checkpoint: the merge of its "
    "disks runs to its end",
})


class HyperVHost:
    """A Hyper-V host reached through `transport` (a HostBackend)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._events: list[DiskEvent] = []
        self._changes = 0
        self._lock = threading.Lock()
        self._copies: Path | None = None  # local copies of the host's files (inspector)
        self._health: dict[tuple[str, ...], tuple[int, float, Health]] = {}
        self._stamp = ""
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._first_stamp = threading.Event()

    # ================================================================== who and what
    @property
    def display_name(self) -> str:
        return self.transport.computer_name

    @property
    def location(self) -> str:
        return self.transport.location

    @property
    def read_only(self) -> str:
        return ""

    @property
    def kind(self) -> HostKind:
        return HostKind.HYPERV

    @property
    def windows_root(self) -> str:
        return ""  # the host's own folders: its paths are Windows paths already

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @property
    def recovered(self) -> list[str]:
        return []

    def _lacks(self, capability: Capability) -> HostError:
        return HostError(self.display_name, CAPABILITIES.reason(capability))

    def close(self) -> None:
        self._stopping.set()
        self.transport.close()
        if self._copies is not None:
            shutil.rmtree(self._copies, ignore_errors=True)
            self._copies = None

    # ================================================================== running scripts
    def _records(self, script: str, parameters: Parameters, subject: str) -> Iterator[Record]:
        """The script's progress and result records; an error record is raised."""
        for record in self.transport.run(script, parameters):
            if record.kind == "error":
                if str(record.data.get("Category")) == "OperationStopped":
                    raise Cancelled("cancelled")
                raise error_from_record(record.data, subject, self.display_name)
            yield record

    def _results(self, script: str, parameters: Parameters, subject: str,
                 kind: str) -> list[Any]:
        return [r.object for r in self._records(script, parameters, subject)
                if r.kind == "result" and r.result_kind == kind]

    # ================================================================== reading
    def revision(self) -> str:
        """Changes when the host's VMs or their checkpoints change (their states, statuses,
        current checkpoints and counts, as Get-VM reports them), after our operations, and
        when the host stops or starts answering (the window then re-reads: an error, or the
        host back). The window polls it on its GUI thread, so it never asks the host itself:
        a watcher thread does, every POLL_SECONDS (the first call waits for its first answer,
        which a host opened through `open_backend` has long had)."""
        self.watch()
        self._first_stamp.wait(FIRST_STAMP_SECONDS)  # a hung host: "" until it answers
        with self._lock:
            return f"{self._changes}/{self._stamp}"

    def watch(self) -> None:
        """Start the watcher thread (once): it keeps `revision()` current until close()."""
        with self._lock:
            if self._watcher is not None:
                return
            self._watcher = threading.Thread(
                target=_watch, args=(weakref.ref(self), self._stopping, self._first_stamp),
                name=f"hvgui watch {self.display_name}", daemon=True)
            self._watcher.start()

    def _host_stamp(self) -> str:
        """Get-VM's view of what can change, as a digest; the error when the host fails."""
        digest = hashlib.sha256()
        try:
            for obj in self._results("get_vms", {}, self.display_name, "VM"):
                vm = vm_from_record(obj)
                digest.update(repr((vm.id, vm.name, vm.state, vm.status, vm.parent_snapshot_id,
                                    vm.snapshot_count, vm.checkpoint_type)).encode())
        except HostError as exc:
            return f"unanswered: {exc}"
        return digest.hexdigest()

    def list_vms(self, *, errors: list[HostError] | None = None) -> list[VM]:
        """Get-VM: a VM the host cannot read is an error record among the others; it goes to
        `errors` when given, else the first is raised."""
        out = []
        for record in self.transport.run("get_vms", {}):
            try:
                if record.kind == "error":
                    raise error_from_record(record.data, self.display_name, self.display_name)
                if record.kind == "result" and record.result_kind == "VM":
                    out.append(vm_from_record(record.object))
            except HostError as exc:
                if errors is None:
                    raise
                errors.append(exc)
        return sorted(out, key=lambda v: (v.name.casefold(), v.id))

    def get_vm(self, name_or_id: str) -> VM:
        key = name_or_id.strip("{}").upper()
        vms = self.list_vms()
        for vm in vms:
            if vm.id == key:
                return vm
        matches = [vm for vm in vms if vm.name.casefold() == name_or_id.casefold()]
        if not matches:
            raise NotFoundError(name_or_id, f"no VM with this name or Id on {self.display_name}")
        if len(matches) > 1:
            raise HostError(name_or_id, "several VMs have this name: use the VM's Id")
        return matches[0]

    def list_snapshots(self, vm: str) -> list[Snapshot]:
        """The VM's checkpoints in tree order (built from ParentSnapshotId)."""
        target = self.get_vm(vm)
        objs = self._results("get_snapshots", {"VMId": target.id}, target.name, "Snapshot")
        return tree_order([snapshot_from_record(obj) for obj in objs])

    def get_snapshot(self, vm: str, name_or_id: str) -> Snapshot:
        return find_snapshot(self.list_snapshots(vm), name_or_id, vm)

    def get_vhd_chain(self, path: str) -> list[VhdInfo]:
        """Get-VHD of a disk and each parent up its ParentPath, leaf first."""
        return [vhd_from_record(obj) for obj in self._results("get_vhd", {"Path": path}, path,
                                                               "VHD")]

    def file_sizes(self, vm: VM) -> dict[str, int]:
        """The length of each file of `vm` as the host lists it (vm_files.ps1): configuration
        and saved state, its checkpoints' files, the disks beside its drives; keyed by the
        host's own path."""
        return {facts.path: facts.length for facts in self._files(vm)}

    def events(self, vm: str | None = None) -> list[DiskEvent]:
        """What this session's operations changed on the host's disks (a real host keeps no
        event log of its own: Capability.EVENT_LOG)."""
        vm_id = self.get_vm(vm).id if vm is not None else None
        with self._lock:
            return [e for e in self._events if vm_id is None or e.vm_id == vm_id]

    def events_size(self) -> int:
        with self._lock:
            return len(self._events)

    def check(self) -> list[Finding]:
        raise self._lacks(Capability.CHECK_HOST)

    def allowed_outside_folders(self) -> list[Path]:
        return []

    def allow_outside_folders(self, folders: list[Path]) -> list[Path]:
        raise self._lacks(Capability.OUTSIDE_FOLDERS)

    def drive_health(self, drives: Sequence[HardDrive]) -> Health:
        """Get-VHD up each drive's chain: the first file Hyper-V cannot open breaks it. A
        verdict is kept until our next operation, or HEALTH_SECONDS for changes made by
        others (the window asks at every refresh; each walk is a round trip per drive)."""
        key = tuple(str(d.path) for d in drives if not d.pass_through)
        moment = time.monotonic()
        with self._lock:
            kept = self._health.get(key)
            changes = self._changes
        if kept is not None and kept[0] == changes and moment - kept[1] < HEALTH_SECONDS:
            return kept[2]
        health = SOUND
        for path in key:
            try:
                self.get_vhd_chain(path)
            except NotFoundError as exc:
                health = Health("Chain broken: disk missing", str(exc), True,
                                host_path(exc.subject))
                break
            except HostError as exc:
                health = Health("Chain broken", str(exc), True, host_path(exc.subject))
                break
        with self._lock:
            if self._changes != changes or len(self._health) > 1000:
                self._health.clear()
            self._health[key] = (changes, moment, health)
        return health

    def chain_files(self, drives: Sequence[HardDrive]) -> list[PurePath]:
        """Each drive's chain as far as Get-VHD walks it: a broken chain ends with the file
        it cannot find (as the lab host lists it), so the inspector and the health watch
        show the break instead of failing; other errors (the connection) are raised."""
        files: list[PurePath] = []
        for drive in drives:
            if drive.pass_through:
                continue
            try:
                for record in self._records("get_vhd", {"Path": str(drive.path)},
                                            str(drive.path)):
                    if record.kind == "result" and record.result_kind == "VHD":
                        files.append(host_path(str(vhd_from_record(record.object).path)))
            except NotFoundError as exc:
                files.append(host_path(exc.subject))
        return files

    def chain_stamp(self, files: Sequence[PurePath]) -> object:
        # Polled on the GUI thread, so never a round trip: a change on the host shows through
        # revision() (Get-VM and the VHDs it lists) at the next poll instead.
        return ()

    def inspect_files(self, vm: str, snapshot: str | None) -> list[PurePath]:
        """A checkpoint's (None: the VM's) configuration, memory and device state, and each
        disk's chain down to its base."""
        if snapshot is None:
            now = self.get_vm(vm)
            return [now.config_path, *self.chain_files(now.hard_drives)]
        snap = self.get_snapshot(vm, snapshot)
        own = [p for p in (snap.config_path, snap.bin_path, snap.vsv_path) if p is not None]
        return [*own, *self.chain_files(snap.hard_drives)]

    def local_copy(self, path: PurePath, *, progress: Progress | None = None,
                   cancel: CancelToken | None = None) -> Path:
        """A sparse local copy of what the inspector reads of the host's file (files.py)."""
        with self._lock:
            if self._copies is None:
                self._copies = copies_folder()
                # Gone with the host object even when nobody calls close().
                weakref.finalize(self, shutil.rmtree, self._copies, ignore_errors=True)
            target = self._copies / local_name(str(path))

        def run(script: str, parameters: dict[str, object]) -> Iterator[Record]:
            return self._records(script, parameters, str(path))  # type: ignore[arg-type]

        return fetch(run, str(path), target, progress, cancel)

    def _files(self, vm: VM | None) -> list[FileFacts]:
        if vm is None:
            return []
        try:
            return [file_from_record(obj)
                    for obj in self._results("vm_files", {"VMId": vm.id}, vm.name, "File")]
        except NotFoundError:  # removed
            return []

    # ================================================================== operations
    def _operate(
        self,
        vm: VM | None,
        operation: str,
        script: str,
        parameters: Parameters,
        powershell: str,
        progress: Progress | None,
        cancel: CancelToken | None,
    ) -> tuple[OperationResult, list[Any]]:
        """Run one operation's script: progress as it comes, cancel through the host's job,
        and What happened from the VM's files before and after."""
        check(cancel)  # cancelled before it started: nothing is sent
        before = self._files(vm)
        results: list[Any] = []
        asked = False
        phase = ""  # the last one reported: the Status keeps it at the end (a merge's)
        subject = vm.name if vm is not None else self.display_name
        terminated: list[bool] = []  # whether Hyper-V took our request to end its job
        for record in self._stopped_as_cancel(
                self._records(script, parameters, subject), terminated):
            if record.kind == "progress":
                data = record.data
                phase = str(data.get("Phase") or operation)
                cancellable = bool(data.get("Cancellable"))
                if asked and not cancellable:
                    phase = f"{phase}, {NOT_CANCELLABLE}"
                percent = max(0, min(100, int(data.get("PercentComplete") or 0)))
                report(progress, percent / 100, phase)
                if cancel is not None and cancel.cancelled and not asked:
                    asked = True
                    if cancellable and data.get("JobId"):
                        # A second pipeline: the running one is busy polling its job.
                        answers = self._results("stop_job", {"JobId": str(data["JobId"])},
                                                subject, "Job")
                        terminated += [bool(a.get("Cancellable")) for a in answers
                                       if isinstance(a, dict)]
                    else:
                        report(progress, percent / 100, f"{phase}, {NOT_CANCELLABLE}")
            elif record.kind == "result":
                results.append(record)
        with self._lock:
            self._changes += 1
        if vm is None:  # a new VM: its record is the script's result
            made = next((r.object for r in results if r.result_kind == "VM"), None)
            if made is None:
                raise RecordError(script, "the host did not say which VM it made")
            vm = vm_from_record(made)
        events = compare(operation, vm.id, before, self._files(vm))
        events += created(operation, vm.id, [file_from_record(r.object) for r in results
                                             if r.result_kind == "File"])
        with self._lock:
            self._events.extend(events)
        report(progress, 1.0, phase)
        return OperationResult(operation, vm.id, events, [], powershell), results

    @staticmethod
    def _stopped_as_cancel(records: Iterator[Record], terminated: list[bool]
                           ) -> Iterator[Record]:
        """The operation's records; once Hyper-V took our request to terminate its job, the
        cmdlet's failure that follows (worded as it likes: "... was cancelled", any
        category) is the cancel, said so; a lost connection stays what it is."""
        try:
            yield from records
        except HostError as exc:
            if any(terminated) and not isinstance(exc, ConnectionLostError):
                raise Cancelled(f"cancelled: {exc.problem}") from None
            raise

    def _snapshot_result(self, results: list[Any]) -> Snapshot | None:
        for record in results:
            if record.result_kind == "Snapshot":
                return snapshot_from_record(record.object)
        return None

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_vm(
        self,
        vm: str,
        *,
        snapshot_name: str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Checkpoint-VM: the Status column counts "Creating Checkpoint (NN%)"."""
        target = self.get_vm(vm)
        parameters: dict[str, Any] = {"VMId": target.id}
        line = f"Checkpoint-VM -Name {ps_quote(target.name)}"
        if snapshot_name is not None:
            validate_name(target.name, snapshot_name)
            parameters["SnapshotName"] = snapshot_name
            line += f" -SnapshotName {ps_quote(snapshot_name)}"
        result, results = self._operate(target, "Checkpoint", "checkpoint_vm", parameters,
                                        line, progress, cancel)
        result.snapshot = self._snapshot_result(results)
        return result

    def restore_snapshot(
        self,
        vm: str,
        snapshot: str,
        *,
        take_checkpoint_first: bool = False,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Restore-VMSnapshot (Take Checkpoint and Apply: Checkpoint-VM first)."""
        target = self.get_vm(vm)
        snap = self.get_snapshot(target.id, snapshot)
        line = (f"Restore-VMSnapshot -VMName {ps_quote(target.name)} -Name "
                f"{ps_quote(snap.name)} -Confirm:$false")
        if take_checkpoint_first:
            line = f"Checkpoint-VM -Name {ps_quote(target.name)}; {line}"
        result, _ = self._operate(
            target, "Apply", "restore_snapshot",
            {"VMId": target.id, "SnapshotId": snap.id,
             "TakeCheckpointFirst": take_checkpoint_first},
            line, progress, cancel,
        )
        return result

    def revert_vm(self, vm: str, *, progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> OperationResult:
        """Revert: apply the VM's current parent checkpoint."""
        target = self.get_vm(vm)
        if not target.parent_snapshot_id:
            raise HostError(target.name, "the VM has no checkpoint to revert to")
        result = self.restore_snapshot(target.id, target.parent_snapshot_id, progress=progress,
                                       cancel=cancel)
        result.operation = "Revert"
        return result

    def remove_snapshot(
        self,
        vm: str,
        snapshot: str,
        *,
        include_children: bool = False,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Remove-VMSnapshot; returns when Hyper-V's merge of the disks has ended."""
        target = self.get_vm(vm)
        snap = self.get_snapshot(target.id, snapshot)
        line = f"Remove-VMSnapshot -VMName {ps_quote(target.name)} -Name {ps_quote(snap.name)}"
        if include_children:
            line += " -IncludeAllChildSnapshots"
        result, _ = self._operate(
            target, "Delete", "remove_snapshot",
            {"VMId": target.id, "SnapshotId": snap.id,
             "IncludeAllChildSnapshots": include_children},
            line, progress, cancel,
        )
        return result

    def rename_snapshot(self, vm: str, snapshot: str, new_name: str, *,
                        progress: Progress | None = None,
                        cancel: CancelToken | None = None) -> OperationResult:
        target = self.get_vm(vm)
        snap = self.get_snapshot(target.id, snapshot)
        validate_name(snap.name, new_name)
        line = (f"Rename-VMSnapshot -VMName {ps_quote(target.name)} -Name {ps_quote(snap.name)}"
                f" -NewName {ps_quote(new_name)}")
        result, results = self._operate(
            target, "Rename", "rename_snapshot",
            {"VMId": target.id, "SnapshotId": snap.id, "NewName": new_name},
            line, progress, cancel,
        )
        result.snapshot = self._snapshot_result(results)
        return result

    def export_snapshot(self, vm: str, snapshot: str, destination: Path | str, *,
                        progress: Progress | None = None,
                        cancel: CancelToken | None = None) -> OperationResult:
        """Export-VMSnapshot into a folder on the host (`destination` is the host's path)."""
        target = self.get_vm(vm)
        snap = self.get_snapshot(target.id, snapshot)
        line = (f"Export-VMSnapshot -VMName {ps_quote(target.name)} -Name {ps_quote(snap.name)}"
                f" -Path {ps_quote(str(destination))}")
        result, _ = self._operate(
            target, "Export", "export_snapshot",
            {"VMId": target.id, "SnapshotId": snap.id, "Path": str(destination)},
            line, progress, cancel,
        )
        return result

    def move_storage(self, vm: str, destination: Path | str, *, progress: Progress | None = None,
                     cancel: CancelToken | None = None) -> OperationResult:
        """Move-VMStorage -DestinationStoragePath (`destination` is the host's path)."""
        target = self.get_vm(vm)
        line = (f"Move-VMStorage -VMName {ps_quote(target.name)} -DestinationStoragePath "
                f"{ps_quote(str(destination))}")
        result, _ = self._operate(target, "Move", "move_storage",
                                  {"VMId": target.id, "Path": str(destination)},
                                  line, progress, cancel)
        return result

    # ------------------------------------------------------------------ VM state and settings
    def _state(self, vm: str, action: str, line: str, progress: Progress | None,
               cancel: CancelToken | None) -> OperationResult:
        target = self.get_vm(vm)
        result, _ = self._operate(target, action, "set_vm_state",
                                  {"VMId": target.id, "Action": action},
                                  f"{line} -Name {ps_quote(target.name)}", progress, cancel)
        return result

    def start_vm(self, vm: str, *, progress: Progress | None = None,
                 cancel: CancelToken | None = None) -> OperationResult:
        return self._state(vm, "Start", "Start-VM", progress, cancel)

    def stop_vm(self, vm: str, *, turn_off: bool = False, progress: Progress | None = None,
                cancel: CancelToken | None = None) -> OperationResult:
        if turn_off:
            return self._state(vm, "TurnOff", "Stop-VM -TurnOff", progress, cancel)
        return self._state(vm, "ShutDown", "Stop-VM", progress, cancel)

    def save_vm(self, vm: str, *, progress: Progress | None = None,
                cancel: CancelToken | None = None) -> OperationResult:
        return self._state(vm, "Save", "Save-VM", progress, cancel)

    def suspend_vm(self, vm: str, *, progress: Progress | None = None,
                   cancel: CancelToken | None = None) -> OperationResult:
        return self._state(vm, "Suspend", "Suspend-VM", progress, cancel)

    def resume_vm(self, vm: str, *, progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> OperationResult:
        return self._state(vm, "Resume", "Resume-VM", progress, cancel)

    def reset_vm(self, vm: str, *, progress: Progress | None = None,
                 cancel: CancelToken | None = None) -> OperationResult:
        return self._state(vm, "Reset", "Restart-VM -Force", progress, cancel)

    def remove_saved_state(self, vm: str, *, progress: Progress | None = None,
                           cancel: CancelToken | None = None) -> OperationResult:
        return self._state(vm, "RemoveSavedState", "Remove-VMSavedState", progress, cancel)

    def set_vm(
        self,
        vm: str,
        *,
        processor_count: int | None = None,
        memory_startup_bytes: int | None = None,
        snapshot_file_location: Path | str | None = None,
        checkpoint_type: str | None = None,
        notes: str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Set-VM with only the settings given."""
        target = self.get_vm(vm)
        parameters: dict[str, Any] = {"VMId": target.id}
        line = f"Set-VM -Name {ps_quote(target.name)}"
        for name, value in (("ProcessorCount", processor_count),
                            ("MemoryStartupBytes", memory_startup_bytes),
                            ("SnapshotFileLocation", snapshot_file_location),
                            ("CheckpointType", checkpoint_type), ("Notes", notes)):
            if value is not None:
                parameters[name] = value if isinstance(value, int) else str(value)
                shown = value if isinstance(value, int) else ps_quote(str(value))
                line += f" -{name} {shown}"
        result, _ = self._operate(target, "Settings", "set_vm", parameters, line, progress,
                                  cancel)
        return result

    # ------------------------------------------------------------------ VMs and their drives
    def new_vm(
        self,
        name: str,
        *,
        memory_startup_bytes: int = 1 << 30,
        new_vhd_size_bytes: int | None = None,
        generation: int = 2,
        path: Path | str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """New-VM (with a new VHDX in the host's default disk folder when a size is given)."""
        validate_name(name, name, "VM")
        parameters: dict[str, Any] = {"Name": name, "MemoryStartupBytes": memory_startup_bytes,
                                      "Generation": generation}
        line = (f"New-VM -Name {ps_quote(name)} -MemoryStartupBytes "
                f"{ps_size(memory_startup_bytes)} -Generation {generation}")
        if new_vhd_size_bytes:
            parameters["NewVHDSizeBytes"] = new_vhd_size_bytes
            line += f" -NewVHDSizeBytes {ps_size(new_vhd_size_bytes)}"
        if path is not None:
            parameters["Path"] = str(path)
            line += f" -Path {ps_quote(str(path))}"
        result, _ = self._operate(None, "New VM", "new_vm", parameters, line, progress, cancel)
        return result

    def remove_vm(self, vm: str, *, progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> OperationResult:
        """Remove-VM: configuration, saved state and checkpoints go; the disks stay."""
        target = self.get_vm(vm)
        result, _ = self._operate(target, "Remove VM", "remove_vm", {"VMId": target.id},
                                  f"Remove-VM -Name {ps_quote(target.name)} -Force", progress,
                                  cancel)
        return result

    def rename_vm(self, vm: str, new_name: str, *, progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> OperationResult:
        target = self.get_vm(vm)
        validate_name(target.name, new_name, "VM")
        result, _ = self._operate(
            target, "Rename VM", "rename_vm", {"VMId": target.id, "NewName": new_name},
            f"Rename-VM -Name {ps_quote(target.name)} -NewName {ps_quote(new_name)}",
            progress, cancel,
        )
        return result

    def add_hard_drive(
        self,
        vm: str,
        path: Path | str,
        *,
        pass_through: bool = False,
        controller_type: str | None = None,
        controller_number: int | None = None,
        controller_location: int | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> OperationResult:
        """Add-VMHardDiskDrive: a disk file of the host, or (pass-through) the number of one
        of its physical disks as `path`."""
        target = self.get_vm(vm)
        parameters: dict[str, Any] = {"VMId": target.id}
        line = f"Add-VMHardDiskDrive -VMName {ps_quote(target.name)}"
        if pass_through:
            if not str(path).isdigit():
                raise HostError(str(path), "a pass-through drive is a physical disk's number "
                                "on the host (Get-Disk)")
            parameters["DiskNumber"] = int(str(path))
            line += f" -DiskNumber {int(str(path))}"
        else:
            parameters["Path"] = str(path)
            line += f" -Path {ps_quote(str(path))}"
        for name, value in (("ControllerType", controller_type),
                            ("ControllerNumber", controller_number),
                            ("ControllerLocation", controller_location)):
            if value is not None:
                parameters[name] = value
                line += f" -{name} {value}"
        result, _ = self._operate(target, "Add Drive", "add_hard_drive", parameters, line,
                                  progress, cancel)
        return result

    def remove_hard_drive(self, vm: str, controller_type: str, controller_number: int,
                          controller_location: int, *, progress: Progress | None = None,
                          cancel: CancelToken | None = None) -> OperationResult:
        """Remove-VMHardDiskDrive: detached; the file stays."""
        target = self.get_vm(vm)
        result, _ = self._operate(
            target, "Remove Drive", "remove_hard_drive",
            {"VMId": target.id, "ControllerType": controller_type,
             "ControllerNumber": controller_number, "ControllerLocation": controller_location},
            f"Remove-VMHardDiskDrive -VMName {ps_quote(target.name)} -ControllerType "
            f"{controller_type} -ControllerNumber {controller_number} -ControllerLocation "
            f"{controller_location}",
            progress, cancel,
        )
        return result

    def add_fibre_channel(self, vm: str, *, san_name: str, progress: Progress | None = None,
                          cancel: CancelToken | None = None) -> OperationResult:
        target = self.get_vm(vm)
        result, _ = self._operate(
            target, "Add Fibre Channel", "add_fibre_channel",
            {"VMId": target.id, "SanName": san_name},
            f"Add-VMFibreChannelHba -VMName {ps_quote(target.name)} -SanName "
            f"{ps_quote(san_name)}", progress, cancel,
        )
        return result

    def remove_fibre_channel(self, vm: str, adapter: str, *, progress: Progress | None = None,
                             cancel: CancelToken | None = None) -> OperationResult:
        target = self.get_vm(vm)
        result, _ = self._operate(
            target, "Remove Fibre Channel", "remove_fibre_channel",
            {"VMId": target.id, "Adapter": adapter},
            f"Get-VMFibreChannelHba -VMName {ps_quote(target.name)} | Where-Object SanName -eq "
            f"{ps_quote(adapter)} | Remove-VMFibreChannelHba", progress, cancel,
        )
        return result

    def export_vm(self, vm: str, destination: Path | str, *, progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> OperationResult:
        """Export-VM of the VM as it is now into a folder on the host."""
        target = self.get_vm(vm)
        result, _ = self._operate(
            target, "Export", "export_vm", {"VMId": target.id, "Path": str(destination)},
            f"Export-VM -Name {ps_quote(target.name)} -Path {ps_quote(str(destination))}",
            progress, cancel,
        )
        return result


def copies_folder() -> Path:
    """A new folder for a host's local copies, named after this process; the folders of
    processes that ended without removing theirs (killed) are removed first."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{COPIES_PREFIX}*-*"):
        pid = old.name.removeprefix(COPIES_PREFIX).split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not portable.pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{COPIES_PREFIX}{os.getpid()}-"))


def _watch(host_ref: weakref.ref[HyperVHost], stopping: threading.Event,
           first: threading.Event) -> None:
    """Keep a host's stamp fresh until it is closed or forgotten (it holds no reference to
    the host between rounds, so an unclosed host still goes away)."""
    while True:
        host = host_ref()
        if host is None:
            return
        try:
            stamp = host._host_stamp()
            with host._lock:
                host._stamp = stamp
        finally:
            first.set()  # even a failed round: revision() never waits for ever
        del host
        if stopping.wait(POLL_SECONDS):
            return


if TYPE_CHECKING:
    def _is_a_backend(host: HyperVHost) -> HostBackend:
        return host  # mypy checks that HyperVHost has everything HostBackend asks
