"""Which actions a VM's own state and settings allow, and why not: the one rule behind the
host's refusals and the window's greyed menus (which add what only they know: an operation
running, a read-only host, a broken disk chain)."""

from __future__ import annotations

from hvgui.backend.model import VM, Health
from hvgui.backend.states import (
    STABLE_STATES,
    TRANSITIONS,
    CheckpointType,
    VMAction,
    VMState,
    transition_problem,
)

# Hyper-V Manager deletes a VM that is Off or Saved (Running or Paused: greyed).
_DELETABLE = (VMState.OFF, VMState.SAVED)


def action_problem(
    action: VMAction, *, state: str, checkpoint_type: str = "", has_checkpoint: bool = True
) -> str:
    """Why `action` is refused for a VM in `state` with these settings ("" when allowed), in
    the words of an error's problem ("cannot start the VM: it is already running")."""
    if action in TRANSITIONS:
        return transition_problem(action, state)
    if action == VMAction.CHECKPOINT and checkpoint_type == CheckpointType.DISABLED:
        return "checkpoints are disabled for this VM (CheckpointType Disabled)"
    if action == VMAction.REVERT and not has_checkpoint:
        return "the VM has no checkpoint to revert to"
    # 2012 R2 exports a running VM too (a consistent copy, its memory as a saved state).
    if action == VMAction.EXPORT and state not in STABLE_STATES:
        return f"cannot export the VM while it is {state}: wait for it to settle"
    if action == VMAction.DELETE and state not in _DELETABLE:
        return f"cannot delete the VM while it is {state}: turn it off or save it first"
    return ""


# What changes nothing on the host: Settings... looks, Export reads the VM (or checkpoint) and
# writes only to the destination the user names, outside the host. A read-only host (a folder
# copied off a real one, a read-only mount) still allows them, as Export-VM of a VM one can
# only read: everything else would change the host, and is refused with the host's reason.
_LOOKS_ONLY = (VMAction.SETTINGS, VMAction.EXPORT)


def changes_host(action: str) -> bool:
    """Whether `action` (a VMAction, or "Apply") changes the host: a read-only one refuses it."""
    return action not in _LOOKS_ONLY


# What a broken disk chain forbids: Hyper-V refuses to checkpoint or start a VM whose chain
# is broken, and to apply a checkpoint whose own chain is.
CHECKPOINT, START, APPLY = VMAction.CHECKPOINT, VMAction.START, "Apply"
_REFUSED_ON_A_BROKEN_CHAIN = (CHECKPOINT, START, APPLY)


def broken_chain_refusal(action: str, subject: str, health: Health) -> str:
    """Why `action` is refused on a broken chain, as a sentence ("" when it is not)."""
    if not health.broken or action not in _REFUSED_ON_A_BROKEN_CHAIN:
        return ""
    what = {APPLY: f"apply checkpoint '{subject}'"}.get(action, f"{action.lower()} {subject}")
    return f"Cannot {what}: its disk chain is broken. {health.text}"


def allowed_actions(vm: VM) -> dict[VMAction, str]:
    """Every VM action -> why `vm`'s state and settings refuse it ("" when allowed)."""
    return {
        action: action_problem(
            action,
            state=vm.state,
            checkpoint_type=vm.checkpoint_type,
            has_checkpoint=vm.parent_snapshot_id is not None,
        )
        for action in VMAction
    }
