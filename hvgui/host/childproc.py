"""The child side of a lab-host operation run in its own process (the parent: isolated.py).

`python -m hvgui.host.childproc` reads one request from its stdin (the host's folder, the
`Host` method's name and arguments), opens the host as any process does (`Host.open`: an
operation a dead child left half-done is finished or rolled back first) and runs the method,
writing what it reports to its stdout: progress (each new phase and whole percentage, each
waiting for the parent's callback), then the return value or the exception. Its stdin stays
open for the parent's ACKs and cancel; when it closes (the parent ended or gave up) the
operation is cancelled at its next safe point.

Frames both ways: a 4-byte big-endian length, then a pickle. Only the parent, a process of
the same program and user that started this one, writes to it. The child's first bytes are
SYNC: what Python's start-up wrote on stdout before (a site's banner) is not a frame.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import sys
import threading
from pathlib import Path
from typing import IO, Any

from hvgui.progress import CancelToken, changes_only

_HEADER = struct.Struct(">I")
# What starts the child's answer; MAX_FRAME: no message is anywhere near (a result, an error).
SYNC = b"\0hvgui childproc 1\0"
MAX_FRAME = 64 << 20
_CHUNK = 1 << 20  # memory is taken as the bytes arrive, not as a length announces them
CANCEL = "cancel"  # after the request, the parent sends only these two
ACK = "ack"  # its progress callback returned


def write_frame(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


class FrameError(pickle.UnpicklingError):
    """What came through the pipe is not a message (too long, or not one we can rebuild)."""


def read_frame(stream: IO[bytes]) -> Any:
    """The next message; EOFError when the other side closed the pipe (or died)."""
    length = _HEADER.unpack(_read_exact(stream, _HEADER.size))[0]
    if length > MAX_FRAME:
        raise FrameError(f"a message of {length} bytes (at most {MAX_FRAME})")
    data = _read_exact(stream, length)
    try:
        return pickle.loads(data)  # our own parent or child
    except Exception as exc:  # whatever rebuilding it raised: not a message
        raise FrameError(f"a message that cannot be read ({type(exc).__name__}: {exc})") from exc


def _read_exact(stream: IO[bytes], length: int) -> bytes:
    parts: list[bytes] = []
    while length:
        chunk = stream.read(min(length, _CHUNK))
        if not chunk:
            raise EOFError("the pipe was closed")
        parts.append(chunk)
        length -= len(chunk)
    return b"".join(parts)


class _Sender:
    """Frames to the parent from the operation's thread; after the parent is gone, none.

    A report sent waits for the parent's callback to return (its ACK), as a progress callback
    in the same process holds the operation: whoever holds it mid-way (a test's gate, a
    caller showing it) sees the same operation, not one that went on. Sent: only the reports
    that show differently (hvgui.progress.changes_only)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.acked = threading.Event()
        self.gone = False
        self.progress = changes_only(self._send_progress)

    def send(self, message: object) -> bool:
        with self._lock:
            if self.gone:
                return False
            try:
                write_frame(self._stream, message)
            except OSError:  # the parent closed the pipe: the listener cancels the work
                self.gone = True
                return False
            return True

    def _send_progress(self, fraction: float, phase: str) -> None:
        self.acked.clear()
        if self.send(("progress", fraction, phase)):
            self.acked.wait()  # the listener sets it on the ACK, a cancel or the pipe closing


def _listen(stream: IO[bytes], cancel: CancelToken, sender: _Sender) -> None:
    """The parent's ACKs and cancel; its pipe closing cancels the operation too."""
    while True:
        try:
            message = read_frame(stream)
        except (EOFError, OSError, pickle.UnpicklingError):
            break
        if message == ACK:
            sender.acked.set()
        elif message == CANCEL:
            cancel.cancel()
    cancel.cancel()
    sender.gone = True
    sender.acked.set()


def _lower_priority(nice: int) -> None:
    """Run at the nice value the parent asked for (the window's long work is below its GUI
    thread: hvgui.progress.WORKER_NICE_STEPS). Nothing where it cannot be set."""
    if hasattr(os, "setpriority"):
        # Asked for higher than this process has (not allowed): it stays where it is.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, nice)


def _sendable(error: BaseException, root: str) -> BaseException:
    """`error`, or, when it cannot cross the pipe, a HostError saying the same. Rebuilt here
    first: an exception whose __init__ takes other arguments than its args pickles, then
    fails in the parent."""
    try:
        back = pickle.loads(pickle.dumps(error))
        if type(back) is not type(error) or str(back) != str(error):
            raise TypeError("rebuilt as another error")
    except Exception:  # any pickling failure: sent as words
        from hvgui.host.errors import HostError

        return HostError(root, f"{type(error).__name__}: {error}")
    return error


def main() -> int:
    # Unbuffered: the listener's read blocks without holding a buffer's lock, which the
    # interpreter would wait for at exit.
    source = os.fdopen(os.dup(sys.stdin.fileno()), "rb", buffering=0)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not break a frame
    out.write(SYNC)
    request: dict[str, Any] = read_frame(source)
    _lower_priority(int(request["nice"]))
    if request.get("lock_fd", -1) >= 0:  # the parent's hold of the host lock, shared
        from hvgui.host.lock import inherit

        inherit(Path(request["root"]), request["lock_fd"])
    cancel = CancelToken()
    sender = _Sender(out)
    threading.Thread(target=_listen, args=(source, cancel, sender), daemon=True).start()
    sender.send(("started", os.getpid()))
    try:
        from hvgui.host.host import Host

        host = Host.open(request["root"], create=False)
        # The parent's view wins where it is stricter (a folder it opened read-only).
        host.lock.read_only = host.lock.read_only or request["read_only"]
        method = getattr(host, request["method"])
        result = method(*request["args"], progress=sender.progress, cancel=cancel,
                        **request["kwargs"])
        sender.send(("result", result))
    except Exception as exc:  # every error goes to the parent, which raises it
        sender.send(("error", _sendable(exc, str(request["root"]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
