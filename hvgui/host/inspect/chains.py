"""A checkpoint's (or Now's) files, and a single file's chain, with a sentence on each."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hvgui.host.inspect.facts import (
    AVHDX,
    BIN,
    PASSTHROUGH,
    VHDX,
    VMCX,
    VMGS,
    VMRS,
    VSV,
    XML,
    FileFacts,
    file_facts,
)
from hvgui.host.layout import vm_runtime_dir
from hvgui.vhdx import (
    ParentMismatchError,
    ParentNotFoundError,
    VhdxError,
    open_disk,
)

if TYPE_CHECKING:
    from hvgui.host import Host


def _drive_name(drive: Any) -> str:
    return f"{drive.controller_type} {drive.controller_number}:{drive.controller_location}"


def _disk_role(depth: int, last: int, now: bool) -> str:
    if depth == 0 and last == 0:
        return ("The virtual disk itself: no checkpoint has frozen it, every write goes here."
                if now else "The base disk, frozen (read-only) by this checkpoint: it holds the "
                "disk as it was then; the AVHDX created with the checkpoint holds every change "
                "since.")
    if depth == 0:
        if now:
            return ("The running disk: every write the VM makes since its last checkpoint "
                    "goes into this differencing file.")
        return ("The checkpoint's frozen disk: read-only since the checkpoint was taken; it "
                "holds the blocks changed between the previous checkpoint and this one.")
    if depth == last:
        return ("The base disk: read-only while checkpoints exist; every AVHDX above reads "
                "through it. Without it, no checkpoint can be read (checkpoints are not backups).")
    return ("An earlier checkpoint's frozen disk: part of this chain, read when the files "
            "above do not hold a block.")


_PARENT_MISSING = "its parent is missing"
_PARENT_CHANGED = "its parent no longer matches"


def _chain_of(path: Path) -> tuple[list[Path], int | None, str | None]:
    """The chain from `path` to its base, the virtual size, and a problem if it breaks."""
    try:
        with open_disk(path) as disk:
            return list(disk.chain), disk.size, None
    except ParentNotFoundError as exc:
        return [path], None, f"{_PARENT_MISSING}: {exc.problem}"
    except ParentMismatchError as exc:
        return [path], None, f"{_PARENT_CHANGED}: {exc.problem}"
    except VhdxError as exc:
        return [path], None, exc.problem
    except OSError as exc:
        return [path], None, f"cannot read it: {exc.strerror or exc}"


def _disk_files(drives: Iterable[Any], *, now: bool) -> list[FileFacts]:
    out: list[FileFacts] = []
    for drive in drives:
        name = _drive_name(drive)
        if getattr(drive, "pass_through", False):
            out.append(file_facts(
                drive.path,
                "A pass-through disk: not captured by checkpoints (only whether it is attached).",
                kind=PASSTHROUGH, drive=name, depth=0,
            ))
            continue
        chain, virtual, problem = _chain_of(Path(drive.path))
        for depth, file in enumerate(chain):
            out.append(file_facts(
                file, _disk_role(depth, len(chain) - 1, now), virtual_size=virtual,
                drive=name, depth=depth, problem=problem if depth == len(chain) - 1 else None,
            ))
    return out


def checkpoint_files(host: Host, vm: str, snapshot: str | None) -> list[FileFacts]:
    """A checkpoint's files (or Now's, for `snapshot=None`): configuration, saved state, and
    for each virtual disk its chain from the checkpoint's disk down to the base."""
    if snapshot is None:
        machine = host.get_vm(vm)
        files = [file_facts(
            machine.config_path,
            "The VM's configuration now: settings changed while checkpoints exist go here.",
        )]
        for state_path, role in _vm_saved_state(machine.config_path, machine.id):
            files.append(file_facts(state_path, role))
        return files + _disk_files(machine.hard_drives, now=True)
    snap = host.get_snapshot(vm, snapshot)
    files = [file_facts(
        snap.config_path,
        "The checkpoint's configuration: the VM's settings as they were, its parent checkpoint "
        "and its type. A copy; later changes never touch it.",
    )]
    if snap.bin_path is not None:
        files.append(file_facts(
            snap.bin_path, "The guest's memory at the checkpoint, written sparsely: only "
            "touched pages take space. Applying the checkpoint loads it back."))
    if snap.vsv_path is not None:
        files.append(file_facts(
            snap.vsv_path, "Processor and device state at the checkpoint, so applying it "
            "resumes the VM exactly where it was."))
    return files + _disk_files(snap.hard_drives, now=False)


_KIND_ROLES = {
    XML: "A configuration file (Windows Server 2012 R2 format).",
    BIN: "Saved memory of a VM or checkpoint (hvgui's documented BIN format).",
    VSV: "Saved processor and device state (hvgui's documented VSV format).",
    VMCX: "A Server 2016+ VM configuration: recognised, not decoded.",
    VMRS: "A Server 2016+ runtime state file (memory and devices): recognised, not decoded.",
    VMGS: "A Server 2016+ guest state file: recognised, not decoded.",
}


def files_of(path: str | os.PathLike[str]) -> list[FileFacts]:
    """The file list for inspecting one file: the file itself, and for a disk its chain."""
    path = Path(path)
    facts = file_facts(path)
    if facts.kind not in (VHDX, AVHDX):
        return [replace(facts, role=_KIND_ROLES.get(facts.kind, facts.label))]
    chain, virtual, problem = _chain_of(path)
    out = []
    for depth, file in enumerate(chain):
        if len(chain) == 1:
            if problem is None:
                role = "A virtual disk with no parent."
            elif problem.startswith(_PARENT_MISSING):
                role = ("A differencing disk whose parent cannot be found: it holds only the "
                        "blocks written since its parent was frozen, so it cannot be read on "
                        "its own.")
            elif problem.startswith(_PARENT_CHANGED):
                role = ("A differencing disk whose parent was changed after it was made: the "
                        "chain is broken, since the blocks it does not hold would now come from "
                        "different data.")
            else:
                role = "A virtual disk that cannot be opened: the problem is below."
        elif depth == 0:
            role = "The disk inspected: reads fall through to the files below it."
        elif depth == len(chain) - 1:
            role = "The base disk of the chain."
        else:
            role = "A parent in the chain."
        out.append(file_facts(file, role, virtual_size=virtual, depth=depth,
                              problem=problem if depth == len(chain) - 1 else None))
    return out


def _vm_saved_state(config_path: Path, vm_id: str) -> list[tuple[Path, str]]:
    """The VM's own BIN/VSV (`Virtual Machines/<VMID>/`): runtime memory, or saved state."""
    folder = vm_runtime_dir(config_path, vm_id)
    roles = {
        ".bin": "The VM's memory (runtime memory while it runs, saved memory when Saved).",
        ".vsv": "The VM's saved processor and device state (present while it is Saved).",
    }
    if not folder.is_dir():
        return []
    return [(p, roles[p.suffix.lower()]) for p in sorted(folder.iterdir())
            if p.suffix.lower() in roles]
