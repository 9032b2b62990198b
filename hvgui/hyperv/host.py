"""HyperVHost: a real Hyper-V host as a backend, over a transport running the shipped scripts.

Every read is one script (Get-VM, Get-VMSnapshot, Get-VHD ...); every operation is one script
whose progress records reach `progress` as they come ("Creating Checkpoint (37%)", then after
Remove-VMSnapshot "Merge in progress (NN%)" until the merge ends), and whose error record is
raised as hvgui's error with the host's own message. Cancel asks the host to terminate the
Hyper-V job where it is cancellable; elsewhere the phase says it cannot be cancelled.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

from hvgui.backend.model import VM, DiskEvent, OperationResult, Snapshot
from hvgui.host.errors import HostError
from hvgui.host.names import ps_quote, validate_name
from hvgui.hyperv.changes import FileFacts, compare, file_from_record
from hvgui.hyperv.errors import NotFoundError, error_from_record
from hvgui.hyperv.parse import snapshot_from_record, tree_order, vhd_from_record, vm_from_record
from hvgui.hyperv.records import Record, RecordError
from hvgui.hyperv.transport import Parameters, Transport
from hvgui.progress import Cancelled, CancelToken, Progress, report
from hvgui.vhdx import VhdInfo

NOT_CANCELLABLE = "cannot be cancelled"
# What a real host cannot give hvgui, with the reason the window shows as a tooltip.
UNAVAILABLE = {
    "guest_files": "a real host's guest files are inside the running guest: hvgui cannot "
    "reach them over PowerShell Direct yet",
    "guest_memory": "a real VM's memory is the guest's own: Hyper-V does not hand it out",
    "console": "the console of a real VM is Virtual Machine Connection (vmconnect) on the host",
    "journal": "a real host keeps no lab journal: Hyper-V itself completes or rolls back its "
    "operations",
    "event_log": "a real host has no disk event log: hvgui shows what its own operations "
    "changed in this session (listed before and after each)",
    "host_check": "the lab's host check reads the host's folders directly; on a real host use "
    "Test-VHD on each disk",
    "new_vm": "creating and removing VMs on a real host is left to Hyper-V Manager",
}


class HyperVHost:
    """A Hyper-V host reached through `transport`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._events: list[DiskEvent] = []
        self._changes = 0
        self._lock = threading.Lock()

    # ================================================================== who and what
    @property
    def display_name(self) -> str:
        return self.transport.computer_name

    @property
    def read_only(self) -> str:
        return ""

    def unavailable(self) -> dict[str, str]:
        """What this backend cannot do, each with the reason (the UI greys it out)."""
        return dict(UNAVAILABLE)

    def close(self) -> None:
        self.transport.close()

    # ================================================================== running scripts
    def _records(self, script: str, parameters: Parameters, subject: str) -> Iterator[Record]:
        """The script's progress and result records; an error record is raised."""
        for record in self.transport.run(script, parameters):
            if record.kind == "error":
                if str(record.data.get("Category")) == "OperationStopped":
                    raise Cancelled("cancelled")
                raise error_from_record(record.data, subject)
            yield record

    def _results(self, script: str, parameters: Parameters, subject: str,
                 kind: str) -> list[Any]:
        return [r.object for r in self._records(script, parameters, subject)
                if r.kind == "result" and r.result_kind == kind]

    # ================================================================== reading
    def revision(self) -> str:
        """Changes when the host's VMs or their checkpoints change (their states, statuses,
        current checkpoints and counts, as Get-VM reports them) or after our operations."""
        digest = hashlib.sha256(str(self._changes).encode())
        for obj in self._results("get_vms", {}, self.display_name, "VM"):
            vm = vm_from_record(obj)
            digest.update(repr((vm.id, vm.name, vm.state, vm.status, vm.parent_snapshot_id,
                                vm.snapshot_count, vm.checkpoint_type)).encode())
        return digest.hexdigest()

    def list_vms(self, *, errors: list[HostError] | None = None) -> list[VM]:
        out = []
        for obj in self._results("get_vms", {}, self.display_name, "VM"):
            try:
                out.append(vm_from_record(obj))
            except RecordError as exc:
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
        snaps = self.list_snapshots(vm)
        key = name_or_id.strip("{}").upper()
        for snap in snaps:
            if snap.id == key:
                return snap
        matches = [s for s in snaps if s.name == name_or_id]
        if not matches:
            raise NotFoundError(name_or_id, f"no checkpoint with this name or Id on VM {vm!r}")
        if len(matches) > 1:
            raise HostError(name_or_id, "several checkpoints have this name: use the "
                            "checkpoint's Id")
        return matches[0]

    def get_vhd_chain(self, path: str) -> list[VhdInfo]:
        """Get-VHD of a disk and each parent up its ParentPath, leaf first."""
        return [vhd_from_record(obj) for obj in self._results("get_vhd", {"Path": path}, path,
                                                               "VHD")]

    def events(self, vm: str | None = None) -> list[DiskEvent]:
        """What this session's operations changed on the host's disks (a real host keeps no
        event log of its own)."""
        vm_id = self.get_vm(vm).id if vm is not None else None
        with self._lock:
            return [e for e in self._events if vm_id is None or e.vm_id == vm_id]

    def _files(self, vm: VM) -> list[FileFacts]:
        return [file_from_record(obj)
                for obj in self._results("vm_files", {"VMId": vm.id}, vm.name, "File")]

    # ================================================================== operations
    def _operate(
        self,
        vm: VM,
        operation: str,
        script: str,
        parameters: Parameters,
        powershell: str,
        progress: Progress | None,
        cancel: CancelToken | None,
    ) -> tuple[OperationResult, list[Any]]:
        """Run one operation's script: progress as it comes, cancel through the host's job,
        and What happened from the VM's files before and after."""
        before = self._files(vm)
        results: list[Any] = []
        asked = False
        try:
            for record in self._records(script, parameters, vm.name):
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
                            list(self._records("stop_job", {"JobId": str(data["JobId"])},
                                               vm.name))
                        else:
                            report(progress, percent / 100, f"{phase}, {NOT_CANCELLABLE}")
                elif record.kind == "result":
                    results.append(record)
        finally:
            with self._lock:
                self._changes += 1
        events = compare(operation, vm.id, before, self._files(vm))
        with self._lock:
            self._events.extend(events)
        report(progress, 1.0, "")
        return OperationResult(operation, vm.id, events, [], powershell), results

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

    def export_snapshot(self, vm: str, snapshot: str, destination: str, *,
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

    def move_storage(self, vm: str, destination: str, *, progress: Progress | None = None,
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
        snapshot_file_location: str | None = None,
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
