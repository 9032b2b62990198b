"""A host that cannot be used is named with the cause and the fix, within the connect timeout,
never a hang or a traceback: nothing listening, a port that accepts and says nothing, one
that speaks something else, an HTTP server that is not WinRM, an untrusted certificate."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from hvgui.hyperv.errors import ConnectError, ConnectionLostError
from hvgui.hyperv.remote import RemoteTransport
from hvgui.hyperv.settings import ConnectionSettings
from tests.hyperv.failing_hosts import TIMEOUT, closed_port, tls_handshake


def connect_error(settings: ConnectionSettings) -> str:
    """The error of a first script on `settings`, from a thread that must end: a hang fails
    the test (the bound is generous; the timeout itself is TIMEOUT)."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        transport = RemoteTransport(settings)
        try:
            list(transport.run("probe", {}))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)
        finally:
            transport.close()

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "connecting hung"
    [error] = outcome
    assert isinstance(error, ConnectError), repr(error)
    assert str(error).startswith(f"{settings.display_name}: ")
    return str(error)


def settings(port: int, **more: object) -> ConnectionSettings:
    return ConnectionSettings("127.0.0.1", user="admin", password="secret", port=port,
                              connect_timeout=TIMEOUT, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize("https", [True, False])
def test_nothing_listening_says_enable_psremoting(https: bool) -> None:
    message = connect_error(settings(closed_port(), use_https=https))
    assert "nothing listens on port" in message
    assert ("HTTPS" if https else "HTTP") in message and "Enable-PSRemoting" in message


def test_a_port_that_accepts_and_says_nothing_fails_within_the_timeout(serve: Callable) -> None:
    silent = serve(lambda conn: None)  # accepts, holds the connection, never answers
    message = connect_error(settings(silent.port, use_https=False))
    assert "accepts connections but said nothing within 1 s" in message
    message = connect_error(settings(silent.port, use_https=True))
    assert "did not start HTTPS within 1 s" in message


def test_a_port_that_speaks_something_else_is_not_winrm(serve: Callable) -> None:
    ssh = serve(lambda conn: conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n"))
    assert "does not speak HTTP: it is not a WinRM listener" in connect_error(
        settings(ssh.port, use_https=False))
    assert "does not speak HTTPS" in connect_error(settings(ssh.port, use_https=True))


def test_an_http_server_that_is_not_winrm_is_named(serve: Callable) -> None:
    def not_found(conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        try:
            while conn.recv(65536):
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass

    web = serve(lambda conn: threading.Thread(target=not_found, args=(conn,)).start())
    message = connect_error(settings(web.port, use_https=False))
    assert "HTTP 404" in message and "not a WinRM listener" in message


def test_an_http_server_that_lets_anyone_in_is_not_winrm(serve: Callable) -> None:
    """A web server answering 200 to anyone: WinRM asks every client to sign in (HTTP 401),
    so this is named as no WinRM listener (pypsrp itself fails with a bare KeyError)."""
    def welcome(conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        try:
            while conn.recv(65536):
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n"
                             b"Content-Length: 5\r\n\r\nhello")
        except OSError:
            pass

    web = serve(lambda conn: threading.Thread(target=welcome, args=(conn,)).start())
    message = connect_error(settings(web.port, use_https=False))
    assert message == (
        f"127.0.0.1: port {web.port} answered 'HTTP/1.0 200 OK' without asking to sign in: it "
        "is not a WinRM listener; on the host, as administrator: Enable-PSRemoting -Force "
        "(HTTP, port 5985); for HTTPS (5986) also a listener with a certificate: New-Item "
        "-Path WSMan:\\localhost\\Listener -Transport HTTPS -Address * -CertificateThumbPrint "
        "<thumbprint>, and allow the port in the firewall")


def test_a_port_that_trickles_its_answer_is_refused_within_the_timeout(
    serve: Callable
) -> None:
    """A byte now and then (a tarpit): the first line must come within the connect timeout,
    however it is split; split but whole, it is read as one."""
    stop = threading.Event()

    def trickle(answer: bytes, pause: float) -> Callable[[socket.socket], None]:
        def send(conn: socket.socket) -> None:
            def run() -> None:
                with contextlib.suppress(OSError):
                    for byte in answer:
                        conn.sendall(bytes([byte]))
                        if stop.wait(pause):
                            return
            threading.Thread(target=run, daemon=True).start()
        return send

    try:
        slow = serve(trickle(b"HTTP/1.1 200 OK\r\n\r\n", TIMEOUT / 2))
        assert "accepts connections but sent only part of a line within 1 s" in connect_error(
            settings(slow.port, use_https=False))
        split = serve(trickle(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0))
        assert "answered HTTP 404" in connect_error(settings(split.port, use_https=False))
    finally:
        stop.set()


def test_an_untrusted_certificate_names_its_subject(serve: Callable, tmp_path: Path) -> None:
    server = serve(tls_handshake(tmp_path, "hv01.lab.example"))
    message = connect_error(settings(server.port, use_https=True))
    assert "certificate is not trusted" in message
    assert "its subject is CN=hv01.lab.example (names: hv01.lab.example)" in message
    assert "certificate checking off" in message


def test_settings_that_cannot_work_are_refused_before_connecting() -> None:
    with pytest.raises(ConnectError, match="HTTP needs message encryption"):
        RemoteTransport(ConnectionSettings("hv01", use_https=False,
                                           authentication="certificate"))
    with pytest.raises(ConnectError, match="unknown authentication 'digest'"):
        RemoteTransport(ConnectionSettings("hv01", authentication="digest"))
    with pytest.raises(ConnectError, match="port 70000"):
        RemoteTransport(ConnectionSettings("hv01", port=70000))


def test_without_the_remote_extra_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, serve: Callable
) -> None:
    answers = serve(lambda conn: conn.sendall(b"HTTP/1.1 401 Unauthorized\r\n\r\n"))
    monkeypatch.setitem(sys.modules, "pypsrp", None)
    monkeypatch.setitem(sys.modules, "pypsrp.powershell", None)
    monkeypatch.setitem(sys.modules, "pypsrp.wsman", None)
    assert "pip install 'hvgui[remote]'" in connect_error(settings(answers.port, use_https=False))


def test_an_error_the_script_did_not_catch_is_mapped_like_the_others() -> None:
    from pypsrp.complex_objects import ErrorRecord, GenericComplexObject

    from hvgui.backend.errors import AccessDeniedError
    from hvgui.hyperv.errors import error_from_record
    from hvgui.hyperv.remote import _error_record

    exception = GenericComplexObject()
    exception.types = ["Deserialized.System.UnauthorizedAccessException", "System.Object"]
    exception.adapted_properties = {"Message": "Access to the path 'D:\\VMs' is denied."}
    error = ErrorRecord(fq_error="UnauthorizedAccess", category=18, reason="Unauthorized",
                        target_name="D:\\VMs", exception=exception)
    record = _error_record("get_vhd", error)
    assert record.kind == "error"
    assert (record.data["Category"], record.data["ExceptionType"]) == (
        "PermissionDenied", "System.UnauthorizedAccessException")
    mapped = error_from_record(record.data, "x")
    assert isinstance(mapped, AccessDeniedError)
    assert str(mapped) == "D:\\VMs: Access to the path 'D:\\VMs' is denied."


class FakePipeline:
    """pypsrp's PowerShell as the remote transport drives it: output appears poll by poll."""

    RUNNING, COMPLETED, STOPPED = 1, 4, 3
    polls: ClassVar[list[list[str] | Exception]]
    made: ClassVar[list[FakePipeline]] = []

    def __init__(self, pool: object) -> None:
        self.state = 0
        self.output: list[str] = []
        self.streams = type("Streams", (), {"error": []})()
        self.script = ""
        self.stopped = False
        self.closed = False
        FakePipeline.made.append(self)

    def add_script(self, script: str) -> None:
        self.script = script

    def begin_invoke(self) -> None:
        self.state = self.RUNNING

    def poll_invoke(self, timeout: int | None = None) -> None:
        step = self.polls.pop(0)
        if isinstance(step, Exception):
            raise step
        self.output += step
        if not self.polls:
            self.state = self.COMPLETED

    def stop(self) -> None:
        self.stopped = True
        self.state = self.STOPPED

    def close(self) -> None:  # pypsrp refuses to close a running pipeline
        assert self.state in (self.COMPLETED, self.STOPPED)
        self.closed = True


def fake_remote(monkeypatch: pytest.MonkeyPatch, polls: list[list[str] | Exception]
                ) -> RemoteTransport:
    import types

    powershell = types.SimpleNamespace(
        PowerShell=FakePipeline,
        PSInvocationState=types.SimpleNamespace(RUNNING=FakePipeline.RUNNING,
                                                STOPPED=FakePipeline.STOPPED))
    monkeypatch.setattr("hvgui.hyperv.remote._pypsrp",
                        lambda subject: types.SimpleNamespace(powershell=powershell))
    FakePipeline.polls = polls
    FakePipeline.made = []
    transport = RemoteTransport(settings(5986))
    transport._pool = object()  # type: ignore[assignment]  # opened: the pool is pypsrp's
    return transport


def test_records_stream_as_the_host_prints_them(monkeypatch: pytest.MonkeyPatch) -> None:
    progress = '{"Record":"progress","Phase":"Creating Checkpoint","PercentComplete":40}'
    result = '{"Record":"result","Kind":"Done","Object":{}}'
    transport = fake_remote(monkeypatch, [[], [progress], [], [result]])
    records = transport.run("checkpoint_vm", {"VMId": "X"})
    first = next(records)
    assert first.data["PercentComplete"] == 40
    assert len(FakePipeline.polls) == 2  # read before the script ended
    assert [r.kind for r in records] == ["result"]
    assert "Checkpoint-VM" in FakePipeline.made[0].script
    # Ended: released on the host and forgotten by the pool (pypsrp keeps every pipeline and
    # its output until it is closed: the watcher's Get-VM every 2 s, each 1 MiB file chunk).
    assert FakePipeline.made[0].closed and not FakePipeline.made[0].stopped


def test_a_connection_lost_mid_script_says_it_may_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    progress = '{"Record":"progress","Phase":"Merge in progress","PercentComplete":10}'
    transport = fake_remote(monkeypatch, [[progress], ConnectionResetError("reset by peer")])
    records = transport.run("remove_snapshot", {"VMId": "X", "SnapshotId": "Y"})
    assert next(records).kind == "progress"
    with pytest.raises(ConnectionLostError) as lost:
        next(records)
    assert str(lost.value) == (
        "127.0.0.1: the connection was lost while remove_snapshot ran (reset by peer): the "
        "operation may still be running on the host; the window refreshes when the host "
        "answers again")


def test_stop_stops_the_running_pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = fake_remote(monkeypatch, [['{"Record":"progress"}'], [], []])
    records = transport.run("export_vm", {"VMId": "X", "Path": "D:\\export"})
    next(records)
    transport.stop()
    assert FakePipeline.made[0].stopped


def test_an_authentication_this_computer_lacks_says_what_to_install() -> None:
    from hvgui.hyperv.diagnose import explain

    error = explain(ConnectionSettings("hv01", authentication="kerberos"),
                    ImportError("No module named 'gssapi'"))
    assert isinstance(error, ConnectError)
    assert "kerberos authentication is not available here" in str(error)
    assert "pypsrp[kerberos]" in str(error) and "NTLM" in str(error)


def test_a_script_whose_records_are_no_longer_read_is_stopped_on_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = fake_remote(monkeypatch, [['{"Record":"progress"}'], [], []])
    records = transport.run("get_vms", {})
    next(records)
    records.close()  # the reader gave up (an error record raised, a window closed)
    assert FakePipeline.made[0].stopped and not FakePipeline.made[0].closed


class FakeWSMan:
    """pypsrp.wsman.WSMan, noting how the remote transport builds it."""

    made: ClassVar[list[dict[str, object]]] = []

    def __init__(self, server: str, **options: object) -> None:
        FakeWSMan.made.append({"server": server, **options})


class FakePool:
    """pypsrp.powershell.RunspacePool: opened once, closed with the transport."""

    made: ClassVar[list[FakePool]] = []

    def __init__(self, wsman: FakeWSMan, max_runspaces: int = 1) -> None:
        self.wsman, self.max_runspaces = wsman, max_runspaces
        self.calls: list[str] = []
        FakePool.made.append(self)

    def open(self) -> None:
        self.calls.append("open")

    def close(self) -> None:
        self.calls.append("close")


@pytest.mark.parametrize(("given", "expected"), [
    ({}, {"port": 5986, "ssl": True, "auth": "negotiate", "cert_validation": True,
          "encryption": "auto", "username": "admin", "password": "secret"}),
    ({"use_https": False}, {"port": 5985, "ssl": False, "encryption": "always"}),
    ({"port": 443, "check_certificate": False}, {"port": 443, "cert_validation": False}),
    ({"ca_bundle": "/etc/lab-ca.pem"}, {"cert_validation": "/etc/lab-ca.pem"}),
    ({"use_https": False, "authentication": "kerberos"}, {"auth": "kerberos",
                                                          "encryption": "always"}),
    ({"authentication": "ntlm"}, {"auth": "ntlm"}),
    ({"authentication": "credssp"}, {"auth": "credssp"}),
    ({"authentication": "certificate", "certificate_pem": "/me/c.pem",
      "certificate_key_pem": "/me/c.key"},
     {"auth": "certificate", "certificate_pem": "/me/c.pem", "certificate_key_pem": "/me/c.key",
      "ssl": True}),
])
def test_the_connection_is_built_as_asked_with_https_and_checking_by_default(
    monkeypatch: pytest.MonkeyPatch, given: dict[str, object], expected: dict[str, object],
) -> None:
    """The WSMan connection pypsrp is given: HTTPS on 5986 with the certificate checked unless
    told otherwise, HTTP on 5985 only with every message encrypted, the authentication asked
    for; one runspace pool of several runspaces (an operation, a refresh, a cancel at once),
    opened once, a pipeline per script, each closed when it ends."""
    import types

    FakeWSMan.made, FakePool.made, FakePipeline.made = [], [], []
    FakePipeline.polls = [['{"Record":"result","Kind":"Host","Object":{}}']]
    fake = types.SimpleNamespace(
        wsman=types.SimpleNamespace(WSMan=FakeWSMan),
        powershell=types.SimpleNamespace(
            RunspacePool=FakePool, PowerShell=FakePipeline,
            PSInvocationState=types.SimpleNamespace(RUNNING=FakePipeline.RUNNING,
                                                    STOPPED=FakePipeline.STOPPED)))
    monkeypatch.setattr("hvgui.hyperv.remote._pypsrp", lambda subject: fake)
    monkeypatch.setattr("hvgui.hyperv.remote.probe_socket", lambda s: "HTTP/1.1 401 ")
    transport = RemoteTransport(ConnectionSettings(
        " hv01.lab.example ", user="admin", password="secret", **given))  # type: ignore[arg-type]
    try:
        assert [r.kind for r in transport.run("probe", {})] == ["result"]
        FakePipeline.polls = [[]]
        list(transport.run("get_vms", {}))
    finally:
        transport.close()
    [wsman] = FakeWSMan.made
    assert wsman["server"] == "hv01.lab.example"
    for key, value in expected.items():
        assert wsman[key] == value, key
    # A Receive waits at most a second, well within the read timeout: polls stay responsive.
    assert wsman["operation_timeout"] == 1 and wsman["read_timeout"] > 1
    [pool] = FakePool.made
    assert pool.max_runspaces >= 3 and pool.calls == ["open", "close"]
    assert len(FakePipeline.made) == 2 and all(p.closed for p in FakePipeline.made)
