"""Opening a host: the one way the window and hvctl get a `HostBackend`.

Today every host they open is a lab host in a folder; the real Hyper-V backend
(`hvgui.hyperv`) plugs in here, so neither the window nor hvctl names a backend's class.
The lab's own clients (the simulated guest, the lessons) get the lab host behind a backend
through `lab_host`, which refuses other backends with the capability's reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hvgui.backend.errors import HostError
from hvgui.backend.protocol import Capability
from hvgui.host.layout import EMPTY, FOLDER_PROBLEMS, HOST, MISSING, OTHER, folder_kind

if TYPE_CHECKING:
    from hvgui.backend.protocol import HostBackend
    from hvgui.host import Host
    from hvgui.hyperv.settings import ConnectionSettings
    from hvgui.progress import Progress

# What a folder is to a lab host (folder_kind): HOST, MISSING, EMPTY or OTHER, and in words.
__all__ = [
    "EMPTY",
    "FOLDER_PROBLEMS",
    "HOST",
    "MISSING",
    "OTHER",
    "connect_to_server",
    "default_windows_root",
    "folder_kind",
    "lab_host",
    "lab_location",
    "lab_real_location",
    "new_lab_host",
    "open_backend",
    "windows_root_problem",
]


def open_backend(
    location: Path | str | None, *, create: bool = False, progress: Progress | None = None,
    isolated: bool = False,
) -> HostBackend:
    """The host at `location` (its `HostBackend.location`): a lab host's folder, which must
    be one already unless `create` (None: the user's default lab host, made on first use).
    `isolated`: its operations each run in a child process (the window's: its GUI thread
    never shares an interpreter lock with the work; hvctl is a process of its own)."""
    host = _lab_host_class(isolated)
    if location is None:
        return host.open(None, progress=progress)
    return host.open(location, create=create, progress=progress)


def _lab_host_class(isolated: bool) -> type[Host]:
    if isolated:
        from hvgui.host.isolated import IsolatedHost

        return IsolatedHost
    from hvgui.host import Host  # the whole host: loaded when one is opened

    return Host


def connect_to_server(settings: ConnectionSettings) -> HostBackend:
    """A real Hyper-V host (Connect to Server..., `hvctl --computer-name`): checked that it
    answers, has the Hyper-V module and lets the user manage it; else ConnectError or
    AccessDeniedError naming the cause and the fix (hvgui.hyperv.connect)."""
    from hvgui.hyperv.connect import connect

    return connect(settings)


def lab_location(folder: Path | str) -> str:
    """The location (HostBackend.location) of a lab host in `folder`: the folder spelled as
    the host compares folders (absolute, normalised; links are not resolved: no I/O)."""
    from hvgui.host.fileio import norm

    return str(norm(folder))


def lab_real_location(folder: Path | str) -> str:
    """`lab_location` with every link followed: one string for each spelling of the folder (a
    link to it, `link/..` parts). It reads the file system: on a worker."""
    from hvgui.host.boundary import real

    return str(real(folder))


def new_lab_host(
    folder: Path | str, windows_root: str | None = None, *, isolated: bool = False
) -> HostBackend:
    """A new, empty lab host in `folder`, a missing or empty folder (New Host, new-host);
    `windows_root`: the Windows host's folder its configurations name (default
    C:\\ProgramData\\Microsoft\\Windows\\Hyper-V); `isolated` as for open_backend."""
    return _lab_host_class(isolated).new(folder, windows_root=windows_root)


def default_windows_root() -> str:
    """The Windows folder a new lab host stands for unless told otherwise (Hyper-V's default
    virtual machine location)."""
    from hvgui.host.winpaths import DEFAULT_ROOT

    return DEFAULT_ROOT


def windows_root_problem(text: str) -> str:
    """What is wrong with `text` as a new lab host's Windows root, in words; "" when it is a
    Windows folder path new_lab_host accepts."""
    from hvgui.host.winpaths import check_root

    try:
        check_root(text)
    except HostError as exc:
        return exc.problem
    return ""


def lab_host(backend: HostBackend, refusal: str = "") -> Host:
    """The lab host `backend` is, for what only a lab host has (the simulated guest, adopting
    a folder); another backend is refused with `refusal`, else its reason for lacking
    Capability.GUEST."""
    from hvgui.host import Host

    reason = backend.capabilities.reason(Capability.GUEST)
    if isinstance(backend, Host) and not reason:
        return backend
    raise HostError(backend.location, refusal or reason or "this host has no simulated guest")
