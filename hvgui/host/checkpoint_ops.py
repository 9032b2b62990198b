"""Checkpoint operations of the lab host: take, apply (and revert), delete (with Hyper-V's
merge rules, checkpoints.py), rename."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from hvgui import durable, vhdx
from hvgui.backend.formats import ps_quote
from hvgui.backend.model import OperationResult, Snapshot
from hvgui.backend.names import validate_name
from hvgui.backend.states import CheckpointType
from hvgui.host import chain_health, freespace, journal, runtime, states
from hvgui.host.checkpoints import (
    pending_after,
    resolve_pending,
    subtree_ids,
    vhd_paths,
    vm_disk_parents,
)
from hvgui.host.errors import HostError
from hvgui.host.fileio import file_size, norm, remove_path
from hvgui.host.layout import avhdx_name, snapshot_config_path, snapshot_state_dir
from hvgui.host.names import default_checkpoint_name
from hvgui.host.operation import PHASE_APPLY, PHASE_CREATE, PHASE_DELETE, PHASE_MERGE, Operation
from hvgui.host.runtime import MAX_CHECKPOINTS
from hvgui.host.savedstate import BinFile, copy_bin, copy_vsv, stored_size, write_vsv
from hvgui.host.xmlconfig import (
    DRIVE_PASSTHROUGH,
    DRIVE_VHD,
    ConfigDoc,
    config_name,
    new_guid,
    to_filetime,
)
from hvgui.progress import CancelToken, Progress, check, report, scaled

if TYPE_CHECKING:
    from hvgui.host.context import HostCore


def checkpoint_vm(
    host: HostCore,
    vm: str,
    *,
    snapshot_name: str | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    """Checkpoint-VM: freeze every disk, start an AVHDX per disk, copy the configuration
    (and memory + device state of a running VM) into the Snapshots folder."""
    with host.operation(vm, "Checkpoint", PHASE_CREATE, progress, cancel) as op:
        if op.resumed and op.doc.parent_snapshot_id:  # a retry: the interrupted one is done
            snap_id = op.doc.parent_snapshot_id
        else:
            health = host.chain_health.of_drives(runtime.hard_drives(op.doc), fresh=True)
            chain_health.require(chain_health.CHECKPOINT, op.doc.name, op.doc.name, health)
            snap_id, _ = checkpoint(host, op, snapshot_name, op.progress)
            op.commit()
        snap = new_snapshot(host, op, snap_id)
        line = f"Checkpoint-VM -Name {ps_quote(op.doc.name)} -SnapshotName {ps_quote(snap.name)}"
        return host.result(op, line, snap)


def new_snapshot(host: HostCore, op: Operation, snap_id: str) -> Snapshot:
    """The checkpoint just taken, without reading every other checkpoint."""
    sdoc = ConfigDoc.load(snapshot_config_path(op.doc.snapshot_data_root, snap_id))
    names: dict[str, str] = {}
    parent = sdoc.snapshot_parent_id
    if parent:
        path = snapshot_config_path(op.doc.snapshot_data_root, parent)
        names[parent] = config_name(path)
    return host.snapshot_from_doc(sdoc, op.doc, names)


def checkpoint(
    host: HostCore, op: Operation, snapshot_name: str | None, progress: Progress | None
) -> tuple[str, str]:
    doc = op.doc
    ctype = doc.checkpoint_type
    states.require_allowed(doc.name, states.CHECKPOINT, state=doc.state, checkpoint_type=ctype)
    if len(doc.snapshot_ids) >= MAX_CHECKPOINTS:
        raise HostError(doc.name, f"a VM can have at most {MAX_CHECKPOINTS} checkpoints")
    # A checkpoint of a VM paused for want of space holds a paused VM: applying it pauses.
    state = states.PAUSED if doc.state == states.PAUSED_CRITICAL else doc.state
    now = datetime.now(UTC)
    # An empty name is refused as a blank one is (as the Hyper-V backend does), not taken
    # for "no name given".
    name = validate_name(doc.name, default_checkpoint_name(doc.name, now)
                         if snapshot_name is None else snapshot_name)
    production = ctype in (CheckpointType.PRODUCTION, CheckpointType.PRODUCTION_ONLY)
    snap_id = new_guid()
    snap_root = doc.snapshot_data_root
    sdoc = doc.copy(snapshot_config_path(snap_root, snap_id))
    sdoc.set("properties/global_id", "string", snap_id)
    sdoc.set("properties/name", "string", name)
    sdoc.remove("global_settings/snapshots/list")
    sdoc.remove("global_settings/snapshots/pending_merge")
    sdoc.set("snapshot/parent_id", "string", doc.parent_snapshot_id or "")
    kind = CheckpointType.PRODUCTION if production else CheckpointType.STANDARD
    sdoc.set("snapshot/type", "string", kind)
    sdoc.set_creation_time(now)  # the checkpoint's own, as Hyper-V's
    sdoc.set("snapshot/vm_id", "string", doc.id)
    sdoc.set("snapshot/vm_name", "string", doc.name)
    sdoc.set("snapshot/vm_state", "string", state)
    report(progress, 0.0, PHASE_CREATE)
    freeze: list[journal.Action] = []
    children = {
        (d.controller_type, d.controller_number, d.controller_location): avhdx_name(
            norm(d.path), new_guid()
        )
        for d in doc.drives()
        if d.kind == DRIVE_VHD and d.path
    }
    memory = not production and state in states.MEMORY_STATES
    boundary = host.boundary
    for disk in vhd_paths(doc):  # each becomes a checkpoint's read-only disk
        boundary.require_own(disk, "make this disk a checkpoint's read-only disk")
    if memory:
        boundary.require_source(runtime.runtime_bin(doc), "memory file")
        if state == states.SAVED:
            boundary.require_source(runtime.runtime_vsv(doc), "saved device state")
    state_dir = snapshot_state_dir(snap_root, snap_id)
    staged = doc.path.with_name(doc.path.name + ".hvnew")
    remove_path(staged)  # only ever a leftover here: this VM's operations hold the lock
    needs = [(child.parent, freespace.NEW_VHDX) for child in children.values()]
    if memory:
        needs.append((state_dir, stored_size(runtime.runtime_bin(doc)) or 0))
    freespace.require(doc.name, "the checkpoint", needs)
    op.tx.created(*children.values(), sdoc.path, *([state_dir] if memory else []), staged)
    # Device state as it is now: before the loop below moves the drives onto the new AVHDX.
    device_state = runtime.device_state(doc, state) if memory else None
    drives = doc.drives()
    for number, drive in enumerate(drives, 1):
        check(op.cancel)
        if drive.kind == DRIVE_PASSTHROUGH:
            op.warnings.append(
                f"pass-through disk {Path(drive.path).name} is not captured: only its "
                "attachment is part of the checkpoint, not its data"
            )
        if drive.kind != DRIVE_VHD or not drive.path:
            continue
        parent = norm(drive.path)
        child = children[
            (drive.controller_type, drive.controller_number, drive.controller_location)
        ]
        vhdx.create_differencing(child, parent)
        doc.set_drive(
            drive.controller_type,
            drive.controller_number,
            drive.controller_location,
            DRIVE_VHD,
            str(child),
        )
        op.event("created", child, file_size(child), f"differencing disk of {parent.name}")
        op.event("read-only", parent, file_size(parent), "frozen: the checkpoint's disk")
        freeze.append(journal.read_only(parent, True))
        # Disks first (0-10%), memory (10-95%), configuration last: the Status column counts.
        report(progress, 0.1 * number / len(drives), PHASE_CREATE)
    if doc.fibre_channel():
        op.warnings.append("virtual Fibre Channel storage is not captured by checkpoints")
    if memory:
        durable.make_folders(state_dir)
        sbin, svsv = state_dir / f"{snap_id}.bin", state_dir / f"{snap_id}.vsv"
        copied = copy_bin(
            runtime.runtime_bin(doc),
            sbin,
            progress=scaled(progress, 0.1, 0.95),
            phase=PHASE_CREATE,
            cancel=op.cancel,
        )
        if state == states.SAVED:
            copy_vsv(runtime.runtime_vsv(doc), svsv)
        elif device_state is not None:
            write_vsv(svsv, device_state)
        op.event("created", sbin, copied, "memory at checkpoint time (touched chunks only)")
        op.event("created", svsv, file_size(svsv), "device state at checkpoint time")
        sdoc.set_saved_state(sbin, svsv)
    else:
        sdoc.set_saved_state(None, None)
    report(progress, 0.95, PHASE_CREATE)
    check(op.cancel)
    durable.make_folders(sdoc.path.parent)
    op.tx.write_new(sdoc.path, sdoc.to_bytes(host.root))
    op.event("created", sdoc.path, file_size(sdoc.path), f"checkpoint configuration '{name}'")
    doc.snapshot_ids = [*doc.snapshot_ids, snap_id]
    doc.set("global_settings/snapshots/parent", "string", snap_id)
    op.mark(doc)
    op.add_snapshot(snap_id, sdoc)
    op.after.extend(freeze)  # parents become read-only once the VM runs on the children
    return snap_id, name


def restore_snapshot(
    host: HostCore,
    vm: str,
    snapshot: str,
    *,
    take_checkpoint_first: bool = False,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    """Apply a checkpoint: Now's disks are discarded, new AVHDX start off the checkpoint's
    disks, and the VM returns to the checkpoint's state (with its memory if it had any)."""
    target = host.get_snapshot(vm, snapshot)
    with host.operation(vm, "Apply", PHASE_APPLY, progress, cancel) as op:
        # Its disks as read under the lock: an interrupted merge finished just now may have
        # folded the checkpoint's disk into its parent. Deleted meanwhile (another hand): that
        # is the refusal, not the missing disks its configuration named before.
        sdoc = op.snapshot(target.id, target.name)
        chain_health.require(chain_health.APPLY, op.doc.name, target.name,
                             host.chain_health.of_drives(runtime.hard_drives(sdoc), fresh=True))
        lines = []
        if take_checkpoint_first:
            _, name = checkpoint(host, op, None, scaled(op.progress, 0.0, 0.3))
            lines.append(
                f"Checkpoint-VM -Name {ps_quote(op.doc.name)} -SnapshotName {ps_quote(name)}"
            )
        apply(host, op, target.id, scaled(op.progress, 0.3 if take_checkpoint_first else 0.0, 1.0))
        lines.append(
            f"Restore-VMSnapshot -VMName {ps_quote(op.doc.name)} "
            f"-Name {ps_quote(target.name)} -Confirm:$false"
        )
        return host.result(op, "; ".join(lines), host.get_snapshot(op.vm_id, target.id))


