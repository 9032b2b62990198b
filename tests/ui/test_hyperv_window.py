"""The window on a real Hyper-V host's backend (HyperVHost, its scripts answered by the lab
transport): the same right-click workflow, the Status column counting from the host's job
records, the merge after Remove-VMSnapshot shown until it ends, and what a real host cannot
give greyed with the reason."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath
from typing import Any

import pytest

from hvgui.backend import Capability, HostBackend
from hvgui.host import Host
from hvgui.hyperv.connect import open_backend
from hvgui.hyperv.host import HyperVHost
from hvgui.ui.main_window import MainWindow
from tests.ui.helpers import (
    Answers,
    GuiThreadWatch,
    StatusRecorder,
    checkpoint_index,
    choose,
    menu_texts,
    press_refresh,
    right_click_vm,
    selected_snapshot,
    tree_names,
    vm_index,
    wait_idle,
)


@pytest.fixture(params=[False, True], ids=["posix-paths", "windows-paths"])
def windows_paths(request: pytest.FixtureRequest) -> bool:
    """Whether the lab transport answers with the Windows paths a real host gives."""
    return bool(request.param)


@pytest.fixture
def backend(host_dir: Path, windows_paths: bool) -> HostBackend:
    return open_backend(GuiThreadWatch(Host.open(host_dir, create=False), "hv01",
                                       windows_paths=windows_paths))


def test_checkpoint_and_delete_count_in_the_status_column(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path, tmp_path: Path
) -> None:
    assert window.session is not None and isinstance(window.session.host, HyperVHost)
    assert window.session.name == "hv01"
    transport = window.session.host.transport
    assert isinstance(transport, GuiThreadWatch)
    transport.on_gui_thread.clear()  # the fixture's open_backend (its probe)
    recorder = StatusRecorder(window, "Alpha")
    menu = right_click_vm(window, "Alpha")
    choose(qtbot, menu, "Checkpoint")
    wait_idle(qtbot, window)
    assert answers.asked == []
    percents = recorder.percents("Creating Checkpoint")
    assert percents and percents == sorted(percents), recorder.texts
    lab = Host.open(host_dir, create=False)
    [new] = [s for s in lab.list_snapshots("Alpha") if s.name != "Base"]
    chosen = selected_snapshot(window)
    assert chosen is not None and chosen.id == new.id
    assert tree_names(window)[new.name] == "Base"
    window.grab().save(str(tmp_path / "hyperv-checkpoint.png"))

    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    window.acts.cp_delete.trigger()  # Delete Checkpoint... (the Actions pane, the menu)
    wait_idle(qtbot, window)
    assert answers.asked == [("confirm", "Delete Checkpoint")]
    assert [s.name for s in lab.list_snapshots("Alpha")] == [new.name]
    assert recorder.percents("Merge in progress"), recorder.texts
    # After Remove-VMSnapshot's own job, the merge's until it ends (and its last text stays
    # until the window re-reads the host), as Hyper-V Manager shows it.
    deleting = [t for t in recorder.texts if t.startswith("Deleting Checkpoint (")]
    merging = recorder.texts.index(next(t for t in recorder.texts
                                        if t.startswith("Merge in progress (")))
    assert deleting and recorder.texts.index(deleting[-1]) < merging
    assert all(t.startswith("Merge in progress (") for t in recorder.texts[merging:]), (
        recorder.texts)
    assert transport.on_gui_thread == []


def test_a_connection_lost_mid_checkpoint_is_said_and_the_window_catches_up(
    qtbot: Any, window: MainWindow, answers: Answers, host_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The network breaks after Checkpoint-VM's first progress record: the error says the
    checkpoint may still be made on the host; it is, and when the host answers again the
    tree shows it without F5."""
    assert window.session is not None
    transport = window.session.host.transport  # type: ignore[attr-defined]
    assert isinstance(transport, GuiThreadWatch)
    run = transport.run

    def breaking(script: str, parameters: Any) -> Any:
        for record in run(script, parameters):
            yield record
            if script == "checkpoint_vm" and record.kind == "progress":
                transport.drop()

    monkeypatch.setattr(transport, "run", breaking)
    choose(qtbot, right_click_vm(window, "Alpha"), "Checkpoint")
    qtbot.waitUntil(lambda: bool(answers.errors), timeout=30000)
    window.grab().save(str(tmp_path / "hyperv-connection-lost.png"))
    [error] = answers.errors
    assert str(error) == (
        "hv01: the connection was lost while checkpoint_vm ran (no answer): the operation may "
        "still be running on the host; the window refreshes when the host answers again")
    lab = Host.open(host_dir, create=False)
    qtbot.waitUntil(lambda: len(lab.list_snapshots("Alpha")) == 2, timeout=30000)
    [made] = [s.name for s in lab.list_snapshots("Alpha") if s.name != "Base"]
    assert made not in tree_names(window)
    transport.answer_again()
    qtbot.waitUntil(lambda: tree_names(window).get(made) == "Base", timeout=30000)
    window.grab().save(str(tmp_path / "hyperv-connection-back.png"))
    answers.errors.clear()  # the one error this test expected


