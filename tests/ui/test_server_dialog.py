"""Connect to Server...: Hyper-V Manager's Select Computer dialog, recent hosts in the
settings, passwords only in the system keyring, and the server joining the window's tree
(a lab host answering over the lab transport stands in for a real Hyper-V host)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialogButtonBox

from hvgui.backend import Capability, HostBackend
from hvgui.host import Host
from hvgui.hyperv import ConnectError
from hvgui.hyperv.connect import open_backend
from hvgui.hyperv.settings import ConnectionSettings
from hvgui.ui import openers, recent_servers
from hvgui.ui.main_window import MainWindow
from hvgui.ui.server_dialog import ServerDialog
from hvgui.ui.workers import Runner
from tests.ui.helpers import Answers, GuiThreadWatch, vm_index


class MemoryKeyring(KeyringBackend):
    """A keyring in memory that notes each call made on the GUI thread (a real backend may
    block there: the Secret Service over D-Bus, an unlock prompt) and, while `gate` is
    cleared, answers only when it is set."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}
        self.on_gui_thread: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def _called(self, what: str) -> None:
        if threading.current_thread() is threading.main_thread():
            self.on_gui_thread.append(what)
        assert self.gate.wait(30), "the test never opened the keyring's gate"

    def get_password(self, service: str, username: str) -> str | None:
        self._called("get")
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._called("set")
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._called("delete")
        self.secrets.pop((service, username))


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(before)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture
def runner(qtbot: Any) -> Iterator[Runner]:
    """The window's runner the dialog asks the keyring on (it outlives the dialog)."""
    runner = Runner()
    yield runner
    runner.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _ok(dialog: ServerDialog) -> None:
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    box.button(QDialogButtonBox.StandardButton.Ok).click()


SERVER = ConnectionSettings(computer_name="hv01.lab.example", user=r"LAB\admin",
                            password="s3cret!", port=5986, authentication="ntlm")


def test_recent_hosts_come_back_most_recent_first_without_their_passwords(
    store: QSettings, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    recent_servers.remember(store, SERVER)
    recent_servers.remember(store, ConnectionSettings(computer_name="hv02"))
    recent_servers.remember(store, SERVER)  # again: moves to the top, not listed twice
    store.sync()
    names = [s.display_name for s in recent_servers.load(store)]
    assert names == ["hv01.lab.example", "hv02"]
    first = recent_servers.load(store)[0]
    assert (first.user, first.port, first.authentication) == (r"LAB\admin", 5986, "ntlm")
    assert first.password is None
    assert "s3cret!" not in (tmp_path / "settings.ini").read_text()


def test_a_password_is_kept_only_in_the_keyring(
    store: QSettings, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    assert recent_servers.store_password(SERVER)
    recent_servers.remember(store, SERVER)
    store.sync()
    assert list(memory_keyring.secrets.values()) == ["s3cret!"]
    assert "s3cret!" not in (tmp_path / "settings.ini").read_text()
    assert recent_servers.stored_password(recent_servers.load(store)[0]) == "s3cret!"
    recent_servers.forget_password(SERVER)
    assert recent_servers.stored_password(SERVER) is None


def test_without_a_keyring_nothing_is_stored_and_the_dialog_says_why(
    qtbot: Any, no_keyring: None, runner: Runner
) -> None:
    assert not recent_servers.store_password(SERVER)
    dialog = ServerDialog([], runner)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.keyring is not None, timeout=10000)
    dialog.as_user.setChecked(True)
    assert dialog.user.isEnabled() and not dialog.remember.isEnabled()
    assert "keyring" in dialog.remember.toolTip()


def test_the_dialog_fills_in_a_recent_host_and_its_stored_password(
    qtbot: Any, memory_keyring: MemoryKeyring, runner: Runner
) -> None:
    recent_servers.store_password(SERVER)
    memory_keyring.on_gui_thread.clear()  # the test's own call above
    dialog = ServerDialog([recent_servers.without_password(SERVER),
                           ConnectionSettings(computer_name="hv02")], runner)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.values().password is not None, timeout=10000)
    values = dialog.values()
    assert (values.computer_name, values.user, values.password) == (
        "hv01.lab.example", r"LAB\admin", "s3cret!")
    assert dialog.remember_password and memory_keyring.on_gui_thread == []
    dialog.computer.setCurrentIndex(1)  # the second recent host: no user, no password
    values = dialog.values()
    assert (values.computer_name, values.user, values.password) == ("hv02", None, None)
    dialog.local.setChecked(True)
    assert dialog.values().is_local and not dialog.computer.isEnabled()