def revert_vm(
    host: HostCore, vm: str, *, progress: Progress | None = None, cancel: CancelToken | None = None
) -> OperationResult:
    """Revert: apply the VM's current parent checkpoint."""
    current = host.get_vm(vm)
    states.require_allowed(current.name, states.REVERT, state=current.state,
                           has_checkpoint=current.parent_snapshot_id is not None)
    assert current.parent_snapshot_id is not None
    result = restore_snapshot(
        host, current.id, current.parent_snapshot_id, progress=progress, cancel=cancel
    )
    result.operation = "Revert"
    return result


def apply(host: HostCore, op: Operation, snap_id: str, progress: Progress | None) -> None:
    report(progress, 0.0, PHASE_APPLY)
    doc = op.doc
    sdoc = op.snapshot(snap_id, snap_id)
    snaps = list(op.snaps.values())
    parents = vm_disk_parents(doc, snaps)
    tree = {p for s in snaps for p in vhd_paths(s)} | {norm(p) for p in doc.pending_merges}
    before: list[journal.Action] = []
    after: list[journal.Action] = []
    for now_disk in vhd_paths(doc):  # Now's own AVHDX: discarded
        if now_disk not in tree and parents.get(now_disk) in tree:
            before.append(journal.delete(now_disk))
            op.event("deleted", now_disk, file_size(now_disk), "the discarded current state")
            parents.pop(now_disk, None)
    passed_through = [
        d.path for d in [*doc.drives(), *sdoc.drives()] if d.kind == DRIVE_PASSTHROUGH
    ]
    for path in dict.fromkeys(passed_through):  # attached now and then: one warning
        op.warnings.append(
            f"pass-through disk {Path(path).name}: its attachment was restored, "
            "not its data (pass-through disks are not captured by checkpoints)"
        )
    if doc.fibre_channel() or sdoc.fibre_channel():
        op.warnings.append(
            "virtual Fibre Channel: the adapter was restored, not the data on the SAN"
        )
    new = sdoc.copy(doc.path)
    new.remove("snapshot")
    for part in ("global_settings", "hvgui"):
        new.remove(part)
        node = doc.root.find(part)
        if node is not None:
            new.root.append(etree.fromstring(etree.tostring(node)))
    new.set("properties/global_id", "string", doc.id)
    new.set("properties/name", "string", doc.name)
    new.set_creation_time(doc.creation_time)  # the VM's, not the checkpoint's own
    new.set("global_settings/snapshots/parent", "string", snap_id)
    sbin = sdoc.saved_state("memlocation")
    needs = [(norm(d.path).parent, freespace.NEW_VHDX) for d in new.drives()
             if d.kind == DRIVE_VHD and d.path]
    if sbin:
        needs.append((runtime.runtime_bin(doc).parent, stored_size(Path(sbin)) or 0))
    freespace.require(doc.name, "applying the checkpoint", needs)
    if sbin and Path(sbin).exists() and sdoc.snapshot_type == CheckpointType.STANDARD:
        BinFile(Path(sbin)).close()  # one we cannot restore is refused before any change
    for drive in new.drives():
        check(op.cancel)
        if drive.kind != DRIVE_VHD or not drive.path:
            continue
        frozen = norm(drive.path)
        child = avhdx_name(frozen, new_guid())
        op.tx.created(child)
        vhdx.create_differencing(child, frozen)
        parents[child] = frozen
        new.set_drive(
            drive.controller_type,
            drive.controller_number,
            drive.controller_location,
            DRIVE_VHD,
            str(child),
        )
        op.event("created", child, file_size(child), f"differencing disk of {frozen.name}")
    report(progress, 0.3, PHASE_APPLY)
    # The VM's state: the checkpoint's, with its memory when it has some.
    rbin, rvsv = runtime.runtime_bin(doc), runtime.runtime_vsv(doc)
    svsv = sdoc.saved_state("vsvlocation")
    taken = sdoc.snapshot_vm_state
    restored: str = states.OFF
    if sdoc.snapshot_type == CheckpointType.STANDARD and sbin and Path(sbin).exists():
        restored = taken if taken in states.MEMORY_STATES else states.OFF
    now = datetime.now(UTC)
    if restored != states.OFF:  # copied into the VM's folder: never a file from outside
        host.boundary.require_source(sbin, "checkpoint's memory file")
        if restored == states.SAVED:
            host.boundary.require_source(svsv, "checkpoint's saved device state")
    if restored == states.OFF:
        for f in (rbin, rvsv):
            if f.exists():
                op.event("deleted", f, stored_size(f), "memory discarded")
        after += [journal.delete(rbin), journal.delete(rvsv)]
        new.set_saved_state(None, None)
    else:
        durable.make_folders(rbin.parent)
        tmp = rbin.with_name(rbin.name + ".hvnew")
        remove_path(tmp)
        op.tx.created(tmp)
        copied = copy_bin(
            Path(sbin),
            tmp,
            progress=scaled(progress, 0.3, 0.9),
            phase=PHASE_APPLY,
            cancel=op.cancel,
        )
        before.append(journal.replace(tmp, rbin))
        op.event("created", rbin, copied, "memory restored from the checkpoint")
        uptime = runtime.saved_uptime(Path(svsv)) if svsv else 0
        if restored == states.SAVED:
            vtmp = rvsv.with_name(rvsv.name + ".hvnew")
            remove_path(vtmp)
            op.tx.created(vtmp)
            copy_vsv(Path(svsv), vtmp)
            before.append(journal.replace(vtmp, rvsv))
            new.set_saved_state(rbin, rvsv)
        else:
            after.append(journal.delete(rvsv))
            new.set_saved_state(rbin, None)
            new.set(
                "properties/last_powered_on_time",
                "integer",
                to_filetime(now - timedelta(seconds=uptime)),
            )
    new.set("hvgui/state", "string", restored)
    new.set("properties/last_state_change_time", "integer", to_filetime(now))
    op.doc = new
    pending = [norm(p) for p in doc.pending_merges]
    plan = resolve_pending(new, snaps, parents, pending)
    new.pending_merges = [str(p) for p in pending]
    record_resolution(host, op, plan)
    require_merge_space(op, plan)
    for changed in plan.changed_docs:
        op.mark(changed)
    op.mark(new)
    check(op.cancel)
    op.commit(
        before=[*before, *plan.merges],
        after=[*after, *plan.deletes, *plan.read_only],
        progress=scaled(progress, 0.9, 1.0),
    )


