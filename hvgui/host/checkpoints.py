"""The disk side of checkpoint operations: the disk tree of a VM and Hyper-V's delete rules.

Every checkpoint's configuration names the disks it froze; the VM's names its running disks
("Now"); disks kept while several children depend on them are listed as merge-pending. The
parent of each disk is read from the VHDX files themselves (their parent locators).

Delete rules: Hyper-V's (backend/merges.py); a disk kept merge-pending is merged later, as
soon as only one child is left (after another delete or an apply that discards Now).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgui import vhdx
from hvgui.backend.merges import plan_merges, subtree
from hvgui.errors import HvError
from hvgui.host import journal
from hvgui.host.chain_health import stamp
from hvgui.host.fileio import file_size, norm
from hvgui.host.layout import snapshot_config_path, vm_config_path
from hvgui.host.xmlconfig import DRIVE_VHD, SETTLED_NS, SNAPSHOT_PARENT, VM_PARENT, ConfigDoc


def snapshot_docs(doc: ConfigDoc) -> dict[str, ConfigDoc]:
    """The VM's checkpoint configurations by Id (a missing file is left out: the host check
    reports it). Where the files do not name the checkpoint tree (a real host's), it is
    derived from the disks, in memory (`derive_tree`)."""
    out: dict[str, ConfigDoc] = {}
    root = doc.snapshot_data_root
    for snap_id in doc.snapshot_ids:
        path = snapshot_config_path(root, snap_id)
        try:
            out[snap_id] = ConfigDoc.load(path)
        except HvError:
            if path.exists():
                raise
            # Missing, or deleted since this VM's configuration was read (reads take no
            # lock: another program's delete may land between the two).
    if not doc.names_parent or not all(d.names_parent for d in out.values()):
        derive_tree(doc, out)
    return out


def needs_tree(doc: ConfigDoc) -> bool:
    """Whether the VM's configuration leaves its checkpoint tree to be derived (a real host's
    lists checkpoints but names no parent)."""
    return not doc.names_parent and bool(doc.snapshot_ids)


def derive_now(doc: ConfigDoc) -> None:
    """Where the VM's configuration names no parent checkpoint (a real host's), set the one
    Now descends from (in memory): remembered from an earlier derivation while none of the
    files it was derived from changed, else derived (`snapshot_docs`)."""
    if not needs_tree(doc):
        return
    tree = _remembered(doc)
    if tree is not None:
        doc.set(VM_PARENT, "string", tree.now)
    else:
        snapshot_docs(doc)


# A derived tree, remembered: reading a real host's folder (copied, read-only) derives it for
# every VM on every read, and each derivation opens every disk of every chain. Remembered by
# what the VM's configuration says (its disks and checkpoints) and checked against a stat of
# every file it was derived from (checkpoint configurations, every disk of every chain).
_TREES_KEPT = 1024


@dataclass(frozen=True)
class _Tree:
    files: tuple[Path, ...]  # what it was derived from
    stamps: tuple[Any, ...]  # their stat (chain_health.stamp) when derived
    parents: Mapping[str, str]  # checkpoint id -> its derived parent ("": a root)
    now: str  # the checkpoint Now descends from ("": none)


_trees: dict[tuple[Any, ...], _Tree] = {}
_trees_lock = threading.Lock()


def _tree_key(vm: ConfigDoc) -> tuple[Any, ...]:
    return (norm(vm.path), tuple(vhd_paths(vm)), tuple(vm.snapshot_ids),
            norm(vm.snapshot_data_root))


def _remembered(vm: ConfigDoc) -> _Tree | None:
    """The VM's tree as last derived, if no file it came from changed since."""
    with _trees_lock:
        tree = _trees.get(_tree_key(vm))
    return tree if tree is not None and stamp(tree.files) == tree.stamps else None


