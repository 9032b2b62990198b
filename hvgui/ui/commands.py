"""What each action does: at most one question, then one host operation in the background.

Every method reads the selection from the window, asks through `hvgui.ui.ask` (patchable in
tests), and hands one host call to `HostSession.run`, whose progress feeds the Status column.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox
from shiboken6 import isValid

from hvgui.backend import VM, Finding, OperationResult, Snapshot
from hvgui.host import Host, HostError
from hvgui.host.layout import EMPTY, FOLDER_PROBLEMS, MISSING, folder_kind
from hvgui.progress import CancelToken, Progress
from hvgui.ui import ask
from hvgui.ui.names import name_problem
from hvgui.ui.workers import Op

if TYPE_CHECKING:
    from hvgui.ui.main_window import MainWindow
    from hvgui.ui.session import HostCall, HostSession

INSPECTOR_MODULE = "hvgui.ui.inspector"


class Commands(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._console_windows: dict[str, Any] = {}
        self._dialogs: list[Any] = []

    # ------------------------------------------------------------------ helpers
    @property
    def session(self) -> HostSession | None:
        return self.window.session

    def _vm(self) -> tuple[HostSession, VM] | None:
        session, vm = self.session, self.window.selected_vm()
        if session is None or vm is None:
            return None
        return session, vm

    def _snap(self) -> tuple[HostSession, VM, Snapshot] | None:
        picked = self._vm()
        snap = self.window.selected_checkpoint()
        if picked is None or snap is None:
            return None
        return picked[0], picked[1], snap

    def _record(self, vm: VM) -> Callable[[OperationResult], None]:
        """The on_result callback: put the result in What happened; say its warnings."""

        def record(result: OperationResult) -> None:
            self.window.what_happened.add_result(vm.name, result)
            if result.warnings and not self.window.closing:
                ask.inform(self.window, result.operation, "\n\n".join(result.warnings))

        return record

    def _run(
        self,
        session: HostSession,
        vm: VM,
        label: str,
        call: HostCall,
        after: Callable[[OperationResult], None] | None = None,
    ) -> None:
        record = self._record(vm)

        def on_result(result: OperationResult) -> None:
            record(result)
            if after is not None:
                after(result)

        session.run(vm, label, call, on_result=on_result)

    def close_windows(self) -> None:
        """Close the consoles and dialogs this window opened (it is closing)."""
        for widget in [*self._console_windows.values(), *self._dialogs]:
            if isValid(widget):
                widget.close()

    # --------------------------------------------------------------------- host
    def connect_host(self) -> None:
        folder = ask.ask_directory(self.window, "Connect to Host (a lab host folder)")
        if folder is not None:
            self.open_folder(folder, "Connect to Host")

    def open_folder(self, folder: Path, title: str) -> None:
        """Open the host in `folder`; an empty folder becomes a new host only if the user says
        so, and a missing one is an error (nothing is created)."""
        try:
            kind = folder_kind(folder)
            if kind == MISSING:
                raise HostError(folder, f"{FOLDER_PROBLEMS[MISSING]}; File > New Host... makes "
                                "a new lab host")
            if kind == EMPTY:
                if ask.confirm(self.window, "New Host", f"{folder} is empty. Make it a new lab "
                               "host?", "hvgui will create the folders Virtual Machines, Virtual "
                               "Hard Disks, Snapshots and .hvgui in it."):
                    self.window.open_host(folder, Host.new(folder))
                return
            self.window.open_host(folder)
        except Exception as exc:
            ask.show_error(self.window, title, exc)

    def new_host(self) -> None:
        folder = ask.ask_directory(self.window, "New Host (a new or empty folder)")
        if folder is not None:
            try:
                self.window.open_host(folder, Host.new(folder))
            except Exception as exc:
                ask.show_error(self.window, "New Host", exc)

    def new_vm(self) -> None:
        session = self.session
        if session is None:
            return
        from hvgui.ui.vm_dialogs import NewVmDialog

        values = NewVmDialog.ask(self.window)
        if values is None:
            return
        host = session.host

        def call(progress: Progress, cancel: CancelToken) -> OperationResult:
            return host.new_vm(values.name, memory_startup_bytes=values.memory,
                               new_vhd_size_bytes=values.disk_size, generation=values.generation,
                               progress=progress, cancel=cancel)

        def created(result: OperationResult) -> None:
            self.window.what_happened.add_result(values.name, result)
            session.selected_vm_id = result.vm_id

        session.run(None, "Creating Virtual Machine", call, on_result=created)

    def check_host(self) -> None:
        """The host check (broken chains, orphaned AVHDX, stray BIN/VSV...), in the background."""
        session = self.session
        if session is None:
            return
        host = session.host
        self.window.statusBar().showMessage(f"Checking {session.name}...")

        def show(findings: list[Finding]) -> None:
            self.window.statusBar().showMessage(
                f"{session.name}: {len(findings) or 'no'} problem(s) found", 5000
            )
            ask.show_findings(self.window, session.name, findings)

        Op(self.window.runner, lambda _p, _c: host.check(), label="Check Host").success(
            show
        ).failure(lambda exc: ask.show_error(self.window, "Check Host", exc)).run_in_background()

    def about(self) -> None:
        QMessageBox.about(
            self.window, "About hvgui",
            "<b>hvgui</b><br>Hyper-V Manager's checkpoint workflow on a lab host, "
            "true to the real files.",
        )

    # ----------------------------------------------------------------------- VM
    def vm_connect(self) -> None:
        picked = self._vm()
        if picked is None:
            return
        session, vm = picked
        from hvgui.ui.console import ConsoleWindow

        key = f"{session.host.root}:{vm.id}"
        console = self._console_windows.get(key)
        if console is None:
            console = ConsoleWindow(session, vm.id, self.window, on_result=self._record(vm))
            self._console_windows[key] = console
            console.destroyed.connect(lambda *_: self._console_windows.pop(key, None))
        console.show()
        console.raise_()
        console.activateWindow()

    def vm_settings(self) -> None:
        picked = self._vm()
        if picked is None:
            return
        session, vm = picked
        from hvgui.ui.vm_dialogs import SettingsDialog

        dialog = SettingsDialog.for_vm(session, vm, self.window)
        dialog.on_result = self._record(vm)
        self._keep(dialog)
        dialog.finished.connect(lambda _r: self._forget(dialog))
        dialog.open()

    def _transition(self, label: str, method: str, **kwargs: Any) -> None:
        picked = self._vm()
        if picked is None:
            return
        session, vm = picked
        fn = getattr(session.host, method)
        self._run(session, vm, label,
                  lambda p, c: fn(vm.id, progress=p, cancel=c, **kwargs))

    def vm_start(self) -> None:
        self._transition("Starting", "start_vm")

    def vm_turn_off(self) -> None:
        vm = self.window.selected_vm()
        if vm is not None and ask.confirm_stop(self.window, vm.name, turn_off=True):
            self._transition("Turning Off", "stop_vm", turn_off=True)

    def vm_shut_down(self) -> None:
        vm = self.window.selected_vm()
        if vm is not None and ask.confirm_stop(self.window, vm.name, turn_off=False):
            self._transition("Shutting Down", "stop_vm")

    def vm_save(self) -> None:
        self._transition("Saving", "save_vm")

    def vm_pause(self) -> None:
        self._transition("Pausing", "suspend_vm")

    def vm_resume(self) -> None:
        self._transition("Resuming", "resume_vm")

    def vm_reset(self) -> None:
        vm = self.window.selected_vm()
        if vm is not None and ask.confirm_reset(self.window, vm.name):
            self._transition("Resetting", "reset_vm")

    def vm_delete_saved_state(self) -> None:
        vm = self.window.selected_vm()
        if vm is not None and ask.confirm_delete_saved_state(self.window, vm.name):
            self._transition("Deleting Saved State", "remove_saved_state")

    def vm_cancel(self) -> None:
        """Stop the selected VM's running operation where the host allows (it rolls back)."""
        picked = self._vm()
        if picked is not None and picked[0].cancel(picked[1].id):
            self.window.statusBar().showMessage(f"Cancelling the operation on {picked[1].name}...")

    def vm_checkpoint(self) -> None:
        """No question: Hyper-V Manager takes a checkpoint at once (nothing is destroyed)."""
        picked = self._vm()
        if picked is None:
            return
        session, vm = picked
        host = session.host
        self._run(
            session, vm, "Creating Checkpoint",
            lambda p, c: host.checkpoint_vm(vm.id, progress=p, cancel=c),
            after=self._select_new_checkpoint,
        )

    def _select_new_checkpoint(self, result: OperationResult) -> None:
        if result.snapshot is not None:
            self.window.select_after_refresh(result.snapshot.id)

    def vm_revert(self) -> None:
        picked = self._vm()
        if picked is None:
            return
        session, vm = picked
        if not ask.confirm_revert(self.window, vm.name, vm.parent_snapshot_name or ""):
            return
        host = session.host
        self._run(session, vm, "Applying Checkpoint",
                  lambda p, c: host.revert_vm(vm.id, progress=p, cancel=c))

    def vm_move(self) -> None:
        picked = self._vm()
        if picked is None:
            return
        session, vm = picked
        folder = ask.ask_directory(
            self.window, f"Move the storage of {vm.name} to", session.host.root
        )
        if folder is None:
            return
        host = session.host
        self._run(session, vm, "Moving Storage",
                  lambda p, c: host.move_storage(vm.id, folder, progress=p, cancel=c))

    def can_export_vm(self) -> bool:
        return self.session is not None and hasattr(self.session.host, "export_vm")

    def vm_export(self) -> None:
        picked = self._vm()
        if picked is None or not self.can_export_vm():
            return
        session, vm = picked
        folder = ask.ask_directory(self.window, f"Export {vm.name} to")
        if folder is None:
            return
        host: Any = session.host
        self._run(session, vm, "Exporting",
                  lambda p, c: host.export_vm(vm.id, folder, progress=p, cancel=c))

    def can_rename_vm(self) -> bool:
        return self.session is not None and hasattr(self.session.host, "rename_vm")

    def vm_rename(self) -> None:
        """Rename in place, as Hyper-V Manager does: the list opens an editor on the name."""
        view = self.window.vm_view
        index = view.currentIndex()
        if self._vm() is not None and self.can_rename_vm() and index.isValid():
            view.edit(index.siblingAtColumn(0))

    def rename_vm_to(self, vm_id: str, name: str) -> None:
        """The name typed in place: refused with a message, or renamed by the host."""
        session, vm = self.session, self.session.vm(vm_id) if self.session else None
        if session is None or vm is None or not self._acceptable("Rename Virtual Machine", name):
            return
        host: Any = session.host
        self._run(session, vm, "Renaming",
                  lambda p, c: host.rename_vm(vm.id, name, progress=p, cancel=c))

    def vm_delete(self) -> None:
        picked = self._vm()
        if picked is None:
            return
        session, vm = picked
        if not ask.confirm(
            self.window, "Delete Selected Virtual Machines",
            f"Are you sure you want to delete \"{vm.name}\"?",
            "Its configuration and checkpoints are deleted (each checkpoint's differencing "
            "disk is merged first, as Hyper-V does); its virtual hard disks are kept."
            if session.checkpoint_model.snapshots()
            else "Its configuration is deleted; its virtual hard disks are kept.",
        ):
            return
        host = session.host
        self._run(session, vm, "Deleting",
                  lambda p, c: host.remove_vm(vm.id, progress=p, cancel=c))

    # --------------------------------------------------------------- checkpoint
    def cp_settings(self) -> None:
        picked = self._snap()
        if picked is None:
            return
        session, vm, snap = picked
        from hvgui.ui.vm_dialogs import SettingsDialog

        dialog = SettingsDialog.for_snapshot(session, vm, snap, self.window)
        self._keep(dialog)
        dialog.finished.connect(lambda _r: self._forget(dialog))
        dialog.open()

    def cp_apply(self) -> None:
        picked = self._snap()
        if picked is None:
            return
        session, vm, snap = picked
        choice = ask.ask_apply(self.window, vm.name, snap.name)
        if choice is ask.ApplyChoice.CANCEL:
            return
        first = choice is ask.ApplyChoice.TAKE_CHECKPOINT_AND_APPLY
        host = session.host
        self._run(
            session, vm, "Applying Checkpoint",
            lambda p, c: host.restore_snapshot(
                vm.id, snap.id, take_checkpoint_first=first, progress=p, cancel=c
            ),
        )
        self.window.select_after_refresh(f"now:{vm.id}")

    def cp_export(self) -> None:
        picked = self._snap()
        if picked is None:
            return
        session, vm, snap = picked
        folder = ask.ask_directory(self.window, f"Export checkpoint \"{snap.name}\" to")
        if folder is None:
            return
        host = session.host
        self._run(session, vm, "Exporting",
                  lambda p, c: host.export_snapshot(vm.id, snap.id, folder, progress=p, cancel=c))

    def _acceptable(self, title: str, name: str) -> bool:
        problem = name_problem(name)
        if problem is not None:
            ask.inform(self.window, title, f"This name cannot be used. {problem}")
        return problem is None

    def cp_rename(self) -> None:
        """Rename in place, as Hyper-V Manager does: the tree opens an editor on the name."""
        if self._snap() is not None:
            self.window.checkpoint_view.edit(self.window.checkpoint_view.currentIndex())

    def rename_checkpoint_to(self, snapshot_id: str, name: str) -> None:
        """The name typed in place: refused with a message, or renamed by the host."""
        picked = self._vm()
        session = self.session
        snap = next((s for s in session.checkpoint_model.snapshots() if s.id == snapshot_id),
                    None) if session else None
        if picked is None or session is None or snap is None:
            return
        if not self._acceptable("Rename Checkpoint", name):
            return
        vm = picked[1]
        host = session.host
        self._run(session, vm, "Renaming Checkpoint",
                  lambda p, c: host.rename_snapshot(vm.id, snap.id, name, progress=p, cancel=c))
        self.window.select_after_refresh(snap.id)

    def cp_delete(self) -> None:
        self._delete(include_children=False)

    def cp_delete_subtree(self) -> None:
        self._delete(include_children=True)

    def _delete(self, *, include_children: bool) -> None:
        picked = self._snap()
        if picked is None:
            return
        session, vm, snap = picked
        if include_children:
            title = "Delete Checkpoint Subtree"
            text = f"Are you sure you want to delete \"{snap.name}\" and all checkpoints under it?"
        else:
            title = "Delete Checkpoint"
            text = f"Are you sure you want to delete the checkpoint \"{snap.name}\"?"
        if not ask.confirm_delete(self.window, session.host, vm, snap, title, text,
                                  include_children=include_children):
            return
        host = session.host
        self._run(
            session, vm, "Deleting Checkpoint",
            lambda p, c: host.remove_snapshot(
                vm.id, snap.id, include_children=include_children, progress=p, cancel=c
            ),
        )

    def can_inspect(self) -> bool:
        try:
            return importlib.util.find_spec(INSPECTOR_MODULE) is not None
        except (ImportError, ValueError):
            return False

    def warm_up_inspector(self) -> None:
        """Import the inspector's modules on a pool thread while the user looks at the
        window, so that the first Inspect Files... opens at once (its imports were most of
        the first open's stall). Defining classes off the GUI thread is safe; no widget is
        made there."""
        if self.can_inspect() and INSPECTOR_MODULE not in sys.modules:
            Op(self.window.runner, lambda _p, _c: importlib.import_module(INSPECTOR_MODULE),
               label="Loading the inspector", quiet=True).failure(
                lambda exc: None  # Inspect Files... imports it again and reports the error
            ).run_in_background()

    def cp_inspect(self) -> Any:
        """Open the inspector on the selected checkpoint (or Now); returns its window."""
        session = self.session
        obj = self.window.selected_tree_object()
        if session is None or not self.can_inspect():
            return None
        try:
            inspector = importlib.import_module(INSPECTOR_MODULE)
            snapshot = obj if isinstance(obj, Snapshot) else None
            vm = self.window.selected_vm()
            window = inspector.open_inspector(
                self.window, host=session.host, vm=vm.id if vm else None,
                snapshot=snapshot.id if snapshot else None,
            )
            self._keep(window)
            return window
        except Exception as exc:
            ask.show_error(self.window, "Inspect Files", exc)
            return None

    def _keep(self, widget: Any) -> None:
        """Hold a window this one opened until it is destroyed."""
        self._dialogs.append(widget)
        widget.destroyed.connect(lambda *_: self._forget(widget))

    def _forget(self, widget: Any) -> None:
        if widget in self._dialogs:
            self._dialogs.remove(widget)
