"""A lab host whose long operations each run in a child process (as Hyper-V Manager's run in
VMMS, not in the console): the window's GUI thread then never waits for an interpreter lock
held by the thread doing the work (benchmarks/README.md, "Operations in child processes").

The host keeps its state on disk and every change runs under the cross-process host lock as
a journalled transaction, so the child opens the same folder and runs the very same method
(childproc.py). Here, the parent side: `run_in_child` starts it, relays its progress, hands it
the caller's cancel, and returns its result or raises its exception (the same type and
words); a child that dies becomes one HostError naming the host and how it ended. What it
left half-done is finished or rolled back at once (Host.finish_left_by), as the next open
would after any crash.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import hvgui
from hvgui.errors import HvError
from hvgui.host import checkpoint_ops, storage_ops, vm_ops
from hvgui.host.childproc import ACK, CANCEL, SYNC, FrameError, read_frame, write_frame
from hvgui.host.errors import HostError
from hvgui.host.host import Host
from hvgui.progress import CancelToken, Progress, worker_nice

# The child's stdin, seen from the parent's thread that waits for a cancel.
_CANCEL_POLL = 0.05
# What the child's Python may print on stdout before childproc's SYNC (a site's banner): more
# is not our child (a frozen app's own executable run as sys.executable).
_STRAY_OUTPUT = 64 << 10


def _runs_in_child(name: str) -> bool:
    """The rule: an operation (a function of an operation module bound on Host) taking
    `progress` and `cancel`, i.e. one that may take long. Reads, the guest's I/O and the
    host's own settings stay in this process."""
    function = getattr(Host, name, None)
    if not callable(function) or getattr(function, "__module__", "") not in _OPERATION_MODULES:
        return False
    parameters = inspect.signature(function).parameters
    return "progress" in parameters and "cancel" in parameters


_OPERATION_MODULES = {m.__name__ for m in (vm_ops, checkpoint_ops, storage_ops)}
CHILD_OPERATIONS = tuple(sorted(n for n in dir(Host) if not n.startswith("_")
                                and _runs_in_child(n)))


def _child_command() -> tuple[list[str], int]:
    """How to start a child that imports this very hvgui: its folder on the path after
    Python's own modules (an installed hvgui's is site-packages, where another distribution
    may bring a `pathlib`) and before the site folders (one may hold another hvgui); -P: not
    the working folder either. Its own process group: a terminal's Ctrl-C is the window's
    to handle; the child ends when the window does, by its pipe, at a safe point."""
    package_parent = str(Path(hvgui.__file__).resolve().parent.parent)
    bootstrap = (
        "import site, sys\n"
        "sites = {*site.getsitepackages(), site.getusersitepackages()}\n"
        "sys.path.insert(next((i for i, p in enumerate(sys.path) if p in sites), "
        f"len(sys.path)), {package_parent!r})\n"
        "from hvgui.host.childproc import main\n"
        "sys.exit(main())\n"
    )
    flags = (getattr(subprocess, "BELOW_NORMAL_PRIORITY_CLASS", 0)  # Windows: no nice values
             | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0))
    return [sys.executable, "-P", "-c", bootstrap], flags


def _stderr_for_child() -> int | None:
    """The window's stderr, or nothing when it has none (pythonw, a closed descriptor): the
    child's fd 2 must be something, or its first open file takes it (the answers' pipe)."""
    try:
        os.fstat(2)
    except OSError:
        return subprocess.DEVNULL
    return None if sys.__stderr__ is not None else subprocess.DEVNULL


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"ended with exit code {code} before it answered"


