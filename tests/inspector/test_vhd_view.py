"""A legacy VHD/AVHD in the inspector: footer, dynamic header, BAT and parent locators decoded
over the file's bytes, with Test-VHD's findings and the chain; and on the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex
from pytestqt.qtbot import QtBot

from hvgui.cli.main import main
from hvgui.inspect import VHD, identify, inspect_file
from hvgui.ui.inspector.vhdx_view import VhdView
from hvgui.ui.inspector.window import bytes_to_show, make_file_view
from hvgui.ui.workers import Runner
from hvgui.vhdx import create_vhd, create_vhd_differencing, open_disk

MiB = 1 << 20


@pytest.fixture
def avhd(tmp_path: Path) -> Path:
    base = create_vhd(tmp_path / "base.vhd", 16 * MiB)
    child = create_vhd_differencing(tmp_path / "base_1.avhd", base)
    with open_disk(child, writable=True) as disk:
        disk.write(3 * MiB, b"x" * 8192)
    return child


def test_an_avhd_is_decoded_with_its_parent_and_locators(avhd: Path) -> None:
    assert identify(avhd) == VHD
    facts = inspect_file(avhd)
    assert facts["decoded"] and facts["error"] is None
    vhd = facts["vhd"]
    assert vhd["footer"]["disk_type"] == "Differencing"
    assert vhd["footer"]["offset"] == avhd.stat().st_size - 512
    assert vhd["bat"]["allocated_blocks"] == 1
    (bitmap,) = vhd["sector_bitmaps"]["listed"]  # 8 KiB written at 3 MiB: block 1, 16 sectors
    assert (bitmap["block"], bitmap["sectors_present"], bitmap["length"]) == (1, "16 of 4096", 512)
    assert vhd["parent"]["name"] == "base.vhd"
    assert [loc["platform"] for loc in vhd["parent"]["locators"]] == ["W2ku", "W2ru"]
    assert vhd["parent"]["paths"]["relative_path"] == ".\\base.vhd"
    assert [Path(link["path"]).name for link in facts["chain"]] == ["base_1.avhd", "base.vhd"]
    assert [f["code"] for f in facts["findings"]] == ["vhd-writable"]  # base left writable


def test_the_vhd_view_jumps_to_a_structure(qtbot: QtBot, avhd: Path, tmp_path: Path) -> None:
    runner = Runner()
    view = make_file_view(avhd, facts := inspect_file(avhd), runner, [],
                          file=bytes_to_show(avhd, facts))
    qtbot.addWidget(view)
    assert isinstance(view, VhdView)
    structure = view.structure
    model = structure.model
    top = {model.index(r, 0, QModelIndex()).data(): r for r in range(model.rowCount())}
    assert {"footer", "dynamic_header", "bat", "sector_bitmaps", "parent"} <= set(top)
    structure.tree.clicked.emit(model.index(top["dynamic_header"], 0, QModelIndex()))
    hex_model = structure.hex.model
    assert hex_model.highlighted_rows() == (hex_model.row_of_offset(512),
                                            hex_model.row_of_offset(1535))
    view.tabs.setCurrentWidget(structure)
    view.resize(800, 600)
    view.grab().save(str(tmp_path / "vhd-view.png"))
    runner.shutdown()


def test_a_vhd_chain_has_a_block_map_and_read_path(
    qtbot: QtBot, avhd: Path, tmp_path: Path
) -> None:
    """The block map of an .avhd over its .vhd: the block the child wrote part of is split
    between the two files; its read path names the VHD's states (allocated, sector bitmap)."""
    runner = Runner()
    view = make_file_view(avhd, facts := inspect_file(avhd), runner, [],
                          file=bytes_to_show(avhd, facts))
    qtbot.addWidget(view)
    assert isinstance(view, VhdView)
    panel = view.block_panel
    view.show()  # the map is read once it is shown
    qtbot.waitUntil(lambda: panel.blocks is not None, timeout=10000)
    assert panel.blocks is not None
    assert [p.name for p in panel.blocks.chain] == ["base_1.avhd", "base.vhd"]
    written = 3 * MiB // panel.blocks.block_size  # the child wrote 8 KiB there
    assert dict(panel.blocks.blocks[written].sources) == {
        0: 8192, -1: panel.blocks.block_size - 8192}  # its sectors, and zeros below
    panel.show_read_path(written)  # read by a worker
    qtbot.waitUntil(lambda: "1. " in panel.path_text.toPlainText(), timeout=10000)
    text = panel.path_text.toPlainText()
    assert "BAT: allocated, some sectors marked" in text and "8 KiB read here" in text
    assert "BAT: unallocated" in text  # the base never wrote there: zeros
    view.resize(900, 600)
    qtbot.wait(50)
    view.grab().save(str(tmp_path / "vhd-block-map.png"))
    if os.environ.get("HVGUI_SHOTS"):
        view.grab().save(os.path.join(os.environ["HVGUI_SHOTS"], "vhd-block-map.png"))
    runner.shutdown()


def test_hvctl_inspect_prints_a_vhd(avhd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(avhd)]) == 0
    out = capsys.readouterr().out
    assert "VHD virtual disk (legacy)" in out and "W2ru" in out
    assert main(["inspect", str(avhd), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["vhd"]["footer"]["disk_type"] == "Differencing"
