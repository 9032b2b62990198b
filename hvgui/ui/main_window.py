"""The main window: Hyper-V Manager's layout over one or more lab hosts.

    navigation | Virtual Machines        | Actions
    (hosts)    | Checkpoints             | (follows the selection)
               | details (Summary, ...)  |
    ---------------- What happened (dock) ----------------

Widgets only ask; `HostSession` reads the host and runs operations; a function of `commands`
turns an action on the selection into a question (if any) and one `HostOp`, which the window
runs (`run_command`) and whose result selects what it made.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QByteArray,
    QItemSelection,
    QModelIndex,
    QPoint,
    QSettings,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QTableView,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from hvgui.backend import (
    VM,
    Capability,
    DiskEvent,
    Finding,
    HostBackend,
    HostError,
    HostKind,
    OperationResult,
    Snapshot,
)
from hvgui.backend.actions import APPLY, changes_host
from hvgui.backend.states import VMAction
from hvgui.connect import lab_host, lab_location, lab_real_location
from hvgui.progress import CancelToken, Progress
from hvgui.ui import allowed, ask, commands, openers
from hvgui.ui.actions_pane import ActionsPane
from hvgui.ui.closing import ClosingDialog
from hvgui.ui.commands import Command, Selection
from hvgui.ui.details import DetailsPane, memory_file_size
from hvgui.ui.host_op import HostOp
from hvgui.ui.icons import icon
from hvgui.ui.lessons_pane import LessonsPane
from hvgui.ui.models import IdRole, NowItem, ObjectRole
from hvgui.ui.navigation import NavigationTree
from hvgui.ui.screen_contents import listing_for, root_listing, unavailable, unreadable
from hvgui.ui.session import FirstRead, HostSession, first_read
from hvgui.ui.style import STYLE_SHEET
from hvgui.ui.what_happened import WhatHappenedPanel
from hvgui.ui.window_actions import WindowActions
from hvgui.ui.workers import Op, Runner

if TYPE_CHECKING:
    from hvgui.ui.inspector import InspectorWindow

INSPECTOR_MODULE = "hvgui.ui.inspector"
SETTINGS_ORG = "hvgui"
SETTINGS_APP = "hvgui"


SERVER = "server:"  # the session key of a host reached over the network: no folder here


def _host_tooltip(host: HostBackend) -> str:
    """The host's tooltip in the tree: where it is, the Windows folder a lab host stands for,
    what it cannot do (the host's properties only: no I/O here, on the GUI thread)."""
    tooltip = host.location
    if host.windows_root:
        tooltip += f"\nstands for {host.windows_root} on a Windows host"
    return tooltip + "".join(f"\nNo {capability.value} here: {reason}"
                             for capability, reason in host.capabilities.missing.items())


def _session_key(root: Path | str, host: HostBackend | None) -> str:
    """A server's name, or the folder spelled as the lab host spells its root (no I/O here:
    resolving links would stat the folder on the GUI thread)."""
    if host is not None and not host.capabilities.has(Capability.LOCAL_FILES):
        return SERVER + host.location.lower()
    return lab_location(root)


def _keep_out_of_collections() -> None:
    """What start-up made (modules, classes, the window, the host's first read) lives as long
    as the app: taken out of the garbage collector's full passes, which otherwise walk all of
    it, holding every thread (the GUI thread too) while an operation's worker allocates."""
    gc.freeze()


def _back_into_collections() -> None:
    """The window is closing: what was frozen with it (itself, its hosts, their reads) is
    garbage soon, and frozen garbage in a reference cycle is never freed."""
    gc.unfreeze()


def app_settings() -> QSettings:
    """The user's settings (INI format, so tests can redirect it with QSettings.setPath)."""
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, SETTINGS_ORG, SETTINGS_APP
    )


def _pane(title: str, body: QWidget, name: str) -> QWidget:
    box = QWidget()
    box.setObjectName(name)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    header = QLabel(title)
    header.setObjectName("paneHeader")
    layout.addWidget(header)
    layout.addWidget(body)
    return box


