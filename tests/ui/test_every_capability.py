"""Every backend capability (hvgui/backend/protocol.py) shows in the window: on a Hyper-V host
that lacks it, what depends on it is greyed (or says it lacks it) with the backend's reason as
tooltip, and the host's item in the tree lists it; on the lab host, which has them all, the
same is offered with no reason. The Hyper-V host is HyperVHost over the lab transport, made to
lack also what a real one has (the inspector's files, chain verdicts, some cancels)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QApplication

from hvgui.backend import Capabilities, Capability, HostBackend
from hvgui.host import Host
from hvgui.hyperv.connect import open_backend
from hvgui.hyperv.host import CAPABILITIES, HyperVHost
from hvgui.progress import Cancelled
from hvgui.ui import ask
from hvgui.ui.main_window import MainWindow
from hvgui.ui.vm_dialogs import SettingsDialog
from tests.hyperv.lab_transport import LabTransport
from tests.ui.helpers import Answers, checkpoint_index, vm_index, wait_idle

BARE = Capabilities({
    **CAPABILITIES.missing,
    Capability.CHAIN_HEALTH: "this host does not say whether a disk chain is sound",
    Capability.INSPECT_FILES: "this host's files cannot be read from here",
    Capability.CANCEL_CHECKPOINT: "this host cannot stop a checkpoint once it started",
    Capability.CANCEL_EXPORT: "this host cannot stop an export once it started",
    Capability.CANCEL_MOVE: "this host cannot stop a storage move once it started",
})


class BareHyperVHost(HyperVHost):
    """A Hyper-V host lacking every capability."""

    @property
    def capabilities(self) -> Capabilities:
        return BARE


@pytest.fixture(params=["lab", "hyperv"])
def backend(request: pytest.FixtureRequest, host_dir: Path) -> HostBackend | None:
    if request.param == "lab":
        return None  # the window opens the folder as a lab host
    opened = open_backend(LabTransport(Host.open(host_dir, create=False), "hv01"))
    opened.__class__ = BareHyperVHost
    return opened


def reason(window: MainWindow, capability: Capability) -> str:
    assert window.session is not None
    return window.session.host.capabilities.reason(capability)


def select(qtbot: Any, window: MainWindow, vm: str, checkpoint: str | None = None) -> None:
    window.vm_view.selectRow(vm_index(window, vm).row())
    if checkpoint is not None:
        qtbot.waitUntil(lambda: window.checkpoint_view.model().rowCount() > 0, timeout=10000)
        window.checkpoint_view.selectionModel().setCurrentIndex(
            checkpoint_index(window, checkpoint),
            QItemSelectionModel.SelectionFlag.ClearAndSelect)
    QApplication.processEvents()


def offered(qtbot: Any, window: MainWindow, answers: Answers, capability: Capability
            ) -> tuple[bool, str]:
    """Whether what depends on `capability` is offered, and its tooltip."""
    a = window.acts
    action = {Capability.GUEST: a.vm_connect, Capability.CHECK_HOST: a.check_host,
              Capability.INSPECT_FILES: a.cp_inspect}.get(capability)
    if action is not None:
        select(qtbot, window, "Alpha")
        return action.isEnabled(), action.toolTip()
    if capability in (Capability.EVENT_LOG, Capability.JOURNAL):
        # What happened lists this session's operations either way: the lack is said.
        assert a.show_what_happened.isEnabled()
        assert window.what_dock.toolTip() in (a.show_what_happened.toolTip(), "")
        return True, a.show_what_happened.toolTip()
    if capability is Capability.LOCAL_FILES:
        assert window.session is not None
        select(qtbot, window, "Beta")
        vm = window.session.vm(window.session.selected_vm_id)
        assert vm is not None
        dialog = SettingsDialog(window.session, vm, None, window)
        qtbot.addWidget(dialog)
        return dialog.browse.isEnabled(), dialog.browse.toolTip()
    if capability is Capability.OUTSIDE_FOLDERS or capability is Capability.CHAIN_HEALTH:
        return True, ""  # nothing but the host's tooltip depends on it
    return cancel_offered(qtbot, window, answers, capability)


# Each cancellable operation: how it starts, the backend method it runs, and its phase's
# capability; the method is held until Cancel's state is read, then ends as cancelled.
OPERATIONS: dict[Capability, tuple[str, str, str | None, Callable[[Answers], None]]] = {
    Capability.CANCEL_CHECKPOINT: ("vm_checkpoint", "checkpoint_vm", None, lambda _a: None),
    Capability.CANCEL_APPLY: ("cp_apply", "restore_snapshot", "Base",
                              lambda a: setattr(a, "apply", ask.ApplyChoice.APPLY)),
    Capability.CANCEL_DELETE: ("cp_delete", "remove_snapshot", "Base", lambda _a: None),
    Capability.CANCEL_EXPORT: ("vm_export", "export_vm", None, lambda _a: None),
    Capability.CANCEL_MOVE: ("vm_move", "move_storage", None, lambda _a: None),
}


def cancel_offered(qtbot: Any, window: MainWindow, answers: Answers, capability: Capability
                   ) -> tuple[bool, str]:
    assert window.session is not None
    action_name, method, checkpoint, prepare = OPERATIONS[capability]
    host = window.session.host
    held, release = threading.Event(), threading.Event()

    def hold(*_args: Any, **_kwargs: Any) -> Any:
        held.set()
        release.wait(20)
        raise Cancelled("cancelled")

    prepare(answers)
    answers.directory = answers.directory or Path(window.session.host.location) / "out"
    answers.text = "D:\\Hyper-V\\out"  # the host's own folder, typed (no local dialog)
    setattr(host, method, hold)
    select(qtbot, window, "Alpha", checkpoint)
    cancel = window.acts.vm_cancel
    try:
        getattr(window.acts, action_name).trigger()
        qtbot.waitUntil(held.is_set, timeout=10000)
        qtbot.waitUntil(lambda: window.session is not None and window.session.is_busy(),
                        timeout=3000)
        window.update_actions()
        return cancel.isEnabled(), cancel.toolTip()
    finally:
        release.set()
        wait_idle(qtbot, window)
        delattr(host, method)


def test_every_capability_is_covered() -> None:
    assert set(BARE.missing) == set(Capability)  # the Hyper-V host below lacks them all


@pytest.mark.parametrize("capability", list(Capability), ids=[c.name for c in Capability])
def test_what_a_host_lacks_is_greyed_with_its_reason(
    capability: Capability, qtbot: Any, window: MainWindow, answers: Answers
) -> None:
    assert window.session is not None
    lacks = reason(window, capability)
    enabled, tooltip = offered(qtbot, window, answers, capability)
    [item] = [window.navigation.topLevelItem(0).child(i)
              for i in range(window.navigation.topLevelItem(0).childCount())]
    listed = f"No {capability.value} here: "
    if isinstance(window.session.host, BareHyperVHost):
        assert lacks == BARE.reason(capability)
        assert f"{listed}{lacks}" in item.toolTip(0)
        if capability not in (Capability.OUTSIDE_FOLDERS, Capability.CHAIN_HEALTH,
                              Capability.EVENT_LOG, Capability.JOURNAL):
            assert not enabled, capability
        if capability not in (Capability.OUTSIDE_FOLDERS, Capability.CHAIN_HEALTH):
            assert lacks in tooltip, (capability, tooltip)
    else:
        assert lacks == "" and listed not in item.toolTip(0)
        assert enabled, capability
        assert "here:" not in tooltip and "real host" not in tooltip, tooltip
    answers.errors.clear()  # a held operation ends cancelled; nothing else is expected


def test_a_folder_on_a_remote_host_is_typed_as_the_host_names_it(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Export asks for the host's folder in words (the reasons why), never a local dialog."""
    labels: list[str] = []
    monkeypatch.setattr(ask, "ask_text", lambda _p, title, label, text="": (
        labels.append(label) or None))
    select(qtbot, window, "Beta")
    window.acts.vm_export.trigger()
    QApplication.processEvents()
    assert window.session is not None
    if isinstance(window.session.host, BareHyperVHost):
        assert ("directory", "Export Beta to") not in answers.asked
        [label] = labels
        assert label == (f"A folder on hv01: {BARE.reason(Capability.LOCAL_FILES)}; "
                         f"{BARE.reason(Capability.OUTSIDE_FOLDERS)}")
    else:
        assert labels == [] and ("directory", "Export Beta to") in answers.asked
