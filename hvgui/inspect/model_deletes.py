"""The delete preview of a host whose files are not on this computer (a real Hyper-V host):
planned from the model alone, with no configuration file read.

The VM, its checkpoint tree and each one's hard drives say which disks a delete leaves
unreferenced; each drive's chain (`chain_files`, or Get-VHD where the backend offers it, which
also gives each file's size) gives the disk tree; Hyper-V's merge rule (backend/merges.py) does
the rest; the VM's file listing (`file_sizes`, where the backend offers it) gives the
checkpoints' configuration and saved-state sizes. The lab host's own preview (deletes.py) plans
the same on its configurations.
"""

from __future__ import annotations

from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from hvgui.backend.formats import file_name
from hvgui.backend.merges import plan_merges, subtree
from hvgui.host.winpaths import is_windows
from hvgui.inspect.deletes import DELETE, KEEP, MERGE, DeletePreview, PlannedFile

if TYPE_CHECKING:
    from hvgui.backend import HostBackend
    from hvgui.backend.model import VM, HardDrive
    from hvgui.vhdx import VhdInfo


@runtime_checkable
class GetsVhdChains(Protocol):
    """A backend that runs Get-VHD up a disk's chain (hvgui.hyperv's HyperVHost)."""

    def get_vhd_chain(self, path: str) -> list[VhdInfo]: ...


@runtime_checkable
class ListsFileSizes(Protocol):
    """A backend that lists a VM's files with their lengths (hvgui.hyperv's HyperVHost)."""

    def file_sizes(self, vm: VM) -> dict[str, int]: ...


NOW = "Now"


def _key(path: PurePath | str) -> PurePath:
    """A host path as the host compares it: a Windows path ignores case and slash style."""
    text = str(path)
    return PureWindowsPath(text) if is_windows(text) else PurePosixPath(text)


class _DiskTree:
    """Every disk of the VM's chains: its parent, its file size where known, its own spelling."""

    def __init__(self, host: HostBackend) -> None:
        self.host = host
        self.parents: dict[PurePath, PurePath | None] = {}
        self.sizes: dict[PurePath, int] = {}
        self.paths: dict[PurePath, PurePath] = {}

    def add(self, drive: HardDrive) -> PurePath:
        """Walk `drive`'s chain (once per leaf); returns the leaf's key."""
        leaf = _key(drive.path)
        if leaf in self.parents:
            return leaf
        if isinstance(self.host, GetsVhdChains):
            infos = self.host.get_vhd_chain(str(drive.path))
            chain = [_key(info.path) for info in infos]
            for info in infos:
                self.sizes[_key(info.path)] = info.file_size
        else:
            chain = self.host.chain_files([drive])
        keys = [_key(p) for p in chain] or [leaf]
        for child, parent in zip(keys, [*keys[1:], None], strict=True):
            self.parents.setdefault(child, parent)
        for key, path in zip(keys, chain, strict=False):
            self.paths.setdefault(key, path)
        self.paths.setdefault(leaf, drive.path)
        return leaf


def model_delete_preview(
    host: HostBackend, vm: str, snapshot: str, *, include_children: bool = False
) -> DeletePreview:
    """What deleting `snapshot` (with `include_children`, its subtree) will do, from the model:
    its configuration and saved state are deleted, and each disk no checkpoint or Now uses any
    more is merged, deleted or kept by Hyper-V's rule. Merged bytes are the merged files' sizes
    as Get-VHD gives them (0 where the backend gives none); the host's free space is not known
    here (Hyper-V checks it before it merges)."""
    machine = host.get_vm(vm)
    target = host.get_snapshot(vm, snapshot)
    snaps = host.list_snapshots(machine.id)
    by_id = {s.id: s for s in snaps}
    doomed = [by_id[i] for i in subtree({s.id: s.parent_snapshot_id for s in snaps}, target.id,
                                        include_children)]
    tree = _DiskTree(host)
    owners: dict[PurePath, str] = {}
    frozen: dict[str, list[PurePath]] = {}
    for snap in snaps:
        frozen[snap.id] = [tree.add(d) for d in snap.hard_drives if not d.pass_through]
        owners.update(dict.fromkeys(frozen[snap.id], snap.name))
    now = [tree.add(d) for d in machine.hard_drives if not d.pass_through]
    owners.update(dict.fromkeys(now, NOW))
    # Disks no configuration names are already merge-pending (several children depend on them).
    pending = [k for k in tree.parents if k not in owners]
    for snap in doomed:
        pending += [k for k in frozen[snap.id] if k not in pending]
    parents = dict(tree.parents)
    plan = plan_merges(parents, pending)

    # The checkpoints' configuration and saved state: their lengths as the host lists them.
    listed = ({_key(path): size for path, size in host.file_sizes(machine).items()}
              if isinstance(host, ListsFileSizes) else {})
    files: list[PlannedFile] = []
    for snap in doomed:
        files.append(PlannedFile(snap.config_path, DELETE,
                                 f"configuration of checkpoint “{snap.name}”",
                                 size=listed.get(_key(snap.config_path), 0),
                                 checkpoint=snap.name))
        for path, what in ((snap.bin_path, "saved memory"), (snap.vsv_path, "saved device state")):
            if path is not None:
                files.append(PlannedFile(path, DELETE, f"{what} of “{snap.name}”",
                                         size=listed.get(_key(path), 0), checkpoint=snap.name))

    def planned(key: PurePath, action: str, reason: str, into: PurePath | None = None,
                bytes_moved: int = 0) -> PlannedFile:
        return PlannedFile(tree.paths[key], action, reason, into, tree.sizes.get(key, 0),
                           bytes_moved, checkpoint=owners.get(key, ""))

    moved = 0
    for child, into in plan.merged:
        size = tree.sizes.get(child, 0)
        files.append(planned(
            child, MERGE, "its parent has no other dependent: its blocks are folded into the "
            "parent (Into), then the file is deleted (at most its file size is merged)",
            into=tree.paths[into], bytes_moved=size))
        moved += size
    for into in plan.targets:
        files.append(planned(into, KEEP, "receives the merged blocks and takes the place of the "
                             "disk merged into it"))
    for disk in plan.deleted:
        files.append(planned(disk, DELETE, "no disk depends on it any more"))
    for disk in pending:
        kids = [file_name(tree.paths[c]) for c, p in parents.items() if p == disk]
        files.append(planned(disk, KEEP, f"{len(kids)} disks depend on it ({', '.join(kids)}): "
                             "kept and marked merge pending until only one does"))
    warnings = []
    if pending:
        warnings.append(f"{len(pending)} disk(s) will be kept until they can be merged: several "
                        "checkpoints or the running VM depend on them.")
    name = target.name if not include_children else f"{target.name} and its subtree"
    return DeletePreview(machine.name, name, files, moved, 0, 0, warnings, measured=False)
