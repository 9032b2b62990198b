"""Hosts that cannot be used, made here: local servers (nothing listening, WinRM answering
HTTP 401, TLS with a self-signed certificate) and recorded probes of Windows hosts (the
Hyper-V module missing, a user Hyper-V refuses). Each `failing_host` case gives the settings
that reach it and what its one-line message must name."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hvgui.hyperv.settings import ConnectionSettings
from tests.hyperv.replay import Replay

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



def tls_handshake(folder: Path, name: str) -> Callable[[socket.socket], None]:
    """A server's answer: TLS with a self-signed certificate for `name` (made in `folder`),
    which no client trusts; the connection ends after the handshake."""
    cert, key = self_signed(folder, name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def tls(conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        with contextlib.suppress(ssl.SSLError, OSError):
            context.wrap_socket(conn, server_side=True).close()

    return tls


def winrm_401(conn: socket.socket) -> None:
    """WinRM refusing the credentials: every request, HTTP 401 asking for Negotiate, the way
    a Windows host answers a wrong password or a user it does not let in."""

    def answer() -> None:
        conn.settimeout(TIMEOUT * 5)
        with contextlib.suppress(OSError):
            while True:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    request += chunk
                head, _, body = request.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 401 \r\nWWW-Authenticate: Negotiate\r\n"
                             b"Server: Microsoft-HTTPAPI/2.0\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()


def web_server(conn: socket.socket) -> None:
    """A web server that lets anyone in: HTTP 200 and a page to every request."""

    def answer() -> None:
        conn.settimeout(TIMEOUT * 5)
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                             b"Content-Length: 5\r\n\r\nhello")

    threading.Thread(target=answer, daemon=True).start()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


# What each failing host's message must say, besides its name: the cause, then the fix.
SAYS = {
    "winrm-off": ["nothing listens on port", "WinRM (HTTPS) is not enabled",
                  "Enable-PSRemoting -Force"],
    "silent-host": ["accepts connections but did not start HTTPS within 1 s",
                    "not a WinRM HTTPS listener"],
    "web-server": ["answered 'HTTP/1.1 200 OK' without asking to sign in",
                   "it is not a WinRM listener", "Enable-PSRemoting -Force"],
    "wrong-credentials": ["access denied for LAB\\admin", "WinRM answered HTTP 401",
                          "check the user name and password", "'Hyper-V Administrators'"],
    "workgroup-local-account": ["access denied for operator", "WinRM answered HTTP 401",
                                "'Hyper-V Administrators'", "LocalAccountTokenFilterPolicy"],
    "untrusted-certificate": ["certificate is not trusted", "its subject is CN=hv01.lab.example",
                              "make this computer trust the authority"],
    "no-hyperv-module": ["the Hyper-V PowerShell module is missing",
                         "Install-WindowsFeature Hyper-V-PowerShell",
                         "Microsoft-Hyper-V-Management-PowerShell"],
    "not-in-hyperv-administrators": ["HV01\\operator may connect but not manage Hyper-V",
                                     "permission", "Add-LocalGroupMember -Group "
                                     "'Hyper-V Administrators' -Member 'HV01\\operator'"],
    "hyperv-refuses": ["HV01\\operator may connect but not manage Hyper-V",
                       "You do not have the required permission",
                       "'Hyper-V Administrators'"],
    "no-vmms": ["Hyper-V does not answer there", "Virtual Machine Management service"],
    "get-vm-not-a-command": ["the Hyper-V PowerShell module is missing",
                             "The term 'Get-VM' is not recognized",
                             "Install-WindowsFeature Hyper-V-PowerShell"],
    "get-vm-refused": ["may connect but not manage Hyper-V",
                       "You do not have the required permission",
                       "'Hyper-V Administrators'"],
}
# Recorded answers of a Windows host (tests/hyperv/recorded) for the cases past the wire.
REPLAYS = {
    "no-hyperv-module": {"probe": "probe_no_module.jsonl"},
    "not-in-hyperv-administrators": {"probe": "probe_not_in_groups.jsonl"},
    "hyperv-refuses": {"probe": "probe_hyperv_refuses.jsonl"},
    "no-vmms": {"probe": "probe_no_vmms.jsonl"},
    "get-vm-not-a-command": {"probe": "probe_ok.jsonl", "get_vms": "get_vms_no_module.jsonl"},
    "get-vm-refused": {"probe": "probe_ok.jsonl", "get_vms": "get_vms_refused.jsonl"},
}


@contextlib.contextmanager
def failing_host(case: str, folder: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[ConnectionSettings]:
    """The settings hvctl (`--computer-name 127.0.0.1 --port N [--credential U]`) and the
    dialog connect with to the failing host `case`, which runs until the block ends."""
    server: Server | None = None
    user = {"wrong-credentials": "LAB\\admin", "workgroup-local-account": "operator"}.get(case)
    monkeypatch.setattr("hvgui.hyperv.settings.CONNECT_TIMEOUT", TIMEOUT)  # hvctl's
    use_https = True
    try:
        if case == "winrm-off":
            port = closed_port()
        elif case == "silent-host":
            server = Server(lambda conn: None)  # accepts, then never says a word
            port = server.port
        elif case in ("wrong-credentials", "workgroup-local-account", "web-server"):
            server = Server(web_server if case == "web-server" else winrm_401)
            port, use_https = server.port, False
            # hvctl speaks HTTP on WinRM's HTTP port only: this server's is that port here.
            monkeypatch.setattr("hvgui.hyperv.settings.HTTP_PORT", port)
        elif case == "untrusted-certificate":
            server = Server(tls_handshake(folder, "hv01.lab.example"))
            port = server.port
        else:
            answers = REPLAYS[case]
            port = 5986
            monkeypatch.setattr("hvgui.hyperv.connect.transport_for",
                                lambda settings: Replay(answers, settings.display_name))
        yield ConnectionSettings("127.0.0.1", user=user, password="s3cret" if user else None,
                                 port=port, use_https=use_https, connect_timeout=TIMEOUT)
    finally:
        if server is not None:
            server.close()
