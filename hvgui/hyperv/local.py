"""The local transport (Windows): `powershell.exe -NoProfile -NonInteractive -Command -`, the
script on standard input as one line, JSON records on standard output as they are printed."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator, Sequence

from hvgui.hyperv.errors import ConnectError, ConnectionLostError
from hvgui.hyperv.records import MAX_LINE, Record, parse_line, shorten
from hvgui.hyperv.transport import Parameters, invocation, one_line

POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-Command", "-")
STDERR_KEPT = 64 << 10


class LocalTransport:
    """A Transport running each script in its own PowerShell process on this computer."""

    def __init__(self, command: Sequence[str] = POWERSHELL, computer_name: str = "localhost"):
        self.command = list(command)
        self._name = computer_name
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._closed = False

    @property
    def computer_name(self) -> str:
        return self._name

    @property
    def location(self) -> str:
        return self._name

    def run(self, script: str, parameters: Parameters) -> Iterator[Record]:
        text = one_line(invocation(script, parameters)) + "\n"
        with self._lock:
            if self._closed:
                raise ConnectError(self._name, "the connection is closed")
            try:
                process = subprocess.Popen(
                    self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            except OSError as exc:
                raise ConnectError(self._name, f"cannot start {self.command[0]} "
                                   f"({exc.strerror or exc}): Windows PowerShell and the "
                                   "Hyper-V module are needed on this computer") from None
            self._running.add(process)
        errors: list[bytes] = []
        reader = threading.Thread(target=_keep, args=(process, errors), daemon=True)
        reader.start()
        assert process.stdin is not None and process.stdout is not None
        try:
            try:
                process.stdin.write(text.encode("utf-8"))
                process.stdin.close()
            except OSError:
                pass  # it ended at once: its exit code and standard error say why
            while line := process.stdout.readline(MAX_LINE + 1):  # bounded: hostile output
                record = parse_line(script, line)
                if record is not None:
                    yield record
            code = process.wait()
            reader.join()
            if code != 0:
                said = shorten(b"".join(errors).decode("utf-8", "replace").strip(), 300)
                raise ConnectionLostError(
                    self._name, f"PowerShell ended with exit code {code} while {script} ran"
                    + (f": {said}" if said else "")
                )
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            reader.join()
            with self._lock:
                self._running.discard(process)

    def stop(self) -> None:
        with self._lock:
            running = list(self._running)
        for process in running:
            if process.poll() is None:
                process.terminate()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.stop()


def _keep(process: subprocess.Popen[bytes], errors: list[bytes]) -> None:
    """Read standard error so the process never blocks on it; keep its first 64 KiB."""
    assert process.stderr is not None
    kept = 0
    for chunk in iter(lambda: process.stderr.read(4096) if process.stderr else b"", b""):
        if kept < STDERR_KEPT:
            errors.append(chunk[: STDERR_KEPT - kept])
            kept += len(chunk)
    process.stderr.close()
