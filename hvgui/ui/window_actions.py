"""Every QAction of the main window, created once and shared by the menus, the context menus and
the Actions pane, so a shortcut, an icon or an enabled state is defined in one place."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence

from hvgui.ui.icons import icon


def _action(
    parent: QObject,
    text: str,
    name: str,
    icon_name: str = "",
    shortcut: str | QKeySequence | QKeySequence.StandardKey = "",
) -> QAction:
    action = QAction(text, parent)
    action.setIconText(text.replace("&", ""))  # the Actions pane keeps the "..." of dialogs
    if icon_name:
        action.setIcon(icon(icon_name))
    action.setObjectName(name)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setStatusTip(text.replace("&", "").rstrip("."))
    return action


class WindowActions(QObject):
    """Host, VM and checkpoint actions. F2 and Delete are bound per view (see MainWindow)."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        a = _action
        # Host / file
        self.connect_host = a(self, "&Connect to Host...", "connectHost", "host-connect", "Ctrl+O")
        # A VM folder from a real Hyper-V host (copied, or made by Export-VM): read-only.
        self.open_folder = a(self, "Open &Folder...", "openFolder", "host-connect")
        self.adopt_host = a(self, "&Adopt as Lab Host", "adoptHost", "host")
        self.new_host = a(self, "Ne&w Host...", "newHost", "host")
        self.connect_server = a(self, "Connect to &Server...", "connectServer", "host-connect")
        self.new_vm = a(self, "&New Virtual Machine...", "newVm", "new", "Ctrl+Shift+N")
        self.check_host = a(self, "C&heck Host...", "checkHost", "inspect")
        self.refresh = a(self, "&Refresh", "refresh", "refresh", "F5")  # not Ctrl+R: Resume
        self.quit = a(self, "E&xit", "quit", "", "Ctrl+Q")
        # VM (VMConnect's shortcuts where it has them)
        self.vm_connect = a(self, "C&onnect...", "vmConnect", "connect")
        self.vm_settings = a(self, "&Settings...", "vmSettings", "settings")
        self.vm_start = a(self, "S&tart", "vmStart", "start", "Ctrl+S")
        self.vm_turn_off = a(self, "T&urn Off...", "vmTurnOff", "turn-off")
        self.vm_shut_down = a(self, "S&hut Down...", "vmShutDown", "shut-down", "Ctrl+D")
        self.vm_save = a(self, "S&ave", "vmSave", "save")
        self.vm_pause = a(self, "&Pause", "vmPause", "pause", "Ctrl+P")
        self.vm_resume = a(self, "R&esume", "vmResume", "resume", "Ctrl+R")
        self.vm_reset = a(self, "&Reset...", "vmReset", "reset")
        self.vm_delete_saved_state = a(
            self, "De&lete Saved State...", "vmDeleteSavedState", "delete"
        )
        self.vm_checkpoint = a(self, "Chec&kpoint", "vmCheckpoint", "checkpoint", "Ctrl+N")
        self.vm_revert = a(self, "Re&vert...", "vmRevert", "revert", "Ctrl+E")
        self.vm_move = a(self, "&Move...", "vmMove", "move")
        self.vm_export = a(self, "E&xport...", "vmExport", "export")
        self.vm_rename = a(self, "Re&name...", "vmRename", "rename", "F2")
        self.vm_delete = a(
            self, "&Delete...", "vmDelete", "delete", QKeySequence.StandardKey.Delete
        )
        self.vm_cancel = a(self, "&Cancel Operation", "vmCancel", "turn-off", "Esc")
        self.vm_cancel.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        # Checkpoint
        self.cp_settings = a(self, "&Settings...", "cpSettings", "settings")
        self.cp_apply = a(self, "&Apply...", "cpApply", "apply")
        self.cp_export = a(self, "E&xport...", "cpExport", "export")
        self.cp_rename = a(self, "Re&name...", "cpRename", "rename", "F2")
        self.cp_delete = a(
            self, "&Delete Checkpoint...", "cpDelete", "delete", QKeySequence.StandardKey.Delete
        )
        self.cp_delete_subtree = a(
            self, "Delete Checkpoint Su&btree...", "cpDeleteSubtree", "delete-subtree",
            "Shift+Delete",
        )
        self.cp_inspect = a(self, "&Inspect Files...", "cpInspect", "inspect", "Ctrl+I")
        # View
        self.show_what_happened = a(self, "&What Happened", "showWhatHappened")
        self.show_what_happened.setCheckable(True)
        self.about = a(self, "&About hvgui", "about", "hvgui")
        self.show_lessons = a(self, "&Lessons...", "showLessons", "info", "F1")
        for view_bound in (self.vm_rename, self.vm_delete, self.cp_rename, self.cp_delete,
                           self.cp_delete_subtree):
            # F2 / Delete mean "this VM" in the VM list and "this checkpoint" in the tree.
            view_bound.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)

    def vm_actions(self) -> list[QAction | None]:
        return [
            self.vm_cancel, None,
            self.vm_connect, self.vm_settings, None,
            self.vm_start, self.vm_turn_off, self.vm_shut_down, self.vm_save, self.vm_pause,
            self.vm_resume, self.vm_reset, self.vm_delete_saved_state, None,
            self.vm_checkpoint, self.vm_revert, None,
            self.vm_move, self.vm_export, self.vm_rename, self.vm_delete,
        ]

    def checkpoint_actions(self) -> list[QAction | None]:
        return [
            self.cp_settings, self.cp_apply, self.cp_export, self.cp_rename, None,
            self.cp_delete, self.cp_delete_subtree, None, self.cp_inspect,
        ]

    def host_actions(self) -> list[QAction | None]:
        return [self.new_vm, self.connect_host, self.connect_server, self.check_host, self.refresh]
