"""The entry point: `connect(ConnectionSettings(...))` -> a checked HyperVHost.

The GUI's "Connect to Server..." and `hvctl --computer-name` both call it: it picks the
transport (powershell.exe for the local computer on Windows, PowerShell Remoting otherwise),
runs the probe script, and refuses with the cause and the fix when the host cannot be used.
"""

from __future__ import annotations

from typing import Any

from hvgui.hyperv.errors import (
    AccessDeniedError,
    ConnectError,
    cannot_manage,
    error_from_record,
    module_missing,
)
from hvgui.hyperv.host import HyperVHost
from hvgui.hyperv.settings import ConnectionSettings
from hvgui.hyperv.transport import Transport


def transport_for(settings: ConnectionSettings) -> Transport:
    if settings.uses_powershell_here:
        from hvgui.hyperv.local import LocalTransport

        return LocalTransport(computer_name=settings.display_name)
    from hvgui.hyperv.remote import RemoteTransport

    return RemoteTransport(settings)


def connect(settings: ConnectionSettings) -> HyperVHost:
    """A HyperVHost for `settings`, after checking the host answers, has the Hyper-V module
    and lets this user manage it; ConnectError (or AccessDeniedError) otherwise."""
    return open_backend(transport_for(settings))


def open_backend(transport: Transport) -> HyperVHost:
    """A checked HyperVHost over any transport (the lab transport too)."""
    try:
        check_probe(transport, probe(transport))
    except BaseException:
        transport.close()
        raise
    host = HyperVHost(transport)
    host.watch()  # its first look at the host runs while the window reads the VMs
    return host


def probe(transport: Transport) -> dict[str, Any]:
    for record in transport.run("probe", {}):
        if record.kind == "error":
            said = record.data.get("Message")
            raise ConnectError(transport.computer_name, f"the host could not run hvgui's "
                               f"check: {said}")
        if record.kind == "result" and record.result_kind == "Host" and isinstance(
            record.object, dict
        ):
            return record.object
    raise ConnectError(transport.computer_name, "the host did not answer hvgui's check")


def check_probe(transport: Transport, info: dict[str, Any]) -> None:
    name = transport.computer_name
    user = str(info.get("UserName") or "")
    if not info.get("HyperVModule"):
        raise module_missing(name, "Get-Module -ListAvailable Hyper-V finds none")
    refused = info.get("HyperVError")
    if isinstance(refused, dict):  # Get-VMHost failed: Hyper-V's own answer to this user
        said = " ".join(str(refused.get("Message") or "").split())
        if isinstance(error_from_record(refused, name, name), AccessDeniedError):
            raise cannot_manage(name, user, said)
        raise ConnectError(name, f"Hyper-V does not answer there ({said}): is the Hyper-V "
                           "role installed and the Virtual Machine Management service (vmms) "
                           "running?")
    # Without Get-VMHost's verdict (an older probe): the groups that let a user manage it.
    if "HyperVError" not in info and not (
        info.get("IsAdministrator") or info.get("IsHyperVAdministrator")
    ):
        raise cannot_manage(name, user, "it is in neither Administrators nor Hyper-V "
                            "Administrators")
