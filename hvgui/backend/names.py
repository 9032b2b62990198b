"""The rule for names users type (VMs, checkpoints, virtual SANs): one for every backend's
refusal and the window's check before it asks a host."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hvgui.backend.errors import HostError, NotFoundError

if TYPE_CHECKING:
    from hvgui.backend.model import Snapshot

MAX_NAME = 100

# Names Windows keeps for devices in every folder, with any extension and in any case.
WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10)]
)


def name_problem(name: str, what: str = "checkpoint") -> str:
    """Why `name` is refused as a `what` name ("" when it is acceptable): 1-100 characters, not
    blank, no control characters, not a Windows device name (a lab host must open on Windows
    too)."""
    if not name or not name.strip():
        return f"a {what} name cannot be blank"
    if len(name) > MAX_NAME:
        return f"a {what} name has at most {MAX_NAME} characters ({len(name)} given)"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"a {what} name cannot contain control characters"
    device = name.strip().split(".")[0].rstrip(" ").upper()
    if device in WINDOWS_DEVICES:
        return (
            f"a {what} name cannot be {device}, a device name on Windows "
            "(CON, PRN, AUX, NUL, COM1-COM9, LPT1-LPT9)"
        )
    return ""


def validate_name(subject: str, name: str, what: str = "checkpoint") -> str:
    """`name`, or HostError naming `subject` when the name rule refuses it."""
    problem = name_problem(name, what)
    if problem:
        raise HostError(subject, problem)
    return name


def find_snapshot(snapshots: Sequence[Snapshot], name_or_id: str, vm: str) -> Snapshot:
    """The checkpoint of `vm` named `name_or_id`: its Id (any case, braces or not) or its exact
    name; NotFoundError when none is, HostError when several share the name."""
    key = name_or_id.strip("{}").upper()
    for snap in snapshots:
        if snap.id == key:
            return snap
    matches = [s for s in snapshots if s.name == name_or_id]
    if not matches:
        raise NotFoundError(name_or_id, f"no checkpoint with this name or Id on VM {vm!r}")
    if len(matches) > 1:
        ids = ", ".join(s.id for s in matches)  # what to give instead, with no other look-up
        raise HostError(name_or_id, f"several checkpoints have this name: use the checkpoint's "
                        f"Id ({ids})")
    return matches[0]
