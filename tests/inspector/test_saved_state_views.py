"""BIN/VSV views decode the host's saved-state files; VMCX/VMRS without the optional decoder
are recognised and shown in hex, with how to get it (tests/inspector/test_vmcx.py: with it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from hvgui.host import savedstate
from hvgui.inspect import BIN, VMCX, VMRS, VSV, identify, inspect_file
from hvgui.ui.inspector.binary_view import NotDecodedView, SavedStateView
from hvgui.ui.inspector.facts_model import FactsModel
from hvgui.ui.inspector.panels import ErrorPanel
from hvgui.ui.inspector.window import bytes_to_show, make_file_view
from hvgui.ui.workers import Runner
from tests.inspector.hex_helpers import shown_bytes, shown_text

MiB = 1 << 20


def _rows(model: FactsModel, parent=None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Field -> Value of the top level (or under `parent`)."""
    from PySide6.QtCore import QModelIndex

    parent = parent or QModelIndex()
    return {
        model.index(r, 0, parent).data(): model.index(r, 1, parent).data()
        for r in range(model.rowCount(parent))
    }


def test_bin_view_shows_the_header_and_jumps_to_a_touched_run(
    qtbot: QtBot, bin_file: Path, runner: Runner
) -> None:
    assert identify(bin_file) == BIN
    facts = inspect_file(bin_file)
    assert facts["error"] is None
    header = facts["saved_state"]["header"]
    assert header["memory_size"] == 64 * MiB
    assert header["touched_chunks"] == 3
    runs = facts["saved_state"]["touched_runs"]["listed"]
    assert [(r["guest_address"], r["length"]) for r in runs] == [
        (3 * MiB, 2 * MiB), (40 * MiB, MiB)]
    # sparse: the file is 64 MiB long but only the touched chunks take disk space
    assert facts["file"]["size_on_disk"] < 8 * MiB < facts["file"]["size"]

    view = make_file_view(bin_file, facts, runner, [], file=bytes_to_show(bin_file, facts))
    qtbot.addWidget(view)
    assert isinstance(view, SavedStateView)
    top = _rows(view.model)
    assert top["format"].startswith("hvgui BIN")
    # click the second touched run: the hex view shows its bytes (the guest wrote "hello memory")
    runs_index = next(view.model.index(r, 0) for r in range(view.model.rowCount())
                      if view.model.index(r, 0).data() == "touched_runs")
    listed = next(view.model.index(r, 0, runs_index) for r in range(view.model.rowCount(runs_index))
                  if view.model.index(r, 0, runs_index).data() == "listed")
    second = view.model.index(1, 0, listed)
    view.tree.clicked.emit(second)
    row = view.hex.table.selectionModel().selectedRows()[0].row()
    assert shown_bytes(qtbot, view.hex.model, row + 1)[1:13] == b"hello memory"
    # the run's 1 MiB is tinted in the hex view
    assert view.hex.model.highlighted_rows() == (row, row + MiB // 16 - 1)
    assert view.hex.model.index(row + 5, 1).data(Qt.ItemDataRole.BackgroundRole) is not None
    view.hex.close_file()


def test_vsv_view_decodes_processors_and_devices(
    qtbot: QtBot, vsv_file: Path, runner: Runner
) -> None:
    assert identify(vsv_file) == VSV
    facts = inspect_file(vsv_file)
    decoded = facts["saved_state"]
    assert [s["name"] for s in decoded["sections"]] == ["processors", "devices"]
    assert decoded["processors"][0]["rip"] == "0xffff800012345678"
    assert decoded["devices"]["nic"]["mac"] == "00:15:5D:00:00:01"
    view = make_file_view(vsv_file, facts, runner, [], file=bytes_to_show(vsv_file, facts))
    qtbot.addWidget(view)
    assert isinstance(view, SavedStateView)
    assert _rows(view.model)["processors"] == "2 items"
    view.hex.close_file()


def _section_row(view: SavedStateView, name: str):  # type: ignore[no-untyped-def]
    """The index of the section called `name` under `sections` in the decoded tree."""
    model = view.model
    sections = next(model.index(r, 0) for r in range(model.rowCount())
                    if model.index(r, 0).data() == "sections")
    for r in range(model.rowCount(sections)):
        row = model.index(r, 0, sections)
        if _rows(model, row).get("name") == name:
            return row
    raise AssertionError(f"no section {name!r}")


def test_bin_view_shows_an_empty_pending_write_record(qtbot: QtBot, bin_file: Path) -> None:
    decoded = inspect_file(bin_file)["saved_state"]
    assert [s["name"] for s in decoded["sections"]] == [
        "chunk bitmap", "pending-write record", "memory data"]
    record = decoded["sections"][1]
    assert record["pending_write"] is None and record["meaning"].startswith("empty")


def test_bin_view_shows_a_write_left_half_done_and_its_bytes(
    qtbot: QtBot, bin_file: Path, monkeypatch: pytest.MonkeyPatch, runner: Runner
) -> None:
    # A writer killed after logging its write (step 1 of "Writing memory"): the record is whole.
    def killed(self: savedstate.BinFile, offset: int, data: bytes) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(savedstate.BinFile, "_apply", killed)
    with savedstate.BinFile(bin_file, writable=True) as memory, pytest.raises(KeyboardInterrupt):
        memory.write(0x500123, b"not yet applied")
    monkeypatch.undo()
    facts = inspect_file(bin_file)
    record = next(s for s in facts["saved_state"]["sections"]
                  if s["name"] == "pending-write record")
    assert record["pending_write"] == {"guest_offset": 0x500123, "length": 15}
    assert "15 bytes at guest offset 0x500123" in record["meaning"]
    assert "readers apply it" in record["meaning"]

    view = make_file_view(bin_file, facts, runner, [], file=bytes_to_show(bin_file, facts))
    qtbot.addWidget(view)
    assert isinstance(view, SavedStateView)
    row = _section_row(view, "pending-write record")
    assert "15 bytes" in _rows(view.model, row)["meaning"]
    view.tree.clicked.emit(row)  # the record's bytes, tinted: its magic then the logged data
    first = view.hex.table.selectionModel().selectedRows()[0].row()
    model = view.hex.model
    assert shown_bytes(qtbot, model, first)[:8] == b"HVGUIWRT"
    assert shown_bytes(qtbot, model, first + 1)[8:] + shown_bytes(qtbot, model, first + 2)[:7] == (
        b"not yet applied")
    assert view.hex.model.highlighted_rows() == (first, first + 2)
    view.hex.close_file()


def test_a_damaged_bin_gets_an_error_panel_naming_the_problem(
    qtbot: QtBot, bin_file: Path, runner: Runner
) -> None:
    with open(bin_file, "r+b") as handle:
        handle.seek(20)
        handle.write(b"\xff\xff")
    facts = inspect_file(bin_file)
    assert facts["kind"] == BIN
    assert "checksum" in facts["error"]
    view = make_file_view(bin_file, facts, runner, [], file=bytes_to_show(bin_file, facts))
    qtbot.addWidget(view)
    assert isinstance(view, ErrorPanel)
    assert "checksum" in view.problem
    view.hex.close_file()  # type: ignore[attr-defined]


def test_without_the_extra_server_2016_files_are_shown_in_hex_with_how_to_decode_them(
    qtbot: QtBot, corpus_dir: Path, without_vmcx_extra: None, runner: Runner
) -> None:
    for name, kind in (("test.vmcx", VMCX), ("test.VMRS", VMRS)):
        path = corpus_dir / name
        assert identify(path) == kind
        facts = inspect_file(path)
        assert facts["decoded"] is False and facts["error"] is None
        assert "pip install 'hvgui[vmcx]'" in facts["note"] and "AGPL" in facts["note"]
        view = make_file_view(path, facts, runner, [], file=bytes_to_show(path, facts))
        qtbot.addWidget(view)
        assert isinstance(view, NotDecodedView)
        assert "Server 2016" in view.note.text() and "hvgui[vmcx]" in view.note.text()
        assert shown_text(qtbot, view.hex.model, 0, 1).startswith("14 20 28 01")
        assert view.hex.model.rowCount() == (path.stat().st_size + 15) // 16
        view.hex.close_file()


def test_facts_model_passes_the_model_tester(qtmodeltester, bin_file: Path) -> None:  # type: ignore[no-untyped-def]
    model = FactsModel(inspect_file(bin_file))
    qtmodeltester.check(model)


def test_a_4_gib_bin_opens_at_once(qtbot: QtBot, tmp_path: Path, runner: Runner) -> None:

    from hvgui.host import savedstate

    path = tmp_path / "big.bin"
    savedstate.BinFile.create(path, 4 << 30)
    with savedstate.BinFile(path, writable=True) as memory:
        memory.write((4 << 30) - 16, b"top of memory!!!")
    facts = inspect_file(path)
    view = make_file_view(path, facts, runner, [], file=bytes_to_show(path, facts))
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    assert isinstance(view, SavedStateView)
    assert path.stat().st_size > 4 << 30 and path.stat().st_blocks * 512 < 8 * MiB
    view.hex.go_to_offset(path.stat().st_size - 16)
    row = view.hex.table.selectionModel().selectedRows()[0].row()
    assert shown_bytes(qtbot, view.hex.model, row) == b"top of memory!!!"
    assert view.hex.model.reads < 10
    view.hex.close_file()
