"""VM states and the transitions between them, as Hyper-V names them.

Stable states are stored in the configuration; the transient ones (Starting, Saving, ...) are
what another process sees while an operation runs. An illegal transition is refused with the
reason, in the words Hyper-V Manager would use.
"""

from __future__ import annotations

from hvgui.host.errors import InvalidStateError

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

STABLE_STATES = (OFF, RUNNING, PAUSED, PAUSED_CRITICAL, SAVED)
ALL_STATES = (
    OFF, STARTING, RUNNING, PAUSING, PAUSED, PAUSED_CRITICAL, RESUMING, SAVING, SAVED, STOPPING
)
LIVE_STATES = (RUNNING, PAUSED, PAUSED_CRITICAL)  # memory is in use

START = "Start"
TURN_OFF = "Turn Off"
SHUT_DOWN = "Shut Down"
SAVE = "Save"
PAUSE = "Pause"
RESUME = "Resume"
RESET = "Reset"  # Restart-VM -Force: the guest restarts, its memory is lost
DELETE_SAVED_STATE = "Delete Saved State"  # Remove-VMSavedState: a Saved VM becomes Off

# action -> (states it is allowed from, transient state while it runs, resulting state)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    START: ((OFF, SAVED), STARTING, RUNNING),
    TURN_OFF: ((RUNNING, PAUSED, PAUSED_CRITICAL, SAVED), STOPPING, OFF),
    SHUT_DOWN: ((RUNNING,), STOPPING, OFF),
    SAVE: ((RUNNING, PAUSED, PAUSED_CRITICAL), SAVING, SAVED),
    PAUSE: ((RUNNING,), PAUSING, PAUSED),
    RESUME: ((PAUSED, PAUSED_CRITICAL), RESUMING, RUNNING),  # Paused-Critical: needs space
    RESET: ((RUNNING, PAUSED, PAUSED_CRITICAL), STARTING, RUNNING),
    DELETE_SAVED_STATE: ((SAVED,), STOPPING, OFF),
}

_WHY = {
    (START, RUNNING): "it is already running",
    (RESET, OFF): "it is off: start it instead",
    (RESET, SAVED): "it is saved: start it instead",
    (DELETE_SAVED_STATE, OFF): "it has no saved state",
    (DELETE_SAVED_STATE, RUNNING): "it is running: it has no saved state",
    (DELETE_SAVED_STATE, PAUSED): "it is paused: it has no saved state",
    (START, PAUSED): "it is paused: resume it instead",
    (START, PAUSED_CRITICAL): "it is paused (its disk is full): free space and resume it",
    (SHUT_DOWN, PAUSED_CRITICAL): "a paused guest cannot shut itself down: resume it or turn "
    "it off",
    (PAUSE, PAUSED_CRITICAL): "it is already paused (its disk is full)",
    (TURN_OFF, OFF): "it is already off",
    (SHUT_DOWN, OFF): "it is already off",
    (SHUT_DOWN, PAUSED): "a paused guest cannot shut itself down: resume it or turn it off",
    (SHUT_DOWN, SAVED): "a saved guest cannot shut itself down: start it or turn it off",
    (SAVE, OFF): "it is off: there is no state to save",
    (SAVE, SAVED): "it is already saved",
    (PAUSE, OFF): "it is not running",
    (PAUSE, SAVED): "it is saved, not running",
    (PAUSE, PAUSED): "it is already paused",
    (RESUME, OFF): "it is not paused",
    (RESUME, RUNNING): "it is not paused",
    (RESUME, SAVED): "it is saved: start it instead",
}


def require_guest_running(vm_name: str, state: str, what: str) -> None:
    """The one rule for guest I/O (disk files, memory, notes): only a Running guest writes."""
    if state != RUNNING:
        raise InvalidStateError(vm_name, f"cannot {what}: the VM is {state}, not running")


def transition(vm_name: str, action: str, state: str) -> tuple[str, str]:
    """(transient state, resulting state) for `action` from `state`, or InvalidStateError."""
    allowed, transient, result = TRANSITIONS[action]
    if state not in allowed:
        why = _WHY.get((action, state), f"it is {state}")
        raise InvalidStateError(vm_name, f"cannot {action.lower()} the VM: {why}")
    return transient, result
