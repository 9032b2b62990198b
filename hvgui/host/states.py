"""The host's refusals by VM state: the rules are `hvgui.backend.states` and
`hvgui.backend.actions` (shared with the UI's greying); here they raise, naming the VM."""

from __future__ import annotations

from hvgui.backend.actions import action_problem
from hvgui.backend.states import (
    LIVE_STATES,
    MEMORY_STATES,
    STABLE_STATES,
    TRANSITIONS,
    VMAction,
    VMState,
    guest_problem,
    transition_problem,
)
from hvgui.host.errors import InvalidStateError

__all__ = ["LIVE_STATES", "MEMORY_STATES", "STABLE_STATES", "TRANSITIONS"]

# Short names for the host's operations (the values are the enums').
OFF, STARTING, RUNNING, PAUSING, PAUSED, RESUMING, SAVING, SAVED, STOPPING = (
    VMState.OFF, VMState.STARTING, VMState.RUNNING, VMState.PAUSING, VMState.PAUSED,
    VMState.RESUMING, VMState.SAVING, VMState.SAVED, VMState.STOPPING,
)
PAUSED_CRITICAL = VMState.PAUSED_CRITICAL
START, TURN_OFF, SHUT_DOWN, SAVE, PAUSE, RESUME, RESET, DELETE_SAVED_STATE = (
    VMAction.START, VMAction.TURN_OFF, VMAction.SHUT_DOWN, VMAction.SAVE, VMAction.PAUSE,
    VMAction.RESUME, VMAction.RESET, VMAction.DELETE_SAVED_STATE,
)
CHECKPOINT, REVERT, EXPORT, DELETE = (
    VMAction.CHECKPOINT, VMAction.REVERT, VMAction.EXPORT, VMAction.DELETE
)


def require_guest_running(vm_name: str, state: str, what: str) -> None:
    """The one rule for guest I/O (disk files, memory, notes): only a Running guest writes."""
    problem = guest_problem(state, what)
    if problem:
        raise InvalidStateError(vm_name, problem)


def transition(vm_name: str, action: VMAction, state: str) -> tuple[VMState, VMState]:
    """(transient state, resulting state) for `action` from `state`, or InvalidStateError."""
    problem = transition_problem(action, state)
    if problem:
        raise InvalidStateError(vm_name, problem)
    _, transient, result = TRANSITIONS[action]
    return transient, result


def require_allowed(
    vm_name: str, action: VMAction, *, state: str, checkpoint_type: str = "",
    has_checkpoint: bool = True,
) -> None:
    """InvalidStateError when the VM's state or settings refuse `action` (as the UI greys)."""
    problem = action_problem(
        action, state=state, checkpoint_type=checkpoint_type, has_checkpoint=has_checkpoint
    )
    if problem:
        raise InvalidStateError(vm_name, problem)
