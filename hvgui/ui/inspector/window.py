"""The inspector window: a checkpoint's (or Now's, or one file's) files on the left, the view
of the selected file on the right, plus Space and Delete preview tabs for a checkpoint.

Files are decoded off the GUI thread through the app's one worker mechanism
(`hvgui.ui.workers`); each view is built once and kept while the window lives. Every call to
the host (the file list and title, the Space tab's history, the configurations a file can be
compared with) runs there too: on a real host each is a round trip over the network. What the
window opens of a host's files it opens through `local_copy` (a remote host's: a local copy).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from hvgui.backend.formats import human_size
from hvgui.errors import HvError
from hvgui.inspect import (
    AVHDX,
    BIN,
    KIND_LABELS,
    PASSTHROUGH,
    VHD,
    VHDX,
    VMCX,
    VMRS,
    VSV,
    XML,
    DeletePreview,
    FileFacts,
    checkpoint_files,
    configurations_near,
    delete_preview,
    files_of,
    inspect_file,
)
from hvgui.ui.inspector.binary_view import NotDecodedView, SavedStateView
from hvgui.ui.inspector.delete_preview import DeletePreviewWidget
from hvgui.ui.inspector.file_models import FileListModel, Roles
from hvgui.ui.inspector.hex_model import HexFile
from hvgui.ui.inspector.hex_view import HexView
from hvgui.ui.inspector.panels import Banner, ErrorPanel, WaitingPanel, replace_tab
from hvgui.ui.inspector.space_view import SpaceView
from hvgui.ui.inspector.vhdx_view import VhdView, VhdxView
from hvgui.ui.inspector.xml_view import XmlView
from hvgui.ui.workers import Op, Runner

if TYPE_CHECKING:
    from hvgui.backend import HostBackend


def shows_bytes(facts: dict[str, Any]) -> bool:
    """Whether the file's view shows its bytes: a hex view over a HexFile, which the decode's
    worker opens (a file that could not be decoded shows them if it is a regular file)."""
    kind = facts.get("kind")
    if facts.get("error"):
        return True
    return not (kind in (VHDX, AVHDX, XML) or (kind in (VMCX, VMRS) and facts.get("decoded")))


def bytes_to_show(path: Path, facts: dict[str, Any]) -> HexFile | None:
    """On a worker: the file opened for its view's hex dump (None: the view shows none; a
    file that decoded but cannot be opened raises)."""
    if not shows_bytes(facts):
        return None
    try:
        return HexFile(path)
    except OSError:
        if facts.get("error"):
            return None  # a directory, a device, unreadable: the error says what it is
        raise


def make_file_view(
    path: Path, facts: dict[str, Any], runner: Runner, others: list[tuple[str, PurePath]],
    parent: QWidget | None = None, local_copy: Callable[[PurePath], Path] | None = None,
    file: HexFile | None = None,
) -> QWidget:
    """The view for one file's facts (as `inspect_file` returns them); `others` are the
    configurations it can be compared with, opened through `local_copy` (the host's); `file`:
    what bytes_to_show opened."""
    kind = facts.get("kind")
    error = facts.get("error")
    if error:
        panel = ErrorPanel(f"{path.name} cannot be decoded", str(error), parent)
        if file is None:  # a directory or device: no bytes to show
            return panel
        layout = panel.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.takeAt(layout.count() - 1)  # the stretch: the hex view below takes the room
        layout.addWidget(QLabel("Its bytes:", panel))
        panel.hex = HexView(file, runner, panel)  # type: ignore[attr-defined]
        layout.addWidget(panel.hex, 1)  # type: ignore[attr-defined]
        return panel
    if kind in (VHDX, AVHDX):
        return VhdxView(path, facts, runner, parent)
    if kind == XML or (kind in (VMCX, VMRS) and facts.get("decoded")):
        return XmlView(path, facts, runner, others, parent, local_copy)
    if file is None:
        raise OSError(f"{path}: its bytes were not opened")
    if kind == VHD:
        return VhdView(path, facts, runner, file, parent)
    if kind in (BIN, VSV):
        return SavedStateView(path, facts, file, runner, parent)
    return NotDecodedView(path, facts, file, runner, parent)


def file_details(facts: FileFacts) -> str:
    """One line of the facts the list's right-hand columns hold (often scrolled out of view)."""
    if not facts.exists:
        return ""
    parts = [f"{human_size(facts.size_on_disk)} on disk"]
    if facts.size != facts.size_on_disk:
        sparse = " (sparse: unwritten ranges take no space)" if (
            facts.size_on_disk < facts.size) else ""
        parts.append(f"{human_size(facts.size)} long{sparse}")
    if facts.virtual_size:
        parts.append(f"{human_size(facts.virtual_size)} virtual disk")
    parts.append("read-only" if facts.read_only else "writable")
    if facts.modified is not None:
        parts.append(f"modified {facts.modified.astimezone():%Y-%m-%d %H:%M:%S}")
    return "; ".join(parts) + "."


def diff_targets(host: HostBackend | None, vm: str | None, local: Path,
                 path: PurePath) -> list[tuple[str, PurePath]]:
    """Configurations the file at `local` (the host's `path`) can be compared with, as the
    host names them (no host: the configurations beside a lone file). Runs on a worker: on a
    host, each call is a round trip."""
    targets: list[tuple[str, PurePath]] = []
    if host is not None and vm is not None:
        try:
            machine = host.get_vm(vm)
            now = machine.config_path
            snaps = host.list_snapshots(machine.id)
            if now != path:
                targets.append(("The VM's current configuration (Now)", now))
            for snap in snaps:
                if snap.config_path != path:
                    targets.append((f"Checkpoint “{snap.name}”", snap.config_path))
            # The first is the default: the one change among many shows against the
            # parent (a checkpoint's parent checkpoint; Now's checkpoint).
            this = next((s for s in snaps if s.config_path == path), None)
            parent_id = machine.parent_snapshot_id if path == now else (
                this.parent_snapshot_id if this is not None else None)
            parent = next((s for s in snaps if s.id == parent_id), None)
            if parent is not None:
                first = (f"Checkpoint “{parent.name}” (its parent)", parent.config_path)
                targets = [first, *(t for t in targets if t[1] != parent.config_path)]
        except HvError:
            pass
    else:
        targets += configurations_near(local)
    return targets


class InspectorWindow(QMainWindow):
    """See the module docstring. Give either `host` + `vm` (+ `snapshot`, None for Now) or
    `path` (one file).

    Signals: listed(): the files are listed, off the GUI thread (`file_model` holds them,
    `listing` is 0);
    view_ready(Path): a file's view is in place (decoded, or why it cannot be)."""

    listed = Signal()
    view_ready = Signal(object)

    def __init__(
        self,
        *,
        host: HostBackend | None = None,
        vm: str | None = None,
        snapshot: str | None = None,
        path: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("inspectorWindow")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.host, self.vm, self.snapshot, self.path = host, vm, snapshot, path
        self.runner = Runner(self)
        # A job without its own handler (none today) reports in the status bar. Not a bound
        # method of the window: runner -> window would be a reference cycle, and the garbage
        # collector may then free the window on a worker thread, which crashes Qt.
        bar = self.statusBar()
        self.runner.default_failure = lambda exc: bar.showMessage(str(exc))
        self._views: dict[Path, QWidget] = {}
        self._ops: dict[Path, Op] = {}
        self._closed = False
        self.resize(1180, 760)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("inspectorTabs")
        self.setCentralWidget(self.tabs)
        self.list_problem: str | None = None
        self.listing = 0  # host file lists being read (each a round trip or more)
        self.file_model = FileListModel([], self)
        self.tabs.addTab(self._files_page(), "&Files")
        if host is not None and vm is not None:
            self._add_host_tabs(host, vm, snapshot)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Close), self, self.close)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self, self.refresh)
        self._list_in_background(None)

    # -- the file list ----------------------------------------------------------------------
    def _list_in_background(self, current: Path | None) -> None:
        """List the host's files (a remote host's each copied in part first), or the one file
        inspected (`path`) and its chain, in the background; select `current` again when it
        is still listed."""
        host, vm, snapshot, path = self.host, self.vm, self.snapshot, self.path
        self.listing += 1
        if host is None:
            assert path is not None
            title = f"Inspect — {path.name}"
            self.setWindowTitle(f"{title} — reading…")

            def listing(_progress: Any, _cancel: Any) -> tuple[str, list[FileFacts]]:
                assert path is not None
                return title, files_of(path)
        else:
            assert vm is not None
            title = "Inspect Files"
            self.setWindowTitle("Inspect Files — reading the host's files…")

            def listing(_progress: Any, _cancel: Any) -> tuple[str, list[FileFacts]]:
                name = (host.get_vm(vm).name + " (Now)" if snapshot is None
                        else host.get_snapshot(vm, snapshot).name)
                return f"Inspect Files — {name}", checkpoint_files(host, vm, snapshot)

        Op(self.runner, listing, label="Inspect Files").success(
            lambda answer: self._listed(answer, current)).failure(
            lambda exc: self._listed((title, []), current, str(exc))
        ).run_in_background()

    def _listed(self, answer: tuple[str, list[FileFacts]], current: Path | None,
                problem: str | None = None) -> None:
        self.listing -= 1
        if self._closed:
            return
        title, files = answer
        self.setWindowTitle(title)
        self.list_problem = problem
        self.list_banner.setText(problem or "")
        self.list_banner.setVisible(bool(problem))
        self.file_model.set_files(files)
        rows = [f.path for f in files]
        if rows:
            self.file_table.selectRow(rows.index(current) if current in rows else 0)
        if not self.listing:
            self.listed.emit()

    def _files_page(self) -> QWidget:
        page = QSplitter(Qt.Orientation.Horizontal, self)
        left = QWidget(page)
        self.file_table = QTableView(left)
        self.file_table.setObjectName("fileList")
        self.file_table.setAccessibleName("Files")
        self.file_table.setModel(self.file_model)
        self.file_table.verticalHeader().hide()
        self.file_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.file_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.file_table.setWordWrap(False)
        self.file_table.setShowGrid(False)
        self.file_table.setAlternatingRowColors(True)
        self.file_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.file_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.file_table.setColumnWidth(0, 250 if self.path is None else 200)
        self.file_table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.role = QLabel(left)
        self.role.setObjectName("fileRole")
        self.role.setWordWrap(True)
        self.role.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.role.setMinimumHeight(60)
        self.role.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.list_banner = Banner(self.list_problem or "", "error", left)
        self.list_banner.setVisible(bool(self.list_problem))
        left_layout.addWidget(self.list_banner)
        left_layout.addWidget(self.file_table, 1)
        left_layout.addWidget(self.role)
        self.stack = QStackedWidget(page)
        self.stack.setObjectName("fileViews")
        self.stack.addWidget(WaitingPanel("Select a file to inspect it.", self.stack))
        page.addWidget(left)
        page.addWidget(self.stack)
        page.setStretchFactor(1, 1)
        page.setSizes([380, 900] if self.path is not None else [470, 810])
        return page

    def _selection_changed(self, selected: QItemSelection, _: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        facts = self.file_model.data(indexes[0], Roles.ObjectRole)
        if isinstance(facts, FileFacts):
            self.show_file(facts)

    def show_file(self, facts: FileFacts) -> None:
        """Show the view of `facts.path`, decoding the file off the GUI thread the first time."""
        lines = [str(facts.host_path), "", facts.role]
        details = file_details(facts)
        if details:
            lines += ["", details]
        if facts.problem:
            lines += ["", f"Problem: {facts.problem}"]
        self.role.setText("\n".join(lines))
        view = self._views.get(facts.path)
        if view is None:
            if not facts.exists:
                view = ErrorPanel(f"{facts.host_path.name} is missing",
                                  facts.problem or "The file does not exist.", self.stack)
            else:
                view = WaitingPanel(f"Reading {facts.path.name}…", self.stack)
                self._start_decode(facts)
            self._views[facts.path] = view
            self.stack.addWidget(view)
        self.stack.setCurrentWidget(view)

    def _start_decode(self, listed: FileFacts) -> None:
        path, listed_kind, host_path = listed.path, listed.kind, listed.host_path
        host, vm = self.host, self.vm  # the worker holds no reference to the window

        def decode(progress: Any, cancel: Any) -> tuple[
                dict[str, Any], list[tuple[str, PurePath]], HexFile | None]:
            facts = inspect_file(path)
            targets = diff_targets(host, vm, path, host_path) if facts.get("kind") in (
                XML, VMCX, VMRS) and not facts.get("error") else []
            if listed_kind == PASSTHROUGH and not facts.get("error"):
                # the content alone cannot tell: the VM's configuration says what it is
                facts.update(kind=PASSTHROUGH, label=KIND_LABELS[PASSTHROUGH], note=(
                    "A raw disk (in this lab, a file standing for a physical disk): no format "
                    "to decode, its bytes are the disk's bytes. Checkpoints do not capture it: "
                    "applying one leaves this data as it is now."))
            return facts, targets, bytes_to_show(path, facts)

        op = Op(self.runner, decode, label=path.name)
        op.success(lambda answer: self._decoded(path, *answer))
        op.failure(lambda exc: self._decode_failed(path, exc))
        self._ops[path] = op
        op.run_in_background()

    def _replace_view(self, path: Path, view: QWidget) -> None:
        old = self._views.get(path)
        self._views[path] = view
        self.stack.addWidget(view)
        if old is not None:
            if self.stack.currentWidget() is old:
                self.stack.setCurrentWidget(view)
            self.stack.removeWidget(old)
            old.deleteLater()
        self.view_ready.emit(path)

    def _decoded(self, path: Path, facts: dict[str, Any],
                 targets: list[tuple[str, PurePath]], file: HexFile | None) -> None:
        self._ops.pop(path, None)
        if self._closed:
            if file is not None:
                file.close()
            return
        host = self.host
        local_copy = None if host is None else host.local_copy
        try:
            view = make_file_view(path, facts, self.runner, targets, self.stack, local_copy,
                                  file)
        except (HvError, OSError) as exc:
            view = ErrorPanel(f"{path.name} cannot be shown", str(exc), self.stack)
        self._replace_view(path, view)

    def _decode_failed(self, path: Path, exc: BaseException) -> None:
        self._ops.pop(path, None)
        if self._closed:
            return
        problem = exc.problem if isinstance(exc, HvError) else f"{type(exc).__name__}: {exc}"
        self._replace_view(path, ErrorPanel(f"{path.name} cannot be read", problem, self.stack))

    def view_of(self, path: Path) -> QWidget | None:
        return self._views.get(path)

    def refresh(self) -> None:
        """F5: list the files again and decode them afresh (the host may have changed them)."""
        selected = self.file_table.selectionModel().selectedRows()
        current = self.file_model.files()[selected[0].row()].path if selected else None
        for path, view in list(self._views.items()):
            if path in self._ops:
                continue  # still decoding: it will land in the new list's view as well
            for hex_view in view.findChildren(HexView):
                hex_view.close_file()
            self.stack.removeWidget(view)
            view.deleteLater()
            del self._views[path]
        self._list_in_background(current)
        self._refresh_host_tabs()

    def _refresh_host_tabs(self) -> None:
        if self.host is not None and self.vm is not None:
            self._start_space(self.host, self.vm)
            if self.snapshot is not None:
                self._set_delete_tab(WaitingPanel("Working out what a delete would do…",
                                                  self.tabs))
                self._start_preview(self.host, self.vm, self.snapshot)

    # -- host tabs ----------------------------------------------------------------------------
    def _add_host_tabs(self, host: HostBackend, vm: str, snapshot: str | None) -> None:
        self.space_view: SpaceView | None = None
        self.space_tab: QWidget = WaitingPanel("Reading the disks' history…", self.tabs)
        self.tabs.addTab(self.space_tab, "&Space")
        self._space_wanted = 0
        self._start_space(host, vm)
        if snapshot is None:
            return
        self.delete_view: QWidget = WaitingPanel("Working out what a delete would do…", self.tabs)
        self.tabs.addTab(self.delete_view, "&Delete preview")
        self._preview_wanted = 0
        self._start_preview(host, vm, snapshot)

    def _start_space(self, host: HostBackend, vm: str) -> None:
        """Read the VM's disk history off the GUI thread; only the latest request is shown."""
        self._space_wanted += 1
        wanted = self._space_wanted

        def history(_progress: Any, _cancel: Any) -> tuple[str, list[Any]]:
            machine = host.get_vm(vm)
            return machine.name, host.events(machine.id)

        Op(self.runner, history, label="Space").success(
            lambda answer: self._space_ready(answer, wanted)).failure(
            lambda exc: self._space_ready(exc, wanted)).run_in_background()

    def _space_ready(self, answer: tuple[str, list[Any]] | BaseException, wanted: int) -> None:
        if self._closed or wanted != self._space_wanted:
            return
        if isinstance(answer, BaseException):
            self.space_view = None
            problem = str(answer) if isinstance(answer, HvError) else (
                f"{type(answer).__name__}: {answer}")
            widget: QWidget = ErrorPanel("Space", problem, self.tabs)
        else:
            name, events = answer
            widget = self.space_view = SpaceView(events, name, self.tabs)
        replace_tab(self.tabs, self.space_tab, widget, "&Space")
        self.space_tab = widget

    def _start_preview(self, host: HostBackend, vm: str, snapshot: str) -> None:
        """Compute the delete preview off the GUI thread; only the latest request is shown."""
        self._preview_wanted += 1
        wanted = self._preview_wanted
        Op(self.runner, lambda progress, cancel: delete_preview(host, vm, snapshot),
           label="delete preview").success(
            lambda preview: self._preview_ready(preview, wanted)).failure(
            lambda exc: self._preview_failed(exc, wanted)).run_in_background()

    def _set_delete_tab(self, widget: QWidget) -> None:
        replace_tab(self.tabs, self.delete_view, widget, "&Delete preview")
        self.delete_view = widget

    def _preview_ready(self, preview: DeletePreview, wanted: int) -> None:
        if not self._closed and wanted == self._preview_wanted:
            self._set_delete_tab(DeletePreviewWidget(preview, self.tabs))

    def _preview_failed(self, exc: BaseException, wanted: int) -> None:
        if not self._closed and wanted == self._preview_wanted:
            problem = str(exc) if isinstance(exc, HvError) else f"{type(exc).__name__}: {exc}"
            self._set_delete_tab(ErrorPanel("The delete preview cannot be computed", problem,
                                            self.tabs))

    # -- closing ----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self._closed = True
        self.runner.shutdown()
        for hex_view in self.findChildren(HexView):
            hex_view.close_file()
        super().closeEvent(event)
