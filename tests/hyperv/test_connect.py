"""A host that cannot be used is named with the cause and the fix, within the connect timeout,
never a hang or a traceback: nothing listening, a port that accepts and says nothing, one
that speaks something else, an HTTP server that is not WinRM, an untrusted certificate."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hvgui.hyperv.errors import ConnectError
from hvgui.hyperv.remote import RemoteTransport
from hvgui.hyperv.settings import ConnectionSettings

TIMEOUT = 1.0


class Server:
    """A local TCP server whose every connection gets `answer(conn)`, in its own thread."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.stopping = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(conn)
            with contextlib.suppress(OSError):
                self.answer(conn)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], Server]]:
    servers: list[Server] = []

    def start(answer: Callable[[socket.socket], None]) -> Server:
        servers.append(Server(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


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


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


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


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_an_untrusted_certificate_names_its_subject(serve: Callable, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "hv01.lab.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def tls(conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        with contextlib.suppress(ssl.SSLError, OSError):
            context.wrap_socket(conn, server_side=True).close()

    server = serve(tls)
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