def require_merge_space(op: Operation, plan: Any) -> None:
    """Refuse before anything is written when the merges would fill a file system."""
    needs = [(dest.parent, freespace.merge_growth(child, dest)) for child, dest in plan.merged]
    if needs:
        freespace.require(op.doc.name, "the merge", needs)


def record_resolution(host: HostCore, op: Operation, plan: Any) -> None:
    for disk, size in plan.deleted:
        op.event("deleted", disk, size, "no disk depends on it any more")
    refrozen = {Path(a["path"]) for a in plan.read_only if a["value"]}
    for child, dest in plan.merged:
        again = "; set again: a checkpoint's frozen disk" if dest in refrozen else ""
        detail = f"read-only attribute cleared to merge {child.name} into it{again}"
        op.event("read-only", dest, file_size(dest), detail)


def remove_snapshot(
    host: HostCore,
    vm: str,
    snapshot: str,
    *,
    include_children: bool = False,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    """Remove-VMSnapshot: delete a checkpoint (or its subtree) by Hyper-V's merge rules."""
    target = host.get_snapshot(vm, snapshot)
    line = f"Remove-VMSnapshot -VMName {ps_quote(target.vm_name)} -Name {ps_quote(target.name)}"
    if include_children:
        line += " -IncludeAllChildSnapshots"
    with host.operation(vm, "Delete", PHASE_DELETE, progress, cancel) as op:
        doc = op.doc
        docs = op.snaps
        if target.id not in docs:  # gone since: a retried Delete's first attempt finished
            if op.resumed:
                return host.result(op, line)
            raise HostError(target.name, "the checkpoint no longer exists")
        doomed = subtree_ids(docs, target.id, include_children)
        gone = set(doomed)
        parents = vm_disk_parents(doc, docs.values())
        report(op.progress, 0.05, PHASE_DELETE)

        def surviving(snap: str | None) -> str | None:
            while snap is not None and snap in gone:
                snap = docs[snap].snapshot_parent_id if snap in docs else None
            return snap

        for snap_id, sdoc in docs.items():
            if snap_id not in gone and sdoc.snapshot_parent_id in gone:
                sdoc.set("snapshot/parent_id", "string", surviving(sdoc.snapshot_parent_id) or "")
                op.mark(sdoc)
        if doc.parent_snapshot_id in gone:
            doc.set(
                "global_settings/snapshots/parent",
                "string",
                surviving(doc.parent_snapshot_id) or "",
            )
        doc.snapshot_ids = [i for i in doc.snapshot_ids if i not in gone]
        pending = pending_after(doc, (docs[i] for i in doomed))
        after: list[journal.Action] = []
        for snap_id in doomed:
            sdoc = docs.pop(snap_id)
            after.append(journal.delete(sdoc.path))
            op.event(
                "deleted",
                sdoc.path,
                file_size(sdoc.path),
                f"checkpoint configuration '{sdoc.name}'",
            )
            state_dir = snapshot_state_dir(doc.snapshot_data_root, snap_id)
            for f in runtime.files_in(state_dir):
                op.event("deleted", f, stored_size(f), "checkpoint saved state")
            after.append(journal.delete(state_dir))
        plan = resolve_pending(doc, list(docs.values()), parents, pending)
        doc.pending_merges = [str(p) for p in pending]
        record_resolution(host, op, plan)
        require_merge_space(op, plan)
        for changed in plan.changed_docs:
            op.mark(changed)
        op.mark(doc)
        check(op.cancel)
        if pending:
            op.warnings.append(
                f"{len(pending)} disk(s) kept until they can be merged: several checkpoints "
                "or the running VM depend on them"
            )
        merge_progress = scaled(op.progress, 0.1, 1.0)

        def merging(fraction: float, _phase: str) -> None:
            report(merge_progress, fraction, PHASE_MERGE)

        op.commit(
            before=plan.merges,
            after=[*after, *plan.deletes, *plan.read_only],
            progress=merging if plan.merges else None,
        )
        return host.result(op, line)


def rename_snapshot(
    host: HostCore,
    vm: str,
    snapshot: str,
    new_name: str,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    target = host.get_snapshot(vm, snapshot)
    validate_name(target.name, new_name)  # the error names the checkpoint being renamed
    with host.operation(vm, "Rename", "Renaming Checkpoint", progress, cancel) as op:
        sdoc = op.snapshot(target.id, target.name)
        sdoc.set("properties/name", "string", new_name)
        op.mark(sdoc)
        op.commit()
        op.event(
            "written",
            sdoc.path,
            file_size(sdoc.path),
            f"checkpoint renamed '{target.name}' to '{new_name}'",
        )
        line = (
            f"Rename-VMSnapshot -VMName {ps_quote(op.doc.name)} -Name {ps_quote(target.name)}"
            f" -NewName {ps_quote(new_name)}"
        )
        return host.result(op, line, host.get_snapshot(op.vm_id, target.id))
