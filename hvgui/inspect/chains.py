"""A checkpoint's (or Now's) files, and a single file's chain, with a sentence on each."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from hvgui.backend import Capability
from hvgui.errors import HvError
from hvgui.host.layout import vm_runtime_dir
from hvgui.inspect.facts import (
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
from hvgui.vhdx import (
    ChainLink,
    walk_chain,
)
from hvgui.vhdx.walk import MISMATCH, MISSING

if TYPE_CHECKING:
    from hvgui.backend import HostBackend


def _drive_name(drive: Any) -> str:
    return f"{drive.controller_type} {drive.controller_number}:{drive.controller_location}"


def _disk_role(depth: int, base: bool, now: bool) -> str:
    if depth == 0 and base:
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
    if base:
        return ("The base disk: read-only while checkpoints exist; every AVHDX above reads "
                "through it. Without it, no checkpoint can be read (checkpoints are not backups).")
    return ("An earlier checkpoint's frozen disk: part of this chain, read when the files "
            "above do not hold a block.")


def _link_role(link: ChainLink, depth: int, base: bool, now: bool) -> str:
    if link.code == MISSING:
        return ("Missing: the parent the disk above names is not where its locator points. "
                "Every block the disk above does not hold was here: the chain breaks here.")
    if link.code == MISMATCH:
        return (f"{_disk_role(depth, base, now)} The chain breaks here: the disk above was made "
                "on other data.")
    return _disk_role(depth, base, now)


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
        # Every file of the chain that exists, and the break marked where it is.
        links = walk_chain(Path(drive.path))
        virtual = next((link.virtual_size for link in links if link.virtual_size), None)
        for depth, link in enumerate(links):
            base = depth == len(links) - 1 and link.exists and not link.broken
            out.append(file_facts(
                link.path, _link_role(link, depth, base, now), virtual_size=virtual,
                drive=name, depth=depth, problem=link.problem or None,
            ))
    return out


def checkpoint_files(host: HostBackend, vm: str, snapshot: str | None) -> list[FileFacts]:
    """A checkpoint's files (or Now's, for `snapshot=None`): configuration, saved state, and
    for each virtual disk its chain from the checkpoint's disk down to the base."""
    if not host.capabilities.has(Capability.LOCAL_FILES):
        return [_copied(host, path) for path in host.inspect_files(vm, snapshot)]
    if snapshot is None:
        machine = host.get_vm(vm)
        files = [file_facts(
            machine.config_path,
            "The VM's configuration now: settings changed while checkpoints exist go here.",
        )]
        for state_path, role in _vm_saved_state(Path(machine.config_path), machine.id):
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


def _copied(host: HostBackend, path: PurePath) -> FileFacts:
    """A remote host's file, as its local copy (the backend's local_copy: a disk's structures,
    a configuration whole) under the host's file name."""
    try:
        local = host.local_copy(path)
    except HvError as exc:
        # No copy to read: its text stands as the window's key, never opened (exists False).
        return FileFacts(Path(str(path)), MISSING, "", False, problem=exc.problem, origin=path)
    facts = file_facts(local)
    role = _KIND_ROLES.get(facts.kind) or (_REMOTE_DISK if facts.kind in (VHDX, AVHDX)
                                           else facts.label)
    # Its size is the host's; where it lies and when it changed there, the copy cannot say.
    return replace(facts, role=role, size_on_disk=facts.size, modified=None, accessed=None,
                   changed=None, origin=path)


_REMOTE_DISK = ("A virtual disk on the host, read in part: its headers, region tables, "
                "metadata, BAT and log (never its data blocks).")


_KIND_ROLES = {
    XML: "A configuration file (Windows Server 2012 R2 format).",
    BIN: "Saved memory of a VM or checkpoint (hvgui's documented BIN format).",
    VSV: "Saved processor and device state (hvgui's documented VSV format).",
    VMCX: "A Server 2016+ VM configuration: a key-value store, decoded with the optional "
    "extra hvgui[vmcx].",
    VMRS: "A Server 2016+ runtime state file (memory and devices): a key-value store, decoded "
    "with the optional extra hvgui[vmcx].",
    VMGS: "A Server 2016+ guest state file: recognised, not decoded.",
}


def files_of(path: str | os.PathLike[str]) -> list[FileFacts]:
    """The file list for inspecting one file: the file itself, and for a disk its chain."""
    path = Path(path)
    facts = file_facts(path)
    if facts.kind not in (VHDX, AVHDX):
        return [replace(facts, role=_KIND_ROLES.get(facts.kind, facts.label))]
    links = walk_chain(path)
    virtual = next((link.virtual_size for link in links if link.virtual_size), None)
    out = []
    for depth, link in enumerate(links):
        if link.code == MISSING:
            role = ("Missing: the parent the disk above names is not where its locator points; "
                    "the disk above holds only the blocks written since its parent was frozen, "
                    "so it cannot be read without it.")
        elif link.code == MISMATCH:
            role = ("A parent changed after the disk above was made (or another disk where "
                    "the locator points): the chain is broken here.")
        elif depth == 0:
            below = links[1].code if len(links) > 1 else ""
            if below == MISSING:
                role = ("A differencing disk whose parent cannot be found: it holds only the "
                        "blocks written since its parent was frozen, so it cannot be read on "
                        "its own.")
            elif below == MISMATCH:
                role = ("A differencing disk whose parent was changed after it was made: the "
                        "chain is broken, since the blocks it does not hold would now come "
                        "from different data.")
            elif len(links) == 1:
                role = ("A virtual disk with no parent." if not link.broken
                        else "A virtual disk that cannot be opened: the problem is below.")
            else:
                role = "The disk inspected: reads fall through to the files below it."
        elif depth == len(links) - 1:
            role = "The base disk of the chain."
        else:
            role = "A parent in the chain."
        out.append(file_facts(link.path, role, virtual_size=virtual, depth=depth,
                              problem=link.problem or None))
    return out


_STATE_2016 = {
    ".vmrs": "The VM's runtime state (Server 2016+: memory and device state; little while Off).",
    ".vmgs": "The VM's guest state (Server 2016+: firmware and TPM state).",
}
MAX_SCANNED = 10_000  # entries of a configuration folder looked at


def _beside_vmcx(config_path: Path, vm_id: str) -> list[tuple[Path, str]]:
    """A Server 2016+ VM's runtime and guest state files beside its configuration, named by
    its Id (any case, as copied off Windows)."""
    wanted = {(vm_id + suffix).casefold(): role for suffix, role in _STATE_2016.items()}
    try:
        with os.scandir(config_path.parent) as entries:
            return sorted((Path(e.path), wanted[e.name.casefold()])
                          for e in itertools.islice(entries, MAX_SCANNED)
                          if e.name.casefold() in wanted and e.is_file())
    except OSError:
        return []


def _vm_saved_state(config_path: Path, vm_id: str) -> list[tuple[Path, str]]:
    """The VM's own BIN/VSV (`Virtual Machines/<VMID>/`): runtime memory, or saved state; a
    Server 2016+ VM's VMRS/VMGS beside its configuration."""
    folder = vm_runtime_dir(config_path, vm_id)
    roles = {
        ".bin": "The VM's memory (runtime memory while it runs, saved memory when Saved).",
        ".vsv": "The VM's saved processor and device state (present while it is Saved).",
    }
    found = _beside_vmcx(config_path, vm_id)
    if not folder.is_dir():
        return found
    return found + [(p, roles[p.suffix.lower()]) for p in sorted(folder.iterdir())
                    if p.suffix.lower() in roles]
