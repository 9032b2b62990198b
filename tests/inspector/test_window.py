"""The inspector window on a checkpoint, on Now and on single files (engine-made and real)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot
from shiboken6 import isValid

from hvgui.host import Host
from hvgui.ui.inspector import InspectorWindow, inspect_main, open_inspector
from hvgui.ui.inspector.binary_view import NotDecodedView, SavedStateView
from hvgui.ui.inspector.delete_preview import DeletePreviewDialog, DeletePreviewWidget
from hvgui.ui.inspector.file_models import FileListModel, PlannedFilesModel
from hvgui.ui.inspector.hex_view import HexView
from hvgui.ui.inspector.panels import Banner, ErrorPanel
from hvgui.ui.inspector.space_view import SpaceView
from hvgui.ui.inspector.vhdx_view import VhdxView
from hvgui.ui.inspector.xml_view import XmlView
from hvgui.vhdx import create_differencing, create_dynamic, open_disk, set_read_only
from tests.inspector.hex_helpers import shown_bytes
from tests.ui.helpers import press_refresh

MiB = 1 << 20
Closer = Callable[[InspectorWindow], None]  # the close_after fixture


def _listed(qtbot: QtBot, window: InspectorWindow) -> None:
    """Wait for the files (listed off the GUI thread)."""
    qtbot.waitUntil(lambda: window.listing == 0, timeout=10000)


def _press_f5(qtbot: QtBot, window: InspectorWindow) -> None:
    """F5, and wait for the new list."""
    press_refresh(window)
    assert window.listing == 1
    _listed(qtbot, window)


def _decoded(qtbot: QtBot, window: InspectorWindow, row: int) -> QWidget:
    """Select file `row` and wait for its view (decoded off the GUI thread)."""
    _listed(qtbot, window)
    window.file_table.selectRow(row)
    path = window.file_model.files()[row].path
    qtbot.waitUntil(lambda: (view := window.view_of(path)) is not None
                    and view.objectName() != "waitingPanel", timeout=10000)
    view = window.view_of(path)
    assert view is not None
    return view


@pytest.fixture
def close_after(qtbot: QtBot):  # type: ignore[no-untyped-def]
    windows: list[InspectorWindow] = []
    yield windows.append
    for window in windows:
        if isValid(window):  # open_inspector's windows delete themselves when closed
            window.close()


def test_a_checkpoint_opens_every_view(qtbot: QtBot, lab: Host, close_after: Closer) -> None:
    two = lab.get_snapshot("Lab", "Two")
    window = InspectorWindow(host=lab, vm="Lab", snapshot="Two")
    qtbot.addWidget(window)
    close_after(window)
    _listed(qtbot, window)
    window.show()
    assert window.windowTitle() == "Inspect Files — Two"
    tabs = [window.tabs.tabText(i).replace("&", "") for i in range(window.tabs.count())]
    assert tabs == ["Files", "Space", "Delete preview"]
    assert [f.path for f in window.file_model.files()][:3] == [
        two.config_path, two.bin_path, two.vsv_path]
    assert isinstance(_decoded(qtbot, window, 0), XmlView)  # selected first, on its own
    assert str(two.config_path) in window.role.text()
    assert "on disk" in window.role.text() and "writable" in window.role.text()
    assert isinstance(_decoded(qtbot, window, 1), SavedStateView)
    assert isinstance(_decoded(qtbot, window, 2), SavedStateView)
    disk = _decoded(qtbot, window, 3)
    assert isinstance(disk, VhdxView)
    qtbot.waitUntil(lambda: disk.block_panel.map.data() is not None, timeout=10000)
    data = disk.block_panel.map.data()
    assert data is not None and data.count == 64 * MiB // data.block_size
    # Two's own disk holds the 2 MiB + 4 KiB written between One and Two
    assert data.involvement()[0][0] >= 1
    assert isinstance(_decoded(qtbot, window, 4), VhdxView)
    # the checkpoint's XML is compared with its parent One first, and can be with Now
    xml = window.view_of(two.config_path)
    assert isinstance(xml, XmlView)
    assert next(t for t, _ in xml.others) == "Checkpoint “One” (its parent)"
    assert any("Now" in t for t, _ in xml.others)
    qtbot.waitUntil(lambda: xml.loaded and xml.diff_done(), timeout=10000)
    names = {xml.diff_model.index(r, 0).data(): r for r in range(xml.diff_model.rowCount())}
    row = names["properties/name"]  # the checkpoint is named Two, its parent One
    assert [xml.diff_model.index(row, c).data() for c in (1, 2)] == ["Two", "One"]
    assert "snapshot/parent_id" in names  # Two's parent is One; One has none
    now = next(i for i, (t, _) in enumerate(xml.others) if "Now" in t)
    xml.diff_choice.setCurrentIndex(now)
    qtbot.waitUntil(lambda: xml.diff_done() and xml.diff_model.rowCount() > 0, timeout=10000)
    names = {xml.diff_model.index(r, 0).data(): r for r in range(xml.diff_model.rowCount())}
    assert [xml.diff_model.index(names["properties/name"], c).data() for c in (1, 2)] == [
        "Two", "Lab"]
    qtbot.waitUntil(lambda: isinstance(window.space_view, SpaceView), timeout=10000)
    assert isinstance(window.space_view, SpaceView)
    assert window.space_view.chart.series()
    qtbot.waitUntil(lambda: isinstance(window.delete_view, DeletePreviewWidget), timeout=10000)
    assert isinstance(window.delete_view, DeletePreviewWidget)
    assert "1 merged" in window.delete_view.summary.text()


def test_now_has_no_delete_preview(qtbot: QtBot, lab: Host, close_after: Closer) -> None:
    window = InspectorWindow(host=lab, vm="Lab", snapshot=None)
    qtbot.addWidget(window)
    close_after(window)
    _listed(qtbot, window)
    assert window.windowTitle() == "Inspect Files — Lab (Now)"
    assert window.tabs.count() == 2
    assert window.file_model.files()[0].path == lab.get_vm("Lab").config_path


def test_an_unknown_vm_gives_a_message_not_a_crash(
    qtbot: QtBot, lab: Host, close_after: Closer
) -> None:
    window = InspectorWindow(host=lab, vm="nope", snapshot=None)
    qtbot.addWidget(window)
    close_after(window)
    _listed(qtbot, window)
    assert window.file_model.rowCount() == 0
    assert window.list_problem and "nope" in window.list_problem


def test_engine_chain_view_shows_headers_parent_and_findings(
    qtbot: QtBot, tmp_path: Path, close_after: Closer
) -> None:
    base, child = tmp_path / "base.vhdx", tmp_path / "base_1.avhdx"
    create_dynamic(base, 16 * MiB, block_size=MiB)
    with open_disk(base, writable=True) as disk:
        disk.write(0, b"base" * 1024)
    create_differencing(child, base)
    window = InspectorWindow(path=child)
    qtbot.addWidget(window)
    close_after(window)
    _listed(qtbot, window)
    assert [f.path for f in window.file_model.files()] == [child, base]
    view = _decoded(qtbot, window, 0)
    assert isinstance(view, VhdxView)
    texts = [w.text() for w in view.findChildren(Banner)]
    assert any("linkage matches" in t for t in texts)
    model = view.structure_model
    headers = next(model.index(r, 0) for r in range(model.rowCount())
                   if model.index(r, 0).data() == "headers")
    bold = [model.index(r, 0, headers).data(role=6) for r in range(model.rowCount(headers))]
    current = [isinstance(f, QFont) and f.bold() for f in bold]
    assert sorted(current) == [False, True]  # exactly one header is current, drawn bold
    assert view.summary.text().startswith("Differencing disk, 16 MiB virtual, 2 MiB blocks")
    # Test-VHD warns that the parent is writable, as Hyper-V would never leave it
    assert view.findings_model.rowCount() == 1
    assert view.findings_model.index(0, 0).data() == "warnings"
    set_read_only(base, True)
    window.close()
    again = InspectorWindow(path=child)
    qtbot.addWidget(again)
    close_after(again)
    view = _decoded(qtbot, again, 0)
    assert isinstance(view, VhdxView)
    assert view.findings_model.rowCount() == 0  # now a sound chain


def test_the_real_differencing_avhdx_says_its_parent_is_missing(
    qtbot: QtBot, corpus_dir: Path, close_after: Closer
) -> None:
    path = corpus_dir / "differencing.avhdx"
    window = open_inspector(None, path=path)
    assert isinstance(window, InspectorWindow)
    qtbot.addWidget(window)
    close_after(window)
    view = _decoded(qtbot, window, 0)
    assert isinstance(view, VhdxView)
    banners = [w for w in view.findChildren(QWidget) if w.objectName() == "banner_error"]
    text = " ".join(b.text() for b in banners)  # type: ignore[attr-defined]
    assert "Parent missing: Generation 1_49C4BAF3-4B25-4406-8C4B-D39E65C32385.avhdx" in text
    assert "1 error" in text
    assert view.findings_model.rowCount() == 1  # the "errors" group
    errors = view.findings_model.index(0, 0)
    finding = view.findings_model.index(0, 1, errors)  # one row per finding, message in full
    assert finding.data().startswith("its parent disk is missing")
    assert finding.data().endswith("D39E65C32385.avhdx")
    assert "parent cannot be found" in window.role.text()
    # BAT counts by state, opened in the Structure tab
    model = view.structure_model
    bat = next(model.index(r, 0) for r in range(model.rowCount())
               if model.index(r, 0).data() == "bat")
    counts = next(model.index(r, 0, bat) for r in range(model.rowCount(bat))
                  if model.index(r, 0, bat).data() == "counts")
    assert view.structure.isExpanded(counts)
    assert {model.index(r, 0, counts).data(): model.index(r, 1, counts).data()
            for r in range(model.rowCount(counts))} == {
        "NOT_PRESENT": "4064", "PARTIALLY_PRESENT": "32"}
    assert "Microsoft Windows 10.0.17763.0" in " ".join(
        w.text() for w in view.findChildren(QLabel))


@pytest.mark.parametrize("name", ["fixed.vhdx", "dynamic.vhdx", "test.vmcx", "test.VMRS"])
def test_every_corpus_file_opens_in_its_view(
    qtbot: QtBot, corpus_dir: Path, name: str, close_after: Closer, without_vmcx_extra: None
) -> None:
    window = InspectorWindow(path=corpus_dir / name)
    qtbot.addWidget(window)
    close_after(window)
    window.show()  # a VHDX's block map is read once it is shown
    view = _decoded(qtbot, window, 0)
    expected = VhdxView if name.endswith(".vhdx") else NotDecodedView
    assert isinstance(view, expected)
    if isinstance(view, VhdxView):
        qtbot.waitUntil(lambda: view.block_panel.map.data() is not None, timeout=10000)
        assert view.findings_model.rowCount() == 0


def test_garbage_and_truncated_files_get_readable_panels(
    qtbot: QtBot, tmp_path: Path, corpus_dir: Path, close_after: Closer
) -> None:
    garbage = tmp_path / "garbage.vhdx"
    garbage.write_bytes(b"\x00\xff" * 5000)
    truncated = tmp_path / "truncated.avhdx"
    with open(corpus_dir / "differencing.avhdx", "rb") as real:
        truncated.write_bytes(real.read(200 * 1024))
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    for path in (garbage, truncated, empty):
        window = InspectorWindow(path=path)
        qtbot.addWidget(window)
        close_after(window)
        view = _decoded(qtbot, window, 0)
        assert isinstance(view, NotDecodedView | ErrorPanel | VhdxView), path
        if path is truncated:
            # what can be decoded is shown; the problems are findings, the map says why not
            assert isinstance(view, ErrorPanel | VhdxView)
        if path is empty:
            assert isinstance(view, NotDecodedView)
            assert "empty (0 bytes)" in view.note.text()


def test_models_pass_the_model_tester(qtmodeltester, lab: Host) -> None:  # type: ignore[no-untyped-def]
    from hvgui.inspect import checkpoint_files, delete_preview

    qtmodeltester.check(FileListModel(checkpoint_files(lab, "Lab", "Two")))
    qtmodeltester.check(PlannedFilesModel(delete_preview(lab, "Lab", "Two").files))


def test_the_delete_dialog_computes_in_the_background(qtbot: QtBot, lab: Host) -> None:
    from hvgui.inspect import delete_preview

    dialog = DeletePreviewDialog(None, compute=lambda: delete_preview(lab, "Lab", "One"))
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: isinstance(dialog.view, DeletePreviewWidget), timeout=10000)
    assert dialog.delete_button.isEnabled()
    dialog.reject()


def test_inspect_main_runs_until_the_window_closes(qtbot: QtBot, corpus_dir: Path) -> None:
    def close_all() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, InspectorWindow):
                widget.close()

    QTimer.singleShot(300, close_all)
    assert inspect_main(corpus_dir / "test.vmcx") == 0


def test_a_directory_or_missing_file_gets_a_panel_and_closing_mid_read_is_clean(
    qtbot: QtBot, tmp_path: Path, corpus_dir: Path
) -> None:
    for path in (tmp_path, tmp_path / "gone.avhdx"):
        window = InspectorWindow(path=path)
        qtbot.addWidget(window)
        view = _decoded(qtbot, window, 0)
        assert isinstance(view, ErrorPanel | NotDecodedView), path
        assert not view.findChildren(HexView), "a directory has no bytes to show"
        window.close()
    # close while the disk is still being decoded and mapped: no crash, no late callbacks
    window = InspectorWindow(path=corpus_dir / "differencing.avhdx")
    qtbot.addWidget(window)
    window.show()
    window.close()
    qtbot.wait(100)
    assert window.runner.running() == []


def test_f5_lists_the_files_again(qtbot: QtBot, lab: Host, close_after: Closer) -> None:
    window = InspectorWindow(host=lab, vm="Lab", snapshot=None)
    qtbot.addWidget(window)
    close_after(window)
    _listed(qtbot, window)
    window.show()
    before = [f.path for f in window.file_model.files()]
    _decoded(qtbot, window, 0)
    lab.checkpoint_vm("Lab", snapshot_name="Three")  # Now runs on a new AVHDX
    _press_f5(qtbot, window)
    after = [f.path for f in window.file_model.files()]
    assert after != before and after[0] == before[0]
    assert lab.get_vm("Lab").hard_drives[0].path in after
    assert isinstance(_decoded(qtbot, window, 0), XmlView)


def test_a_pass_through_disk_is_shown_as_one(
    qtbot: QtBot, tmp_path: Path, close_after: Closer
) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("San", memory_startup_bytes=32 * MiB, new_vhd_size_bytes=16 * MiB)
    raw = tmp_path / "PhysicalDrive2.raw"
    raw.write_bytes(b"LUN data")
    host.add_hard_drive("San", raw, pass_through=True)
    window = InspectorWindow(host=host, vm="San")
    qtbot.addWidget(window)
    close_after(window)
    _listed(qtbot, window)
    row = next(i for i, f in enumerate(window.file_model.files()) if f.path == raw)
    view = _decoded(qtbot, window, row)
    # the content alone says "unknown": the view says what the configuration makes of it
    assert isinstance(view, NotDecodedView)
    headings = [w.text() for w in view.findChildren(QLabel)]
    assert "PhysicalDrive2.raw — Pass-through disk (raw)" in headings
    assert "Checkpoints do not capture it" in view.note.text()
    assert shown_bytes(qtbot, view.hex.model, 0) == b"LUN data"


def test_f5_after_the_checkpoint_is_deleted_says_so(
    qtbot: QtBot, lab: Host, close_after: Closer
) -> None:
    window = InspectorWindow(host=lab, vm="Lab", snapshot="Two")
    qtbot.addWidget(window)
    close_after(window)
    _listed(qtbot, window)
    window.show()
    qtbot.waitUntil(lambda: isinstance(window.delete_view, DeletePreviewWidget), timeout=10000)
    assert window.list_banner.isHidden()
    lab.remove_snapshot("Lab", "Two")  # e.g. from the main window or hvctl
    _press_f5(qtbot, window)
    assert window.file_model.rowCount() == 0
    assert not window.list_banner.isHidden() and "Two" in window.list_banner.text()
    qtbot.waitUntil(lambda: isinstance(window.delete_view, ErrorPanel), timeout=10000)
    assert "Two" in window.delete_view.problem  # type: ignore[attr-defined]
    assert window.tabs.tabText(window.tabs.indexOf(window.delete_view)) == "&Delete preview"


def test_the_delete_preview_fits_a_1280x800_screen_and_names_each_files_checkpoint(
    qtbot: QtBot, branched: Host, tmp_path: Path
) -> None:
    from hvgui.inspect import delete_preview

    dialog = DeletePreviewDialog(
        None, compute=lambda: delete_preview(branched, "Lab", "One", include_children=True),
        subtree=True)
    dialog.available = QRect(0, 0, 1280, 800)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: isinstance(dialog.view, DeletePreviewWidget), timeout=10000)
    view = dialog.view
    assert isinstance(view, DeletePreviewWidget)
    qtbot.wait(50)  # the table lays out its resized columns
    assert dialog.windowTitle() == "Delete Checkpoint Subtree"
    assert dialog.width() <= 1280 and dialog.height() <= 800
    assert view.table.horizontalScrollBar().maximum() == 0  # nothing behind a scrollbar
    model = view.model
    header = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert header[1] == "Checkpoint" and "On disk" in header and "Size" not in header
    names = {model.index(r, 1).data() for r in range(model.rowCount())}
    assert {"One", "Two", "Three"} <= names
    for row in range(model.rowCount()):  # every file is shown whole at this size
        column = 2
        text = str(model.index(row, column).data())
        width = view.table.fontMetrics().horizontalAdvance(text)
        assert width <= view.table.columnWidth(column), text
    dialog.grab().save(str(tmp_path / "delete-preview.png"))
    dialog.reject()


def test_a_single_delete_is_titled_delete_checkpoint(qtbot: QtBot, lab: Host) -> None:
    from hvgui.inspect import delete_preview

    dialog = DeletePreviewDialog(delete_preview(lab, "Lab", "Two"))
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Delete Checkpoint"
    view = dialog.view
    assert isinstance(view, DeletePreviewWidget)
    files = [view.model.row_at(view.model.index(r, 0)) for r in range(view.model.rowCount())]
    # Two's configuration and memory; its disk merged into Now's.
    assert {f.checkpoint for f in files if f is not None} == {"Two", "Now"}
    dialog.reject()


def test_nows_configuration_is_compared_with_its_checkpoint_first(
    qtbot: QtBot, lab: Host, close_after: Closer
) -> None:
    window = InspectorWindow(host=lab, vm="Lab", snapshot=None)
    qtbot.addWidget(window)
    close_after(window)
    _listed(qtbot, window)
    xml = _decoded(qtbot, window, 0)
    assert isinstance(xml, XmlView)
    assert next(t for t, _ in xml.others) == "Checkpoint “Two” (its parent)"
