"""Reading what a hex view shows: its pages come from workers, a row is blank until then."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from hvgui.ui.inspector.hex_model import HexModel


def shown_bytes(qtbot: QtBot, model: HexModel, row: int) -> bytes:
    """The bytes of `row` once its page has been read."""
    qtbot.waitUntil(lambda: model.row_bytes(row) is not None, timeout=10000)
    shown = model.row_bytes(row)
    assert shown is not None
    return shown


def shown_text(qtbot: QtBot, model: HexModel, row: int, column: int) -> str:
    """The text of a cell once its page has been read."""
    shown_bytes(qtbot, model, row)
    return str(model.data(model.index(row, column)))
