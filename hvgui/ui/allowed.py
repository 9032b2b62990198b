"""Which actions on a VM the window offers now, and why not: one rule for the main window's
menus and Actions pane and the console's toolbar, in the words the host would refuse with."""

from __future__ import annotations

from hvgui.backend import VM, Snapshot
from hvgui.host import HostError, chain_health
from hvgui.host.chain_health import SOUND, Health
from hvgui.host.states import TRANSITIONS, transition

SETTINGS, CHECKPOINT, REVERT, MOVE, EXPORT, RENAME, DELETE = (
    "Settings", "Checkpoint", "Revert", "Move", "Export", "Rename", "Delete",
)
# Hyper-V Manager deletes a VM that is Off or Saved (Running or Paused: greyed).
_QUIET_STATES = ("Off", "Saved")
_EXPORTABLE = ("Off", "Saved", "Running", "Paused")


def busy_reason(vm: VM, *, busy_here: bool) -> str:
    """Why nothing can start on `vm` now ("" when nothing runs on it)."""
    if busy_here:
        return f"An operation is running on {vm.name}: wait for it to end or cancel it."
    if vm.status:
        # Another process (hvctl) runs an operation: the host would refuse ("VM is busy").
        return f"Another program is working on {vm.name} ({vm.status})."
    return ""


def read_only_reason(host_read_only: str) -> str:
    """Why nothing on the host can change: `Host.read_only`, the reason the host itself
    refuses every change with, in a sentence ("" for a writable host)."""
    if not host_read_only:
        return ""
    return f"This host is read-only ({host_read_only}): it can be looked at, not changed."


def refusals(
    vm: VM, *, busy_here: bool, read_only: str = "", health: Health = SOUND
) -> dict[str, str]:
    """Every VM action -> why it is not offered now; "" when it is. `read_only` is the host's
    `Host.read_only`: on a read-only host nothing is offered. `health`: the verdict on the
    VM's disk chain (a broken one refuses what the host refuses, in its words)."""
    busy = read_only_reason(read_only) or busy_reason(vm, busy_here=busy_here)
    out: dict[str, str] = {}
    for name in TRANSITIONS:
        try:
            transition(vm.name, name, vm.state)
            out[name] = busy
        except HostError as exc:
            out[name] = busy or f"{exc.problem[:1].upper()}{exc.problem[1:]}."
    out[SETTINGS] = out[MOVE] = out[RENAME] = busy
    out[CHECKPOINT] = busy or (
        "Checkpoints are disabled for this virtual machine."
        if vm.checkpoint_type == "Disabled" else ""
    ) or chain_health.refusal(chain_health.CHECKPOINT, vm.name, health)
    out[chain_health.START] = out[chain_health.START] or chain_health.refusal(
        chain_health.START, vm.name, health)
    out[REVERT] = busy or (
        "" if vm.parent_snapshot_id else f"{vm.name} has no checkpoint to revert to."
    )
    # 2012 R2 exports a running VM too (a consistent copy, its memory as a saved state).
    out[EXPORT] = busy or (
        "" if vm.state in _EXPORTABLE else f"{vm.name} is {vm.state}: wait for it to settle."
    )
    out[DELETE] = busy or (
        "" if vm.state in _QUIET_STATES else f"{vm.name} is {vm.state}: turn it off first."
    )
    return out


def apply_refusal(vm: VM, snapshot: Snapshot, *, busy_here: bool, health: Health = SOUND) -> str:
    """Why Apply... is not offered for `snapshot` ("" when it is); `health`: its chain's."""
    return busy_reason(vm, busy_here=busy_here) or chain_health.refusal(
        chain_health.APPLY, snapshot.name, health)