def run_in_child(
    host: Host,
    method: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    started: Callable[[int], None] | None = None,
) -> Any:
    """`getattr(host, method)(*args, **kwargs, progress=..., cancel=...)`, run by a child
    process on the same folder; blocks the calling thread (a worker) until it ends.
    `started(pid)` is told the child's process id once it runs.

    The child runs under this process's hold of the host lock (its descriptor inherited;
    POSIX): as in one process, this process's other operations and guest I/O, and its other
    children (other VMs), run beside it; its VM is busy here until it ends (and what it left
    is finished: on Windows too, where the child takes the host lock itself)."""
    if host.read_only:  # nothing to lock
        return _run_in_child(host, method, args, kwargs, progress, cancel, started, -1)
    vm = _vm_of(host, method, args, kwargs or {})
    vm_id, vm_name = (vm.id, vm.name) if vm else (None, "")
    if sys.platform == "win32":  # no descriptor to pass: the child takes the lock itself
        with host.lock.busy_here(vm_id, vm_name):
            return _run_in_child(host, method, args, kwargs, progress, cancel, started, -1)
    with host.lock.held(vm_id, vm_name, "") as lock_fd:
        return _run_in_child(host, method, args, kwargs, progress, cancel, started, lock_fd)


def _vm_of(host: Host, method: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """The VM (its configuration) the operation is on, or None (a new VM's, or one the child
    will say is not found)."""
    first = list(inspect.signature(getattr(Host, method)).parameters)[1]
    vm = kwargs.get(first, args[0] if args else None)
    if first != "vm" or not isinstance(vm, str):
        return None
    try:
        return host.load_vm(vm)
    except HostError:
        return None


def _run_in_child(
    host: Host, method: str, args: Sequence[Any], kwargs: Mapping[str, Any] | None,
    progress: Progress | None, cancel: CancelToken | None,
    started: Callable[[int], None] | None, lock_fd: int,
) -> Any:
    command, flags = _child_command()
    request = {
        "root": str(host.root), "method": method, "args": tuple(args),
        "kwargs": dict(kwargs or {}), "read_only": host.read_only, "nice": worker_nice(),
        "lock_fd": lock_fd,
    }
    try:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=_stderr_for_child(), creationflags=flags,
                                 start_new_session=sys.platform != "win32",
                                 pass_fds=(lock_fd,) if lock_fd >= 0 else ())
    except OSError as exc:  # sys.executable is no program here (an embedded interpreter)
        raise HostError(host.root, f"cannot start a process to run {method} "
                        f"({sys.executable!r}: {exc.strerror or exc})") from exc
    assert child.stdin is not None and child.stdout is not None
    to_child, from_child = child.stdin, child.stdout
    writing = threading.Lock()
    finished = threading.Event()
    garbled = ""  # why what the child wrote is not an answer (it is then killed)

    def close_pipe() -> None:
        """Closing the child's stdin cancels what it runs (or lets it exit after)."""
        with writing, contextlib.suppress(OSError):
            to_child.close()

    def tell(message: str) -> None:
        # OSError, ValueError: it ended meanwhile (its pipe broken or closed).
        with writing, contextlib.suppress(OSError, ValueError):
            write_frame(to_child, message)

    def acknowledge() -> None:
        """The caller's progress returned: the child's operation goes on, and sees a cancel
        made meanwhile at its next safe point, as in-process (the watcher might be late)."""
        if cancel is not None and cancel.cancelled:
            tell(CANCEL)
        tell(ACK)

    def watch_cancel(token: CancelToken) -> None:
        while not finished.is_set():
            if token.wait(_CANCEL_POLL):
                tell(CANCEL)
                return

    try:
        try:
            try:
                with writing:
                    write_frame(to_child, request)
            except BrokenPipeError:
                pass  # it died before reading the request: said below
            else:
                if cancel is not None:
                    threading.Thread(target=watch_cancel, args=(cancel,), daemon=True,
                                     name=f"cancel {method}").start()
                try:
                    if _skip_to_sync(from_child):
                        answered, value = _relay(from_child, progress, started, acknowledge)
                        if answered:
                            return value
                except FrameError as exc:
                    garbled = str(exc)
                    with contextlib.suppress(OSError):
                        child.kill()  # not answering as our child does: nothing to wait for
        finally:
            finished.set()
            close_pipe()
            from_child.close()
            code = _wait_unreaped(child)
        how = f"sent {garbled}" if garbled else _how_it_ended(code)
        raise HostError(host.root, f"the process running {method} (pid {child.pid}) {how}; "
                        f"{_finish_left_by(host, child.pid, progress)}")
    finally:
        child.wait()  # never leave a zombie (its pid would count as alive)