def test_a_keyring_that_blocks_leaves_the_dialog_usable(
    qtbot: Any, memory_keyring: MemoryKeyring, runner: Runner
) -> None:
    """A locked Secret Service answers only after its unlock prompt: meanwhile the dialog is
    shown and takes input, and the stored password fills in when the keyring answers, unless
    the user typed one first."""
    recent_servers.store_password(SERVER)
    memory_keyring.on_gui_thread.clear()  # the test's own call above
    memory_keyring.gate.clear()
    recent = [recent_servers.without_password(SERVER)]
    dialog = ServerDialog(recent, runner)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)  # shown while the keyring has not answered
    assert dialog.values().password is None and dialog.user.text() == r"LAB\admin"
    memory_keyring.gate.set()
    qtbot.waitUntil(lambda: dialog.password.text() == "s3cret!", timeout=10000)
    assert dialog.remember.isChecked()

    memory_keyring.gate.clear()
    typed = ServerDialog(recent, runner)
    qtbot.addWidget(typed)
    typed.password.setText("typed meanwhile")
    memory_keyring.gate.set()
    qtbot.waitUntil(lambda: typed.keyring is not None, timeout=10000)
    assert typed.values().password == "typed meanwhile" and not typed.remember.isChecked()
    assert memory_keyring.on_gui_thread == []


def test_settings_that_cannot_work_are_refused_in_words(
    qtbot: Any, answers: Answers, memory_keyring: MemoryKeyring, runner: Runner
) -> None:
    dialog = ServerDialog([], runner)
    qtbot.addWidget(dialog)
    dialog.computer.setCurrentText("")
    _ok(dialog)
    assert answers.informed == ["These settings cannot be used: type the name of the "
                                "computer to connect to."]
    dialog.computer.setCurrentText("hv03")
    dialog.https.setChecked(False)
    dialog.authentication.setCurrentText("certificate")
    _ok(dialog)
    assert "HTTP needs message encryption" in answers.informed[-1]
    assert dialog.result() == 0  # still open


def test_certificate_authentication_and_trusted_authorities_can_be_given(
    qtbot: Any, answers: Answers, memory_keyring: MemoryKeyring, runner: Runner,
    tmp_path: Path,
) -> None:
    """The advanced settings take the client certificate and key (certificate
    authentication) and a CA bundle to trust: without them certificate authentication could
    only be refused, and an untrusted host's message points at that bundle."""
    dialog = ServerDialog([], runner)
    qtbot.addWidget(dialog)
    dialog.computer.setCurrentText("hv03")
    assert not dialog.client_certificate.isEnabled() and dialog.ca_bundle.isEnabled()
    dialog.authentication.setCurrentText("certificate")
    assert dialog.client_certificate.isEnabled() and dialog.client_key.isEnabled()
    _ok(dialog)
    assert "needs the client certificate and its key" in answers.informed[-1]
    dialog.client_certificate.setText("/home/me/hv-admin.pem")
    dialog.client_key.setText("/home/me/hv-admin.key")
    dialog.ca_bundle.setText("/etc/lab-ca.pem")
    values = dialog.values()
    assert (values.authentication, values.certificate_pem, values.certificate_key_pem,
            values.ca_bundle) == ("certificate", "/home/me/hv-admin.pem",
                                  "/home/me/hv-admin.key", "/etc/lab-ca.pem")
    _ok(dialog)
    assert dialog.result() == 1 and len(answers.informed) == 1
    dialog.check_certificate.setChecked(False)
    assert not dialog.ca_bundle.isEnabled()
    # Kept with the recent host (paths only) and shown again.
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    recent_servers.remember(store, values)
    again = ServerDialog(recent_servers.load(store), runner)
    qtbot.addWidget(again)
    assert (again.client_certificate.text(), again.client_key.text(),
            again.ca_bundle.text()) == ("/home/me/hv-admin.pem", "/home/me/hv-admin.key",
                                        "/etc/lab-ca.pem")
    again.grab().save(str(tmp_path / "server-dialog-certificate.png"))


