"""Which actions on a VM the window offers now, and why not: one rule for the main window's
menus and Actions pane and the console's toolbar, in the words the host would refuse with."""

from __future__ import annotations

from hvgui.backend import SOUND, VM, Health, Snapshot
from hvgui.backend.actions import APPLY, allowed_actions, broken_chain_refusal, changes_host
from hvgui.backend.states import VMAction
from hvgui.ui.formatting import sentence


def busy_reason(vm: VM, *, busy_here: bool) -> str:
    """Why nothing can start on `vm` now ("" when nothing runs on it)."""
    if busy_here:
        return f"An operation is running on {vm.name}: wait for it to end or cancel it."
    if vm.status:
        # Another process (hvctl) runs an operation: the host would refuse ("VM is busy").
        return f"Another program is working on {vm.name} ({vm.status})."
    return ""


def read_only_reason(host_read_only: str) -> str:
    """Why nothing on the host can change: `HostBackend.read_only`, the reason the host itself
    refuses every change with, in a sentence ("" for a writable host)."""
    if not host_read_only:
        return ""
    return f"This host is read-only ({host_read_only}): it can be looked at, not changed."


def refusals(
    vm: VM, *, busy_here: bool, read_only: str = "", health: Health = SOUND,
    revert_health: Health = SOUND,
) -> dict[str, str]:
    """Every VM action -> why it is not offered now; "" when it is. `read_only` is the host's
    `HostBackend.read_only`: on a read-only host nothing is offered (what the VM's state allows
    says the host is read-only; the rest says what its state refuses). `health`: the verdict on the
    VM's disk chain (a broken one refuses what the host refuses, in its words);
    `revert_health`: that of the checkpoint Revert applies (the VM's parent checkpoint)."""
    busy = busy_reason(vm, busy_here=busy_here)
    # A read-only host greys what the VM's state would allow; what the state or a broken chain
    # refuses anyway (Start of a running VM) keeps that reason, so a menu does not list it as
    # if only the read-only folder stood in its way.
    ro = read_only_reason(read_only)
    out: dict[str, str] = {}
    for action, problem in allowed_actions(vm).items():
        refused = sentence(problem) or broken_chain_refusal(action, vm.name, health)
        if action == VMAction.REVERT and not refused:  # Revert applies the parent checkpoint
            refused = broken_chain_refusal(APPLY, vm.parent_snapshot_name or "", revert_health)
        # Settings... opens read-only there, Export copies out: looking is what it is for.
        out[action] = (ro if not refused and changes_host(action) else "") or busy or refused
    return out


def apply_refusal(vm: VM, snapshot: Snapshot, *, busy_here: bool, health: Health = SOUND) -> str:
    """Why Apply... is not offered for `snapshot` ("" when it is); `health`: its chain's."""
    return busy_reason(vm, busy_here=busy_here) or broken_chain_refusal(
        APPLY, snapshot.name, health)
