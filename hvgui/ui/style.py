"""The window's look: Hyper-V Manager's pale headers and section bars, on Qt's Fusion style."""

from __future__ import annotations

STYLE_SHEET = """
QLabel#paneHeader {
    background: qlineargradient(x1:0, y1:0, x2:0, y2:1, stop:0 #f4f7fb, stop:1 #dfe7f1);
    border-bottom: 1px solid #b8c6d8;
    color: #1b2a3a;
    font-weight: bold;
    padding: 4px 6px;
}
QLabel#actionsSection {
    background: #e4e9f0;
    border-top: 1px solid #c9d3df;
    border-bottom: 1px solid #c9d3df;
    color: #1b2a3a;
    font-weight: bold;
    padding: 3px 6px;
}
QToolButton#actionsItem {
    border: none;
    padding: 2px 8px 2px 14px;
    text-align: left;
    color: #0b3d91;
}
QToolButton#actionsItem:hover { background: #dbe8f8; text-decoration: underline; }
QToolButton#actionsItem:focus { background: #dbe8f8; }
QToolButton#actionsItem:disabled { color: #8c8c8c; }
QWidget#actionsBody { background: #ffffff; }
QTreeView, QTableView { selection-background-color: #3875d7; selection-color: #ffffff; }
QTableView { gridline-color: #e3e8ee; }
QHeaderView::section {
    background: #f3f5f8; border: none; border-right: 1px solid #dde3ea;
    border-bottom: 1px solid #c9d3df; padding: 3px 6px;
}
QLabel#problemBanner {
    background: #fff4ce; border-bottom: 1px solid #e0c25c; color: #3b2f00; padding: 4px 6px;
}
QLabel#readOnlyBanner {
    background: #e8eef6; border-bottom: 1px solid #9fb3cc; color: #1f3550; padding: 4px 6px;
}
QSplitter::handle { background: #c9d3df; }
"""
