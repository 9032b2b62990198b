"""One open host as the window sees it: its models, the revision poll and the running operations.

The host changes under the window, so the session polls `revision()` (a few stats) once a second and
re-reads the VMs and the selected VM's checkpoints in the background when it changed; a change
made by `hvctl` in a terminal shows within two seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePath

from PySide6.QtCore import QObject, QTimer, Signal
from shiboken6 import isValid

from hvgui.backend import (
    SOUND,
    VM,
    Capability,
    DiskEvent,
    Health,
    HostBackend,
    HostError,
    OperationResult,
    Snapshot,
)
from hvgui.backend.phases import status_text
from hvgui.progress import Cancelled, CancelToken, Progress
from hvgui.ui import allowed
from hvgui.ui.models import CheckpointTreeModel, VmTableModel
from hvgui.ui.workers import Op, Runner

POLL_MS = 1000
# Events kept for What happened (more than its 200 operations need). Keeping the whole log
# of a big host (tens of thousands of objects) would lengthen every garbage collection.
HISTORY_KEPT = 2000


@dataclass(frozen=True)
class _State:
    revision: str
    vms: list[VM]
    vm_id: str | None
    snapshots: list[Snapshot]
    events: list[DiskEvent] | None  # the whole log, when it grew since the last read
    events_size: int
    problems: list[HostError]  # VM or checkpoint configurations that cannot be read
    tree_problem: HostError | None  # the selected VM's checkpoints cannot be read
    started: int = 0  # which read this is (`HostSession._reads`)


@dataclass(frozen=True)
class _Health:
    """The chains' verdicts: by VM id, and the selected VM's tree items ("now:<vm id>")."""

    vm_id: str | None
    by_vm: dict[str, Health]
    tree: dict[str, Health]
    files: list[PurePath]  # the selected VM's chain files, watched by the poll
    stamp: object
    busy: set[str]  # VMs mid-operation when read: their last verdicts stay
    turn: int  # HostSession._op_turns when the walk began


# A call run for a VM: an operation (an OperationResult) or a guest's own work (the console).
HostCall = Callable[[Progress, CancelToken], object]
# Operations after which the VM runs from the result's checkpoint.
_RUNS_FROM_RESULT = {"Checkpoint", "Apply"}


def _percent_status(fraction: float, phase: str) -> str:
    return status_text(phase, int(fraction * 100))


def _event_key(event: DiskEvent) -> tuple[str, str, str]:
    return (event.time.isoformat(), str(event.path), event.action)


def _read_host(host: HostBackend, vm_id: str | None, *, with_events: bool, started: int,
               events_size: int) -> _State:
    # ---- may run on a pool thread: host calls only ----
    revision = host.revision()
    errors: list[HostError] = []
    vms = host.list_vms(errors=errors)
    problems = list(errors)
    if vm_id is None or not any(vm.id == vm_id for vm in vms):
        first = min(vms, key=lambda v: (v.name.casefold(), v.id), default=None)
        vm_id = first.id if first is not None else None
    snapshots: list[Snapshot] = []
    tree_problem = None
    if vm_id:
        try:
            snapshots = host.list_snapshots(vm_id)
        except HostError as exc:  # a damaged checkpoint: the other VMs still refresh
            problems.append(exc)
            tree_problem = exc
    size = host.events_size()  # the log is re-read only when it grew
    events = host.events() if with_events and size != events_size else None
    return _State(
        revision, vms, vm_id, snapshots, events, size, problems, tree_problem, started
    )


FirstRead = _State  # what first_read hands to HostSession.show_first_read


def first_read(host: HostBackend) -> FirstRead:
    """A host's VMs and its first VM's checkpoints, read on a worker right after it opened
    (without its event log: the VMs show first)."""
    return _read_host(host, None, with_events=False, started=0, events_size=-1)


class HostSession(QObject):
    """Signals:
    refreshed(): the models now show the host as it was at the last read.
    operation_done(str): the label ("Creating Checkpoint") of an operation that succeeded.
    operation_failed(str, object): a label and the exception (already routed to `on_error`).
    busy_changed(): an operation started or ended (actions re-check what they allow).
    cancelled(str): an operation stopped because the user cancelled it.
    new_events(object): DiskEvents another process (hvctl, another window) added to the log.
    history_loaded(): `history` holds the event log as the first background read found it.
    health_changed(): the disk chains' verdicts were re-read (models updated).
    """

    refreshed = Signal()
    operation_done = Signal(str)
    operation_failed = Signal(str, object)
    busy_changed = Signal()
    cancelled = Signal(str)
    new_events = Signal(object)
    history_loaded = Signal()
    health_changed = Signal()

    def __init__(self, host: HostBackend, runner: Runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.runner = runner
        self.vm_model = VmTableModel(self)
        self.checkpoint_model = CheckpointTreeModel(self)
        self.selected_vm_id: str | None = None
        self._picks = 0  # counts the user's VM choices (a read started before one is stale)
        self._revision: str | None = None
        self._reading = False
        self._polling = False  # the revision is being looked at on a pool thread
        self._again = False
        self._busy: dict[str, Op] = {}   # vm id -> the op running on it
        self._reads = 0  # reads started so far
        # `_reads` when an operation's result was last shown: an older read would take it back.
        self._result_shown_at = 0
        # The selected VM's chain files and their stats: a file deleted or edited by hand
        # changes no host revision, but the window must show the broken chain.
        self._watched: tuple[list[PurePath], object] = ([], ())
        self._health_running = False
        # Counts our operations' starts and ends: chains read across one are not shown (the
        # files changed under the walk; the read after the operation walks them again).
        self._op_turns = 0
        self._health_next: tuple[list[VM], str | None, list[Snapshot]] | None = None
        # vm id -> the first read that started after its operation ended: until that read is
        # applied, the Status keeps the operation's last text (an older read still holds the
        # host's status file of mid-operation, which would show the percentage going back).
        self._settling: dict[str, int] = {}
        self.on_error: Callable[[str, BaseException], None] | None = None
        self._stopped = False
        self._events_seen = 0
        self._events_size = -1
        self._own_events: set[tuple[str, str, str]] = set()  # shown from our own results
        self._own_ops: set[tuple[str, str]] = set()  # (vm id, operation) of those results
        self._last_read_error = ""
        self.history: list[DiskEvent] = []  # the end of the event log as last read
        # Configurations that could not be read at the last refresh (each names its file):
        # one damaged VM is named here instead of stopping the whole list from refreshing.
        self.problems: list[HostError] = []
        self.tree_problem: HostError | None = None  # why the checkpoint tree is empty
        # The checkpoints each VM had when last shown: a VM picked again shows them at once,
        # while its tree is read in the background. `tree_pending`: not read yet.
        self._trees: dict[str, list[Snapshot]] = {}
        self.tree_pending = False
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    @property
    def name(self) -> str:
        return self.host.display_name

    @property
    def history_read(self) -> bool:
        """The first background read has taken the event log: what is logged from now on is
        news (another program's operation), not history."""
        return self._events_size != -1

    def local_folder(self) -> Path | None:
        """The host's folder on this computer, where file dialogs start (None: a remote host,
        whose files no local dialog can browse)."""
        if not self.host.capabilities.has(Capability.LOCAL_FILES):
            return None
        return Path(self.host.location)

    # ---- reading the host ----
    def show_first_read(self, state: FirstRead) -> None:
        """Show what `first_read` read on a worker; the event log (which can be long)
        follows in the background."""
        self._apply(state)
        self.refresh()


    def _read(self, vm_id: str | None, *, with_events: bool = True, started: int = 0) -> _State:
        return _read_host(self.host, vm_id, with_events=with_events, started=started,
                          events_size=self._events_size)

    def _apply(self, state: _State, picked: int | None = None) -> None:
        if 0 < state.started <= self._result_shown_at:
            self._again = True  # read before a result we show: it would take it back
            return
        self.vm_model.set_vms(state.vms)
        self._settle(lambda first_read: state.started >= first_read)
        self.problems = state.problems
        if picked is not None and picked != self._picks:
            # The user chose another VM while this was read: keep their choice, read again.
            self._again = True
        else:
            self._revision = state.revision
            self.selected_vm_id = state.vm_id
            self.tree_problem = state.tree_problem
            self.tree_pending = False
            if state.vm_id is not None:
                self._trees[state.vm_id] = state.snapshots
            vm = next((v for v in state.vms if v.id == state.vm_id), None)
            self.checkpoint_model.set_tree(vm, state.snapshots)
            self._check_health(state.vms, state.vm_id, state.snapshots)
        self._last_read_error = ""
        # While our own operation runs its events are not in yet: take the log when idle.
        if state.events is not None and self._events_size == -1:
            # The first read: the log so far is history, not news.
            self.history = state.events[-HISTORY_KEPT:]
            self._events_seen, self._events_size = len(state.events), state.events_size
            self.history_loaded.emit()
        elif state.events is not None and not self._busy:
            fresh = state.events[self._events_seen:]
            self.history = state.events[-HISTORY_KEPT:]
            self._events_seen, self._events_size = len(state.events), state.events_size
            # Our results' warnings are in the log too (shown with the result already).
            others = [e for e in fresh if _event_key(e) not in self._own_events
                      and not (e.action == "warning" and (e.vm_id, e.operation) in self._own_ops)]
            self._own_events.clear()
            self._own_ops.clear()
            if others:
                self.new_events.emit(others)
        self.refreshed.emit()

    # ---- disk chain health (after a read: it must not delay the VMs showing) ----
    def _check_health(self, vms: list[VM], vm_id: str | None, snapshots: list[Snapshot]) -> None:
        """Walk the chains in the background (a stat per file when none changed)."""
        if self._stopped:
            return
        if self._health_running:
            self._health_next = (vms, vm_id, snapshots)  # the newest wins
            return
        self._health_running = True
        turn = self._op_turns
        Op(self.runner, lambda _p, _c: self._health(vms, vm_id, snapshots, turn),
           label="Chain health", quiet=True).success(self._health_ready).finally_(
            self._health_done).run_in_background()

    def _health(self, vms: list[VM], vm_id: str | None, snapshots: list[Snapshot],
                turn: int) -> _Health:
        # ---- runs on a pool thread: host calls only ----
        host = self.host
        # A VM mid-operation (its Status says so, whichever program runs it) has files
        # half-way by design, gone or made before the read is shown: not judged now.
        busy = {vm.id for vm in vms if vm.status}
        by_vm = {vm.id: host.drive_health(vm.hard_drives) for vm in vms if vm.id not in busy}
        tree = {} if vm_id in busy else {s.id: host.drive_health(s.hard_drives)
                                         for s in snapshots}
        if vm_id in by_vm:
            tree[f"now:{vm_id}"] = by_vm[vm_id]
        drives = [d for vm in vms if vm.id == vm_id for d in vm.hard_drives]
        drives += [d for snap in snapshots for d in snap.hard_drives]
        try:
            files = list(dict.fromkeys(host.chain_files(drives)))
        except HostError:  # a host that stopped answering: the read says so, once
            files = []
        return _Health(vm_id, by_vm, tree, files, host.chain_stamp(files), busy, turn)

    def _health_ready(self, result: _Health) -> None:
        if result.turn != self._op_turns:
            return
        kept = {vm_id: self.vm_model.health(vm_id) for vm_id in result.busy}
        self.vm_model.set_health({**kept, **result.by_vm})
        if result.vm_id == self.selected_vm_id and result.vm_id not in result.busy:
            self.checkpoint_model.set_health(result.tree)
            self._watched = (result.files, result.stamp)
        self.health_changed.emit()

    def _health_done(self) -> None:
        self._health_running = False
        if self._health_next is not None:
            args, self._health_next = self._health_next, None
            self._check_health(*args)

    def poll(self) -> None:
        """Timer slot: re-read when the revision moved (cheap when it did not). The revision
        and the chain files' stamp are looked at on a pool thread: even a stat can wait
        behind a busy disk, and a remote host answers over the network."""
        self.vm_model.tick()
        if self._reading or self._polling or self._stopped:
            return
        self._polling = True
        files, seen = self._watched
        host = self.host

        def look(_p: Progress, _c: CancelToken) -> tuple[str, object]:
            # ---- runs on a pool thread: host calls only ----
            return host.revision(), host.chain_stamp(files)

        def looked(answer: tuple[str, object]) -> None:
            revision, stamp = answer
            if (revision != self._revision or self.vm_model.shows_outside_status()
                    or stamp != seen):
                self.refresh()

        def done() -> None:
            self._polling = False

        # A failure (a host directory being rewritten) is retried at the next tick.
        Op(self.runner, look, label="Poll", quiet=True).success(looked).failure(
            lambda _exc: None).finally_(done).run_in_background()

    def refresh(self) -> None:
        """Re-read the host in the background; coalesces requests made while reading."""
        if self._stopped:
            return
        if self._reading:
            self._again = True
            return
        self._reading = True
        self._reads += 1
        vm_id, picked, started = self.selected_vm_id, self._picks, self._reads
        Op(self.runner, lambda _p, _c: self._read(vm_id, started=started), label="Refresh",
           quiet=True).success(
            lambda state: self._apply(state, picked)
        ).failure(self._read_failed).finally_(self._read_done).run_in_background()

    def _settle(self, done: Callable[[int], bool]) -> None:
        """Clear the Status of ended operations whose result the models now show."""
        for vm_id, first_read in list(self._settling.items()):
            if done(first_read):
                del self._settling[vm_id]
                self.vm_model.set_live_status(vm_id, None)

    def _read_failed(self, exc: BaseException) -> None:
        self._settle(lambda _first: True)  # no newer read is coming soon: do not hold them
        # The poll retries every second: say a problem once, not once a second.
        text = str(exc)
        if text != self._last_read_error and self.on_error is not None:
            self._last_read_error = text
            self.on_error("Refresh", exc)

    def _read_done(self) -> None:
        self._reading = False
        if self._again:
            self._again = False
            self.refresh()

    def select_vm(self, vm_id: str | None) -> None:
        """Show this VM's checkpoints: as last seen at once, as on disk after a background
        read (the GUI thread reads no file)."""
        if vm_id == self.selected_vm_id and self.checkpoint_model.vm is not None:
            return
        self.selected_vm_id = vm_id
        self._picks += 1
        vm = self.vm(vm_id)
        self.tree_problem = None
        seen = self._trees.get(vm_id) if vm_id else None
        self.tree_pending = vm is not None and seen is None
        self.checkpoint_model.set_tree(vm, seen or [])
        self.refreshed.emit()
        self.refresh()

    def vm(self, vm_id: str | None) -> VM | None:
        return next((v for v in self.vm_model.vms() if v.id == vm_id), None)

    # ---- operations ----
    def cancel(self, vm_id: str) -> bool:
        """Ask the operation running on this VM to stop at its next safe point."""
        op = self._busy.get(vm_id)
        if op is None:
            return False
        op.cancel.cancel()
        return True

    def cancel_refusal(self, vm_id: str) -> str:
        """Why the operation running on this VM cannot be cancelled on this host ("" when it
        can, or when nothing runs): the backend's reason, shown on the greyed Cancel."""
        op = self._busy.get(vm_id)
        return self.refusal_of(op) if op is not None else ""

    def refusal_of(self, op: Op) -> str:
        """Why `op` cannot be cancelled on this host, if it is an operation on one of this
        session's VMs ("" when it can, or when it is not one)."""
        if all(op is not running for running in self._busy.values()):
            return ""
        return self.host.capabilities.cancel_refusal(op.label)

    def is_busy(self, vm_id: str | None = None) -> bool:
        return bool(self._busy) if vm_id is None else vm_id in self._busy

    def refusals(self, vm: VM) -> dict[str, str]:
        """`allowed.refusals` for `vm` here: this window's operations, the host's read-only-ness,
        its chain's health and (while the tree shows `vm`) that of the checkpoint Revert
        applies."""
        tree, parent = self.checkpoint_model, vm.parent_snapshot_id
        shown = tree.vm is not None and tree.vm.id == vm.id and parent is not None
        return allowed.refusals(vm, busy_here=self.is_busy(vm.id), read_only=self.host.read_only,
                                health=self.vm_model.health(vm.id),
                                revert_health=tree.health(parent) if shown and parent else SOUND)

    def apply_refusal(self, vm: VM, snapshot: Snapshot) -> str:
        """Why Apply... is not offered for `snapshot` of `vm` now ("" when it is)."""
        return allowed.read_only_reason(self.host.read_only) or allowed.apply_refusal(
            vm, snapshot, busy_here=self.is_busy(vm.id),
            health=self.checkpoint_model.health(snapshot.id))

    def run(
        self,
        vm: VM | None,
        label: str,
        call: HostCall,
        *,
        on_result: Callable[[OperationResult], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        status: Callable[[float, str], str] | None = None,
        context: QObject | None = None,
    ) -> Op:
        """Run `call(progress, cancel)` for `vm`; the VM's Status column follows its progress.

        `on_error` replaces the default report (a dialog) for a failure; a cancellation the
        user asked for is reported in the status bar only, through `cancelled`. The callbacks
        are skipped once `context` (a window they touch) is deleted; the session's own
        bookkeeping always runs.
        """

        def alive() -> bool:
            return context is None or isValid(context)

        if status is None:
            status = _percent_status
        op = Op(self.runner, call, label=label, subject=vm.name if vm is not None else "")
        # The VM's Status and Cancel follow the first operation started on it here: a second
        # one (the host refuses it, "VM is busy") must not take over or end that bookkeeping.
        vm_id = vm.id if vm is not None and vm.id not in self._busy else ""
        if vm_id:
            self._busy[vm_id] = op
            self._op_turns += 1
            self._settling.pop(vm_id, None)
            self.vm_model.set_live_status(vm_id, status(0.0, label))
        self.busy_changed.emit()
        shown_phase, shown_fraction = label, 0.0  # what the Status shows

        def progress(fraction: float, phase: str) -> None:
            # Within a phase the Status only counts up (sub-steps may restart their own
            # count); a new phase name starts again from its own percentage.
            nonlocal shown_phase, shown_fraction
            phase = phase or label
            if phase == shown_phase and fraction < shown_fraction:
                return
            shown_phase, shown_fraction = phase, fraction
            if vm_id:
                self.vm_model.set_live_status(vm_id, status(fraction, phase))

        def done(result: object) -> None:
            if isinstance(result, OperationResult):
                self._own_events.update(_event_key(e) for e in result.events)
                self._own_ops.add((result.vm_id, result.operation))
                self.show_result(result)
            if on_result is not None and isinstance(result, OperationResult) and alive():
                on_result(result)
            self.operation_done.emit(label)

        def failed(exc: BaseException) -> None:
            self.operation_failed.emit(label, exc)
            if isinstance(exc, Cancelled) and op.cancel.cancelled:
                self.cancelled.emit(label)
            elif on_error is not None and alive():
                on_error(exc)
            elif self.on_error is not None:
                self.on_error(label, exc)
            else:
                raise exc

        def finished() -> None:
            if vm_id:
                self._busy.pop(vm_id, None)
                self._op_turns += 1
                # The last text stays until a read started from now on is shown.
                self._settling[vm_id] = self._reads + 1
            self.busy_changed.emit()
            if on_finished is not None and alive():
                on_finished()
            # No re-read here: the result is shown, and the poll sees the new revision.

        return op.on_progress(progress).success(done).failure(failed).finally_(
            finished
        ).run_in_background()

    def show_result(self, result: OperationResult) -> None:
        """Show an operation's effect at once, from its result: the checkpoint it took (or
        applied, or renamed) in the tree, and the VM running from it. The next read of the host
        reconciles everything else (the VM's new disks, its state)."""
        snap, tree = result.snapshot, self.checkpoint_model
        vm = self.vm(result.vm_id)
        if snap is None or vm is None or tree.vm is None or tree.vm.id != vm.id:
            return
        self._result_shown_at = self._reads
        snapshots = tree.snapshots()
        at = next((i for i, s in enumerate(snapshots) if s.id == snap.id), None)
        if at is None:
            snapshots.append(snap)  # its parent is already listed: the tree's order holds
        else:
            snapshots[at] = snap
        if result.operation in _RUNS_FROM_RESULT:
            vm = replace(vm, parent_snapshot_id=snap.id, parent_snapshot_name=snap.name)
            self.vm_model.set_vms([vm if v.id == vm.id else v for v in self.vm_model.vms()])
        tree.set_tree(vm, snapshots)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        """Stop polling and refreshing (the window is closing)."""
        self._stopped = True
        self.timer.stop()
