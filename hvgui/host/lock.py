"""Who may change a host, and what another process is doing to a VM right now.

- One mutating process per host: a file lock (portable.lock) on `.hvgui/host.lock`, held while any
  operation of this process runs. Readers never take it. A child process running one operation
  for this one (hvgui/host/isolated.py) shares its hold: `held` passes it, `inherit` takes it.
- One operation per VM: inside a process a table of running operations; across processes the
  VM's status file (pid + operation). A second operation gets `VM is busy: <operation>`.
- A host whose folder cannot be written is read-only: every change is refused up front with
  the reason (`read_only_reason`), instead of failing on the lock file.
- The status file also carries the progress percent, so `get-vm` in another process shows
  `Creating Checkpoint (37%)` like Hyper-V Manager's Status column.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgui import portable
from hvgui.host.errors import HostError, ReadOnlyHostError, VMBusyError
from hvgui.host.fileio import atomic_write, parse_json, read_bounded
from hvgui.host.layout import Layout

LOCK_WAIT_SECONDS = 60.0
# A linked lock file is never followed (where the system can refuse links).
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | portable.no_follow()


@dataclass
class _ProcessState:
    mutex: threading.Lock = field(default_factory=threading.Lock)
    active: dict[str, str] = field(default_factory=dict)  # vm id -> operation
    fd: int = -1
    users: int = 0


_STATES: dict[str, _ProcessState] = {}
_STATES_LOCK = threading.Lock()


def _state_for(root: Path) -> _ProcessState:
    key = os.path.realpath(root)
    with _STATES_LOCK:
        return _STATES.setdefault(key, _ProcessState())


class StatusBoard:
    """The per-VM status files of operations in progress."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def write(
        self,
        vm_id: str,
        operation: str,
        percent: int,
        state: str | None = None,
        *,
        visible: bool = True,
    ) -> None:
        """`visible=False`: busy (for other processes) but not shown in the Status column."""
        record = {
            "pid": os.getpid(),
            "operation": operation,
            "percent": percent,
            "state": state,
            "visible": visible,
        }
        atomic_write(self.layout.status_file(vm_id), json.dumps(record).encode(), durable=False)

    def clear(self, vm_id: str) -> None:
        with suppress(FileNotFoundError):
            self.layout.status_file(vm_id).unlink()

    def clear_left_by(self, pid: int) -> None:
        """Remove what process `pid`, ended mid-operation, left on the board (a later process
        given its number must not look busy with it)."""
        try:
            entries = list(os.scandir(self.layout.status_dir))
        except FileNotFoundError:
            return
        for entry in entries:
            record = self._record(Path(entry.path)) if entry.name.endswith(".json") else None
            if record is not None and record["pid"] == pid:
                with suppress(FileNotFoundError):
                    Path(entry.path).unlink()

    def read(self, vm_id: str) -> dict[str, Any] | None:
        """The live status of `vm_id`, or None (no operation, or its process died)."""
        return self._parse(self.layout.status_file(vm_id))

    def read_all(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        try:
            entries = list(os.scandir(self.layout.status_dir))
        except FileNotFoundError:
            return out
        for entry in entries:
            if entry.name.endswith(".json"):
                record = self._parse(Path(entry.path))
                if record is not None:
                    out[entry.name[:-5].upper()] = record
        return out

    @staticmethod
    def _record(path: Path) -> dict[str, Any] | None:
        """A status file's record, alive or not; None if it is none."""
        try:
            record = parse_json(read_bounded(path, 4096))
        except (OSError, ValueError, HostError):
            return None
        if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
            return None
        return record

    def _parse(self, path: Path) -> dict[str, Any] | None:
        record = self._record(path)
        if record is None:
            return None
        pid = record["pid"]
        if pid == os.getpid():
            state = _state_for(self.layout.root)
            if path.stem.upper() not in state.active:
                return None
        elif not portable.pid_alive(pid):
            return None
        return record


def read_only_reason(layout: Layout) -> str:
    """Why this host's files cannot be changed, or "" when they can. Mode bits are not enough
    (root ignores them; a read-only mount can show them writable): a file is really made and
    removed in the host folder and in `.hvgui`, and the lock file opened for writing."""
    for folder in (layout.root, layout.meta):
        if not folder.is_dir():
            continue
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"{folder} is not writable"
        probe = folder / f".write-probe-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | portable.no_follow()
            os.close(portable.open_fd(probe, flags, 0o600))
        except OSError as exc:
            return f"{folder} cannot be written ({exc.strerror})"
        with suppress(FileNotFoundError):
            probe.unlink()
    if layout.lock_file.is_file():
        try:
            os.close(portable.open_fd(layout.lock_file, os.O_RDWR | portable.no_follow()))
        except OSError as exc:
            return f"{layout.lock_file} cannot be written ({exc.strerror})"
    return ""


class HostLock:
    def __init__(self, layout: Layout, status: StatusBoard) -> None:
        self.layout = layout
        self.status = status
        self.read_only = ""  # why nothing may change here (set when the host is opened)

    def refuse_if_read_only(self) -> None:
        if self.read_only:
            raise ReadOnlyHostError(
                self.layout.root, f"the host is read-only: {self.read_only}; nothing was changed"
            )

    @contextmanager
    def operation(self, vm_id: str, vm_name: str, operation: str) -> Iterator[None]:
        """Run one operation on `vm_id` holding the host's mutation lock."""
        self.refuse_if_read_only()
        with self.held(vm_id, vm_name, operation):
            yield

    @contextmanager
    def held(self, vm_id: str | None, vm_name: str, operation: str) -> Iterator[int]:
        """Hold the host's mutation lock (and `vm_id`, if any, busy with `operation`; "": the
        child's own status names it); yields its descriptor, for a child process to inherit."""
        if not self.layout.meta.is_dir():  # an adopted folder: its first operation makes it
            self.layout.create()
        state = _state_for(self.layout.root)
        with state.mutex:
            if vm_id is not None:
                self._refuse_if_busy_here(state, vm_id, vm_name)
                self._refuse_if_busy_elsewhere(vm_id, vm_name)
            if state.users == 0:
                state.fd = self._acquire(vm_id, vm_name)
            state.users += 1
            if vm_id is not None:
                state.active[vm_id] = operation
        try:
            yield state.fd
        finally:
            with state.mutex:
                if vm_id is not None:
                    state.active.pop(vm_id, None)
                state.users -= 1
                if state.users == 0 and state.fd >= 0:
                    os.close(state.fd)  # closing releases the lock
                    state.fd = -1

    @contextmanager
    def busy_here(self, vm_id: str | None, vm_name: str) -> Iterator[None]:
        """`vm_id` (if any) busy for this process's other operations and guest I/O, without
        the host lock: a child process that takes it itself runs the operation (Windows
        passes it no lock), and what the child left is finished here before this ends."""
        if vm_id is None:
            yield
            return
        state = _state_for(self.layout.root)
        with state.mutex:
            self._refuse_if_busy_here(state, vm_id, vm_name)
            state.active[vm_id] = ""  # the child's own status names the operation
        try:
            yield
        finally:
            with state.mutex:
                state.active.pop(vm_id, None)

    def _refuse_if_busy_here(self, state: _ProcessState, vm_id: str, vm_name: str) -> None:
        if vm_id in state.active:
            mine = state.active[vm_id]
            other = "" if mine else (self.status.read(vm_id) or {}).get("operation", "")
            raise VMBusyError(vm_name, f"VM is busy: {mine or other or 'an operation'}")

    def try_exclusive(self) -> int:
        """The lock's descriptor if nobody (here or elsewhere) is changing the host, else -1."""
        state = _state_for(self.layout.root)
        with state.mutex:
            if state.users:
                return -1
            fd = portable.open_fd(self.layout.lock_file, _LOCK_FLAGS, 0o644)
            if not portable.lock(fd, wait=False):
                os.close(fd)
                return -1
            return fd

    def _refuse_if_busy_elsewhere(self, vm_id: str, vm_name: str) -> None:
        other = self.status.read(vm_id)
        if other is not None and other.get("pid") != os.getpid():
            raise VMBusyError(vm_name, f"VM is busy: {other.get('operation', 'an operation')}")

    def _acquire(self, vm_id: str | None, vm_name: str) -> int:
        fd = portable.open_fd(self.layout.lock_file, _LOCK_FLAGS, 0o644)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            if portable.lock(fd, wait=False):
                return fd
            try:
                if vm_id is not None:
                    self._refuse_if_busy_elsewhere(vm_id, vm_name)
            except VMBusyError:
                os.close(fd)
                raise
            if time.monotonic() > deadline:
                os.close(fd)
                raise HostError(
                    self.layout.root,
                    "another program is changing this host; try again when it has finished",
                )
            time.sleep(0.05)


def inherit(root: Path, fd: int) -> None:
    """This process (a child running one operation) holds the host lock through `fd`, its
    parent's (HostLock.held): its operations run under it, none waits for it, and no
    recovery runs behind the parent's other operations. Released when the process ends."""
    state = _state_for(root)
    with state.mutex:
        state.fd = fd
        state.users += 1
