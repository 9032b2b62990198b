"""Storage operations of the lab host: export (a standalone VM folder with flattened disks)
and Move-VMStorage (every disk with all its AVHDX)."""

from __future__ import annotations

import contextlib
import glob
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from hvgui import durable, portable, vhdx
from hvgui.backend.actions import changes_host
from hvgui.backend.formats import ps_quote
from hvgui.backend.model import OperationResult
from hvgui.backend.states import VMAction
from hvgui.host import freespace, journal, runtime, states
from hvgui.host.checkpoints import vm_disk_parents
from hvgui.host.errors import HostError, ReadOnlyHostError
from hvgui.host.fileio import file_size, link_or_copy, norm, remove_path
from hvgui.host.layout import (
    SNAPSHOTS,
    VIRTUAL_HARD_DISKS,
    VIRTUAL_MACHINES,
    base_stem,
    snapshot_config_path,
    snapshot_state_dir,
    vm_runtime_dir,
)
from hvgui.host.names import file_name_for
from hvgui.host.operation import PHASE_EXPORT, PHASE_MOVE, Operation
from hvgui.host.savedstate import copy_bin, copy_vsv, memory_writes_held, stored_size, write_vsv
from hvgui.host.storedpaths import stored
from hvgui.host.winpaths import shell_name
from hvgui.host.xmlconfig import DRIVE_PASSTHROUGH, DRIVE_VHD, SAVED_STATE, ConfigDoc
from hvgui.progress import CancelToken, Progress, check, report, scaled

if TYPE_CHECKING:
    from hvgui.host.context import HostCore


