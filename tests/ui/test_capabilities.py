"""A host whose backend cannot do something (a real Hyper-V host has no simulated guest, no
lab check, no local files for the inspector) shows it greyed, the backend's reason as tooltip."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QToolButton

from hvgui.backend import Capabilities, Capability, HostBackend
from hvgui.host import Host
from hvgui.ui.main_window import MainWindow
from tests.ui.helpers import menu_texts, right_click_vm, vm_index, wait_idle

REASONS = {
    Capability.GUEST: "A real host's guest is reached through its own console.",
    Capability.CHECK_HOST: "Check Host looks at a lab host's own files.",
    Capability.INSPECT_FILES: "This host's files cannot be read from here.",
    Capability.CANCEL_CHECKPOINT: "This host cannot stop a checkpoint once it started.",
}


class LimitedHost(Host):
    """The lab host, declaring the capabilities a remote backend lacks."""

    capabilities = Capabilities(REASONS)


@pytest.fixture
def backend(host_dir: Path) -> HostBackend:
    return LimitedHost.open(host_dir, create=False)


def test_what_the_backend_cannot_do_is_greyed_with_its_reason(
    qtbot: Any, window: MainWindow, tmp_path: Path
) -> None:
    assert window.session is not None and isinstance(window.session.host, LimitedHost)
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    a = window.acts
    qtbot.waitUntil(lambda: not a.vm_connect.isEnabled(), timeout=3000)
    for action, capability in ((a.vm_connect, Capability.GUEST),
                               (a.check_host, Capability.CHECK_HOST),
                               (a.cp_inspect, Capability.INSPECT_FILES)):
        assert not action.isEnabled(), action.text()
        assert action.toolTip() == REASONS[capability], action.text()
    # Everything every backend can do is still offered.
    assert a.vm_checkpoint.isEnabled() and a.vm_settings.isEnabled()
    buttons = {b.text().replace("&", ""): b for b in window.actions_pane.findChildren(QToolButton)}
    assert "Connect..." not in buttons and buttons["Checkpoint"].isEnabled()  # only what it can
    menu = right_click_vm(window, "Alpha")
    assert "Connect..." not in menu_texts(menu) and "Checkpoint" in menu_texts(menu)
    menu.close()
    # The thumbnail's screen, which shows a lab guest's files, says why it cannot.
    assert " ".join(window.details.screen_lines()) == REASONS[Capability.GUEST]
    window.grab().save(str(tmp_path / "limited-host.png"))


def test_an_operation_the_backend_cannot_cancel_has_cancel_greyed_with_the_reason(
    qtbot: Any, window: MainWindow, monkeypatch: Any
) -> None:
    assert window.session is not None
    host = window.session.host
    real_checkpoint = host.checkpoint_vm
    held, release = threading.Event(), threading.Event()

    def checkpoint_held(vm: str, **kwargs: Any) -> Any:
        held.set()
        release.wait(20)
        return real_checkpoint(vm, **kwargs)

    monkeypatch.setattr(host, "checkpoint_vm", checkpoint_held)
    window.vm_view.selectRow(vm_index(window, "Beta").row())
    cancel = window.acts.vm_cancel
    try:
        window.acts.vm_checkpoint.trigger()
        qtbot.waitUntil(held.is_set, timeout=10000)
        qtbot.waitUntil(lambda: cancel.toolTip() == REASONS[Capability.CANCEL_CHECKPOINT],
                        timeout=3000)
        assert not cancel.isEnabled()
    finally:
        release.set()
    wait_idle(qtbot, window)
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    assert cancel.toolTip() == cancel.statusTip()  # nothing running: no reason shown


def test_a_delete_on_a_host_whose_files_cannot_be_read_asks_without_the_preview(
    backend: HostBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hvgui.ui import ask

    asked: list[str] = []
    monkeypatch.setattr(ask, "confirm", lambda _parent, title, text, detail="": (
        asked.append(title) or True))
    vm = next(v for v in backend.list_vms() if v.name == "Alpha")
    base = backend.get_snapshot(vm.id, "Base")
    assert ask.confirm_delete(None, backend, vm, base, "Delete Checkpoint", "Delete Base?",
                              include_children=False)
    assert asked == ["Delete Checkpoint"]  # the plain question: no preview to read files for
