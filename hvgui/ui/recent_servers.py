"""The servers a user connected to, remembered for the next Connect to Server...

Everything but the password goes to QSettings; a password is kept only in the system keyring
(the `keyring` package, part of the `remote` extra), under the service name below, and only
when the user asks for it. Without a usable keyring nothing is stored and the user is asked
each time.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from PySide6.QtCore import QSettings

from hvgui.hyperv.settings import ConnectionSettings

KEY = "servers/recent"
KEYRING_SERVICE = "hvgui Hyper-V hosts"
MAX_RECENT = 10
# What QSettings keeps of a ConnectionSettings: never the password or the private key.
_KEPT = ("computer_name", "user", "port", "use_https", "authentication", "check_certificate",
         "ca_bundle", "certificate_pem", "certificate_key_pem", "connect_timeout")


def _account(settings: ConnectionSettings) -> str:
    return f"{settings.user}@{settings.display_name.lower()}"


def load(store: QSettings) -> list[ConnectionSettings]:
    """The recent servers, most recent first; an entry that no longer parses is skipped."""
    try:
        entries = json.loads(str(store.value(KEY, "[]")))
    except ValueError:
        return []
    recent: list[ConnectionSettings] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        try:
            settings = ConnectionSettings(**{k: v for k, v in entry.items() if k in _KEPT})
        except TypeError:
            continue
        recent.append(settings)
    return recent


def remember(store: QSettings, settings: ConnectionSettings) -> None:
    """Put `settings` first in the recent list (without its password)."""
    kept: dict[str, Any] = {k: getattr(settings, k) for k in _KEPT}
    others = [s for s in load(store) if s.display_name.lower() != settings.display_name.lower()]
    entries = [kept, *({k: getattr(s, k) for k in _KEPT} for s in others)][:MAX_RECENT]
    store.setValue(KEY, json.dumps(entries))


def _keyring() -> Any | None:
    """The keyring module when it is installed and has a real backend, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        usable = not isinstance(keyring.get_keyring(), fail.Keyring)
    except Exception:  # a backend that fails while being chosen: none to use
        return None
    return keyring if usable else None


def can_store_passwords() -> bool:
    return _keyring() is not None


def stored_password(settings: ConnectionSettings) -> str | None:
    keyring = _keyring()
    if keyring is None or not settings.user:
        return None
    try:
        value = keyring.get_password(KEYRING_SERVICE, _account(settings))
    except Exception:  # a locked or broken keyring: ask the user instead
        return None
    return value if isinstance(value, str) else None


def store_password(settings: ConnectionSettings) -> bool:
    """Keep the password in the system keyring; False when there is none to keep it in."""
    keyring = _keyring()
    if keyring is None or not settings.user or settings.password is None:
        return False
    try:
        keyring.set_password(KEYRING_SERVICE, _account(settings), settings.password)
    except Exception:
        return False
    return True


def forget_password(settings: ConnectionSettings) -> None:
    keyring = _keyring()
    if keyring is None or not settings.user:
        return
    try:
        keyring.delete_password(KEYRING_SERVICE, _account(settings))
    except Exception:  # nothing stored, or the keyring refuses: nothing to forget
        return


def keep_password(settings: ConnectionSettings, keep: bool) -> bool:
    """Store the password (`keep`) or forget the one stored; whether one is stored now."""
    if keep:
        return store_password(settings)
    forget_password(settings)
    return False


def without_password(settings: ConnectionSettings) -> ConnectionSettings:
    return dataclasses.replace(settings, password=None)
