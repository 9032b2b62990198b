"""The actions that open a window instead of running an operation: Connect..., Settings...,
Inspect Files..., a host folder, a server. One function each; `OpenWindows` closes what they opened
when the main window closes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from hvgui.backend import HostBackend, HostError, OperationResult
from hvgui.connect import (
    EMPTY,
    FOLDER_PROBLEMS,
    MISSING,
    connect_to_server,
    folder_kind,
    new_lab_host,
    open_backend,
)
from hvgui.ui import ask, recent_servers
from hvgui.ui.commands import Selection
from hvgui.ui.workers import Op, Runner

if TYPE_CHECKING:  # each loaded when first opened (start-up stays short)
    from hvgui.ui.inspector import InspectorWindow


class OpenWindows:
    """The consoles and dialogs one main window opened, closed with it."""

    def __init__(self) -> None:
        self.consoles: dict[str, QWidget] = {}
        self.dialogs: list[QWidget] = []

    def keep(self, widget: QWidget) -> None:
        """Hold a window until it is destroyed."""
        self.dialogs.append(widget)
        widget.destroyed.connect(lambda *_: self.forget(widget))

    def forget(self, widget: QWidget) -> None:
        if widget in self.dialogs:
            self.dialogs.remove(widget)

    def close_all(self) -> None:
        for widget in [*self.consoles.values(), *self.dialogs]:
            if isValid(widget):
                widget.close()


def console(parent: QWidget, sel: Selection, windows: OpenWindows,
            on_result: Callable[[OperationResult], None]) -> QWidget:
    """Connect...: the VM's console (one per VM: a second Connect raises it)."""
    from hvgui.ui.console import ConsoleWindow

    key = f"{sel.session.host.location}:{sel.vm.id}"
    window = windows.consoles.get(key)
    if window is None:
        window = ConsoleWindow(sel.session, sel.vm.id, parent, on_result=on_result)
        windows.consoles[key] = window
        window.destroyed.connect(lambda *_: windows.consoles.pop(key, None))
    window.show()
    window.raise_()
    window.activateWindow()
    return window


def settings(parent: QWidget, sel: Selection, windows: OpenWindows,
             on_result: Callable[[OperationResult], None]) -> QWidget:
    """Settings... of the VM, or (read-only) of the selected checkpoint."""
    from hvgui.ui.vm_dialogs import SettingsDialog

    if sel.snapshot is not None:
        dialog = SettingsDialog.for_snapshot(sel.session, sel.vm, sel.snapshot, parent)
    else:
        dialog = SettingsDialog.for_vm(sel.session, sel.vm, parent)
        dialog.on_result = on_result
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)  # hidden, it stayed for good
    windows.keep(dialog)
    dialog.finished.connect(lambda _r: windows.forget(dialog))
    dialog.open()
    return dialog


def inspector(parent: QWidget, sel: Selection, windows: OpenWindows) -> InspectorWindow | None:
    """Inspect Files...: the files of the selected checkpoint (or Now); None if it failed."""
    try:
        from hvgui.ui.inspector import open_inspector

        window = open_inspector(parent, host=sel.session.host, vm=sel.vm.id,
                                snapshot=sel.snapshot.id if sel.snapshot else None)
    except Exception as exc:
        ask.show_error(parent, "Inspect Files", exc)
        return None
    windows.keep(window)
    return window


class OpenHost(Protocol):
    """MainWindow.open_host: show the host in `root`, `host` given or opened (`make`: how, on
    its worker) while the tree shows it Loading...; errors titled `title`."""

    def __call__(self, root: Path | str, host: HostBackend | None = None, *,
                 make: Callable[[], HostBackend] | None = None, title: str = "Open Host") -> str:
        ...


class EmptyFolder(HostError):
    """An empty folder named as a host: the window asks whether to make it one."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, FOLDER_PROBLEMS[EMPTY])
        self.folder = folder


class Gone(HostError):
    """A host open last time whose folder is gone: not reopened, said in the status bar."""


def lab_host_in(folder: Path | str, *, new: bool = False,
                windows_root: str | None = None) -> HostBackend:
    """The lab host in `folder` as the window holds every one it opens (`new`: made there,
    standing for `windows_root`): each operation runs in a child process, so the GUI thread
    never shares the interpreter lock with a merge or an export. On a worker: it reads the
    folder."""
    if new:
        return new_lab_host(folder, windows_root, isolated=True)
    return open_backend(folder, isolated=True)


def named_host(folder: Path, *, remembered: bool = False) -> HostBackend:
    """The host in a folder the user named, or that was open last time (`remembered`), on a
    worker: it looks at the folder. A missing folder is an error (Gone if remembered) and
    nothing is created; an empty one raises EmptyFolder."""
    kind = folder_kind(folder)
    if kind == MISSING and remembered:
        raise Gone(folder, "open last time, no longer there: not reopened")
    if kind == MISSING:
        raise HostError(folder, f"{FOLDER_PROBLEMS[MISSING]}; File > New Host... makes a new "
                        "lab host")
    if kind == EMPTY:
        raise EmptyFolder(folder)
    return lab_host_in(folder)


def offer_new_host(parent: QWidget, folder: Path, open_host: OpenHost) -> bool:
    """An empty folder was named: make it a new lab host (on a worker) if the user says so."""
    if not ask.confirm(parent, "New Host", f"{folder} is empty. Make it a new lab host?",
                       "hvgui will create the folders Virtual Machines, Virtual Hard Disks, "
                       "Snapshots and .hvgui in it."):
        return False
    open_host(folder, make=lambda: lab_host_in(folder, new=True), title="New Host")
    return True


def new_host(parent: QWidget, open_host: OpenHost) -> None:
    """File > New Host...: a new lab host in the folder the user names, standing for the
    Windows root they give (Hyper-V's default unless changed); made on the open's worker (it
    writes the host's folders and reads its Windows names back), the tree showing it
    Loading... meanwhile."""
    from hvgui.ui.new_host_dialog import NewHostDialog

    answer = NewHostDialog.ask(parent)
    if answer is not None:
        folder, windows_root = answer
        open_host(folder, make=lambda: lab_host_in(folder, new=True, windows_root=windows_root),
                  title="New Host")


def server(parent: QWidget, runner: Runner, store: QSettings,
           open_host: Callable[[str, HostBackend | None], str]) -> None:
    """Connect to Server...: Select Computer, then connect in the background (the window
    keeps working); the host joins the tree, or the error names the cause and the fix."""
    from hvgui.ui.server_dialog import ServerDialog

    answer = ServerDialog.ask(parent, recent_servers.load(store), runner)
    if answer is None:
        return
    settings, keep_password = answer

    def connected(backend: HostBackend) -> None:
        recent_servers.remember(store, settings)
        open_host(backend.location, backend)
        # The keyring may block (D-Bus, an unlock prompt): on a worker, after the host opened.
        Op(runner, lambda _p, _c: recent_servers.keep_password(settings, keep_password),
           label="keyring", quiet=True).run_in_background()

    Op(runner, lambda _p, _c: connect_to_server(settings), label="Connect to Server",
       subject=settings.display_name).bound_to(parent).success(connected).failure(
        lambda exc: ask.show_error(parent, "Connect to Server", exc)).run_in_background()