def export_snapshot(
    host: HostCore,
    vm: str,
    snapshot: str,
    destination: Path | str,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    """Export-VMSnapshot: a standalone VM folder as of the checkpoint, disks flattened."""
    target = host.get_snapshot(vm, snapshot)
    with host.operation(
        vm, "Export", PHASE_EXPORT, progress, cancel, changes_vm=False,
        looks_only=not changes_host(VMAction.EXPORT),
    ) as op:
        export(host, op, op.snapshot(target.id, target.name), norm(destination))
        line = (
            f"Export-VMSnapshot -VMName {ps_quote(op.doc.name)} -Name {ps_quote(target.name)}"
            f" -Path {ps_quote(shell_name(host.root, norm(destination)))}"
        )
        return host.result(op, line)


def export_vm(
    host: HostCore,
    vm: str,
    destination: Path | str,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    """Export-VM of the current state (Now), disks flattened (checkpoints not included)."""
    with host.operation(
        vm, "Export", PHASE_EXPORT, progress, cancel, changes_vm=False,
        looks_only=not changes_host(VMAction.EXPORT),
    ) as op:
        states.require_allowed(op.doc.name, states.EXPORT, state=op.doc.state)
        # A running VM is exported as 2012 R2 does: a consistent copy, its disks (guest disk
        # writes wait for this operation's lock) and its memory (writes held) as they were at
        # one moment, the memory as a saved state.
        with memory_writes_held(runtime.runtime_bin(op.doc), readers=True):
            export(host, op, op.doc, norm(destination))
        return host.result(
            op, f"Export-VM -Name {ps_quote(op.doc.name)} "
            f"-Path {ps_quote(shell_name(host.root, norm(destination)))}"
        )


def _work_name(name: str, pid: object, thread: object) -> str:
    return f".{name}.{pid}.{thread}.export-partial"


def export(host: HostCore, op: Operation, source: ConfigDoc, destination: Path) -> Path:
    vm_doc = op.doc
    if host.read_only and host.boundary.inside(destination):
        raise ReadOnlyHostError(destination, f"inside the read-only host ({host.read_only}): "
                                "export to a folder outside it; nothing was changed")
    require_export_sources(host, source)
    folder = destination / file_name_for(vm_doc.name)
    if folder.exists():
        raise HostError(folder, "already exists; choose another destination")
    memloc = source.saved_state("memlocation")
    vsvloc = source.saved_state("vsvlocation")
    needs = [(destination, freespace.flattened_size(norm(d.path)))
             for d in source.drives() if d.kind == DRIVE_VHD and d.path]
    needs += [(destination, stored_size(Path(f)) or 0) for f in (memloc, vsvloc) if f]
    freespace.require(vm_doc.name, "the export", needs)
    made = not destination.exists()
    durable.make_folders(destination)
    # Its own work folder: another export into this folder at once (of a VM whose name gives
    # the same folder name; on a read-only host, of this VM) must neither remove it nor
    # publish it. A dead export's is removed (a killed one's leftover).
    work = destination / _work_name(file_name_for(vm_doc.name), os.getpid(),
                                    threading.get_ident())
    for leftover in destination.glob(_work_name(glob.escape(folder.name), "*", "*")):
        pid = leftover.name.rsplit(".", 3)[-3]
        if pid.isdigit() and not portable.pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                remove_path(leftover)
    try:
        (work / VIRTUAL_HARD_DISKS).mkdir(parents=True)
        (work / SNAPSHOTS).mkdir()
        config = work / VIRTUAL_MACHINES / f"{vm_doc.id}.xml"
        config.parent.mkdir()
        out = source.copy(folder / VIRTUAL_MACHINES / config.name)  # where it will be
        out.remove("snapshot")
        out.set("properties/global_id", "string", vm_doc.id)
        out.set("properties/name", "string", vm_doc.name)
        out.set_creation_time(vm_doc.creation_time)  # the VM's, even from a checkpoint
        # As Export-VM: no data roots; the folder the configuration is found in is the VM's.
        out.remove("global_settings/data_root")
        out.remove("global_settings/snapshots/data_root")
        out.set("global_settings/snapshots/parent", "string", "")
        out.snapshot_ids = []
        out.pending_merges = []
        vhds = [d for d in out.drives() if d.kind == DRIVE_VHD and d.path]
        used: set[str] = set()
        for i, drive in enumerate(vhds):
            check(op.cancel)
            name = f"{base_stem(Path(drive.path))}.vhdx"
            while name in used:
                name = f"{base_stem(Path(drive.path))}-{len(used)}.vhdx"
            used.add(name)
            flat = work / VIRTUAL_HARD_DISKS / name
            vhdx.convert_vhd(
                Path(drive.path),
                flat,
                cancel=op.cancel,
                progress=runtime.phase(
                    scaled(op.progress, i / len(vhds), (i + 1) / len(vhds)), PHASE_EXPORT
                ),
            )
            out.set_drive(
                drive.controller_type,
                drive.controller_number,
                drive.controller_location,
                DRIVE_VHD,
                str(folder / VIRTUAL_HARD_DISKS / name),
            )
            op.event(
                "created",
                folder / VIRTUAL_HARD_DISKS / name,
                file_size(flat),
                f"flattened copy of {Path(drive.path).name}",
            )
        for drive in out.drives():
            if drive.kind == DRIVE_PASSTHROUGH:
                op.warnings.append(
                    f"pass-through disk {Path(drive.path).name} is not exported "
                    "(only its attachment is in the configuration)"
                )
        state = states.OFF
        if memloc and vsvloc and Path(memloc).exists() and Path(vsvloc).exists():
            runtime_dir = config.parent / vm_doc.id
            runtime_dir.mkdir()
            copy_bin(Path(memloc), runtime_dir / f"{vm_doc.id}.bin", cancel=op.cancel)
            copy_vsv(Path(vsvloc), runtime_dir / f"{vm_doc.id}.vsv")
            final = folder / VIRTUAL_MACHINES / vm_doc.id
            out.set_saved_state(final / f"{vm_doc.id}.bin", final / f"{vm_doc.id}.vsv")
            state = states.SAVED
        elif memloc and Path(memloc).exists() and (
            source.is_snapshot or source.state in states.LIVE_STATES
        ):
            # a checkpoint of a running VM, or a running VM: its memory as a saved state
            runtime_dir = config.parent / vm_doc.id
            runtime_dir.mkdir()
            copy_bin(Path(memloc), runtime_dir / f"{vm_doc.id}.bin", cancel=op.cancel)
            write_vsv(
                runtime_dir / f"{vm_doc.id}.vsv", runtime.device_state(source, states.RUNNING)
            )
            final = folder / VIRTUAL_MACHINES / vm_doc.id
            out.set_saved_state(final / f"{vm_doc.id}.bin", final / f"{vm_doc.id}.vsv")
            state = states.SAVED
        else:
            out.set_saved_state(None, None)
        out.set("hvgui/state", "string", state)
        config.write_bytes(out.to_bytes(folder))  # paths relative: the export can move
        durable.sync_tree(work)  # every exported byte durable before the folder appears
        if folder.exists():  # another export into this folder finished meanwhile
            raise HostError(folder, "already exists; choose another destination")
        durable.rename(work, folder)
        final_config = folder / VIRTUAL_MACHINES / config.name
        op.event("created", final_config, file_size(final_config), "the exported configuration")
        for saved in runtime.files_in(final_config.parent / vm_doc.id):
            op.event("created", saved, stored_size(saved), "the exported saved state")
    except BaseException:
        with contextlib.suppress(OSError):  # the error that stopped the export is the news
            remove_path(work)
        if made:  # even when syncing the removal above failed
            with contextlib.suppress(OSError):
                destination.rmdir()
        raise
    return folder


def require_export_sources(host: HostCore, source: ConfigDoc) -> None:
    """An export is shared with others: nothing from outside the host may end up in it (every
    disk of every chain, the saved state)."""
    boundary = host.boundary
    for drive in source.drives():
        if drive.kind == DRIVE_VHD and drive.path:
            with vhdx.open_disk(drive.path) as disk:
                for part in disk.chain:
                    boundary.require_source(part, "disk")
    for key, what in (("memlocation", "memory file"), ("vsvlocation", "saved device state")):
        value = source.saved_state(key)
        if value and os.path.lexists(value):
            boundary.require_source(value, what)


def move_storage(
    host: HostCore,
    vm: str,
    destination: Path | str,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> OperationResult:
    """Move-VMStorage -DestinationStoragePath: configuration, checkpoints, saved state and
    every disk (the base and ALL its AVHDX together) move under `destination`."""
    made: list[Path] = []  # the folders the move makes at the destination
    try:
        return _move_storage(host, vm, destination, progress, cancel, made)
    except BaseException:
        # Rolled back (or to be finished forward: its folders then hold files and stay):
        # the folders it made go too, deepest first, each only if empty.
        for folder in sorted(made, key=lambda f: len(f.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _make_folders(folder: Path, made: list[Path]) -> None:
    """durable.make_folders, adding each folder it makes to `made`."""
    at = folder
    while not at.exists() and at.parent != at:
        made.append(at)
        at = at.parent
    durable.make_folders(folder)


def _move_storage(host: HostCore, vm: str, destination: Path | str, progress: Progress | None,
                  cancel: CancelToken | None, made: list[Path]) -> OperationResult:
    dest = norm(destination)
    with host.operation(vm, "Move", PHASE_MOVE, progress, cancel) as op:
        doc = op.doc
        line = f"Move-VMStorage -VMName {ps_quote(doc.name)}"
        line += f" -DestinationStoragePath {ps_quote(shell_name(host.root, dest))}"
        if dest == doc.data_root and dest == doc.snapshot_data_root:
            if op.resumed:  # a retry: the interrupted move is done
                return host.result(op, line)
            raise HostError(dest, "the VM's storage is already here")
        host.boundary.require(dest, "move the VM's storage there")
        snaps = list(op.snaps.values())
        parents = vm_disk_parents(doc, snaps)
        disks = list(dict.fromkeys([*parents, *(p for p in parents.values() if p)]))
        vhd_dir = dest / VIRTUAL_HARD_DISKS
        mapping: dict[Path, Path] = {}
        for disk in disks:
            target = vhd_dir / disk.name
            if target in mapping.values() or (target.exists() and target != disk):
                raise HostError(target, "a disk with this name is already at the destination")
            mapping[disk] = target
        files: list[tuple[Path, Path]] = [(d, t) for d, t in mapping.items() if d != t]
        new_config = dest / VIRTUAL_MACHINES / f"{doc.id}.xml"
        old_runtime = vm_runtime_dir(doc.path, doc.id)
        new_runtime = vm_runtime_dir(new_config, doc.id)
        files += [(f, new_runtime / f.name) for f in runtime.files_in(old_runtime)]
        snap_moves: list[tuple[ConfigDoc, Path]] = []
        for sdoc in snaps:
            snap_id = sdoc.id
            old_dir = snapshot_state_dir(doc.snapshot_data_root, snap_id)
            new_dir = snapshot_state_dir(dest, snap_id)
            files += [(f, new_dir / f.name) for f in runtime.files_in(old_dir)]
            snap_moves.append((sdoc, snapshot_config_path(dest, snap_id)))
        for src, _ in files:  # each is copied, then deleted: only the host's own files
            host.boundary.require(src, "move this file")
        here = freespace.existing_folder(dest).stat().st_dev  # a hard link costs nothing
        freespace.require(doc.name, "the move", [
            (dst.parent, stored_size(src) or 0) for src, dst in files
            if src.stat().st_dev != here
        ])
        total = sum(file_size(src) or 0 for src, _ in files) or 1
        moved = 0
        after: list[journal.Action] = []
        for src, dst in files:
            check(op.cancel)
            if dst.exists():
                raise HostError(dst, "already exists at the destination")
            _make_folders(dst.parent, made)
            op.tx.created(dst)
            link_or_copy(src, dst)
            moved += file_size(src) or 0
            report(op.progress, 0.9 * moved / total, PHASE_MOVE)
            after.append(journal.delete(src))
            op.event("moved", dst, stored_size(dst), f"from {src.parent}")

        def relocate(d: ConfigDoc) -> None:
            for drive in d.drives():
                if drive.kind == DRIVE_VHD and drive.path and norm(drive.path) in mapping:
                    d.set_drive(
                        drive.controller_type,
                        drive.controller_number,
                        drive.controller_location,
                        DRIVE_VHD,
                        str(mapping[norm(drive.path)]),
                    )
            d.set("global_settings/data_root", "string", str(dest))
            d.set("global_settings/snapshots/data_root", "string", str(dest))
            for key in ("memlocation", "vsvlocation"):
                value = d.saved_state(key)
                if value:
                    old = Path(value)
                    base = new_runtime if not d.is_snapshot else snapshot_state_dir(dest, d.id)
                    d.set(f"{SAVED_STATE}/{key}", "string", str(base / old.name))

        for sdoc, new_path in snap_moves:
            relocate(sdoc)
            _make_folders(new_path.parent, made)
            op.tx.write_new(new_path, sdoc.copy(new_path).to_bytes(host.root))
            after.append(journal.delete(sdoc.path))
            after.append(journal.delete(snapshot_state_dir(doc.snapshot_data_root, sdoc.id)))
            op.event("moved", new_path, file_size(new_path), f"from {sdoc.path.parent}")
        relocate(doc)
        doc.pending_merges = [str(mapping.get(norm(p), norm(p))) for p in doc.pending_merges]
        _make_folders(new_config.parent, made)
        op.tx.write_new(new_config, doc.copy(new_config).to_bytes(host.root))
        op.event("moved", new_config, file_size(new_config), f"from {doc.path.parent}")
        before: list[journal.Action] = []
        local = host.layout.local_config(doc.id)
        pointer = host.layout.pointer_file(doc.id)
        if new_config == local:
            before.append(journal.delete(pointer))
        else:
            where = stored(str(new_config), pointer.parent, host.root)
            before.append(op.tx.stage(pointer, where.encode()))
        if doc.path != new_config:
            before.append(journal.delete(doc.path))
            after.append(journal.delete(old_runtime))
        check(op.cancel)
        op.commit(before=before, after=after)
        return host.result(op, line)