def test_connect_to_server_puts_the_host_in_the_tree_beside_the_lab(
    qtbot: Any, window: MainWindow, answers: Answers, memory_keyring: MemoryKeyring,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_lab = Host.open(tmp_path / "server", create=True)
    server_lab.new_vm("SQL01", memory_startup_bytes=64 << 20, new_vhd_size_bytes=64 << 20)
    asked: list[ConnectionSettings] = []

    transports: list[GuiThreadWatch] = []

    def connect(settings: ConnectionSettings) -> HostBackend:
        asked.append(settings)
        # as a real server answers: with its Windows paths
        transports.append(GuiThreadWatch(server_lab, settings.display_name, windows_paths=True))
        return open_backend(transports[-1])

    monkeypatch.setattr(openers, "connect_to_server", connect)
    monkeypatch.setattr(ServerDialog, "ask", classmethod(
        lambda cls, parent, recent, runner: (SERVER, True)))
    window.acts.connect_server.trigger()
    qtbot.waitUntil(lambda: len(window.navigation.hosts()) == 2, timeout=20000)
    assert asked == [SERVER] and answers.errors == []
    session = window.session
    assert session is not None and session.name == "hv01.lab.example"
    assert window.windowTitle() == "Hyper-V Manager — hv01.lab.example"
    qtbot.waitUntil(lambda: vm_index(window, "SQL01") is not None, timeout=20000)
    qtbot.wait(1500)  # a poll or two
    assert [t.on_gui_thread for t in transports] == [[]]
    # What a real host cannot give is greyed with the reason.
    assert not window.acts.check_host.isEnabled()
    assert window.acts.check_host.toolTip() == session.host.capabilities.reason(
        Capability.CHECK_HOST)
    # Remembered for next time: the host in the settings, the password in the keyring only.
    store = window.settings
    assert [s.display_name for s in recent_servers.load(store)] == ["hv01.lab.example"]
    qtbot.waitUntil(lambda: list(memory_keyring.secrets.values()) == ["s3cret!"], timeout=10000)
    assert memory_keyring.on_gui_thread == []
    window.save_settings()
    opened = store.value("hosts/open")
    opened = [opened] if isinstance(opened, str) else list(opened or [])
    assert len(opened) == 1 and not opened[0].startswith("server:")  # folders reopen, not servers
    window.grab().save(str(tmp_path / "connected-server.png"))


def test_a_host_that_cannot_be_reached_is_named_with_the_cause(
    qtbot: Any, window: MainWindow, answers: Answers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(settings: ConnectionSettings) -> HostBackend:
        raise ConnectError(settings.display_name, "WinRM is not enabled: run Enable-PSRemoting")

    monkeypatch.setattr(openers, "connect_to_server", refuse)
    monkeypatch.setattr(ServerDialog, "ask", classmethod(
        lambda cls, parent, recent, runner: (SERVER, False)))
    window.acts.connect_server.trigger()
    qtbot.waitUntil(lambda: bool(answers.errors), timeout=20000)
    assert str(answers.errors[0]) == ("hv01.lab.example: WinRM is not enabled: run "
                                      "Enable-PSRemoting")
    assert len(window.navigation.hosts()) == 1
    assert recent_servers.load(window.settings) == []  # only hosts that answered are kept
    answers.errors.clear()  # the one error this test expected
