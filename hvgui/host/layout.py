"""Where a host keeps its files: Hyper-V 2012 R2's layout plus a small `.hvgui` folder of ours.

```
<root>/Virtual Machines/<VMID>.xml         configuration of a VM stored at the host's default place
<root>/Virtual Machines/<VMID>.location    or: the path of a VM's configuration stored elsewhere
<root>/Virtual Hard Disks/                 default disk folder
<root>/Snapshots/                          default checkpoint file location
<root>/events.jsonl                        the disk event log
<root>/.hvgui/host.lock                    the inter-process lock (portable.lock)
<root>/.hvgui/journal/<op>.json            interrupted-operation journal
<root>/.hvgui/status/<VMID>.json           an operation in progress (seen by other processes)
<root>/.hvgui/revision                     rewritten on every change (a cheap revision stamp)
<root>/.hvgui/reserve                      64 KiB given up to record Paused-Critical on a full disk
```
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

from hvgui import durable
from hvgui.host.errors import HostError
from hvgui.host.fileio import read_bounded

VIRTUAL_MACHINES = "Virtual Machines"
VIRTUAL_HARD_DISKS = "Virtual Hard Disks"
SNAPSHOTS = "Snapshots"
VMCX_SUFFIX = ".vmcx"  # Windows Server 2016+: the binary key store, read-only here
MAX_SCAN = 10_000  # entries of a folder looked at when a name is matched ignoring case

_GUID_SUFFIX = re.compile(
    r"_[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
)


# What a folder named as a lab host is: only an explicit "new host" turns MISSING or EMPTY into
# a host (a mistyped --host must not make one), and never OTHER (someone's files).
MISSING, EMPTY, HOST, OTHER, NOT_A_FOLDER = "missing", "empty", "host", "other", "not a folder"
FOLDER_PROBLEMS = {
    MISSING: "no such folder (nothing was created)",
    EMPTY: "an empty folder, not a lab host",
    OTHER: f"not a lab host (no '{VIRTUAL_MACHINES}' folder)",
    NOT_A_FOLDER: "not a folder",
}


def folder_kind(path: Path) -> str:
    """MISSING, EMPTY, HOST, OTHER (a folder of other files) or NOT_A_FOLDER."""
    if not os.path.lexists(path):
        return MISSING
    if not path.is_dir():
        return NOT_A_FOLDER
    if (path / VIRTUAL_MACHINES).is_dir():
        return HOST
    with os.scandir(path) as entries:
        return OTHER if any(True for _ in entries) else EMPTY


def default_host_dir() -> Path:
    """`HVGUI_HOST` if set, else the platform's user data folder for hvgui + `host`."""
    env = os.environ.get("HVGUI_HOST")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("hvgui")) / "host"


class Layout:
    """Paths inside one host directory and inside a VM's data root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = root / ".hvgui"
        self.lock_file = self.meta / "host.lock"
        self.journal_dir = self.meta / "journal"
        self.status_dir = self.meta / "status"
        self.revision_file = self.meta / "revision"
        # Room kept for recording Paused-Critical when a guest write fills the file system.
        self.reserve_file = self.meta / "reserve"
        self.events_file = root / "events.jsonl"
        self.vm_registry = root / VIRTUAL_MACHINES

    def create(self) -> None:
        for folder in (
            self.root / VIRTUAL_MACHINES,
            self.root / VIRTUAL_HARD_DISKS,
            self.root / SNAPSHOTS,
            self.journal_dir,
            self.status_dir,
        ):
            durable.make_folders(folder)

    def status_file(self, vm_id: str) -> Path:
        return self.status_dir / f"{vm_id}.json"

    def pointer_file(self, vm_id: str) -> Path:
        return self.vm_registry / f"{vm_id}.location"

    def local_config(self, vm_id: str) -> Path:
        return self.vm_registry / f"{vm_id}.xml"


def read_pointer(pointer: Path) -> Path | None:
    """Where a `<VMID>.location` file says the VM's configuration is; None when the file is
    unreadable or is not one path (the host check reports it as damaged).

    The file is input like any other: at most 4 KiB is read, and a relative path is taken
    from the registry folder, never from whatever the current folder happens to be."""
    try:
        text = read_bounded(pointer, 4096).decode("utf-8").strip()
    except (OSError, HostError, UnicodeDecodeError):
        return None
    if not text or len(text) > 4096 or any(ord(ch) < 32 for ch in text):
        return None
    target = Path(text)
    return target if target.is_absolute() else pointer.parent / target


def vm_config_path(data_root: Path, vm_id: str) -> Path:
    """The VM's configuration below its data root: `<id>.xml`, or a 2016+ host's `<id>.vmcx`
    (`config_file`)."""
    return config_file(data_root / VIRTUAL_MACHINES, vm_id)


def vm_runtime_dir(config_path: Path, vm_id: str) -> Path:
    """`Virtual Machines/<VMID>/` beside the configuration: the saved-state BIN and VSV."""
    return config_path.parent / vm_id


def config_file(folder: Path, config_id: str) -> Path:
    """`<id>.xml` in `folder`, or the `<id>.vmcx` a Windows Server 2016+ host wrote when there is
    one and no XML (what hvgui writes is always XML). Names compare as on Windows, ignoring case
    (`.XML`, `.Vmcx`: a copy keeps whatever case the host or the copying tool gave them)."""
    found = child_any_case(folder, f"{config_id}.xml") or child_any_case(
        folder, f"{config_id}{VMCX_SUFFIX}")
    return found if found is not None else folder / f"{config_id}.xml"


def child_any_case(folder: Path, name: str, at_most: int = MAX_SCAN) -> Path | None:
    """`folder/name`, or the entry whose name matches but for case (Windows names ignore case,
    a copy on another file system keeps theirs); None when neither. At most `at_most` entries
    are looked at."""
    exact = folder / name
    if os.path.lexists(exact):
        return exact
    wanted = name.casefold()
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= at_most:
                    break
                if entry.name.casefold() == wanted:
                    return folder / entry.name
    except OSError:
        pass
    return None


def snapshot_config_path(snapshot_root: Path, snap_id: str) -> Path:
    """The checkpoint's configuration: `<id>.xml`, or a 2016+ host's `<id>.vmcx`."""
    return config_file(snapshot_root / SNAPSHOTS, snap_id)


def snapshot_state_dir(snapshot_root: Path, snap_id: str) -> Path:
    return snapshot_root / SNAPSHOTS / snap_id


def base_stem(disk: Path) -> str:
    """The base disk's name inside a checkpoint disk's name: `web01_<GUID>` -> `web01`.

    Hyper-V names every AVHDX after the chain's base disk, so names never grow with depth.
    """
    stem = disk.stem
    while _GUID_SUFFIX.search(stem):
        stem = _GUID_SUFFIX.sub("", stem)
    return stem


def avhdx_name(parent: Path, guid: str) -> Path:
    """`<base stem>_<GUID>.avhdx`, always beside its parent (`.avhd` below a legacy VHD)."""
    suffix = ".avhd" if parent.suffix.lower() in (".vhd", ".avhd") else ".avhdx"
    return parent.parent / f"{base_stem(parent)}_{guid}{suffix}"