def _wait_unreaped(child: subprocess.Popen[bytes]) -> int:
    """Wait until `child` has ended, and its exit code; not reaped (POSIX: waitid's WNOWAIT)
    until `child.wait()`, so that its pid is nobody else's meanwhile: what it left is found
    by its pid (finish_left_by), and another VM's child started meanwhile must not get it and
    see its running operation taken for the dead one's. (Windows: the Popen's open handle
    keeps the pid the same way.)"""
    if sys.platform == "win32" or not hasattr(os, "waitid"):
        return child.wait()
    try:
        info = os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:  # reaped already (by whom?): nothing holds its pid
        return child.wait()
    if info is None:  # not with WNOHANG; for the type checker
        return child.wait()
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _finish_left_by(host: Host, pid: int, progress: Progress | None) -> str:
    """Finish what the ended child left half-done at once, on this (the caller's) thread, as
    the next open would: a later operation on another VM, the window's host check or
    `hvctl test-host` then finds the host as after any finished or rolled-back operation.
    What was done, in words."""
    if host.read_only:
        return "it changed nothing (the host is read-only)"
    try:
        done = host.finish_left_by(pid, progress)
    except (OSError, HvError) as exc:  # e.g. a full disk: the next open tries again
        return ("what it left half-done is finished or rolled back by the next operation "
                f"(not now: {exc})")
    return f"what it left half-done: {'; '.join(done)}" if done else "it left nothing half-done"


def _skip_to_sync(from_child: Any) -> bool:
    """Read past what the child's Python printed before childproc ran; False if it ended
    first. Byte by byte: the frames after SYNC stay unread."""
    seen = b""
    for _ in range(_STRAY_OUTPUT + len(SYNC)):
        byte = from_child.read(1)
        if not byte:
            return False
        seen = (seen + byte)[-len(SYNC):]
        if seen == SYNC:
            return True
    raise FrameError(f"{_STRAY_OUTPUT >> 10} KiB of output that is not an answer")


def _relay(
    from_child: Any, progress: Progress | None, started: Callable[[int], None] | None,
    acknowledge: Callable[[], None],
) -> tuple[bool, Any]:
    """The child's reports until its answer: (True, its result), its exception raised, or
    (False, None) when it died first. Each report is acknowledged once `progress` returned
    (the child's operation waits for that, as for a callback in its own process)."""
    while True:
        try:
            message = read_frame(from_child)
        except EOFError:
            return False, None
        kind = message[0]
        if kind == "progress":
            if progress is not None:
                progress(message[1], message[2])
            acknowledge()
        elif kind == "started":
            if started is not None:
                started(message[1])
        elif kind == "result":
            return True, message[1]
        elif kind == "error":
            raise message[1]


def _in_child(name: str) -> Callable[..., Any]:
    signature = inspect.signature(getattr(Host, name))
    own = next(iter(signature.parameters))  # the HostCore the function takes first

    def method(self: IsolatedHost, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        del arguments[own]
        progress = arguments.pop("progress", None)
        cancel = arguments.pop("cancel", None)
        return run_in_child(self, name, (), arguments, progress=progress, cancel=cancel)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(Host, name).__doc__
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


class IsolatedHost(Host):
    """A lab host whose operations (CHILD_OPERATIONS) each run in a child process; reading,
    the guest's I/O and the host's settings run here, as on Host."""


for _name in CHILD_OPERATIONS:
    setattr(IsolatedHost, _name, _in_child(_name))
