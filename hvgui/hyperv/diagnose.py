"""Why a host cannot be reached, in words that name the cause and the fix.

`probe_socket` answers the cheap questions first, all within the connect timeout: is the name
known, does anything listen on the port, does it speak TLS (for HTTPS) and then HTTP at all,
is its certificate trusted (naming the certificate's subject when not). `explain` turns what
pypsrp and requests raise during the real connection into the same kind of message.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

from hvgui.backend.errors import HostError
from hvgui.hyperv.errors import AccessDeniedError, ConnectError
from hvgui.hyperv.records import shorten
from hvgui.hyperv.settings import ConnectionSettings

ENABLE_REMOTING = (
    "on the host, as administrator: Enable-PSRemoting -Force (HTTP, port 5985); for HTTPS "
    "(5986) also a listener with a certificate: New-Item -Path WSMan:\\localhost\\Listener "
    "-Transport HTTPS -Address * -CertificateThumbPrint <thumbprint>, and allow the port in "
    "the firewall"
)
GROUPS_FIX = (
    "the user must be in the host's Administrators group, or in both 'Hyper-V Administrators' "
    "and 'Remote Management Users'"
)
# Remote UAC gives a local account other than the built-in Administrator a filtered token,
# which WinRM refuses, unless this policy says otherwise.
TOKEN_FILTER_FIX = (
    "a local account of a workgroup host (other than the built-in Administrator) also needs, "
    "on the host as administrator: New-ItemProperty -Path HKLM:\\SOFTWARE\\Microsoft\\Windows"
    "\\CurrentVersion\\Policies\\System -Name LocalAccountTokenFilterPolicy -Value 1 "
    "-PropertyType DWord -Force"
)
CERTIFICATE_FIX = (
    "connect with a name the certificate is issued to, make this computer trust the "
    "authority that issued it (the system's store, or a CA bundle in the advanced settings), "
    "or, on a lab network only, turn certificate checking off"
)


def probe_socket(settings: ConnectionSettings) -> str:
    """The status line the host's port answers an HTTP request with (over TLS for HTTPS, with
    the certificate checked) within `settings.connect_timeout`; ConnectError otherwise."""
    host, port = settings.computer_name.strip(), settings.effective_port
    name = settings.display_name
    deadline = time.monotonic() + settings.connect_timeout

    def left() -> float:
        return max(0.05, deadline - time.monotonic())

    try:
        raw = socket.create_connection((host, port), timeout=left())
    except socket.gaierror as exc:
        raise ConnectError(name, f"the name is not known ({exc.strerror}): check the "
                           "computer name, or give its IP address") from None
    except ConnectionRefusedError:
        scheme = "HTTPS" if settings.use_https else "HTTP"
        raise ConnectError(name, f"nothing listens on port {port}: WinRM ({scheme}) is not "
                           f"enabled there; {ENABLE_REMOTING}") from None
    except TimeoutError:
        raise ConnectError(name, f"no answer on port {port} within "
                           f"{settings.connect_timeout:g} s: the host is off or away, or a "
                           "firewall drops WinRM's port") from None
    except OSError as exc:
        raise ConnectError(name, f"cannot reach port {port}: {exc.strerror or exc}") from None
    sock: socket.socket = raw
    try:
        if settings.use_https:
            sock = _tls(settings, raw, left)
        sock.settimeout(left())
        request = (f"POST /wsman HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\n"
                   "Connection: close\r\n\r\n").encode("ascii", "replace")
        try:
            sock.sendall(request)
            answer = _status_line(sock, left)
        except TimeoutError as exc:
            said = "sent only part of a line" if exc.args == (_SLOW,) else "said nothing"
            raise ConnectError(name, f"port {port} accepts connections but {said} "
                               f"within {settings.connect_timeout:g} s: it is not a WinRM "
                               "listener (or the host is overloaded)") from None
        except OSError as exc:
            raise ConnectError(name, f"port {port} closed the connection ({exc.strerror or exc})"
                               ": it is not a WinRM listener") from None
        if not answer.startswith(b"HTTP/"):
            what = "closed the connection at once" if not answer else "does not speak HTTP"
            raise ConnectError(name, f"port {port} {what}: it is not a WinRM listener; "
                               f"{ENABLE_REMOTING}")
        return answer.decode("ascii", "replace").strip()
    finally:
        sock.close()


_SLOW = "part of an answer"


def _status_line(sock: socket.socket, left: Any) -> bytes:
    """The answer's first line (at most 128 bytes), which may come in pieces, all within the
    time `left()` (past it, each read waits 0.05 s): a port that trickles bytes is no WinRM
    listener either."""
    answer = b""
    while b"\n" not in answer and len(answer) < 128:
        sock.settimeout(left())
        try:
            chunk = sock.recv(128 - len(answer))
        except TimeoutError:
            raise TimeoutError(_SLOW if answer else "") from None
        if not chunk:
            break
        answer += chunk
        if not b"HTTP/".startswith(answer[:5]):
            break  # not HTTP: no need to wait for more
    return answer.split(b"\n", 1)[0]


def _tls(settings: ConnectionSettings, raw: socket.socket, left: Any) -> socket.socket:
    name, port = settings.display_name, settings.effective_port
    context = ssl.create_default_context(cafile=settings.ca_bundle or None)
    if not settings.check_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    raw.settimeout(left())
    try:
        return context.wrap_socket(raw, server_hostname=settings.computer_name.strip())
    except ssl.SSLCertVerificationError as exc:
        subject = certificate_subject(settings, left())
        raise ConnectError(
            name, f"the host's certificate is not trusted ({exc.verify_message}); {subject}: "
            f"{CERTIFICATE_FIX}"
        ) from None
    except TimeoutError:
        raise ConnectError(name, f"port {port} accepts connections but did not start HTTPS "
                           f"within {settings.connect_timeout:g} s: it is not a WinRM HTTPS "
                           "listener (or use HTTP, port 5985)") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConnectError(name, f"port {port} does not speak HTTPS ({_short(exc)}): it is not "
                           "a WinRM HTTPS listener (or use HTTP, port 5985)") from None


def certificate_subject(settings: ConnectionSettings, timeout: float) -> str:
    """`its subject is CN=... (names: ...)`, from the certificate fetched unchecked."""
    try:
        pem = ssl.get_server_certificate(
            (settings.computer_name.strip(), settings.effective_port), timeout=timeout
        )
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        subject = cert.subject.rfc4514_string() or "(empty)"
        try:
            alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = [str(n.value) for n in alt.value]
        except x509.ExtensionNotFound:
            names = []
        listed = f" (names: {', '.join(names)})" if names else ""
        return f"its subject is {subject}{listed}"
    except Exception:  # fetched only to name it: the error above is the answer either way
        return "its subject could not be read"


def explain(settings: ConnectionSettings, exc: BaseException, answered: str = "") -> HostError:
    """What pypsrp, requests or spnego raised while connecting, as cause and fix; `answered`:
    the status line probe_socket got from the port."""
    name = settings.display_name
    kind = type(exc).__name__
    text = _short(exc)
    code = getattr(exc, "code", None)
    if kind == "AuthenticationError" or code == 401:
        return access_denied(settings, f"WinRM answered HTTP 401: {text}")
    if code == 5 or "Access is denied" in text:
        return access_denied(settings, f"WinRM refused it: {text}")
    if kind == "SSLError" or isinstance(exc, ssl.SSLError):
        return ConnectError(name, f"the HTTPS connection failed ({text}): {CERTIFICATE_FIX}")
    if kind == "WinRMTransportError" and isinstance(code, int):
        return ConnectError(name, f"the host answered HTTP {code} at /wsman: it is not a "
                            f"WinRM listener; {ENABLE_REMOTING}")
    if kind in ("ReadTimeout", "ConnectTimeout", "Timeout") or isinstance(exc, TimeoutError):
        return ConnectError(name, f"the host did not answer within "
                            f"{settings.connect_timeout:g} s ({text})")
    if kind == "ConnectionError":
        return ConnectError(name, f"the connection failed ({text}); {ENABLE_REMOTING}")
    if isinstance(exc, ImportError) or "gssapi" in text.lower() or "krb5" in text.lower():
        return ConnectError(name, f"{settings.authentication} authentication is not available "
                            f"here ({text}): pip install 'hvgui[remote]' brings CredSSP; "
                            "Kerberos needs pip install 'pypsrp[kerberos]' and the system's "
                            "Kerberos libraries (e.g. libkrb5-dev); or use NTLM")
    if "spnego" in type(exc).__module__ or "Kerberos" in text or "credssp" in text.lower():
        return access_denied(settings, f"{settings.authentication} authentication failed: {text}")
    status = answered.split()[1:2]
    if answered and status != ["401"]:
        # WinRM asks every client to sign in first (HTTP 401); this server let it in unasked.
        said = shorten(answered, 80)
        return ConnectError(name, f"port {settings.effective_port} answered '{said}' without "
                            f"asking to sign in: it is not a WinRM listener; {ENABLE_REMOTING}")
    return ConnectError(name, f"could not connect ({kind}: {text})")


def access_denied(settings: ConnectionSettings, cause: str) -> AccessDeniedError:
    """The host refused the user: the password, the groups, and for what may be a local
    account of a workgroup host, LocalAccountTokenFilterPolicy."""
    who = settings.user or "the current user"
    fixes = ["check the user name and password", GROUPS_FIX]
    if local_account(settings):
        fixes.append(TOKEN_FILTER_FIX)
    return AccessDeniedError(settings.display_name,
                             f"access denied for {who} ({cause}): {'; '.join(fixes)}")


def local_account(settings: ConnectionSettings) -> bool:
    """Whether the user may be one of the host's own accounts: `admin`, `.\\admin`,
    `HV01\\admin` (its computer name), not `LAB\\admin`, `admin@lab.example` or the current
    (domain, single sign-on) user."""
    if not settings.user or "@" in settings.user:
        return False
    domain, _, _ = settings.user.rpartition("\\")
    computer = settings.computer_name.strip().split(".")[0]
    return domain in ("", ".") or domain.casefold() == computer.casefold()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 240 else text[:240] + "..."