def _remember(vm: ConfigDoc, snapshots: Mapping[str, ConfigDoc], disks: Iterable[Path],
              parents: Mapping[str, str], now: str) -> None:
    """Keep a derivation whose every chain was read, unless one of its files changed in the
    last seconds (a stat taken now could miss a change made within the same clock tick)."""
    configs = [snapshot_config_path(vm.snapshot_data_root, i) for i in vm.snapshot_ids]
    if any(i not in snapshots for i in vm.snapshot_ids):
        return  # a configuration missing or renamed meanwhile: derived again next time
    files = (*configs, *disks)
    stamps = stamp(files)
    settled = time.time_ns() - SETTLED_NS
    if any(s is None or s[2] >= settled for s in stamps):
        return
    with _trees_lock:
        if len(_trees) >= _TREES_KEPT:
            _trees.clear()
        _trees[_tree_key(vm)] = _Tree(files, stamps, dict(parents), now)


def derive_parent(doc: ConfigDoc) -> bool:
    """For a configuration read on its own (the inspector): where it names no parent, derive
    it (`derive_tree`) with its VM's checkpoints, the VM found beside it as Hyper-V lays files
    out (`<data root>/Virtual Machines/<VM id>.xml`). False when the file names its own or
    nothing could be derived (its VM or disks unreadable), so no one says it was."""
    if doc.names_parent:
        return False
    try:
        if not doc.is_snapshot:
            snapshot_docs(doc)
            return True
        if doc.snapshot_vm_id:
            vm = ConfigDoc.load(vm_config_path(doc.path.parent.parent, doc.snapshot_vm_id))
            derived = snapshot_docs(vm).get(doc.id)
            if derived is not None:
                doc.set(SNAPSHOT_PARENT, "string", derived.snapshot_parent_id or "")
                return True
    except (HvError, OSError):
        pass
    return False


def derive_tree(vm: ConfigDoc, snapshots: Mapping[str, ConfigDoc]) -> None:
    """A real 2012 R2 host's files name no parent checkpoint (no public sample or tool shows
    one; docs/formats.md): each checkpoint froze the disks the VM ran on when it was taken,
    so its parent is the checkpoint whose frozen disk is the nearest ancestor of its own in
    the AVHDX chain (read from the parent locators), and Now's is the one its running disks
    descend from. Set, in memory, where a file names none; a checkpoint with no readable
    disk chain is left a root. A file written back then names its parent as hvgui's do.
    Remembered while none of the files it was derived from changes (`_remember`)."""
    tree = _remembered(vm)
    if tree is None:
        tree = _derive(vm, snapshots)
    for snap_id, sdoc in snapshots.items():
        if not sdoc.names_parent:
            sdoc.set(SNAPSHOT_PARENT, "string", tree.parents.get(snap_id, ""))
    if not vm.names_parent:
        vm.set(VM_PARENT, "string", tree.now)


def _derive(vm: ConfigDoc, snapshots: Mapping[str, ConfigDoc]) -> _Tree:
    owner: dict[Path, str] = {}
    for snap_id, sdoc in snapshots.items():
        for disk in vhd_paths(sdoc):
            owner.setdefault(disk, snap_id)
    parents: dict[Path, Path | None] = {}
    unreadable = False
    for leaf in [*vhd_paths(vm), *(p for s in snapshots.values() for p in vhd_paths(s))]:
        if leaf in parents:
            continue
        try:
            parents.update({k: v for k, v in chain_parents([leaf]).items() if k not in parents})
        except (HvError, OSError):
            parents.setdefault(leaf, None)  # unreadable or broken: no ancestor known
            unreadable = True

    def nearest(doc: ConfigDoc, own: str | None) -> str | None:
        for disk in vhd_paths(doc):
            seen: set[Path] = set()
            above = parents.get(disk)
            while above is not None and above not in seen:
                seen.add(above)
                found = owner.get(above)
                if found is not None and found != own:
                    return found
                above = parents.get(above)
        return None

    derived = {snap_id: nearest(sdoc, snap_id) or "" for snap_id, sdoc in snapshots.items()}
    now = nearest(vm, None) or ""
    if not unreadable:  # a chain copied in part may be whole later: no file tells when
        _remember(vm, snapshots, parents, derived, now)
    return _Tree((), (), derived, now)