def test_what_a_real_host_cannot_give_is_greyed_with_the_reason(
    qtbot: Any, window: MainWindow, tmp_path: Path
) -> None:
    assert window.session is not None
    caps = window.session.host.capabilities
    window.vm_view.selectRow(vm_index(window, "Alpha").row())
    a = window.acts
    qtbot.waitUntil(lambda: not a.vm_connect.isEnabled(), timeout=3000)
    for action, capability in ((a.vm_connect, Capability.GUEST),
                               (a.check_host, Capability.CHECK_HOST)):
        assert not action.isEnabled() and action.toolTip() == caps.reason(capability)
    assert a.vm_checkpoint.isEnabled()
    menu = right_click_vm(window, "Alpha")
    assert "Checkpoint" in menu_texts(menu) and "Connect..." not in menu_texts(menu)
    menu.close()
    window.grab().save(str(tmp_path / "hyperv-greyed.png"))


def test_inspect_files_reads_the_hosts_files_through_local_copies(
    qtbot: Any, window: MainWindow, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QApplication

    window.checkpoint_view.setCurrentIndex(checkpoint_index(window, "Base"))
    assert window.acts.cp_inspect.isEnabled()
    assert window.session is not None and isinstance(window.session.host, HyperVHost)
    transport = window.session.host.transport
    assert isinstance(transport, GuiThreadWatch)
    transport.on_gui_thread.clear()  # the fixture's open_backend (its probe)
    before = set(QApplication.topLevelWidgets())
    window.acts.cp_inspect.trigger()
    [inspector] = [w for w in QApplication.topLevelWidgets()
                   if w not in before and w.isVisible() and type(w).__name__ == "InspectorWindow"]
    # Listed off the GUI thread: each file is copied (in part) from the host first.
    model = inspector.file_model  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: model.rowCount() == 4, timeout=30000)
    files = model.files()
    assert [f.kind for f in files] == ["xml", "bin", "vsv", "vhdx"]
    assert all(f.exists and not f.problem for f in files)
    qtbot.waitUntil(lambda: inspector.view_of(files[0].path) is not None  # type: ignore
                    and inspector.view_of(files[0].path).objectName() == "xmlView",  # type: ignore
                    timeout=30000)
    inspector.grab().save(str(tmp_path / "hyperv-inspector.png"))
    inspector.close()
    assert transport.on_gui_thread == []  # the window's own polls and the inspector's reads


def test_the_inspector_asks_a_real_host_nothing_on_the_gui_thread(
    qtbot: Any, host_dir: Path, tmp_path: Path, windows_paths: bool
) -> None:
    """Each call to a real host is a PowerShell round trip: the inspector's file list and
    title, its Space tab, the configurations a file is compared with and F5 all run on
    workers, so the window stays responsive while they travel."""
    from hvgui.ui.inspector import InspectorWindow
    from hvgui.ui.inspector.delete_preview import DeletePreviewWidget
    from hvgui.ui.inspector.space_view import SpaceView
    from hvgui.ui.inspector.xml_view import XmlView

    transport = GuiThreadWatch(Host.open(host_dir, create=False), "hv01",
                               windows_paths=windows_paths)
    host = open_backend(transport)
    base = host.get_snapshot("Alpha", "Base")
    transport.on_gui_thread.clear()  # the test's own questions above
    window = InspectorWindow(host=host, vm="Alpha", snapshot="Base")
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.listing == 0, timeout=30000)
        assert window.windowTitle() == "Inspect Files — Base"
        files = window.file_model.files()
        assert [f.kind for f in files] == ["xml", "bin", "vsv", "vhdx"]
        assert files[0].host_path == base.config_path  # the host's path, shown as it names it
        assert isinstance(base.config_path, PureWindowsPath) == windows_paths
        assert str(base.config_path) in window.role.text()
        qtbot.waitUntil(lambda: isinstance(window.view_of(files[0].path), XmlView),
                        timeout=30000)
        xml = window.view_of(files[0].path)
        assert isinstance(xml, XmlView)
        assert [t for t, _ in xml.others] == ["The VM's current configuration (Now)"]
        qtbot.waitUntil(lambda: xml.loaded and xml.diff_done(), timeout=30000)
        assert "settings differ from The VM's current configuration" in xml.diff_status.text()
        names = {xml.diff_model.index(r, 0).data(): r for r in range(xml.diff_model.rowCount())}
        assert [xml.diff_model.index(names["properties/name"], c).data() for c in (1, 2)] == [
            "Base", "Alpha"]
        qtbot.waitUntil(lambda: isinstance(window.space_view, SpaceView), timeout=30000)
        qtbot.waitUntil(lambda: isinstance(window.delete_view, DeletePreviewWidget),
                        timeout=30000)
        window.tabs.setCurrentIndex(0)
        xml.tabs.setCurrentIndex(xml.tabs.count() - 1)  # Diff
        window.grab().save(str(tmp_path / "hyperv-inspector-diff.png"))
        before = transport.calls
        press_refresh(window)
        qtbot.waitUntil(lambda: window.listing == 0 and transport.calls > before,
                        timeout=30000)
        qtbot.waitUntil(lambda: isinstance(window.view_of(files[0].path), XmlView),
                        timeout=30000)
        qtbot.waitUntil(lambda: isinstance(window.delete_view, DeletePreviewWidget),
                        timeout=30000)
        assert transport.on_gui_thread == []
    finally:
        window.close()
        host.close()
