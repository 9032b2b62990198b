"""Real Hyper-V hosts (issue 11), no Qt: the same window and hvctl over PowerShell.

`connect(ConnectionSettings(...))` gives a `HyperVHost` (docs/architecture.md). Underneath, a
transport runs the operation scripts shipped in `scripts/` and yields their JSON records:
`RemoteTransport` (PowerShell Remoting, the `remote` extra) or `LocalTransport`
(powershell.exe on Windows). Nothing here needs the lab host (an import-linter contract):
the tests' `LabTransport` (tests/hyperv/lab_transport.py), a lab host answering the same
contract, sits above both. Names load on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvgui.lazy import lazy_names

if TYPE_CHECKING:
    from hvgui.hyperv.errors import (
        AccessDeniedError,
        ConnectError,
        ConnectionLostError,
        NotFoundError,
    )
    from hvgui.hyperv.local import LocalTransport
    from hvgui.hyperv.records import Record, RecordError
    from hvgui.hyperv.remote import RemoteTransport
    from hvgui.hyperv.settings import ConnectionSettings
    from hvgui.hyperv.transport import Transport

_HOME = {
    "AccessDeniedError": "errors", "ConnectError": "errors", "ConnectionLostError": "errors",
    "NotFoundError": "errors",
    "LocalTransport": "local", "RemoteTransport": "remote",
    "Record": "records", "RecordError": "records",
    "ConnectionSettings": "settings",
    "Transport": "transport",
}

__all__ = [
    "AccessDeniedError",
    "ConnectError",
    "ConnectionLostError",
    "ConnectionSettings",
    "LocalTransport",
    "NotFoundError",
    "Record",
    "RecordError",
    "RemoteTransport",
    "Transport",
]

__getattr__, __dir__ = lazy_names(__name__, _HOME)
