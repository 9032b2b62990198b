"""Opening a host: the one way the window and hvctl get a `HostBackend`.

Today every host is a lab host in a folder; the real Hyper-V backend (`hvgui.hyperv`) plugs in
here, so neither the window nor hvctl names a backend's class.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hvgui.backend import HostBackend
    from hvgui.progress import Progress


def open_backend(
    location: Path | str | None, *, create: bool = False, progress: Progress | None = None
) -> HostBackend:
    """The host at `location` (its `HostBackend.location`): a lab host's folder, which must
    be one already unless `create` (None: the user's default lab host, made on first use)."""
    from hvgui.host import Host  # loaded when a host is opened: hvctl's disk commands never

    if location is None:
        return Host.open(None, progress=progress)
    return Host.open(location, create=create, progress=progress)


def new_lab_host(folder: Path | str) -> HostBackend:
    """A new, empty lab host in `folder`, a missing or empty folder (New Host, new-host)."""
    from hvgui.host import Host

    return Host.new(folder)
