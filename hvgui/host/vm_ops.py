"""VM operations of the lab host: New-VM, Remove-VM, Rename-VM, the state transitions,
Set-VM, hard drives (VHD or pass-through) and virtual Fibre Channel adapters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from hvgui import durable, vhdx
from hvgui.backend.formats import ps_quote, ps_size
from hvgui.backend.model import DiskEvent, OperationResult
from hvgui.backend.names import validate_name
from hvgui.backend.states import CHECKPOINT_TYPES
from hvgui.host import chain_health, checkpoint_ops, freespace, journal, runtime, states
from hvgui.host.boundary import ALLOW_COMMAND
from hvgui.host.checkpoints import vhd_paths
from hvgui.host.errors import HostError, InvalidStateError
from hvgui.host.fileio import file_size, norm, remove_path
from hvgui.host.layout import (
    SNAPSHOTS,
    VIRTUAL_HARD_DISKS,
    VIRTUAL_MACHINES,
    snapshot_state_dir,
    vm_runtime_dir,
)
from hvgui.host.names import file_name_for, shown
from hvgui.host.runtime import MAX_PROCESSORS
from hvgui.host.savedstate import BinFile, memory_writes_held, stored_size, write_vsv
from hvgui.host.storedpaths import stored
from hvgui.host.winpaths import shell_name
from hvgui.host.xmlconfig import DRIVE_PASSTHROUGH, DRIVE_VHD, new_guid, new_vm_config, to_filetime
from hvgui.progress import CancelToken, Progress, scaled

if TYPE_CHECKING:
    from hvgui.host.context import HostCore


def new_vm(
    host: HostCore,
    name: str,
    *,
    memory_startup_bytes: int = 1 << 30,
    new_vhd_size_bytes: int | None = None,
    generation: int = 2,
    path: Path | str | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    validate_name(shown(name), name, "VM")
    if any(n.casefold() == name.casefold() for n in host.vm_names(errors=[]).values()):
        raise HostError(name, "a VM with this name already exists on this host")
    if generation not in (1, 2):
        raise HostError(name, f"generation must be 1 or 2, not {generation}")
    runtime.check_memory(name, memory_startup_bytes)
    vm_id = new_guid()
    data_root = norm(path) / file_name_for(name) if path is not None else host.root
    host.boundary.require(data_root, "create a VM there")
    config_path = data_root / VIRTUAL_MACHINES / f"{vm_id}.xml"
    doc = new_vm_config(
        config_path,
        vm_id=vm_id,
        name=name,
        generation=generation,
        memory_mb=memory_startup_bytes >> 20,
        data_root=data_root,
        snapshot_data_root=data_root,
        created=datetime.now(UTC),
    )
    line = f"New-VM -Name {ps_quote(name)} -MemoryStartupBytes {ps_size(memory_startup_bytes)}"
    line += f" -Generation {generation}"
    if path is not None:
        line += f" -Path {ps_quote(shell_name(host.root, norm(path)))}"
    with host.operation(doc, "New", "Creating", progress, cancel) as op:
        durable.make_folders(config_path.parent)
        if new_vhd_size_bytes is not None:
            vhd = data_root / VIRTUAL_HARD_DISKS / f"{file_name_for(name)}.vhdx"
            if vhd.exists():
                raise HostError(vhd, "a disk with this name already exists")
            durable.make_folders(vhd.parent)
            op.tx.created(vhd)
            # the guest's file system code (and numpy) loads only when a VM gets a disk
            from hvgui.fat.partitioned import MIN_GUEST_DISK, format_new_vm_disk

            vhdx.create_dynamic(vhd, new_vhd_size_bytes)
            with vhdx.open_disk(vhd, writable=True) as new_disk:
                formatted = format_new_vm_disk(new_disk)  # the guest's FAT partition
            detail = f"new dynamic disk, {ps_size(new_vhd_size_bytes)}"
            if not formatted:
                detail += f"; too small for a guest file system (under {MIN_GUEST_DISK >> 20} MiB)"
            op.event("created", vhd, file_size(vhd), detail)
            ctype = "IDE" if generation == 1 else "SCSI"
            doc.set_drive(ctype, 0, 0, DRIVE_VHD, str(vhd))
            line += (f" -NewVHDPath {ps_quote(shell_name(host.root, vhd))}"
                     f" -NewVHDSizeBytes {ps_size(new_vhd_size_bytes)}")
        op.tx.write_new(config_path, doc.to_bytes(host.root))
        op.event("created", config_path, file_size(config_path), "VM configuration")
        after = []
        if config_path != host.layout.local_config(vm_id):
            pointer = host.layout.pointer_file(vm_id)
            where = stored(str(config_path), pointer.parent, host.root)
            after.append(op.tx.stage(pointer, where.encode()))
        op.commit(after=after)
        return host.result(op, line)


def remove_vm(
    host: HostCore, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
) -> OperationResult:
    """Remove-VM: only an Off or Saved VM (as Hyper-V's DestroySystem requires). Its checkpoints
    are deleted first, by the delete rules, so their AVHDX are merged into the virtual hard disk
    files; then the configuration and saved state go. The disks stay."""
    doc = host.load_vm(vm)
    states.require_allowed(doc.name, states.DELETE, state=doc.state)
    merged: list[DiskEvent] = []
    roots = [s for s in host.list_snapshots(doc.id) if s.parent_snapshot_id is None]
    for i, root in enumerate(roots):
        step = scaled(progress, 0.9 * i / len(roots), 0.9 * (i + 1) / len(roots))
        result = checkpoint_ops.remove_snapshot(
            host, doc.id, root.id, include_children=True, progress=step, cancel=cancel
        )
        merged += result.events
    with host.operation(vm, "Remove", "Removing", progress, cancel) as op:
        doc = op.doc
        actions: list[journal.Action] = []
        for snap_id, sdoc in op.snaps.items():
            actions.append(journal.delete(sdoc.path))
            op.event("deleted", sdoc.path, file_size(sdoc.path), "checkpoint configuration")
            state_dir = snapshot_state_dir(doc.snapshot_data_root, snap_id)
            for f in runtime.files_in(state_dir):
                op.event("deleted", f, stored_size(f))
            actions.append(journal.delete(state_dir))
        runtime_dir = vm_runtime_dir(doc.path, doc.id)
        for f in runtime.files_in(runtime_dir):
            op.event("deleted", f, stored_size(f))
        actions += [
            journal.delete(runtime_dir),
            journal.delete(doc.path),
            journal.delete(host.layout.pointer_file(doc.id)),
        ]
        op.event("deleted", doc.path, file_size(doc.path), "VM configuration")
        op.commit(after=actions)
        result = host.result(op, f"Remove-VM -Name {ps_quote(doc.name)} -Force")
    result.events[:0] = merged  # the checkpoint deletes' events were logged by them
    return result


def rename_vm(
    host: HostCore,
    vm: str,
    new_name: str,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    validate_name(vm, new_name, "VM")
    with host.operation(vm, "Rename", "Renaming", progress, cancel) as op:
        others = [n for path, n in host.vm_names(errors=[]).items() if path != op.doc.path]
        if any(n.casefold() == new_name.casefold() for n in others):
            raise HostError(new_name, "a VM with this name already exists on this host")
        old = op.doc.name
        op.doc.set("properties/name", "string", new_name)
        op.mark(op.doc)
        op.commit()
        op.event("written", op.doc.path, file_size(op.doc.path), f"renamed '{old}' to '{new_name}'")
        return host.result(op, f"Rename-VM -Name {ps_quote(old)} -NewName {ps_quote(new_name)}")


def transition(
    host: HostCore,
    vm: str,
    action: states.VMAction,
    cmdlet: str,
    progress: Progress | None,
    cancel: CancelToken | None,
) -> OperationResult:
    doc = host.load_vm(vm)
    transient, _ = states.transition(doc.name, action, doc.state)
    with host.operation(doc, action, transient, progress, cancel, transient=transient) as op:
        doc = op.doc
        _, result = states.transition(doc.name, action, doc.state)  # re-check under the lock
        if action in (states.RESUME, states.RESET) and doc.state == states.PAUSED_CRITICAL:
            # Running again on a disk that still cannot grow would only pause it again.
            needs = [(p.parent, freespace.next_block(p)) for p in vhd_paths(doc)]
            what = "resetting the VM" if action == states.RESET else "resuming the VM"
            freespace.require(doc.name, what, needs)
        leaving_running = doc.state == states.RUNNING
        if action == states.START:
            _ = doc.memory_mb, doc.processor_count  # a VM with absurd hardware does not start
            chain_health.require(chain_health.START, doc.name, doc.name,
                                 host.chain_health.of_drives(runtime.hard_drives(doc), fresh=True))
        runtime_dir = vm_runtime_dir(doc.path, doc.id)
        rbin, rvsv = runtime.runtime_bin(doc), runtime.runtime_vsv(doc)
        before: list[journal.Action] = []
        after: list[journal.Action] = []
        now = datetime.now(UTC)
        if action == states.START and doc.state == states.OFF:
            durable.make_folders(runtime_dir)
            tmp = rbin.with_name(rbin.name + ".hvnew")
            remove_path(tmp)
            op.tx.created(tmp)
            BinFile.create(tmp, doc.memory_mb << 20)
            before.append(journal.replace(tmp, rbin))
            op.event("created", rbin, 0, "memory of the running VM (sparse: nothing touched yet)")
            doc.set("properties/last_powered_on_time", "integer", to_filetime(now))
            doc.set_saved_state(rbin, None)
        elif action == states.START:  # from Saved: the memory is already there
            uptime = runtime.saved_uptime(rvsv)
            after.append(journal.delete(rvsv))
            op.event("deleted", rvsv, file_size(rvsv), "saved device state restored")
            doc.set(
                "properties/last_powered_on_time",
                "integer",
                to_filetime(now - timedelta(seconds=uptime)),
            )
            doc.set_saved_state(rbin, None)
        elif action == states.RESET:  # the guest restarts: its memory starts empty again
            tmp = rbin.with_name(rbin.name + ".hvnew")
            remove_path(tmp)
            op.tx.created(tmp)
            BinFile.create(tmp, doc.memory_mb << 20)
            if rbin.exists():
                op.event("deleted", rbin, stored_size(rbin), "memory discarded by the reset")
            before.append(journal.replace(tmp, rbin))
            op.event("created", rbin, 0, "memory of the restarted VM (nothing touched yet)")
            doc.set("properties/last_powered_on_time", "integer", to_filetime(now))
            doc.set_saved_state(rbin, None)
        elif action in (states.TURN_OFF, states.SHUT_DOWN, states.DELETE_SAVED_STATE):
            for f in (rbin, rvsv):
                if f.exists():
                    op.event("deleted", f, stored_size(f), "memory discarded" if f == rbin else "")
            after += [journal.delete(rbin), journal.delete(rvsv)]
            doc.set("properties/last_powered_off_time", "integer", to_filetime(now))
            doc.set_saved_state(None, None)
        elif action == states.SAVE:
            tmp = rvsv.with_name(rvsv.name + ".hvnew")
            remove_path(tmp)
            op.tx.created(tmp)
            write_vsv(tmp, runtime.device_state(doc, doc.state))
            before.append(journal.replace(tmp, rvsv))
            op.event("created", rvsv, file_size(tmp), "saved device state")
            doc.set_saved_state(rbin, rvsv)
        doc.set("hvgui/state", "string", result)
        doc.set("properties/last_state_change_time", "integer", to_filetime(now))
        op.mark(doc)
        if leaving_running:  # no guest memory write straddles the change
            with memory_writes_held(rbin):
                op.commit(before=before, after=after)
        else:
            op.commit(before=before, after=after)
        line = {
            states.RESET: f"Restart-VM -Name {ps_quote(doc.name)} -Force",
            states.DELETE_SAVED_STATE: f"Remove-VMSavedState -VMName {ps_quote(doc.name)}",
        }.get(action, f"{cmdlet} -Name {ps_quote(doc.name)}")
        return host.result(op, line)


# The state changes Hyper-V Manager's Action pane offers, one cmdlet each (states.py has the rules).
def start_vm(
    host: HostCore, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
) -> OperationResult:
    return transition(host, vm, states.START, "Start-VM", progress, cancel)


def reset_vm(
    host: HostCore, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
) -> OperationResult:
    """Restart-VM -Force: a Running (or Paused) VM restarts at once; its memory is lost."""
    return transition(host, vm, states.RESET, "Restart-VM", progress, cancel)


def remove_saved_state(
    host: HostCore, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
) -> OperationResult:
    """Remove-VMSavedState: a Saved VM's memory and device state are deleted; it is Off."""
    return transition(host, vm, states.DELETE_SAVED_STATE, "Remove-VMSavedState", progress, cancel)


def stop_vm(
    host: HostCore,
    vm: str,
    *,
    turn_off: bool = False,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    if turn_off:
        return transition(host, vm, states.TURN_OFF, "Stop-VM -TurnOff", progress, cancel)
    return transition(host, vm, states.SHUT_DOWN, "Stop-VM", progress, cancel)


def save_vm(
    host: HostCore, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
) -> OperationResult:
    return transition(host, vm, states.SAVE, "Save-VM", progress, cancel)


def suspend_vm(
    host: HostCore, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
) -> OperationResult:
    return transition(host, vm, states.PAUSE, "Suspend-VM", progress, cancel)


def resume_vm(
    host: HostCore, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
) -> OperationResult:
    return transition(host, vm, states.RESUME, "Resume-VM", progress, cancel)


def set_vm(
    host: HostCore,
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
    """Set-VM. With checkpoints present, only the VM's own configuration changes."""
    with host.operation(vm, "Settings", "Applying settings", progress, cancel) as op:
        doc = op.doc
        line = f"Set-VM -Name {ps_quote(doc.name)}"
        if processor_count is not None:
            if not 1 <= processor_count <= MAX_PROCESSORS:
                raise HostError(doc.name, f"processor count must be 1 to {MAX_PROCESSORS}")
            runtime.require_off(doc, "change the processor count")
            doc.set("settings/processors/count", "integer", processor_count)
            line += f" -ProcessorCount {processor_count}"
        if memory_startup_bytes is not None:
            runtime.check_memory(doc.name, memory_startup_bytes)
            runtime.require_off(doc, "change the startup memory")
            doc.set("settings/memory/bank/size", "integer", memory_startup_bytes >> 20)
            line += f" -MemoryStartupBytes {ps_size(memory_startup_bytes)}"
        if snapshot_file_location is not None:
            if doc.snapshot_ids:
                raise HostError(
                    doc.name,
                    "the checkpoint file location can only be changed while the VM has no "
                    "checkpoints",
                )
            where = norm(snapshot_file_location)
            host.boundary.require(where, "keep checkpoint files there")
            durable.make_folders(where / SNAPSHOTS)
            doc.set("global_settings/snapshots/data_root", "string", str(where))
            line += f" -SnapshotFileLocation {ps_quote(shell_name(host.root, where))}"
        if checkpoint_type is not None:
            if checkpoint_type not in CHECKPOINT_TYPES:
                raise HostError(
                    doc.name, f"checkpoint type must be one of {', '.join(CHECKPOINT_TYPES)}"
                )
            doc.checkpoint_type = checkpoint_type
            line += f" -CheckpointType {checkpoint_type}"
        if notes is not None:
            doc.set("properties/notes", "string", notes)
            line += f" -Notes {ps_quote(notes)}"
        if line.endswith(ps_quote(doc.name)):
            raise HostError(doc.name, "no setting given: nothing to change")
        op.mark(doc)
        op.commit()
        count = len(doc.snapshot_ids)
        kept = f"; the {count} checkpoint configuration(s) keep the old settings" if count else ""
        op.event("written", doc.path, file_size(doc.path), f"the VM's own configuration{kept}")
        return host.result(op, line)


def add_hard_drive(
    host: HostCore,
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
    """Add-VMHardDiskDrive: attach a VHDX, or a raw file standing for a physical disk."""
    file = norm(path)
    with host.operation(vm, "Add drive", "Adding drive", progress, cancel) as op:
        doc = op.doc
        if not file.is_file():
            raise HostError(file, "no such file")
        if any(norm(d.path) == file for d in doc.drives() if d.path):
            raise HostError(file, f"already attached to {doc.name}")
        if not pass_through:
            if file.suffix.lower() not in (".vhdx", ".avhdx", ".vhd", ".avhd"):
                raise HostError(file, "a virtual hard disk must be a .vhdx, .avhdx, .vhd or "
                                ".avhd file")
            with vhdx.open_disk(file):
                pass  # a readable VHDX with a sound chain
        slot = runtime.free_slot(doc, controller_type, controller_number, controller_location)
        kind = DRIVE_PASSTHROUGH if pass_through else DRIVE_VHD
        doc.set_drive(slot[0], slot[1], slot[2], kind, str(file))
        if pass_through:
            op.warnings.append(
                f"{file.name} is a pass-through disk: checkpoints will not capture its data"
            )
        elif not host.boundary.inside(file):
            op.warnings.append(
                f"{file} is outside the host folder: it is read, but checkpoints and guest "
                f"writes to it are refused (`{ALLOW_COMMAND}` allows its folder)"
            )
        op.mark(doc)
        op.commit()
        line = f"Add-VMHardDiskDrive -VMName {ps_quote(doc.name)} -ControllerType {slot[0]}"
        line += f" -ControllerNumber {slot[1]} -ControllerLocation {slot[2]}"
        line += (
            f" -DiskNumber <disk of {file.name}>" if pass_through
            else f" -Path {ps_quote(shell_name(host.root, file))}"
        )
        return host.result(op, line)


def remove_hard_drive(
    host: HostCore,
    vm: str,
    controller_type: str,
    controller_number: int,
    controller_location: int,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    """Remove-VMHardDiskDrive: detach a drive (its file stays where it is)."""
    with host.operation(vm, "Remove drive", "Removing drive", progress, cancel) as op:
        doc = op.doc
        slot = (controller_type.upper(), controller_number, controller_location)
        drive = next(
            (
                d
                for d in doc.drives()
                if (d.controller_type, d.controller_number, d.controller_location) == slot
            ),
            None,
        )
        if drive is None or drive.kind not in (DRIVE_VHD, DRIVE_PASSTHROUGH):
            raise HostError(doc.name, f"no hard drive at {slot[0]} {slot[1]}:{slot[2]}")
        if slot[0] == "IDE" and doc.state != states.OFF:
            raise InvalidStateError(doc.name, "IDE drives can only be removed while the VM is off")
        doc.remove_drive(*slot)
        op.mark(doc)
        op.commit()
        line = (
            f"Remove-VMHardDiskDrive -VMName {ps_quote(doc.name)} -ControllerType {slot[0]}"
            f" -ControllerNumber {slot[1]} -ControllerLocation {slot[2]}"
        )
        return host.result(op, line)


def add_fibre_channel(
    host: HostCore,
    vm: str,
    *,
    san_name: str,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    """Add-VMFibreChannelHba (VM must be off)."""
    validate_name(shown(san_name), san_name, "virtual SAN")
    with host.operation(vm, "Add Fibre Channel", "Adding adapter", progress, cancel) as op:
        runtime.require_off(op.doc, "add a Fibre Channel adapter")
        op.doc.add_fibre_channel(san_name)
        op.warnings.append("virtual Fibre Channel: checkpoints will not capture the SAN's data")
        op.mark(op.doc)
        op.commit()
        return host.result(
            op,
            f"Add-VMFibreChannelHba -VMName {ps_quote(op.doc.name)} -SanName {ps_quote(san_name)}",
        )


def remove_fibre_channel(
    host: HostCore,
    vm: str,
    adapter: str,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    """Remove-VMFibreChannelHba: `adapter` is its Id or SAN name (VM must be off)."""
    with host.operation(vm, "Remove Fibre Channel", "Removing adapter", progress, cancel) as op:
        runtime.require_off(op.doc, "remove a Fibre Channel adapter")
        ports = [
            p
            for p in op.doc.fibre_channel()
            if p.instance_id == adapter.upper() or p.san_name == adapter
        ]
        if not ports:
            raise HostError(adapter, f"no Fibre Channel adapter like this on {op.doc.name}")
        op.doc.remove_fibre_channel(ports[0].instance_id)
        op.mark(op.doc)
        op.commit()
        return host.result(
            op,
            f"Remove-VMFibreChannelHba -VMName {ps_quote(op.doc.name)}"
            f" -SanName {ps_quote(ports[0].san_name)}",
        )
