"""VM states, checkpoint types and VM actions as Hyper-V names them, and which state allows
which state change: every backend refuses, and the UI greys out, by these.

The enums are `str` valued: a VM's `state` or `checkpoint_type` compares, prints and serializes
(hvctl's JSON) exactly as the Hyper-V name it stands for.
"""

from __future__ import annotations

from enum import StrEnum


class VMState(StrEnum):
    """Stable states are stored in a VM's configuration; the transient ones (Starting, Saving,
    ...) are what another process sees while an operation runs."""

    OFF = "Off"
    STARTING = "Starting"
    RUNNING = "Running"
    PAUSING = "Pausing"
    PAUSED = "Paused"
    RESUMING = "Resuming"
    SAVING = "Saving"
    SAVED = "Saved"
    STOPPING = "Stopping"
    # Hyper-V pauses a VM whose disk cannot grow (its volume is full); it resumes once there is
    # space again. The guest sees no error: its write waits, and is retried after Resume.
    PAUSED_CRITICAL = "Paused-Critical"


STABLE_STATES = (
    VMState.OFF, VMState.RUNNING, VMState.PAUSED, VMState.PAUSED_CRITICAL, VMState.SAVED
)
LIVE_STATES = (VMState.RUNNING, VMState.PAUSED, VMState.PAUSED_CRITICAL)  # memory is in use
MEMORY_STATES = (*LIVE_STATES, VMState.SAVED)  # the VM has guest memory (a BIN)


class CheckpointType(StrEnum):
    """Set-VM -CheckpointType; a checkpoint's own SnapshotType is Standard or Production."""

    STANDARD = "Standard"
    PRODUCTION = "Production"
    PRODUCTION_ONLY = "ProductionOnly"
    DISABLED = "Disabled"


# Plain strings, for argparse's choices and combo boxes (an enum's repr is not a user's word).
CHECKPOINT_TYPES = tuple(t.value for t in CheckpointType)


class VMAction(StrEnum):
    """What a user can do to a VM, by the names Hyper-V Manager's menus use."""

    START = "Start"
    TURN_OFF = "Turn Off"
    SHUT_DOWN = "Shut Down"
    SAVE = "Save"
    PAUSE = "Pause"
    RESUME = "Resume"
    RESET = "Reset"  # Restart-VM -Force: the guest restarts, its memory is lost
    DELETE_SAVED_STATE = "Delete Saved State"  # Remove-VMSavedState: a Saved VM becomes Off
    SETTINGS = "Settings"
    CHECKPOINT = "Checkpoint"
    REVERT = "Revert"
    MOVE = "Move"
    EXPORT = "Export"
    RENAME = "Rename"
    DELETE = "Delete"


_S, _A = VMState, VMAction
# state change -> (states it is allowed from, transient state while it runs, resulting state)
TRANSITIONS: dict[VMAction, tuple[tuple[VMState, ...], VMState, VMState]] = {
    _A.START: ((_S.OFF, _S.SAVED), _S.STARTING, _S.RUNNING),
    _A.TURN_OFF: ((_S.RUNNING, _S.PAUSED, _S.PAUSED_CRITICAL, _S.SAVED), _S.STOPPING, _S.OFF),
    _A.SHUT_DOWN: ((_S.RUNNING,), _S.STOPPING, _S.OFF),
    _A.SAVE: ((_S.RUNNING, _S.PAUSED, _S.PAUSED_CRITICAL), _S.SAVING, _S.SAVED),
    _A.PAUSE: ((_S.RUNNING,), _S.PAUSING, _S.PAUSED),
    _A.RESUME: ((_S.PAUSED, _S.PAUSED_CRITICAL), _S.RESUMING, _S.RUNNING),  # needs space
    _A.RESET: ((_S.RUNNING, _S.PAUSED, _S.PAUSED_CRITICAL), _S.STARTING, _S.RUNNING),
    _A.DELETE_SAVED_STATE: ((_S.SAVED,), _S.STOPPING, _S.OFF),
}

_WHY: dict[tuple[VMAction, str], str] = {
    (_A.START, _S.RUNNING): "it is already running",
    (_A.RESET, _S.OFF): "it is off: start it instead",
    (_A.RESET, _S.SAVED): "it is saved: start it instead",
    (_A.DELETE_SAVED_STATE, _S.OFF): "it has no saved state",
    (_A.DELETE_SAVED_STATE, _S.RUNNING): "it is running: it has no saved state",
    (_A.DELETE_SAVED_STATE, _S.PAUSED): "it is paused: it has no saved state",
    (_A.START, _S.PAUSED): "it is paused: resume it instead",
    (_A.START, _S.PAUSED_CRITICAL): "it is paused (its disk is full): free space and resume it",
    (_A.SHUT_DOWN, _S.PAUSED_CRITICAL): "a paused guest cannot shut itself down: resume it or "
    "turn it off",
    (_A.PAUSE, _S.PAUSED_CRITICAL): "it is already paused (its disk is full)",
    (_A.TURN_OFF, _S.OFF): "it is already off",
    (_A.SHUT_DOWN, _S.OFF): "it is already off",
    (_A.SHUT_DOWN, _S.PAUSED): "a paused guest cannot shut itself down: resume it or turn it off",
    (_A.SHUT_DOWN, _S.SAVED): "a saved guest cannot shut itself down: start it or turn it off",
    (_A.SAVE, _S.OFF): "it is off: there is no state to save",
    (_A.SAVE, _S.SAVED): "it is already saved",
    (_A.PAUSE, _S.OFF): "it is not running",
    (_A.PAUSE, _S.SAVED): "it is saved, not running",
    (_A.PAUSE, _S.PAUSED): "it is already paused",
    (_A.RESUME, _S.OFF): "it is not paused",
    (_A.RESUME, _S.RUNNING): "it is not paused",
    (_A.RESUME, _S.SAVED): "it is saved: start it instead",
}


def transition_problem(action: VMAction, state: str) -> str:
    """Why the state change `action` is refused from `state` ("" when it is allowed)."""
    if state in TRANSITIONS[action][0]:
        return ""
    return f"cannot {action.lower()} the VM: {_WHY.get((action, state), f'it is {state}')}"


def guest_problem(state: str, what: str) -> str:
    """The one rule for guest I/O (disk files, memory, notes): only a Running guest writes."""
    if state == VMState.RUNNING:
        return ""
    return f"cannot {what}: the VM is {state}, not running"
