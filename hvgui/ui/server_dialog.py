"""Hyper-V Manager's Select Computer dialog (Connect to Server...), with the remoting settings
Windows keeps out of sight: port, HTTPS, authentication and certificate checking.

The system keyring is asked on a worker: a backend may block (the Secret Service over D-Bus,
a locked keyring's unlock prompt), and the dialog stays usable meanwhile; a stored password
fills in when it answers, unless the user has typed one by then."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from hvgui.hyperv.settings import AUTHENTICATIONS, ConnectionSettings
from hvgui.ui import ask, recent_servers
from hvgui.ui.workers import Op, Runner

NO_KEYRING = ("No system keyring is available (pip install 'hvgui[remote]' on a desktop with "
              "one): the password is asked for each time")


class ServerDialog(QDialog):
    def __init__(self, recent: list[ConnectionSettings], runner: Runner,
                 parent: QWidget | None = None) -> None:
        """`runner`: the window's (it outlives the dialog, so a keyring that answers after
        the dialog closed is still waited for when the window closes)."""
        super().__init__(parent)
        self.setObjectName("serverDialog")
        self.setWindowTitle("Select Computer")
        self.recent = recent
        self.runner = runner
        self.keyring: bool | None = None  # whether passwords can be kept (None: still asking)
        self._lookups = 0  # the keyring questions asked; only the latest answer is used
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Connect to virtualization server"))
        self.local = QRadioButton("&Local computer")
        self.other = QRadioButton("&Another computer:")
        self.computer = QComboBox()
        self.computer.setObjectName("computerName")
        self.computer.setEditable(True)
        self.computer.addItems([s.display_name for s in recent])
        self.computer.setCurrentText(recent[0].display_name if recent else "")
        self.computer.setToolTip("A host name, or its IP address, that answers PowerShell "
                                 "Remoting (WinRM)")
        self.computer.currentIndexChanged.connect(self._recent_chosen)
        self.other.setChecked(True)
        self.local.toggled.connect(self._update)
        for widget in (self.local, self.other, self.computer):
            layout.addWidget(widget)

        self.as_user = QCheckBox("Connect as another &user")
        self.user = QLineEdit()
        self.user.setObjectName("userName")
        self.user.setPlaceholderText(r"DOMAIN\user or user@domain")
        self.password = QLineEdit()
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember = QCheckBox("&Remember the password (system keyring)")
        self.remember.setToolTip("Asking the system keyring…")
        self.as_user.toggled.connect(self._update)
        credentials = QFormLayout()
        credentials.addRow("User name:", self.user)
        credentials.addRow("Password:", self.password)
        credentials.addRow("", self.remember)
        layout.addWidget(self.as_user)
        layout.addLayout(credentials)

        advanced = QGroupBox("Advanced (PowerShell Remoting)")
        form = QFormLayout(advanced)
        self.https = QCheckBox("Use &HTTPS (port 5986; HTTP on 5985 encrypts the messages)")
        self.https.setChecked(True)
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("default")
        self.authentication = QComboBox()
        self.authentication.addItems(list(AUTHENTICATIONS))
        self.check_certificate = QCheckBox("Check the host's &certificate")
        self.check_certificate.setChecked(True)
        self.check_certificate.setToolTip("Turn off only for a test host whose self-signed "
                                          "certificate you trust")
        # PEM files on this computer: authorities to trust instead of the system's, and the
        # client certificate and key of certificate authentication.
        self.ca_bundle = _pem_field("caBundle", "The system's authorities")
        self.ca_bundle.setToolTip("A PEM file of the authorities that issue the hosts' "
                                  "certificates, trusted instead of the system's")
        self.client_certificate = _pem_field("clientCertificate", "A PEM file")
        self.client_key = _pem_field("clientKey", "A PEM file (not encrypted)")
        self.authentication.currentTextChanged.connect(self._update)
        self.check_certificate.toggled.connect(self._update)
        form.addRow(self.https)
        form.addRow("Port:", self.port)
        form.addRow("Authentication:", self.authentication)
        form.addRow("Client certificate:", self.client_certificate)
        form.addRow("Its private key:", self.client_key)
        form.addRow(self.check_certificate)
        form.addRow("Trusted authorities:", self.ca_bundle)
        layout.addWidget(advanced)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if recent:
            self._show(recent[0])
        else:
            self._ask_keyring(None)
        self._update()

    def _recent_chosen(self, index: int) -> None:
        if 0 <= index < len(self.recent):
            self._show(self.recent[index])

    def _show(self, settings: ConnectionSettings) -> None:
        self.as_user.setChecked(bool(settings.user))
        self.user.setText(settings.user or "")
        self.password.setText("")
        self.remember.setChecked(False)
        self.https.setChecked(settings.use_https)
        self.port.setValue(settings.port or 0)
        self.authentication.setCurrentText(settings.authentication)
        self.check_certificate.setChecked(settings.check_certificate)
        self.ca_bundle.setText(settings.ca_bundle or "")
        self.client_certificate.setText(settings.certificate_pem or "")
        self.client_key.setText(settings.certificate_key_pem or "")
        self._base = settings
        self._ask_keyring(settings)

    def _ask_keyring(self, settings: ConnectionSettings | None) -> None:
        """Whether the keyring can keep passwords and the one stored for `settings`."""
        self._lookups += 1
        asked = self._lookups

        def lookup(_progress: Any, _cancel: Any) -> tuple[bool, str | None]:
            usable = recent_servers.can_store_passwords()
            return usable, (recent_servers.stored_password(settings)
                            if usable and settings is not None else None)

        Op(self.runner, lookup, label="keyring", quiet=True).bound_to(self).success(
            lambda answer: self._keyring_answered(asked, *answer)).failure(
            lambda _exc: self._keyring_answered(asked, False, None)).run_in_background()

    def _keyring_answered(self, asked: int, usable: bool, stored: str | None) -> None:
        self.keyring = usable
        self.remember.setToolTip("" if usable else NO_KEYRING)
        if asked == self._lookups and stored is not None and not self.password.text():
            self.password.setText(stored)
            self.remember.setChecked(True)
        self._update()

    def _update(self) -> None:
        self.computer.setEnabled(self.other.isChecked())
        for widget in (self.user, self.password, self.remember):
            widget.setEnabled(self.as_user.isChecked() and (
                widget is not self.remember or bool(self.keyring)))
        by_certificate = self.authentication.currentText() == "certificate"
        self.client_certificate.setEnabled(by_certificate)
        self.client_key.setEnabled(by_certificate)
        self.ca_bundle.setEnabled(self.check_certificate.isChecked())

    def values(self) -> ConnectionSettings:
        base = getattr(self, "_base", ConnectionSettings())
        as_user = self.as_user.isChecked()
        return dataclasses.replace(
            base,
            computer_name="" if self.local.isChecked() else self.computer.currentText().strip(),
            user=self.user.text().strip() or None if as_user else None,
            password=self.password.text() if as_user and self.password.text() else None,
            port=self.port.value() or None,
            use_https=self.https.isChecked(),
            authentication=self.authentication.currentText(),
            check_certificate=self.check_certificate.isChecked(),
            ca_bundle=self.ca_bundle.text().strip() or None,
            certificate_pem=self.client_certificate.text().strip() or None,
            certificate_key_pem=self.client_key.text().strip() or None,
        )

    @property
    def remember_password(self) -> bool:
        return self.remember.isEnabled() and self.remember.isChecked()

    def _accept(self) -> None:
        settings = self.values()
        problem = settings.problem()
        if not problem and self.other.isChecked() and not settings.computer_name:
            problem = "type the name of the computer to connect to"
        if problem:
            ask.inform(self, "Connect to Server", f"These settings cannot be used: {problem}.")
            return
        self.accept()

    @classmethod
    def ask(
        cls, parent: QWidget | None, recent: list[ConnectionSettings], runner: Runner,
    ) -> tuple[ConnectionSettings, bool] | None:
        """The settings to connect with and whether to keep the password, or None."""
        dialog = cls(recent, runner, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.values(), dialog.remember_password


def _pem_field(name: str, placeholder: str) -> QLineEdit:
    field = QLineEdit()
    field.setObjectName(name)
    field.setPlaceholderText(placeholder)
    return field
