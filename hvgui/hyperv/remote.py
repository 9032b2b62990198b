"""The remote transport: PowerShell Remoting (WinRM) through pypsrp, the `remote` extra.

Each `run` is its own pipeline in one runspace pool, so a refresh can run while an operation
streams its progress. Output is read as it comes (`begin_invoke`, then `poll_invoke`), and
`stop()` stops the pipelines (the scripts' `finally` blocks cancel their Hyper-V jobs).
Every failure to connect becomes one ConnectError naming the cause and the fix.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hvgui.hyperv.diagnose import explain, probe_socket
from hvgui.hyperv.errors import ConnectError, lost_while
from hvgui.hyperv.records import Record, parse_line, to_record
from hvgui.hyperv.settings import ConnectionSettings
from hvgui.hyperv.transport import Parameters, invocation

if TYPE_CHECKING:
    from pypsrp.powershell import PowerShell, RunspacePool

POOL_SIZE = 6  # an operation, a refresh, the watcher, a cancel, file reads at once
POLL_SECONDS = 1  # WinRM Receive's operation timeout while a script runs


def _pypsrp(subject: str) -> Any:
    try:
        import pypsrp.powershell
        import pypsrp.wsman
    except ImportError:
        raise ConnectError(
            subject, "connecting to a Hyper-V host needs PowerShell Remoting for Python: "
            "pip install 'hvgui[remote]'"
        ) from None
    return pypsrp


class RemoteTransport:
    """A Transport over PowerShell Remoting to one host."""

    def __init__(self, settings: ConnectionSettings) -> None:
        problem = settings.problem()
        if problem:
            raise ConnectError(settings.display_name, problem)
        self.settings = settings
        self._pool: RunspacePool | None = None
        self._lock = threading.Lock()
        self._running: set[PowerShell] = set()
        self._closed = False
        # pypsrp's pool numbers and fragments messages without locks of its own: one thread
        # at a time talks to the host (each Receive waits at most POLL_SECONDS).
        self._wire = threading.Lock()

    @property
    def computer_name(self) -> str:
        return self.settings.display_name

    def _open(self) -> RunspacePool:
        with self._lock:
            if self._closed:
                raise ConnectError(self.computer_name, "the connection is closed")
            if self._pool is not None:
                return self._pool
            settings = self.settings
            # Nothing listening, an unknown name or a silent host: say so at once.
            answered = probe_socket(settings)
            pypsrp = _pypsrp(settings.display_name)
            timeout = max(1, int(settings.connect_timeout))
            extra: dict[str, Any] = {}
            if settings.authentication == "certificate":
                extra = {"certificate_pem": settings.certificate_pem,
                         "certificate_key_pem": settings.certificate_key_pem}
            verify: bool | str = settings.check_certificate
            if settings.check_certificate and settings.ca_bundle:
                verify = settings.ca_bundle
            try:
                wsman = pypsrp.wsman.WSMan(
                    settings.computer_name.strip(),
                    port=settings.effective_port,
                    username=settings.user,
                    password=settings.password,
                    ssl=settings.use_https,
                    auth=settings.authentication,
                    cert_validation=verify,
                    # Over HTTP the authentication must seal every message.
                    encryption="auto" if settings.use_https else "always",
                    connection_timeout=timeout,
                    read_timeout=timeout + POLL_SECONDS + 1,
                    operation_timeout=POLL_SECONDS,
                    **extra,
                )
                pool = pypsrp.powershell.RunspacePool(wsman, max_runspaces=POOL_SIZE)
                pool.open()
            except Exception as exc:  # pypsrp, requests, spnego and ssl raise their own
                raise explain(settings, exc, answered) from None
            self._pool = pool
            return pool

    @property
    def location(self) -> str:
        return self.settings.computer_name.strip()

    def run(self, script: str, parameters: Parameters) -> Iterator[Record]:
        pool = self._open()
        pypsrp = _pypsrp(self.computer_name)
        running = pypsrp.powershell.PSInvocationState.RUNNING
        stopped = pypsrp.powershell.PSInvocationState.STOPPED
        ps = pypsrp.powershell.PowerShell(pool)
        ps.add_script(invocation(script, parameters))
        with self._lock:
            self._running.add(ps)
        try:
            try:
                with self._wire:
                    ps.begin_invoke()
            except Exception as exc:
                raise explain(self.settings, exc) from None
            seen = 0
            errors_seen = 0
            while True:
                finished = ps.state != running
                while seen < len(ps.output):
                    line = ps.output[seen]
                    seen += 1
                    record = parse_line(script, str(line))
                    if record is not None:
                        yield record
                # Errors the scripts did not catch (a non-terminating error of a cmdlet).
                while errors_seen < len(ps.streams.error):
                    yield _error_record(script, ps.streams.error[errors_seen])
                    errors_seen += 1
                if finished:
                    break
                try:
                    with self._wire:
                        ps.poll_invoke(timeout=POLL_SECONDS)
                except Exception as exc:
                    raise lost_while(self.computer_name, script, _cause(exc)) from None
        finally:
            with self._lock:
                self._running.discard(ps)
            if ps.state == running:  # the caller stopped reading (an error): stop it there
                self._stop(ps)
            elif ps.state != stopped:  # stop() released it already
                self._close(ps)

    def _close(self, ps: PowerShell) -> None:
        """Release an ended pipeline: the host frees it, and the pool forgets it and its
        output (pypsrp keeps every pipeline until it is closed or stopped)."""
        try:
            with self._wire:
                ps.close()
        except Exception:  # the host is gone, or it never started: nothing to release
            return

    def stop(self) -> None:
        with self._lock:
            running = list(self._running)
        for ps in running:
            self._stop(ps)

    def _stop(self, ps: PowerShell) -> None:
        try:
            with self._wire:
                ps.stop()
        except Exception:  # already ended, or the host is gone: nothing left to stop
            return

    def close(self) -> None:
        self.stop()
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            try:
                pool.close()
            except Exception:  # the host went away: nothing to release there
                return


# System.Management.Automation.ErrorCategory by number (a remote ErrorRecord carries it so).
ERROR_CATEGORIES = (
    "NotSpecified", "OpenError", "CloseError", "DeviceError", "DeadlockDetected",
    "InvalidArgument", "InvalidData", "InvalidOperation", "InvalidResult", "InvalidType",
    "MetadataError", "NotImplemented", "NotInstalled", "ObjectNotFound", "OperationStopped",
    "OperationTimeout", "SyntaxError", "ParserError", "PermissionDenied", "ResourceBusy",
    "ResourceExists", "ResourceUnavailable", "ReadError", "WriteError", "FromStdErr",
    "SecurityError", "ProtocolError", "ConnectionError", "AuthenticationError",
    "LimitsExceeded", "QuotaExceeded", "NotEnabled",
)


def _error_record(script: str, error: Any) -> Record:
    """A pypsrp ErrorRecord (an error the script did not catch) as the scripts' error
    record."""
    exception = getattr(error, "exception", None)
    types = getattr(exception, "types", None) or [""]
    adapted = getattr(exception, "adapted_properties", None)
    category = getattr(error, "category", "")
    if isinstance(category, int) and 0 <= category < len(ERROR_CATEGORIES):
        category = ERROR_CATEGORIES[category]
    message = getattr(error, "message", None) or (
        adapted.get("Message") if isinstance(adapted, dict) else None) or str(error)
    return to_record(script, {
        "Record": "error",
        "FullyQualifiedErrorId": str(getattr(error, "fq_error", "") or ""),
        "Category": str(category or ""),
        "Reason": str(getattr(error, "reason", "") or ""),
        "ExceptionType": str(types[0]).removeprefix("Deserialized."),
        "Message": str(message),
        "TargetObject": str(getattr(error, "target_name", "") or ""),
    })


def _cause(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer"
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
