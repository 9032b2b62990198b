"""How to reach a Hyper-V host: what Hyper-V Manager's "Connect to Server..." asks for."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

AUTHENTICATIONS = ("negotiate", "kerberos", "ntlm", "credssp", "certificate")
# Message encryption over HTTP needs an authentication that can seal messages.
ENCRYPTING = ("negotiate", "kerberos", "ntlm", "credssp")
HTTPS_PORT = 5986
HTTP_PORT = 5985
LOCAL_NAMES = ("", ".", "localhost", "127.0.0.1", "::1")
CONNECT_TIMEOUT = 15.0  # seconds a host may take to answer at all


@dataclass(frozen=True)
class ConnectionSettings:
    """One host to connect to.

    `computer_name` "" (or "localhost") is the local computer (on Windows: powershell.exe);
    any other name goes over PowerShell Remoting: HTTPS on 5986 by default, or HTTP on 5985
    with the messages encrypted by the authentication. `user` None connects as the current
    user (Kerberos/Negotiate single sign-on); a password is never stored here longer than the
    connection needs it (the GUI keeps it in the system keyring)."""

    computer_name: str = ""
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int | None = None
    use_https: bool = True
    authentication: str = "negotiate"
    check_certificate: bool = True
    ca_bundle: str | None = None  # a PEM file of CAs to trust instead of the system's
    certificate_pem: str | None = None  # certificate authentication: the client certificate
    certificate_key_pem: str | None = None
    connect_timeout: float = CONNECT_TIMEOUT

    @property
    def is_local(self) -> bool:
        return self.computer_name.strip().lower() in LOCAL_NAMES

    @property
    def uses_powershell_here(self) -> bool:
        """The local computer on Windows, with no port given: powershell.exe, no remoting.
        Elsewhere (or with a port) "localhost" is reached over remoting like any host."""
        return self.is_local and self.port is None and sys.platform == "win32"

    @property
    def effective_port(self) -> int:
        return self.port or (HTTPS_PORT if self.use_https else HTTP_PORT)

    @property
    def display_name(self) -> str:
        """The host as Hyper-V Manager's tree names it."""
        return self.computer_name.strip() or "localhost"

    def problem(self) -> str:
        """What is wrong with these settings before any connection is tried, or ""."""
        if self.authentication not in AUTHENTICATIONS:
            return (f"unknown authentication {self.authentication!r}: one of "
                    f"{', '.join(AUTHENTICATIONS)}")
        if self.port is not None and not 0 < self.port < 65536:
            return f"port {self.port} is not between 1 and 65535"
        if not self.use_https and self.authentication not in ENCRYPTING:
            return (f"HTTP needs message encryption, which {self.authentication} "
                    "authentication cannot give: use HTTPS, or Negotiate, Kerberos, NTLM or "
                    "CredSSP")
        if self.authentication == "certificate" and not (
            self.certificate_pem and self.certificate_key_pem
        ):
            return "certificate authentication needs the client certificate and its key"
        if self.authentication == "credssp" and not (self.user and self.password):
            return "CredSSP authentication needs a user name and password"
        if self.connect_timeout <= 0:
            return "the connect timeout must be more than 0 seconds"
        return ""
