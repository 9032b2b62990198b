"""The delete preview: what "Delete Checkpoint" will delete, merge or keep, planned by the
host's own rules on copies of the configurations; nothing is written."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from hvgui.backend import Capability
from hvgui.host.checkpoints import (
    pending_after,
    resolve_pending,
    subtree_ids,
    vhd_paths,
    vm_disk_parents,
)
from hvgui.host.freespace import MARGIN, free_bytes, merge_growth
from hvgui.host.layout import snapshot_state_dir
from hvgui.host.xmlconfig import ConfigDoc
from hvgui.vhdx import open_disk

if TYPE_CHECKING:
    from hvgui.backend import HostBackend


DELETE = "delete"
MERGE = "merge"
KEEP = "keep"


@dataclass(frozen=True)
class PlannedFile:
    """What a checkpoint delete does to one file."""
    path: PurePath  # as the host names it
    action: str  # DELETE | MERGE | KEEP
    reason: str
    into: PurePath | None = None  # MERGE: the file it is folded into
    size: int = 0  # current size on disk
    bytes_moved: int = 0  # MERGE: data copied into `into`
    growth: int = 0  # MERGE: how much `into` may grow (new blocks it must allocate)
    checkpoint: str = ""  # the checkpoint the file belongs to ("Now": the running disk)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        out["into"] = str(self.into) if self.into else None
        return out


@dataclass(frozen=True)
class DeletePreview:
    """Everything a "Delete Checkpoint" will do, computed without changing anything."""
    vm: str
    snapshot: str
    files: list[PlannedFile]
    bytes_moved: int
    free_space_needed: int
    free_space_available: int
    warnings: list[str] = field(default_factory=list)
    # False when planned from the model (a real host, model_deletes.py): merged bytes are the
    # merged files' sizes (an upper bound) and the host's free space is not known here
    # (Hyper-V checks it before merging); both free space fields are then 0.
    measured: bool = True

    @property
    def enough_space(self) -> bool:
        return not self.measured or self.free_space_available >= self.free_space_needed

    def summary(self) -> str:
        deleted = sum(1 for f in self.files if f.action == DELETE)
        merged = sum(1 for f in self.files if f.action == MERGE)
        kept = sum(1 for f in self.files if f.action == KEEP)
        parts = [f"{deleted} file{'s' if deleted != 1 else ''} deleted"]
        if merged:
            parts.append(f"{merged} merged")
        if kept:
            parts.append(f"{kept} kept")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "VMName": self.vm,
            "Snapshot": self.snapshot,
            "Files": [f.to_json() for f in self.files],
            "BytesMoved": self.bytes_moved,
            "FreeSpaceNeeded": self.free_space_needed if self.measured else None,
            "FreeSpaceAvailable": self.free_space_available if self.measured else None,
            "EnoughSpace": self.enough_space,
            "Warnings": list(self.warnings),
        }


def own_bytes(path: Path) -> int:
    """Bytes of virtual disk data `path` itself holds (what merging it moves)."""
    with open_disk(path) as disk:
        return sum(n for block in disk.block_sources() for i, n in block.sources if i == 0)


def delete_preview(
    host: HostBackend, vm: str, snapshot: str, *, include_children: bool = False
) -> DeletePreview:
    """What deleting `snapshot` (and its subtree with `include_children`) will do, planned by
    the host's own delete rules (`checkpoints.resolve_pending`) on copies of the configuration
    documents: nothing is written. Configuration and saved state are deleted; each frozen disk
    nothing references any more is merged with its single child, deleted when no disk depends
    on it, or kept (merge pending) while several do. A host whose files are not on this
    computer gets the same plan from its model (model_deletes.py)."""
    if not host.capabilities.has(Capability.LOCAL_FILES):
        from hvgui.inspect.model_deletes import model_delete_preview  # it builds on this module
        return model_delete_preview(host, vm, snapshot, include_children=include_children)
    machine = host.get_vm(vm)
    target = host.get_snapshot(vm, snapshot)
    vm_doc = ConfigDoc.load(Path(machine.config_path))  # LOCAL_FILES: the host's files are here
    docs = {s.id: ConfigDoc.load(Path(s.config_path)) for s in host.list_snapshots(machine.id)}
    doomed = subtree_ids(docs, target.id, include_children)
    parents = vm_disk_parents(vm_doc, docs.values())
    pending = pending_after(vm_doc, (docs[i] for i in doomed))
    owners = _disk_owners(vm_doc, docs.values())
    files: list[PlannedFile] = []
    for snap_id in doomed:
        sdoc = docs.pop(snap_id)
        files.append(PlannedFile(sdoc.path, DELETE, f"configuration of checkpoint “{sdoc.name}”",
                                 size=_size_on_disk(sdoc.path), checkpoint=sdoc.name))
        state_dir = snapshot_state_dir(vm_doc.snapshot_data_root, snap_id)
        if state_dir.is_dir():
            for state in sorted(state_dir.iterdir()):
                what = {".bin": "saved memory", ".vsv": "saved device state"}.get(
                    state.suffix.lower(), "saved state")
                files.append(PlannedFile(state, DELETE, f"{what} of “{sdoc.name}”",
                                         size=_size_on_disk(state), checkpoint=sdoc.name))
    plan = resolve_pending(vm_doc, list(docs.values()), parents, pending)
    moved = needed = 0
    for child, destination in plan.merged:
        moved_here = own_bytes(child)
        growth = merge_growth(child, destination)
        files.append(PlannedFile(
            child, MERGE, "its parent has no other dependent: its blocks are folded into the "
            "parent (Into), then the file is deleted", into=destination, size=_size_on_disk(child),
            bytes_moved=moved_here, growth=growth, checkpoint=owners.get(child, "")))
        moved += moved_here
        needed += growth
    for destination in dict.fromkeys(d for _, d in plan.merged):
        files.append(PlannedFile(destination, KEEP, "receives the merged blocks and takes the "
                                 "place of the disk merged into it",
                                 size=_size_on_disk(destination),
                                 checkpoint=owners.get(destination, "")))
    for disk, size in plan.deleted:
        files.append(PlannedFile(disk, DELETE, "no disk depends on it any more", size=size or 0,
                                 checkpoint=owners.get(disk, "")))
    for disk in pending:
        kids = [c.name for c, p in parents.items() if p == disk]
        why = (f"{len(kids)} disks depend on it ({', '.join(kids)}): kept and marked merge "
               "pending until only one does")
        files.append(PlannedFile(disk, KEEP, why, size=_size_on_disk(disk),
                                 checkpoint=owners.get(disk, "")))
    warnings = []
    if pending:
        warnings.append(f"{len(pending)} disk(s) will be kept until they can be merged: several "
                        "checkpoints or the running VM depend on them.")
    where = plan.merged[0][1] if plan.merged else machine.config_path
    return DeletePreview(machine.name, target.name if not include_children
                         else f"{target.name} and its subtree", files, moved,
                         needed + MARGIN if plan.merged else 0,  # what the delete checks
                         free_bytes(Path(where).parent), warnings)


def _disk_owners(vm_doc: ConfigDoc, snapshot_docs: Iterable[ConfigDoc]) -> dict[Path, str]:
    """Each disk file -> the checkpoint that froze it, or "Now" for the VM's running disks."""
    owners: dict[Path, str] = {}
    for doc in snapshot_docs:
        owners.update(dict.fromkeys(vhd_paths(doc), doc.name))
    owners.update(dict.fromkeys(vhd_paths(vm_doc), "Now"))
    return owners


def _size_on_disk(path: Path) -> int:
    try:
        info = path.stat()
    except OSError:
        return 0
    return getattr(info, "st_blocks", 0) * 512 or info.st_size
