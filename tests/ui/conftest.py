"""UI fixtures: isolated settings, a small lab host built through real operations, the window,
and recorded answers to every dialog (so no test blocks on a modal exec())."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from hvgui.backend import Capability, HostBackend
from hvgui.guest.guest import Guest
from hvgui.host import Host
from hvgui.ui import ask
from hvgui.ui.main_window import MainWindow
from tests.ui.helpers import Answers, open_and_wait

MiB = 1 << 20


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point QSettings' user scope at a temporary folder: tests never touch the user's."""
    folder = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    rec = Answers()

    def ask_apply(_parent: Any, vm_name: str, snapshot_name: str) -> ask.ApplyChoice:
        rec.asked.append(("apply", snapshot_name))
        return rec.apply

    def confirm(_parent: Any, title: str, text: str, detail: str = "") -> bool:
        rec.asked.append(("confirm", title))
        return rec.confirm

    def ask_text(_parent: Any, title: str, label: str, text: str = "") -> str | None:
        rec.asked.append(("text", title))
        return rec.text

    def ask_directory(_parent: Any, title: str, start: Path | None = None) -> Path | None:
        rec.asked.append(("directory", title))
        return rec.directory

    def confirm_delete(_parent: Any, _host: Any, _vm: Any, snapshot: Any, title: str,
                       text: str, *, include_children: bool) -> bool:
        rec.asked.append(("confirm", title))
        rec.deleted.append((snapshot.name, include_children))
        return rec.confirm

    def ask_open_file(_parent: Any, title: str, start: Path | None = None,
                      filters: str = "") -> Path | None:
        rec.asked.append(("file", title))
        return rec.file

    def show_findings(_parent: Any, host_name: str, findings: Any) -> None:
        rec.findings.append(list(findings))

    def inform(_parent: Any, title: str, text: str) -> None:
        rec.informed.append(text)

    def show_error(_parent: Any, title: str, exc: BaseException) -> None:
        rec.errors.append(exc)

    for name, fn in (("ask_apply", ask_apply), ("confirm", confirm), ("ask_text", ask_text),
                     ("ask_directory", ask_directory), ("inform", inform),
                     ("confirm_delete", confirm_delete), ("ask_open_file", ask_open_file),
                     ("show_findings", show_findings),
                     ("show_error", show_error)):
        monkeypatch.setattr(ask, name, fn)
    return rec


def build_small_host(root: Path) -> Host:
    """Two VMs: "Alpha" running with a checkpoint "Base" and a guest file; "Beta" off."""
    host = Host.open(root)
    host.new_vm("Alpha", memory_startup_bytes=256 * MiB, new_vhd_size_bytes=64 * MiB)
    host.start_vm("Alpha")
    Guest(host, "Alpha").write_file("/hello.txt", b"hello before the checkpoint\r\n")
    host.checkpoint_vm("Alpha", snapshot_name="Base")
    Guest(host, "Alpha").write_file("/hello.txt", b"hello after the checkpoint\r\n")
    host.new_vm("Beta", memory_startup_bytes=256 * MiB, new_vhd_size_bytes=64 * MiB)
    return host


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    build_small_host(root)
    return root


@pytest.fixture
def backend(host_dir: Path) -> HostBackend | None:
    """The backend the window opens host_dir with (None: as the window opens a folder)."""
    return None


@pytest.fixture
def window(
    qtbot: Any, host_dir: Path, backend: HostBackend | None, answers: Answers
) -> Iterator[MainWindow]:
    win = MainWindow(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                               "hvgui-tests", "hvgui"))
    qtbot.addWidget(win)
    session = open_and_wait(qtbot, win, host_dir, backend)
    if backend is not None and not backend.capabilities.has(Capability.LOCAL_FILES):
        # A remote host's first read comes from a pool thread: wait for its VMs.
        qtbot.waitUntil(lambda: session.vm_model.rowCount() > 0, timeout=20000)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitActive(win)
    yield win
    win.close()
    assert not win.runner.busy or win.runner.wait(10000)
    assert answers.errors == [], f"unexpected errors shown: {answers.errors}"
