"""Every question and message the window puts to the user, as plain functions.

The window calls them through this module (`ask.confirm(...)`), so tests replace them with
monkeypatch instead of blocking on a modal `exec()`.
"""

from __future__ import annotations

import enum
import traceback
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMessageBox, QWidget

from hvgui.backend import VM, Capability, Finding, HostBackend, Snapshot
from hvgui.errors import HvError
from hvgui.progress import Cancelled


class ApplyChoice(enum.Enum):
    TAKE_CHECKPOINT_AND_APPLY = "take"
    APPLY = "apply"
    CANCEL = "cancel"


def ask_apply(parent: QWidget | None, vm_name: str, snapshot_name: str) -> ApplyChoice:
    """Hyper-V Manager's Apply Checkpoint dialog: three buttons."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Apply Checkpoint")
    box.setText(f"Are you sure you want to apply the selected checkpoint \"{snapshot_name}\"?")
    box.setInformativeText(
        f"The current state of \"{vm_name}\" will be lost. Take a checkpoint first to keep it; "
        "Apply alone cannot be undone."
    )
    take = box.addButton("&Take Checkpoint and Apply", QMessageBox.ButtonRole.AcceptRole)
    apply = box.addButton("&Apply", QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(take)
    box.setEscapeButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    if clicked is take:
        return ApplyChoice.TAKE_CHECKPOINT_AND_APPLY
    if clicked is apply:
        return ApplyChoice.APPLY
    return ApplyChoice.CANCEL


def confirm(parent: QWidget | None, title: str, text: str, detail: str = "") -> bool:
    """A yes/no question; True only for an explicit yes."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    if detail:
        box.setInformativeText(detail)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


def confirm_stop(parent: QWidget | None, vm_name: str, *, turn_off: bool) -> bool:
    """Turn Off's and Shut Down's question, the same from the main window and the console."""
    if turn_off:
        return confirm(
            parent, "Turn Off Machine", f"Do you want to turn off \"{vm_name}\"?",
            "Turning off is like pulling the plug: whatever is only in its memory is lost.",
        )
    return confirm(parent, "Shut Down Machine", f"Do you want to shut down \"{vm_name}\"?")


def confirm_reset(parent: QWidget | None, vm_name: str) -> bool:
    """Reset's question (Hyper-V Manager asks it too: the guest restarts, memory is lost)."""
    return confirm(
        parent, "Reset Machine", f"Are you sure you want to reset \"{vm_name}\"?",
        "The virtual machine restarts at once: whatever is only in its memory is lost.",
    )


def confirm_delete_saved_state(parent: QWidget | None, vm_name: str) -> bool:
    """Delete Saved State's question."""
    return confirm(
        parent, "Delete Saved State",
        f"Are you sure you want to delete the saved state of \"{vm_name}\"?",
        "Its memory and device state are deleted; the virtual machine is then off, as after "
        "pulling the plug.",
    )


def confirm_revert(parent: QWidget | None, vm_name: str, snapshot_name: str) -> bool:
    """Revert's question, the same from the main window and the console."""
    return confirm(
        parent, "Revert Virtual Machine",
        f"Are you sure you want to revert \"{vm_name}\" to its previous checkpoint "
        f"\"{snapshot_name}\"?",
        "The current state of the virtual machine will be lost.",
    )


def confirm_delete(
    parent: QWidget | None,
    host: HostBackend,
    vm: VM,
    snapshot: Snapshot,
    title: str,
    text: str,
    *,
    include_children: bool,
) -> bool:
    """Confirm a checkpoint delete; where the host's files can be read, the inspector's delete
    preview (which files are merged or deleted, bytes moved, space needed) is the question."""
    if host.capabilities.has(Capability.INSPECT_FILES):
        from hvgui.ui.inspector import confirm_delete as preview  # loaded on first use

        return preview(parent, host, vm.id, snapshot.id, include_children=include_children)
    return confirm(
        parent, title, text,
        "Each disk is merged into the one that depends on it; configuration and saved memory "
        "are deleted.",
    )


def ask_text(parent: QWidget | None, title: str, label: str, text: str = "") -> str | None:
    """One line of text, or None when cancelled."""
    value, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Normal, text)
    return value if ok else None


def ask_directory(parent: QWidget | None, title: str, start: Path | None = None) -> Path | None:
    """A folder chosen by the user, or None."""
    chosen = QFileDialog.getExistingDirectory(parent, title, str(start or Path.home()))
    return Path(chosen) if chosen else None


def ask_host_path(
    parent: QWidget | None, host: HostBackend, title: str, start: Path | None = None,
    filters: str | None = None,
) -> Path | None:
    """A folder (a file with `filters`) on `host`: browsed where its files are on this
    computer, else typed as the host names it (a file dialog would give a path of this
    computer, not the host's)."""
    elsewhere = host.capabilities.reason(Capability.LOCAL_FILES)
    if not elsewhere:
        if filters is None:
            return ask_directory(parent, title, start)
        return ask_open_file(parent, title, start, filters)
    limits = host.capabilities.reason(Capability.OUTSIDE_FOLDERS)
    what = "folder" if filters is None else "file"
    label = f"A {what} on {host.display_name}: {elsewhere}" + (f"; {limits}" if limits else "")
    typed = ask_text(parent, title, label, str(start or ""))
    return Path(typed.strip()) if typed and typed.strip() else None


def ask_open_file(
    parent: QWidget | None, title: str, start: Path | None = None, filters: str = ""
) -> Path | None:
    """An existing file chosen by the user, or None."""
    chosen, _ = QFileDialog.getOpenFileName(parent, title, str(start or Path.home()), filters)
    return Path(chosen) if chosen else None


def inform(parent: QWidget | None, title: str, text: str) -> None:
    """A message that needs only OK (a refused name, a warning after an operation)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle(title)
    box.setText(text)
    box.exec()


def show_findings(parent: QWidget | None, host_name: str, findings: Sequence[Finding]) -> None:
    """The host check's findings, one line each, the files behind "Show Details..."."""
    box = QMessageBox(parent)
    box.setWindowTitle(f"Check Host: {host_name}")
    problems = [f for f in findings if f.is_problem]
    if not problems:
        box.setIcon(QMessageBox.Icon.Information)
        box.setText("No problems found: every chain resolves, nothing is orphaned."
                    + (f" {len(findings)} note(s)." if findings else ""))
    else:
        errors = sum(1 for f in findings if f.severity == "error")
        box.setIcon(QMessageBox.Icon.Warning if errors == 0 else QMessageBox.Icon.Critical)
        box.setText(f"{len(problems)} problem(s) found ({errors} error(s)).")
        box.setInformativeText("\n".join(f"• {f.message}" for f in findings[:12]))
        box.setDetailedText("\n".join(f"{f.severity}: {f.path}: {f.message}" for f in findings))
    box.exec()


def error_summary(exc: BaseException) -> str:
    """One sentence for the user: HvError's own words, else the exception's type and text."""
    if isinstance(exc, HvError):
        return str(exc)
    if isinstance(exc, Cancelled):
        return "The operation was cancelled."
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return f"Unexpected error: {type(exc).__name__}: {exc}"


def error_details(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def show_error(parent: QWidget | None, title: str, exc: BaseException) -> None:
    """An error, once, in words; the traceback behind the "Show Details..." button."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(error_summary(exc))
    box.setDetailedText(error_details(exc))
    box.exec()
