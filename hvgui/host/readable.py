"""Lab files as a person reads them: paths relative to the lab, GUIDs replaced by the names of
the VMs and checkpoints they stand for, and each disk said to be whose."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from hvgui.host.errors import HostError
from hvgui.host.fileio import norm

if TYPE_CHECKING:
    from hvgui.host.host import Host

# Not \b: a disk is named "Web01_<GUID>.avhdx", and "_" counts as a word character.
GUID = re.compile(
    r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])"
)


class LabNames:
    """The names of a lab's VMs, checkpoints and disks, read once (a few small XML files)."""

    def __init__(self, host: Host) -> None:
        self.root = host.root
        self.ids: dict[str, str] = {}  # VM or checkpoint GUID (upper case) -> its name
        self.disks: dict[Path, str] = {}  # disk file -> whose it is
        for vm in host.list_vms(errors=[]):
            self.ids[vm.id.upper()] = vm.name
            try:
                snapshots = host.list_snapshots(vm.id)
            except HostError:
                snapshots = []
            for snap in snapshots:
                self.ids[snap.id.upper()] = snap.name
                for drive in snap.hard_drives:
                    self.disks.setdefault(norm(drive.path), f"frozen by '{snap.name}'")
            for drive in vm.hard_drives:
                whose = "pass-through disk" if drive.pass_through else "running disk, Now"
                self.disks[norm(drive.path)] = f"{vm.name}'s {whose}"

    def text(self, text: str) -> str:
        """Free text (a message, a finding): lab paths relative, GUIDs named or shortened."""
        root = f"{os.fspath(self.root).rstrip(os.sep)}{os.sep}"
        return GUID.sub(self._guid, text.replace(root, ""))

    def path(self, path: str | os.PathLike[str]) -> str:
        """A lab file: its lab-relative path, GUIDs named, and for a disk whose it is."""
        if norm(path) == norm(self.root):
            return "the lab folder"
        shown = self.text(os.fspath(path))
        whose = self.disks.get(norm(path))
        return f"{shown} ({whose})" if whose else shown

    def findable(self, path: str | os.PathLike[str]) -> str:
        """A lab file by its whole lab-relative name (to open, list or inspect it), followed by
        whose it is (a disk's owner, or the VM or checkpoint a GUID in its name stands for) and
        whether it is missing now; a stat: not for the GUI thread."""
        root = f"{os.fspath(self.root).rstrip(os.sep)}{os.sep}"
        shown = os.fspath(path).replace(root, "", 1)
        notes = [self.disks.get(norm(path)) or ", ".join(
            f"‹{self.ids[g.upper()]}›" for g in dict.fromkeys(GUID.findall(shown))
            if g.upper() in self.ids)]
        if not Path(path).exists():  # a lesson may delete what it shows (not-a-backup)
            notes.append("missing now")
        whose = ", ".join(n for n in notes if n)
        return f"{shown} ({whose})" if whose else shown

    def _guid(self, match: re.Match[str]) -> str:
        name = self.ids.get(match.group(0).upper())
        # A disk's GUID is random (no VM or checkpoint has it): its first group is enough.
        return f"‹{name}›" if name is not None else f"{match.group(0)[:8]}…"
