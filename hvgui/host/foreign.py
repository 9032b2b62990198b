"""A folder from a real Hyper-V host: copied off one, or made by Export-VM (2012 R2 layout:
`Virtual Machines\\<GUID>.xml`, `Snapshots\\`, `Virtual Hard Disks\\`; 2016+: `<GUID>.vmcx`).

It opens read-only: its VMs, checkpoint trees, files and inspector views are shown as they are,
and nothing is written, not even our `.hvgui` folder. The user may adopt it as a lab host;
adopting is remembered in the user's settings (never in the folder), so it copies nothing and
changes nothing in the folder until the first operation, which makes `.hvgui` as on any host.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hvgui.host.boundary import real, settings_dir
from hvgui.host.errors import HostError
from hvgui.host.fileio import atomic_write, parse_json, read_bounded
from hvgui.host.layout import VIRTUAL_MACHINES
from hvgui.host.xmlconfig import is_vmcx

ADOPTED_FILE = "adopted-folders.json"
MAX_SETTINGS_BYTES = 1 << 20
ADOPT_COMMAND = "hvctl adopt-host"
NOT_ADOPTED = (
    "a folder from a Hyper-V host, not a lab host: adopt it to change it "
    f"({ADOPT_COMMAND}, or Adopt as Lab Host in the window); adopting copies nothing"
)


VMCX_FOLDER = (
    "a folder from a Windows Server 2016+ host: hvgui reads its VMCX configurations, "
    "never changes them"
)


def holds_vmcx(root: Path, at_most: int = 10_000) -> bool:
    """Whether the folder's `Virtual Machines` holds a Windows Server 2016+ configuration."""
    try:
        with os.scandir(root / VIRTUAL_MACHINES) as entries:
            for n, entry in enumerate(entries):
                if n >= at_most:
                    break
                if is_vmcx(Path(entry.name)):
                    return True
    except OSError:
        return False
    return False


def is_foreign(root: Path) -> bool:
    """A host folder that hvgui never worked in: `Virtual Machines` and no `.hvgui`."""
    return (root / VIRTUAL_MACHINES).is_dir() and not os.path.lexists(root / ".hvgui")


def exported_vms(folder: Path, at_most: int = 1000) -> list[str]:
    """The VM folders in a folder Export-VM wrote to (each with `Virtual Machines`)."""
    out = []
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= at_most:
                    break
                if entry.is_dir() and (Path(entry.path) / VIRTUAL_MACHINES).is_dir():
                    out.append(entry.name)
    except OSError:
        return []
    return sorted(out)


def _read() -> list[str]:
    path = settings_dir() / ADOPTED_FILE
    try:
        data = parse_json(read_bounded(path, MAX_SETTINGS_BYTES))
    except FileNotFoundError:
        return []
    except (OSError, ValueError, HostError) as exc:
        raise HostError(path, f"cannot read the adopted folders: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(f, str) for f in data):
        raise HostError(path, "not a list of adopted folders")
    return data


def adopted(root: Path) -> bool:
    return str(real(root)) in _read()


def adopt(root: Path) -> None:
    """Let the lab host change this folder from now on (nothing in it is touched now)."""
    if not (root / VIRTUAL_MACHINES).is_dir():
        raise HostError(root, f"not a Hyper-V folder (no '{VIRTUAL_MACHINES}' folder)")
    if holds_vmcx(root):
        raise HostError(root, f"cannot be adopted: {VMCX_FOLDER}")
    folders = _read()
    key = str(real(root))
    if key not in folders:
        path = settings_dir() / ADOPTED_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps([*folders, key], indent=1).encode())