class MainWindow(QMainWindow):
    """Signals: host_opened(str): the host open_host was asked for (its key) is in
    `sessions`, its VMs read, or could not be opened (the error is shown); host_gone(str):
    just before that, the host was one open last time whose folder is gone (not reopened)."""

    host_opened = Signal(str)
    host_gone = Signal(str)

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else app_settings()
        self.setWindowTitle("Hyper-V Manager — hvgui")
        self.setWindowIcon(icon("hvgui"))
        self.setObjectName("mainWindow")
        self.setStyleSheet(STYLE_SHEET)
        self.runner = Runner(self, max_threads=4)
        self.runner.default_failure = lambda exc: ask.show_error(self, "hvgui", exc)
        self.sessions: dict[str, HostSession] = {}
        self.opening: set[str] = set()  # the local hosts being opened on a worker
        # Each open local host's folder with its links followed (read on the open's worker):
        # a second spelling of an open folder (a link to it) joins its entry, not a new one.
        self.real_folders: dict[str, str] = {}
        self.session: HostSession | None = None
        self.acts = WindowActions(self)
        self.windows = openers.OpenWindows()  # consoles and dialogs, closed with this window
        self.last_menu: QMenu | None = None
        self.closing = False  # set in closeEvent: late results are recorded, not announced
        self.closing_dialog: ClosingDialog | None = None  # asked on close, operations running
        self._kept_item: str | None = None  # the tree item selected across a model reset
        self._screens: dict[str, list[str]] = {}  # thumbnail listings by checkpoint / Now
        self._screens_loading: set[str] = set()
        self._memory_sizes: dict[str, str] = {}  # memory file -> its size (looked up on a worker)
        self._restoring = False
        # What the host's reads and the operations' ends change (details, actions) is shown
        # once per event-loop pass: a burst of them must not hold the GUI thread in one go.
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(0)
        self._view_timer.timeout.connect(self._update_view)
        self._build_widgets()
        self._build_menus()
        self._connect_actions()
        self.update_actions()
        self._restore_geometry()
        # once the window is up and has been read: what the first click on Inspect needs
        QTimer.singleShot(1500, self._warm_up_inspector)

    # ------------------------------------------------------------------ layout
    def _build_widgets(self) -> None:
        self.navigation = NavigationTree()
        self.navigation.host_selected.connect(self.show_host)

        self.vm_view = QTableView()
        self.vm_view.setObjectName("vmList")
        self.vm_view.setAccessibleName("Virtual Machines")
        self.vm_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.vm_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.vm_view.setShowGrid(False)
        self.vm_view.setAlternatingRowColors(False)
        self.vm_view.setWordWrap(False)
        self.vm_view.setTabKeyNavigation(False)  # Tab moves to the next pane, not the next cell
        self.vm_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.vm_view.verticalHeader().setVisible(False)
        self.vm_view.verticalHeader().setDefaultSectionSize(22)
        self.vm_view.setMinimumHeight(24 + 4 * 22 + 4)  # a small window still shows 4 VMs
        self.vm_view.horizontalHeader().setHighlightSections(False)
        self.vm_view.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.vm_view.setSortingEnabled(True)
        self.vm_view.horizontalHeader().setStretchLastSection(True)
        self.vm_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.vm_view.customContextMenuRequested.connect(self._vm_menu)
        self.vm_view.doubleClicked.connect(lambda _i: self.acts.vm_connect.trigger())

        self.checkpoint_view = QTreeView()
        self.checkpoint_view.setObjectName("checkpointTree")
        self.checkpoint_view.setAccessibleName("Checkpoints")
        self.checkpoint_view.setHeaderHidden(True)
        self.checkpoint_view.setUniformRowHeights(True)
        self.checkpoint_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.checkpoint_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.checkpoint_view.customContextMenuRequested.connect(self._checkpoint_menu)
        self.checkpoint_view.setExpandsOnDoubleClick(False)
        # Rename (F2 or the menu) edits in place; no click starts an editor by surprise.
        self.checkpoint_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.checkpoint_view.doubleClicked.connect(self._checkpoint_double_clicked)

        # Hyper-V Manager's words for a VM without checkpoints (the tree is then empty).
        self.no_checkpoints = QLabel(
            "The selected virtual machine has no checkpoints.", self.checkpoint_view.viewport()
        )
        self.no_checkpoints.setObjectName("noCheckpoints")
        self.no_checkpoints.move(8, 6)
        self.no_checkpoints.adjustSize()
        self.no_checkpoints.hide()
        self.loading = QLabel("", self.vm_view.viewport())  # "Loading lab...": see open_host
        self.loading.setObjectName("hostLoading")
        self.loading.move(8, 6)
        self.loading.hide()

        self.details = DetailsPane()
        self.actions_pane = ActionsPane()
        self.what_happened = WhatHappenedPanel()

        self.vm_pane = _pane("Virtual Machines", self.vm_view, "vmPane")
        # A VM (or checkpoint) configuration that cannot be read is named here, in words;
        # the rest of the host keeps refreshing.
        self.problem_banner = QLabel()
        self.problem_banner.setObjectName("problemBanner")
        self.problem_banner.setAccessibleName("Configuration problems")
        self.problem_banner.setWordWrap(False)
        # A long line is cut at the pane's edge (whole text in the tooltip), never widening
        # the window.
        self.problem_banner.setSizePolicy(QSizePolicy.Policy.Ignored,
                                          QSizePolicy.Policy.Preferred)
        self.problem_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem_banner.hide()
        self.read_only_banner = QLabel()
        self.read_only_banner.setObjectName("readOnlyBanner")
        self.read_only_banner.setAccessibleName("Read-only host")
        self.read_only_banner.setWordWrap(True)
        # A folder from a real Hyper-V host says so, with the button that adopts it.
        self.adopt_button = QToolButton()
        self.adopt_button.setObjectName("adoptHostButton")
        self.adopt_button.setDefaultAction(self.acts.adopt_host)
        self.adopt_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.read_only_bar = QWidget()
        bar_layout = QHBoxLayout(self.read_only_bar)
        bar_layout.setContentsMargins(0, 0, 0, 0)
        bar_layout.addWidget(self.read_only_banner, 1)
        bar_layout.addWidget(self.adopt_button, 0, Qt.AlignmentFlag.AlignTop)
        self.read_only_bar.hide()
        vm_layout = self.vm_pane.layout()
        assert isinstance(vm_layout, QVBoxLayout)
        vm_layout.insertWidget(1, self.read_only_bar)
        vm_layout.insertWidget(2, self.problem_banner)
        self.checkpoint_pane = _pane("Checkpoints", self.checkpoint_view, "checkpointPane")
        self.centre = QSplitter(Qt.Orientation.Vertical)
        self.centre.setObjectName("centreSplitter")
        self.centre.addWidget(self.vm_pane)
        self.centre.addWidget(self.checkpoint_pane)
        self.centre.addWidget(self.details)
        self.centre.setStretchFactor(0, 3)
        self.centre.setStretchFactor(1, 3)
        self.centre.setStretchFactor(2, 2)
        self.centre.setChildrenCollapsible(False)

        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.setObjectName("mainSplitter")
        self.main_split.addWidget(self.navigation)
        self.main_split.addWidget(self.centre)
        self.main_split.addWidget(self.actions_pane)
        self.main_split.setStretchFactor(0, 0)
        self.main_split.setStretchFactor(1, 1)
        self.main_split.setStretchFactor(2, 0)
        self.main_split.setSizes([200, 760, 220])
        self.navigation.setMinimumWidth(150)
        self.actions_pane.setMinimumWidth(205)  # "Delete Checkpoint Subtree..." stays whole
        self.main_split.setChildrenCollapsible(False)
        self.setCentralWidget(self.main_split)

        self.what_dock = QDockWidget("What happened", self)
        self.what_dock.setObjectName("whatHappenedDock")
        self.what_dock.setWidget(self.what_happened)
        self.what_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.what_dock)
        self.acts.show_what_happened.setChecked(True)
        self.what_dock.visibilityChanged.connect(self.acts.show_what_happened.setChecked)
        self.acts.show_what_happened.toggled.connect(self.what_dock.setVisible)

        # The Lessons pane: hidden until Help > Lessons... (then it can stay docked).
        self.lessons = LessonsPane(self)
        self.lessons_dock = QDockWidget("Lessons", self)
        self.lessons_dock.setObjectName("lessonsDock")
        self.lessons_dock.setWidget(self.lessons)
        self.lessons_dock.installEventFilter(self.lessons)  # closing the pane ends the lesson
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.lessons_dock)
        self.lessons_dock.hide()
        self.acts.show_lessons.triggered.connect(self.show_lessons)

        # Tab order follows the reading order: hosts, VMs, checkpoints, details, actions.
        QWidget.setTabOrder(self.navigation, self.vm_view)
        QWidget.setTabOrder(self.vm_view, self.checkpoint_view)
        QWidget.setTabOrder(self.checkpoint_view, self.details.tabs)
        QWidget.setTabOrder(self.details.tabs, self.actions_pane)
        QWidget.setTabOrder(self.actions_pane, self.what_happened)
        # F2 and Delete act on the list that has the focus.
        self.vm_view.addActions([self.acts.vm_rename, self.acts.vm_delete, self.acts.vm_cancel])
        self.checkpoint_view.addActions(
            [self.acts.cp_rename, self.acts.cp_delete, self.acts.cp_delete_subtree]
        )
        self.statusBar().showMessage("Ready")

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.acts.connect_host)
        file_menu.addAction(self.acts.open_folder)
        file_menu.addAction(self.acts.connect_server)
        file_menu.addAction(self.acts.new_host)
        file_menu.addAction(self.acts.new_vm)
        file_menu.addAction(self.acts.check_host)
        file_menu.addSeparator()
        file_menu.addAction(self.acts.quit)
        self.action_menu = bar.addMenu("&Action")
        self._fill(self.action_menu, self.acts.vm_actions(), hide_disabled=False)
        self.checkpoint_menu = bar.addMenu("&Checkpoint")
        self._fill(self.checkpoint_menu, self.acts.checkpoint_actions(), hide_disabled=False)
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.acts.refresh)
        view_menu.addAction(self.acts.show_what_happened)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.acts.show_lessons)
        help_menu.addSeparator()
        help_menu.addAction(self.acts.about)

    @staticmethod
    def _fill(menu: QMenu, actions: list[QAction | None], *, hide_disabled: bool,
              greyed_for: str = "") -> None:
        """`hide_disabled`: list only what is offered, and the disabled actions whose tooltip
        is `greyed_for` (a read-only host's reason: shown greyed, saying why)."""
        menu.setToolTipsVisible(True)  # a greyed item's tooltip says why
        for action in actions:
            if action is None:
                menu.addSeparator()
            elif (not hide_disabled or action.isEnabled()
                  or (greyed_for and action.toolTip() == greyed_for)):
                menu.addAction(action)

    def _connect_actions(self) -> None:
        a = self.acts
        for action, slot in (
            (a.connect_host, self.connect_host),
            (a.open_folder, self.open_folder_dialog),
            (a.adopt_host, self.adopt_host),
            (a.new_host, lambda: openers.new_host(self, self.open_host)),
            (a.connect_server, lambda: openers.server(self, self.runner, self.settings,
                                                      self.open_host)),
            (a.check_host, self.check_host),
            (a.new_vm, self.new_vm),
            (a.refresh, self.refresh),
            (a.quit, self.close),
            (a.about, self.about),
            (a.vm_connect, self.connect_vm),
            (a.vm_settings, self.vm_settings),
            (a.cp_settings, self.checkpoint_settings),
            (a.vm_cancel, self.cancel_operation),
            (a.vm_rename, self.rename_vm),
            (a.cp_rename, self.rename_checkpoint),
            (a.cp_inspect, self.inspect),
        ):
            action.triggered.connect(slot)
        for action, command in (
            (a.vm_start, commands.start),
            (a.vm_turn_off, commands.turn_off),
            (a.vm_shut_down, commands.shut_down),
            (a.vm_save, commands.save),
            (a.vm_pause, commands.pause),
            (a.vm_resume, commands.resume),
            (a.vm_reset, commands.reset),
            (a.vm_delete_saved_state, commands.delete_saved_state),
            (a.vm_checkpoint, commands.checkpoint),
            (a.vm_revert, commands.revert),
            (a.vm_move, commands.move_storage),
            (a.vm_export, commands.export_vm),
            (a.vm_delete, commands.delete_vm),
            (a.cp_apply, commands.apply_checkpoint),
            (a.cp_export, commands.export_checkpoint),
            (a.cp_delete, commands.delete_checkpoint),
            (a.cp_delete_subtree, commands.delete_checkpoint_subtree),
        ):
            action.triggered.connect(lambda _checked=False, c=command: self.run_command(c))

    # --------------------------------------------------------------- commands
    def selection(self) -> Selection | None:
        """What the actions act on now: the selected VM and, in its tree, checkpoint."""
        vm = self.selected_vm()
        if self.session is None or vm is None:
            return None
        return Selection(self.session, vm, self.selected_checkpoint())

    def run_command(self, command: Command) -> None:
        """An action on the selection: its question (if any), then its operation."""
        sel = self.selection()
        op = command(self, sel) if sel is not None else None
        if op is not None:
            self.run(op)

    def run(self, op: HostOp) -> None:
        """Run `op`; its result goes to What happened, and selects what it `shows`."""
        shows = op.shows
        op.success(self._record)
        if shows is not None:

            def select(result: OperationResult) -> None:
                self.select_checkpoint(shows(result) or "")

            op.success(select)
        op.run_in_background()

    def _record(self, result: OperationResult) -> None:
        """Put a result in What happened; say its warnings."""
        vm = self.session.vm(result.vm_id) if self.session is not None else None
        self.what_happened.add_result(vm.name if vm is not None else result.vm_id, result)
        if result.warnings and not self.closing:
            ask.inform(self, result.operation, "\n\n".join(result.warnings))

    def new_vm(self) -> None:
        session = self.session
        op = commands.new_vm(self, session) if session is not None else None
        if op is not None and session is not None:
            def select(result: OperationResult) -> None:
                # A new VM has no row yet: the poll's next read shows and selects it.
                session.selected_vm_id = result.vm_id

            self.run(op.success(select))

    def rename_vm(self) -> None:
        """Rename in place, as Hyper-V Manager does: the list opens an editor on the name."""
        index = self.vm_view.currentIndex()
        if self.selection() is not None and index.isValid():
            self.vm_view.edit(index.siblingAtColumn(0))

    def rename_checkpoint(self) -> None:
        """Rename in place, as Hyper-V Manager does: the tree opens an editor on the name."""
        if self.selected_checkpoint() is not None:
            self.checkpoint_view.edit(self.checkpoint_view.currentIndex())

    def _renamed_vm(self, session: HostSession, vm_id: str, name: str) -> None:
        vm = session.vm(vm_id)
        op = commands.rename_vm(self, Selection(session, vm), name) if vm is not None else None
        if op is not None:
            self.run(op)

    def _renamed_checkpoint(self, session: HostSession, snapshot_id: str, name: str) -> None:
        vm = session.vm(session.selected_vm_id)
        snap = next((s for s in session.checkpoint_model.snapshots() if s.id == snapshot_id),
                    None)
        if vm is not None and snap is not None:
            op = commands.rename_checkpoint(self, Selection(session, vm, snap), name)
            if op is not None:
                self.run(op)

    def cancel_operation(self) -> None:
        """Stop the selected VM's running operation where the host allows (it rolls back)."""
        sel = self.selection()
        if sel is not None and sel.session.cancel(sel.vm.id):
            self.statusBar().showMessage(f"Cancelling the operation on {sel.vm.name}...")

    def connect_vm(self) -> None:
        sel = self.selection()
        if sel is not None:
            openers.console(self, sel, self.windows, self._record)

    def vm_settings(self) -> None:
        sel = self.selection()
        if sel is not None:
            openers.settings(self, Selection(sel.session, sel.vm), self.windows, self._record)

    def checkpoint_settings(self) -> None:
        sel = self.selection()
        if sel is not None and sel.snapshot is not None:
            openers.settings(self, sel, self.windows, self._record)

    def inspect(self) -> InspectorWindow | None:
        """Inspect Files... on the selected checkpoint (or Now); returns its window."""
        sel = self.selection()
        return openers.inspector(self, sel, self.windows) if sel is not None else None

    def _warm_up_inspector(self) -> None:
        """Import the inspector's modules on a pool thread while the user looks at the
        window, so that the first Inspect Files... opens at once (its imports were most of
        the first open's stall). Defining classes off the GUI thread is safe; no widget is
        made there."""
        if INSPECTOR_MODULE not in sys.modules:
            Op(self.runner, lambda _p, _c: importlib.import_module(INSPECTOR_MODULE),
               label="Loading the inspector", quiet=True).success(
                lambda _module: _keep_out_of_collections()).failure(
                lambda exc: None  # Inspect Files... imports it again and reports the error
            ).run_in_background()

    def connect_host(self) -> None:
        folder = ask.ask_directory(self, "Connect to Host (a lab host folder)")
        if folder is not None:
            self.open_folder(folder, "Connect to Host")

    def open_folder_dialog(self) -> None:
        """File > Open Folder...: a lab host, or a VM folder from a Hyper-V host (copied off
        it, or made by Export-VM), which opens read-only until it is adopted."""
        folder = ask.ask_directory(
            self, "Open Folder (a lab host, or a VM folder copied from Hyper-V or exported)")
        if folder is not None:
            self.open_folder(folder, "Open Folder")

    def adopt_host(self) -> None:
        """Adopt the folder shown as a lab host (remembered in the user's settings; nothing in
        the folder changes until the first operation)."""
        session = self.session
        if session is None or session.host.kind is not HostKind.HYPERV_FOLDER:
            return
        host = lab_host(session.host)  # only a lab host opens a real host's folder

        def adopted(_: None) -> None:
            self.statusBar().showMessage(
                f"{session.name}: adopted as a lab host; nothing in it changes until the "
                "first operation", 8000)
            for key in (k for k, s in self.sessions.items() if s is session):
                self.navigation.set_tooltip(key, _host_tooltip(host))  # now its Windows root
            self._show_read_only(session)
            self._show_details()
            self.update_actions()

        Op(self.runner, lambda _p, _c: host.adopt(), label="Adopt as Lab Host").success(
            adopted
        ).failure(lambda exc: ask.show_error(self, "Adopt as Lab Host", exc)).run_in_background()

    def _show_read_only(self, session: HostSession) -> None:
        reason = allowed.read_only_reason(session.host.read_only)
        self.read_only_banner.setText(reason)
        self.read_only_bar.setVisible(bool(reason))
        self.read_only_banner.setVisible(bool(reason))
        adoptable = session.host.kind is HostKind.HYPERV_FOLDER
        self.adopt_button.setVisible(adoptable)
        self.acts.adopt_host.setEnabled(adoptable)

    def open_folder(self, folder: Path, title: str, *, remembered: bool = False) -> str:
        """Open the host in `folder`, looked at on the open's worker (an empty one becomes a
        host only if the user says so; a `remembered` one gone since is not reopened); its
        key, as open_host's."""
        return self.open_host(
            folder, make=lambda: openers.named_host(folder, remembered=remembered), title=title)

    def check_host(self) -> None:
        """The host check (broken chains, orphaned AVHDX, stray BIN/VSV...), in the background."""
        session = self.session
        if session is None:
            return
        host = session.host
        self.statusBar().showMessage(f"Checking {session.name}...")

        def show(findings: list[Finding]) -> None:
            problems = sum(f.is_problem for f in findings)
            found = f"{session.name}: {problems or 'no'} problem(s) found"
            self.statusBar().showMessage(found, 5000)
            ask.show_findings(self, session.name, findings)

        Op(self.runner, lambda _p, _c: host.check(), label="Check Host").success(
            show
        ).failure(lambda exc: ask.show_error(self, "Check Host", exc)).run_in_background()

    def about(self) -> None:
        QMessageBox.about(
            self, "About hvgui",
            "<b>hvgui</b><br>Hyper-V Manager's checkpoint workflow on a lab host, "
            "true to the real files.",
        )

    # ------------------------------------------------------------------ hosts
    def open_host(self, root: Path | str, host: HostBackend | None = None, *,
                  make: Callable[[], HostBackend] | None = None, title: str = "Open Host") -> str:
        """Open (or switch to) the host in directory `root`, or the server `host` is
        connected to, and show it; returns its key in `sessions`. A local host opens (`make`:
        how, else openers.lab_host_in) and is first read on a worker: the tree shows it
        "Loading..." until then, and `host_opened` says when it is in `sessions` (or could
        not be opened, the error titled `title`; or is open already under another spelling,
        that entry shown instead)."""
        key = _session_key(root, host)
        if key in self.sessions or key in self.opening:
            self.navigation.select_host(key)
            self.show_host(key)
            if key in self.sessions:
                self.host_opened.emit(key)
            return key
        if host is not None and not host.capabilities.has(Capability.LOCAL_FILES):
            self._add_session(key, host).refresh()  # answers on a pool thread, never this one
            self.navigation.add_host(key, host.display_name, _host_tooltip(host))
            self.navigation.select_host(key)
            self.show_host(key)
            self.host_opened.emit(key)
            return key
        self.opening.add(key)
        self.navigation.add_host(key, f"{Path(key).name} (Loading...)", key)

        def read(_p: Progress, _c: CancelToken) -> tuple[HostBackend, FirstRead, str]:
            opened = (host if host is not None else make() if make
                      else openers.lab_host_in(key))
            return opened, first_read(opened), lab_real_location(opened.location)

        Op(self.runner, read, label="Open Host", subject=key, quiet=True).success(
            lambda got: self._opened(key, *got)).failure(
            lambda exc: self._open_failed(key, exc, title)).run_in_background()
        self.navigation.select_host(key)
        self.show_host(key)
        return key

    def close_host(self, key: str) -> None:
        """Take the open host `key` out of the window (a lesson's lab once the lesson is over):
        its entry leaves the tree and its session stops; another host, if any, is shown."""
        session = self.sessions.pop(key, None)
        self.real_folders.pop(key, None)
        self.navigation.remove_host(key)  # the tree may pick and show another host
        if session is None:
            return
        session.stop()
        if session is self.session:
            rest = self.navigation.hosts()
            if rest:
                self.navigation.select_host(rest[0])
                self.show_host(rest[0])
            else:
                self._show_loading(None)

    def _add_session(self, key: str, opened: HostBackend) -> HostSession:
        session = HostSession(opened, self.runner, self)
        session.on_error = lambda label, exc: ask.show_error(self, label, exc)
        session.refreshed.connect(lambda s=session: self._refreshed(s))
        session.health_changed.connect(lambda s=session: self._refreshed(s))
        session.busy_changed.connect(self.update_actions)
        session.operation_done.connect(self._operation_done)
        session.new_events.connect(lambda events, s=session: self._new_events(s, events))
        session.history_loaded.connect(lambda s=session: self._history_loaded(s))
        session.vm_model.rename_requested.connect(
            lambda vm_id, name, s=session: self._renamed_vm(s, vm_id, name))
        session.checkpoint_model.rename_requested.connect(
            lambda snap_id, name, s=session: self._renamed_checkpoint(s, snap_id, name))
        session.cancelled.connect(
            lambda label: self.statusBar().showMessage(f"{label}: cancelled", 5000)
        )
        session.start()
        _keep_out_of_collections()
        self.sessions[key] = session
        return session

    def _opened(self, key: str, opened: HostBackend, state: FirstRead, real: str) -> None:
        """A local host opened and read on a worker: its VMs show (if it is still the host
        looked at: the user may have picked another meanwhile). A folder open already under
        another spelling (`real`: the same folder) is that entry, shown in place of this."""
        self.opening.discard(key)
        if self.closing:  # the window closed meanwhile: nothing to show it in
            return
        same = next((k for k, r in self.real_folders.items() if r == real), None)
        if same is not None:
            looked_at = self.navigation.current_host() == key
            self.navigation.remove_host(key)
            if looked_at:
                self.navigation.select_host(same)
                self.show_host(same)
            self.host_opened.emit(key)
            return
        self.real_folders[key] = real
        session = self._add_session(key, opened)
        session.show_first_read(state)
        self.navigation.set_host(key, session.name, _host_tooltip(opened))
        if self.navigation.current_host() == key:
            self.show_host(key)
        self.host_opened.emit(key)

    def _open_failed(self, key: str, exc: BaseException, title: str) -> None:
        self.opening.discard(key)
        if self.closing:
            return
        self.navigation.remove_host(key)  # the tree shows the host looked at now, if any
        if self.session is None:
            self._show_loading(None)
        if isinstance(exc, openers.EmptyFolder):
            if openers.offer_new_host(self, exc.folder, self.open_host):
                return  # opening again: host_opened says when
        elif isinstance(exc, openers.Gone):
            self.statusBar().showMessage(str(exc), 8000)
            self.host_gone.emit(key)
        else:
            ask.show_error(self, title, exc)
        self.host_opened.emit(key)

    def _show_loading(self, key: str | None) -> None:
        """The host `key` is being opened (None: no host to show): an empty list saying so,
        as Hyper-V Manager shows a server it is connecting to."""
        self.session = None
        self.vm_view.setModel(None)
        self.checkpoint_view.setModel(None)
        name = Path(key).name if key is not None else ""
        self.loading.setText(f"Loading {name}..." if key is not None else "")
        self.loading.adjustSize()
        self.loading.setVisible(key is not None)
        self.setWindowTitle(f"Hyper-V Manager — {name}" if key else "Hyper-V Manager — hvgui")
        self._show_problems([])
        self.read_only_bar.hide()
        self.what_happened.load_history([], {})
        self._view_timer.start()

    def show_host(self, key: str) -> None:
        if key in self.opening:
            self._show_loading(key)
            return
        session = self.sessions.get(key)
        if session is None or session is self.session:
            return
        self.loading.hide()
        self.session = session
        self.vm_view.setModel(session.vm_model)
        self.checkpoint_view.setModel(session.checkpoint_model)
        header = self.vm_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((170, 110, 80, 125, 80)):  # State: "Paused-Critical"
            self.vm_view.setColumnWidth(column, width)
        self.vm_view.selectionModel().selectionChanged.connect(self._vm_selection_changed)
        self.checkpoint_view.selectionModel().selectionChanged.connect(
            self._checkpoint_selection_changed
        )
        session.vm_model.modelReset.connect(self._sync_vm_selection)
        session.checkpoint_model.modelAboutToBeReset.connect(self._remember_checkpoint)
        session.checkpoint_model.modelReset.connect(self._restore_checkpoint)
        self.setWindowTitle(f"Hyper-V Manager — {session.name}")
        self.what_happened.root = session.local_folder()
        self._show_problems(session.problems)
        self._show_read_only(session)
        self._load_history(session)
        self._sync_vm_selection()
        self._restore_checkpoint()

    def refresh(self) -> None:
        if self.session is not None:
            self.session.refresh()

    def _history_loaded(self, session: HostSession) -> None:
        if session is self.session:
            self._load_history(session)

    def _load_history(self, session: HostSession) -> None:
        names = {vm.id: vm.name for vm in session.vm_model.vms()}
        self.what_happened.load_history(session.history, names)

    # --------------------------------------------------------------- selection
    def show_lessons(self) -> None:
        """Help > Lessons...: the Lessons pane, shown and raised."""
        self.lessons_dock.show()
        self.lessons_dock.raise_()
        self.lessons.list.setFocus()

    def selected_vm(self) -> VM | None:
        return self.session.vm(self.session.selected_vm_id) if self.session else None

    def selected_tree_object(self) -> Snapshot | NowItem | None:
        index = self.checkpoint_view.currentIndex()
        selection = self.checkpoint_view.selectionModel()
        if not index.isValid() or selection is None or not selection.isSelected(index):
            return None
        obj = index.data(ObjectRole)
        return obj if isinstance(obj, Snapshot | NowItem) else None

    def selected_checkpoint(self) -> Snapshot | None:
        obj = self.selected_tree_object()
        return obj if isinstance(obj, Snapshot) else None

    def select_checkpoint(self, ident: str) -> bool:
        """Select a tree item by snapshot id (or "now:<vm id>"); False if it is not there."""
        if self.session is None:
            return False
        index = self.session.checkpoint_model.index_of_ident(ident)
        if not index.isValid():
            return False
        self.checkpoint_view.setCurrentIndex(index)
        self.checkpoint_view.scrollTo(index)
        return True

    def _vm_selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self.session is None or self._restoring:
            return
        indexes = selected.indexes()
        if indexes:
            self.session.select_vm(str(indexes[0].data(IdRole)))
        self._show_details()
        self.update_actions()

    def _checkpoint_selection_changed(self, *_args: object) -> None:
        if self._restoring:
            return
        self._show_details()
        self.update_actions()

    def _sync_vm_selection(self) -> None:
        """Select the session's VM in the list (after a reset or a host switch)."""
        if self.session is None:
            return
        row = self.session.vm_model.row_of(self.session.selected_vm_id or "")
        self._restoring = True
        try:
            if row is None:
                self.vm_view.clearSelection()
            else:
                self.vm_view.selectRow(row)
        finally:
            self._restoring = False
        self._show_details()
        self.update_actions()

    def _remember_checkpoint(self) -> None:
        obj = self.selected_tree_object()
        if obj is not None:
            self._kept_item = obj.id if isinstance(obj, Snapshot) else f"now:{obj.vm.id}"

    def _restore_checkpoint(self) -> None:
        self.checkpoint_view.expandAll()
        if self._kept_item:
            self.select_checkpoint(self._kept_item)
            self._kept_item = None
        self._view_timer.start()

    def _update_view(self) -> None:
        self._show_details()
        self.update_actions()

    def _show_problems(self, problems: list[HostError]) -> None:
        if not problems:
            self.problem_banner.hide()
            return
        # One line each (the file's name and the problem); whole paths in the tooltip. A
        # problem of the whole host (a real host's Hyper-V refusing the user, its module
        # missing) is all the pane can say: in full, wrapped, so its fix shows.
        host = self.session.host.display_name if self.session is not None else None
        whole_host = any(p.subject == host for p in problems)
        lines = [f"⚠ {p.problem}" if p.subject == host else
                 f"⚠ Not shown, cannot be read: {Path(p.subject).name}: {p.problem}"
                 for p in problems[:3]]
        self.problem_banner.setWordWrap(whole_host)
        if len(problems) > 3:
            lines.append(f"... and {len(problems) - 3} more")
        self.problem_banner.setText("\n".join(lines))
        self.problem_banner.setToolTip("\n".join(
            [*(str(p) for p in problems), "File > Check Host tells more."]))
        self.problem_banner.show()

    def _refreshed(self, session: HostSession) -> None:
        if session is not self.session:
            return
        self._show_problems(session.problems)
        row = session.vm_model.row_of(session.selected_vm_id or "")
        current = self.vm_view.selectionModel().selectedRows()
        if row is not None and (not current or current[0].row() != row):
            self._sync_vm_selection()
        self._view_timer.start()

    def _show_details(self) -> None:
        model = self.session.checkpoint_model if self.session is not None else None
        empty = model is not None and model.vm is not None and model.rowCount() == 0 and (
            self.session is not None and not self.session.tree_pending)  # not read yet
        unread = self.session.tree_problem if self.session is not None else None
        self.no_checkpoints.setText(
            "The checkpoints of the selected virtual machine cannot be read."
            if unread is not None else "The selected virtual machine has no checkpoints."
        )
        self.no_checkpoints.adjustSize()
        self.no_checkpoints.setVisible(empty)
        obj = self.selected_tree_object()
        vm = self.selected_vm()
        trees = self.session.checkpoint_model if self.session is not None else None
        if isinstance(obj, Snapshot):
            local = self.session is not None and self.session.host.capabilities.has(
                Capability.LOCAL_FILES)
            self.details.show_snapshot(obj, trees.health(obj.id).text if trees else "",
                                       memory_size=self._memory_size(obj) if local else None)
            self._load_screen(obj, obj.id)
        elif vm is not None:
            vms = self.session.vm_model if self.session is not None else None
            self.details.show_vm(vm, vms.health(vm.id).text if vms else "")
            revision = self.session._revision if self.session is not None else ""
            # While an operation changes the VM, its console keeps what it showed: reading
            # the guest's disk at every step would compete with the operation and this thread.
            if self.session is None or not self.session.is_busy(vm.id):
                self._load_screen(vm, f"now:{vm.id}", f"now:{vm.id}:{revision}")
        elif self.session is not None:
            host = self.session.host
            self.details.show_nothing([("Host folder", host.location), *(
                [("Windows root", host.windows_root)] if host.windows_root else [])])
        else:
            self.details.show_nothing()

    def _memory_size(self, snap: Snapshot) -> str:
        """The size of the checkpoint's memory file once a worker looked it up (a checkpoint's
        BIN never changes; a stat on a stalled disk must not freeze the window)."""
        if snap.bin_path is None:
            return ""
        path = Path(snap.bin_path)
        size = self._memory_sizes.get(str(path))
        if size is not None:
            return size
        self._memory_sizes[str(path)] = "Reading..."  # asked once

        def known(size: str) -> None:
            if len(self._memory_sizes) > 500:
                self._memory_sizes.clear()
            self._memory_sizes[str(path)] = size
            shown = self.selected_tree_object()
            if isinstance(shown, Snapshot) and shown.bin_path == snap.bin_path:
                self._show_details()

        Op(self.runner, lambda _p, _c: memory_file_size(path), label="Memory file size",
           quiet=True).bound_to(self.details).success(known).failure(
            lambda exc: known("unknown")).run_in_background()
        return "Reading..."

    def _load_screen(self, obj: Snapshot | VM, key: str, cache_key: str = "") -> None:
        """Fill the thumbnail's console with the guest's files, read off the GUI thread."""
        if self.closing:
            return
        cache_key = cache_key or key
        without = self.session.host.capabilities.reason(Capability.GUEST) if self.session else ""
        if without:  # no simulated guest whose files it could show: the screen says why
            self.details.set_screen_lines(key, unavailable(without))
            return
        cached = self._screens.get(cache_key)
        if cached is not None:
            self.details.set_screen_lines(key, cached)
            return
        target = listing_for(obj)
        if target is None or cache_key in self._screens_loading:
            return
        self._screens_loading.add(cache_key)

        def shown(lines: list[str]) -> None:
            if len(self._screens) > 500:  # Now's keys change with every host revision
                self._screens.clear()
            self._screens[cache_key] = lines
            self.details.set_screen_lines(key, lines)

        Op(self.runner, lambda _p, _c: root_listing(*target), label="Thumbnail",
           quiet=True).bound_to(
            self.details
        ).success(shown).failure(lambda _exc: shown(unreadable())).finally_(
            lambda: self._screens_loading.discard(cache_key)
        ).run_in_background()

    # ----------------------------------------------------------------- actions
    def _grey_what_the_host_cannot_do(self) -> None:
        """What this host's backend cannot do is greyed, its reason as the tooltip."""
        if self.session is None:
            return
        capabilities = self.session.host.capabilities
        a = self.acts
        for action, capability in ((a.vm_connect, Capability.GUEST),
                                   (a.check_host, Capability.CHECK_HOST),
                                   (a.cp_inspect, Capability.INSPECT_FILES)):
            reason = capabilities.reason(capability)
            if reason:
                action.setEnabled(False)
            action.setToolTip(reason or action.statusTip())
        # What happened still lists this session's operations: what it lacks is said, not
        # greyed (a real host keeps no event log or lab journal of its own).
        lacks = " ".join(r for r in (capabilities.reason(Capability.EVENT_LOG),
                                     capabilities.reason(Capability.JOURNAL)) if r)
        self.what_dock.setToolTip(lacks)
        a.show_what_happened.setToolTip(lacks or a.show_what_happened.statusTip())

    def update_actions(self) -> None:
        """Enable what the selection allows; the Actions pane shows only those."""
        a = self.acts
        vm = self.selected_vm()
        busy = self.session is not None and vm is not None and self.session.is_busy(vm.id)
        # An operation another process (hvctl) runs on the VM shows in its Status: the host
        # would refuse anything else ("VM is busy"), so nothing is offered meanwhile.
        elsewhere = vm is not None and bool(vm.status) and not busy
        # A read-only host can be looked at, not changed: the host's own reason greys it all.
        read_only = self._read_only_reason()
        idle_here = vm is not None and not busy and not elsewhere
        idle = idle_here and not read_only
        why = self.session.refusals(vm) if self.session is not None and vm is not None else {}
        cannot = self.session.cancel_refusal(vm.id) if self.session and vm else ""
        a.vm_cancel.setEnabled(busy and not cannot)
        a.vm_cancel.setToolTip(cannot or a.vm_cancel.statusTip())
        a.vm_connect.setEnabled(vm is not None)
        for name, action in self._vm_rule_actions().items():
            reason = why.get(name, "")
            action.setEnabled(vm is not None and not reason)
            # A greyed item says why (menus show tooltips); an offered one what it does.
            action.setToolTip(reason or action.statusTip())
        obj = self.selected_tree_object()
        snap = obj if isinstance(obj, Snapshot) else None
        for action, name in ((a.cp_apply, APPLY), (a.cp_export, VMAction.EXPORT),
                             (a.cp_rename, VMAction.RENAME), (a.cp_delete, VMAction.DELETE),
                             (a.cp_delete_subtree, VMAction.DELETE)):
            # Export copies the checkpoint out: a read-only host allows it (the host's rule).
            refused = read_only if changes_host(name) else ""
            action.setEnabled(snap is not None and idle_here and not refused)
            # Now (no checkpoint) is never applied, renamed or deleted: no read-only reason.
            action.setToolTip((refused if snap is not None else "") or action.statusTip())
        a.new_vm.setToolTip(read_only or a.new_vm.statusTip())
        a.cp_settings.setEnabled(snap is not None)
        if snap is not None and vm is not None and self.session is not None:
            reason = self.session.apply_refusal(vm, snap)
            a.cp_apply.setEnabled(not reason)
            a.cp_apply.setToolTip(reason or a.cp_apply.statusTip())
        # As in Hyper-V Manager, Delete Checkpoint Subtree... is offered only for a checkpoint
        # with checkpoints under it (for a leaf it would be Delete Checkpoint... again).
        has_children = snap is not None and self.session is not None and any(
            s.parent_snapshot_id == snap.id for s in self.session.checkpoint_model.snapshots())
        a.cp_delete_subtree.setEnabled(has_children and idle)
        if not has_children:
            a.cp_delete_subtree.setToolTip(a.cp_delete_subtree.statusTip())
        # Also for a VM without checkpoints (no tree item): the inspector opens on its files.
        a.cp_inspect.setEnabled(obj is not None or vm is not None)
        a.new_vm.setEnabled(self.session is not None and not read_only)
        a.refresh.setEnabled(self.session is not None)
        a.check_host.setEnabled(self.session is not None)
        self._grey_what_the_host_cannot_do()

        sections: list[tuple[str, list[QAction | None]]] = []
        if self.session is not None:
            sections.append((self.session.name, a.host_actions()))
        if vm is not None:
            sections.append((vm.name, a.vm_actions()))
        if obj is not None:
            title = obj.name if isinstance(obj, Snapshot) else "Now"
            sections.append((title, a.checkpoint_actions()))
        # On a read-only host the pane shows the changes greyed, saying why.
        self.actions_pane.set_sections(sections, greyed_for=read_only)

    def _read_only_reason(self) -> str:
        """Why nothing on this host can change, as the greyed actions' tooltip ("" if it can)."""
        return allowed.read_only_reason(self.session.host.read_only) if self.session else ""

    def _vm_rule_actions(self) -> dict[str, QAction]:
        """The VM actions `allowed.refusals` decides, by its names."""
        a = self.acts
        return {
            VMAction.SETTINGS: a.vm_settings, VMAction.START: a.vm_start,
            VMAction.TURN_OFF: a.vm_turn_off, VMAction.SHUT_DOWN: a.vm_shut_down,
            VMAction.SAVE: a.vm_save, VMAction.PAUSE: a.vm_pause, VMAction.RESUME: a.vm_resume,
            VMAction.RESET: a.vm_reset, VMAction.DELETE_SAVED_STATE: a.vm_delete_saved_state,
            VMAction.CHECKPOINT: a.vm_checkpoint, VMAction.REVERT: a.vm_revert,
            VMAction.MOVE: a.vm_move, VMAction.EXPORT: a.vm_export, VMAction.RENAME: a.vm_rename,
            VMAction.DELETE: a.vm_delete,
        }

    def _vm_menu(self, pos: QPoint) -> None:
        index = self.vm_view.indexAt(pos)
        if not index.isValid():
            return
        self.vm_view.selectRow(index.row())
        menu = QMenu(self)
        menu.setObjectName("vmContextMenu")
        self._fill(menu, self.acts.vm_actions(), hide_disabled=True,
                   greyed_for=self._read_only_reason())
        self._popup(menu, self.vm_view.viewport().mapToGlobal(pos))

    def _checkpoint_menu(self, pos: QPoint) -> None:
        index = self.checkpoint_view.indexAt(pos)
        if not index.isValid():
            return
        self.checkpoint_view.setCurrentIndex(index)
        menu = QMenu(self)
        menu.setObjectName("checkpointContextMenu")
        self._fill(menu, self.acts.checkpoint_actions(), hide_disabled=True,
                   greyed_for=self._read_only_reason())
        self._popup(menu, self.checkpoint_view.viewport().mapToGlobal(pos))

    def _popup(self, menu: QMenu, where: QPoint) -> None:
        if self.last_menu is not None:
            self.last_menu.deleteLater()
        self.last_menu = menu
        menu.popup(where)  # non-blocking: the event loop (and the Status column) keeps going

    def _checkpoint_double_clicked(self, index: QModelIndex) -> None:
        if isinstance(index.data(ObjectRole), Snapshot):
            self.acts.cp_apply.trigger()

    def _new_events(self, session: HostSession, events: list[DiskEvent]) -> None:
        """Operations done elsewhere (hvctl in a terminal) join What happened too."""
        if session is self.session:
            names = {vm.id: vm.name for vm in session.vm_model.vms()}
            self.what_happened.add_events(events, names, elsewhere=True)

    def _operation_done(self, label: str) -> None:
        self.statusBar().showMessage(f"{label}: done", 5000)

    # ------------------------------------------------------------- lifecycle
    def _offer_to_wait(self) -> None:
        if self.closing_dialog is None:
            self.closing_dialog = ClosingDialog(self, self.runner, self._cancel_refusal)
            # queued: the close runs from the event loop, not inside the last op's slot
            self.closing_dialog.done_waiting.connect(
                self.close, Qt.ConnectionType.QueuedConnection)
            self.closing_dialog.finished.connect(self._closing_dialog_gone)
        self.closing_dialog.show()
        self.closing_dialog.raise_()
        self.closing_dialog.activateWindow()

    def _cancel_refusal(self, op: Op) -> str:
        """Why the host `op` runs on cannot cancel it ("" when it can)."""
        return next((why for session in self.sessions.values()
                     if (why := session.refusal_of(op))), "")

    def _closing_dialog_gone(self) -> None:
        if self.closing_dialog is not None:
            self.closing_dialog.deleteLater()
            self.closing_dialog = None

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(QByteArray(geometry))
        else:
            self.resize(1280, 820)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(QByteArray(state))
        else:  # first start: What happened takes a strip, the lists keep the room
            self.resizeDocks([self.what_dock], [150], Qt.Orientation.Vertical)
        splitters = ((self.main_split, "window/mainSplit"), (self.centre, "window/centre"))
        for splitter, key in splitters:
            value = self.settings.value(key)
            if isinstance(value, QByteArray | bytes):
                splitter.restoreState(QByteArray(value))

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/mainSplit", self.main_split.saveState())
        self.settings.setValue("window/centre", self.centre.saveState())
        # Lab folders open again at start; servers are offered in Connect to Server...
        folders = [key for key in self.navigation.hosts() if not key.startswith(SERVER)]
        self.settings.setValue("hosts/open", folders)  # those still opening too
        if self.session is not None:
            self.settings.setValue("hosts/current", self.session.host.location)
        elif self.navigation.current_host() in self.opening:
            self.settings.setValue("hosts/current", self.navigation.current_host())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        """With operations running, ask first (wait for them, cancel them, or keep the window
        open) and close once they are done: the GUI thread never waits for one here."""
        if self.runner.operations():
            event.ignore()
            self._offer_to_wait()
            return
        self.lessons.discard_lab()  # a lesson's lab is not kept, nor opened at the next start
        self.save_settings()
        self.windows.close_all()
        for session in self.sessions.values():
            session.stop()
        self.closing = True
        self.runner.shutdown()  # only the window's own reads are left: stopped at once
        _back_into_collections()
        event.accept()
