"""The XML view: highlighted text, a tree, and a diff of settings against another file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from hvgui.inspect import XML, identify, inspect_file, settings_diff
from hvgui.ui.inspector.panels import ErrorPanel
from hvgui.ui.inspector.window import bytes_to_show, make_file_view
from hvgui.ui.inspector.xml_models import SettingsDiffModel, XmlTreeModel
from hvgui.ui.inspector.xml_view import XmlView
from hvgui.ui.workers import Runner
from tests.inspector.hex_helpers import shown_bytes


def test_settings_diff_names_each_changed_setting(config_pair: tuple[Path, Path]) -> None:
    left, right = config_pair
    changes = {c.path: (c.left, c.right) for c in settings_diff(left, right)}
    assert changes["settings/memory/bank/size"] == ("1024", "2048")
    assert changes["properties/name"] == ("web01", "web01 renamed")
    assert len(changes) == 2
    assert settings_diff(left, left) == []


def test_xml_view_shows_text_tree_and_diff(qtbot: QtBot, config_pair: tuple[Path, Path]) -> None:
    left, right = config_pair
    assert identify(left) == XML
    facts = inspect_file(left)
    assert facts["xml"]["name"] == "web01"
    assert facts["xml"]["memory_startup_mb"] == 1024
    runner = Runner()
    view = make_file_view(left, facts, runner, [("The VM's current configuration (Now)", right)])
    qtbot.addWidget(view)
    assert isinstance(view, XmlView)
    tabs = [view.tabs.tabText(i) for i in range(view.tabs.count())]
    assert tabs == ["Summary", "Text", "Tree", "Diff"]
    # read, parsed and diffed off the GUI thread
    qtbot.waitUntil(lambda: view.loaded and view.diff_done(), timeout=5000)
    assert [view.tabs.tabText(i) for i in range(view.tabs.count())] == tabs
    assert "<configuration>" in view.text.toPlainText()
    assert view.highlighter is not None
    # highlighting applied: the line with a tag has formats
    block = view.text.document().findBlock(view.text.toPlainText().index("<configuration>"))
    qtbot.waitUntil(lambda: bool(block.layout().formats()), timeout=2000)
    assert view.tree_model is not None
    root = view.tree_model.index(0, 0)
    assert root.data() == "configuration"
    children = {view.tree_model.index(r, 0, root).data()
                for r in range(view.tree_model.rowCount(root))}
    assert {"properties", "settings"} <= children
    assert view.diff_model.rowCount() == 2
    memory_row = next(r for r in range(2)
                      if "memory" in view.diff_model.index(r, 0).data())
    assert view.diff_model.index(memory_row, 1).data() == "1024"
    assert view.diff_model.index(memory_row, 2).data() == "2048"
    assert "2 settings differ" in view.diff_status.text()
    assert view.diff_model.headerData(2, Qt.Orientation.Horizontal) == "Now"
    runner.shutdown()


def test_hostile_xml_gets_an_error_panel(qtbot: QtBot, tmp_path: Path, runner: Runner) -> None:
    path = tmp_path / "evil.xml"
    text = ('<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">]>\n'
            "<configuration>&lol;</configuration>")
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    facts = inspect_file(path)
    assert facts["kind"] == XML
    assert "DOCTYPE" in facts["error"]
    view = make_file_view(path, facts, runner, [], file=bytes_to_show(path, facts))
    qtbot.addWidget(view)
    assert isinstance(view, ErrorPanel)
    assert shown_bytes(qtbot, view.hex.model, 0)[:2] == b"\xff\xfe"  # type: ignore[attr-defined]
    view.hex.close_file()  # type: ignore[attr-defined]


def test_xml_models_pass_the_model_tester(qtmodeltester, config_pair: tuple[Path, Path]) -> None:  # type: ignore[no-untyped-def]
    from hvgui.inspect import load_xml_tree

    left, right = config_pair
    qtmodeltester.check(XmlTreeModel(load_xml_tree(left)))
    qtmodeltester.check(SettingsDiffModel(settings_diff(left, right), "a", "b"))


def test_a_utf8_copy_shows_its_encoding_in_the_summary(
    qtbot: QtBot, config_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    left, _ = config_pair
    copy = tmp_path / "mailed.xml"  # declares UTF-16, arrives as UTF-8 without CRs
    copy.write_bytes(left.read_bytes().decode("utf-16").replace("\r\n", "\n").encode("utf-8"))
    runner = Runner()
    view = make_file_view(copy, inspect_file(copy), runner, [])
    qtbot.addWidget(view)
    assert isinstance(view, XmlView)
    qtbot.waitUntil(lambda: view.loaded, timeout=5000)
    model = view.summary_model
    rows = {model.index(r, 0).data(): model.index(r, 1).data() for r in range(model.rowCount())}
    assert rows["encoding"] == "UTF-8 (declared UTF-16)"
    assert view.tree_model is not None  # parsed, not refused
    assert '<?xml version="1.0" encoding="UTF-16"' in view.text.toPlainText()
    view.resize(700, 500)
    view.grab().save(str(tmp_path / "xml-encoding.png"))
    runner.shutdown()
