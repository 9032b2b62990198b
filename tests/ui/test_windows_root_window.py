"""The window shows which Windows host folder a lab host stands for (its host's tooltip)."""

from __future__ import annotations

from typing import Any

from hvgui.ui.main_window import MainWindow


def test_the_hosts_tooltip_names_its_windows_root(qtbot: Any, window: MainWindow) -> None:
    item = window.navigation.currentItem()
    assert item is not None
    tip = item.toolTip(0)
    assert "stands for C:\\ProgramData\\Microsoft\\Windows\\Hyper-V on a Windows host" in tip