def vhd_paths(doc: ConfigDoc) -> list[Path]:
    return [norm(d.path) for d in doc.drives() if d.kind == DRIVE_VHD and d.path]


def chain_parents(leaves: Iterable[Path]) -> dict[Path, Path | None]:
    """The parent of every disk in the chains of `leaves` (None for a base disk)."""
    parents: dict[Path, Path | None] = {}
    for leaf in leaves:
        leaf = norm(leaf)
        if leaf in parents:
            continue
        with vhdx.open_disk(leaf) as disk:
            chain = [norm(p) for p in disk.chain]
        for child, parent in zip(chain, [*chain[1:], None], strict=True):
            parents.setdefault(child, parent)
    return parents


def vm_disk_parents(vm: ConfigDoc, snapshots: Iterable[ConfigDoc]) -> dict[Path, Path | None]:
    """The parent of every disk of the VM: the chains of its running disks, of every checkpoint's
    frozen disks and of the disks already waiting to be merged."""
    return chain_parents(
        [
            *vhd_paths(vm),
            *(p for s in snapshots for p in vhd_paths(s)),
            *(norm(p) for p in vm.pending_merges),
        ]
    )


def subtree_ids(snapshots: Mapping[str, ConfigDoc], root: str, include_children: bool) -> list[str]:
    """The checkpoints a delete removes: `root`, and with `include_children` all below it."""
    return subtree({i: d.snapshot_parent_id for i, d in snapshots.items()}, root,
                   include_children)


def pending_after(vm: ConfigDoc, removed: Iterable[ConfigDoc]) -> list[Path]:
    """The disks waiting to be merged once `removed` checkpoints no longer reference theirs:
    those already pending, then each removed checkpoint's frozen disks, in order."""
    pending = [norm(p) for p in vm.pending_merges]
    for doc in removed:
        pending += [d for d in vhd_paths(doc) if d not in pending]
    return pending


@dataclass
class Resolution:
    """What resolving merge-pending disks will do, in the order it must happen."""

    merges: list[journal.Action] = field(default_factory=list)
    deletes: list[journal.Action] = field(default_factory=list)
    read_only: list[journal.Action] = field(default_factory=list)
    deleted: list[tuple[Path, int | None]] = field(default_factory=list)
    merged: list[tuple[Path, Path]] = field(default_factory=list)
    changed_docs: list[ConfigDoc] = field(default_factory=list)


def replace_disk(docs: Iterable[ConfigDoc], old: Path, new: Path) -> list[ConfigDoc]:
    """Point every drive that names `old` at `new`; returns the documents changed."""
    changed = []
    for doc in docs:
        hit = False
        for drive in doc.drives():
            if drive.kind == DRIVE_VHD and drive.path and norm(drive.path) == old:
                doc.set_drive(
                    drive.controller_type,
                    drive.controller_number,
                    drive.controller_location,
                    DRIVE_VHD,
                    str(new),
                )
                hit = True
        if hit:
            changed.append(doc)
    return changed


def resolve_pending(
    vm_doc: ConfigDoc,
    snapshot_docs: list[ConfigDoc],
    parents: dict[Path, Path | None],
    pending: list[Path],
) -> Resolution:
    """Plan merges and deletes for `pending` disks (Hyper-V's rule: backend/merges.py); edits
    the documents and `pending` in place."""
    out = Resolution()
    docs = [vm_doc, *snapshot_docs]
    plan = plan_merges(parents, pending)
    for disk in plan.deleted:
        out.deletes.append(journal.delete(disk))
        out.deleted.append((disk, file_size(disk)))
    for child, disk in plan.merged:
        out.merges.append(journal.merge(child, disk))
        out.merged.append((child, disk))
        for doc in replace_disk(docs, child, disk):
            if doc not in out.changed_docs:
                out.changed_docs.append(doc)
    frozen = {p for doc in snapshot_docs for p in vhd_paths(doc)} | set(pending)
    for disk in plan.targets:
        if disk in parents:
            out.read_only.append(journal.read_only(disk, disk in frozen))
    return out
