"""Each way a host cannot be used is one line naming the host, the cause and the fix, in hvctl
(`--computer-name`) as from `connect`: WinRM not enabled, access denied (WinRM's HTTP 401), a
workgroup's local account (LocalAccountTokenFilterPolicy), an untrusted certificate (its
subject), the Hyper-V module missing, a user who may connect but not manage Hyper-V. The
Connect to Server... dialog shows the same line (tests/ui/test_connect_failures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui.backend import HostError
from hvgui.cli.main import main
from hvgui.connect import connect_to_server
from hvgui.hyperv.diagnose import local_account
from hvgui.hyperv.settings import ConnectionSettings
from tests.hyperv.failing_hosts import SAYS, failing_host


def first_failure(settings: ConnectionSettings) -> HostError:
    """The error of connecting and listing the VMs, as the window does first."""
    with pytest.raises(HostError) as failed:
        backend = connect_to_server(settings)
        try:
            backend.list_vms()
        finally:
            backend.close()
    return failed.value


@pytest.mark.parametrize("case", sorted(SAYS))
def test_hvctl_names_the_host_the_cause_and_the_fix(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HVGUI_PASSWORD", "s3cret")
    with failing_host(case, tmp_path, monkeypatch) as settings:
        argv = ["--computer-name", settings.computer_name, "--port", str(settings.port)]
        if settings.user:
            argv += ["--credential", settings.user]
        code = main([*argv, "get-vm"])
        out, err = capsys.readouterr()
        assert code == 1 and "web01" not in out
        assert err.startswith("hvctl: error: 127.0.0.1: ") and err.count("\n") == 1, err
        for words in SAYS[case]:
            assert words in err, f"{words!r} not in {err!r}"
        assert str(first_failure(settings)) == err.removeprefix("hvctl: error: ").rstrip("\n")


def test_only_what_may_be_a_local_account_is_told_about_the_token_filter() -> None:
    def local(user: str | None, computer: str = "hv01.lab.example") -> bool:
        return local_account(ConnectionSettings(computer, user=user, password="x"))

    assert local("operator") and local(".\\operator") and local("HV01\\operator")
    assert not local("LAB\\admin") and not local("admin@lab.example") and not local(None)


def test_a_user_winrm_lets_in_but_does_not_authorize_is_access_denied() -> None:
    """WinRM's own refusal after the sign-in (a WSManFault, code 5: a filtered token of a
    local account, or a user in no group that may use WinRM) names the same fixes."""
    from hvgui.hyperv.diagnose import explain

    class WSManFaultError(Exception):
        code = 5

    error = explain(ConnectionSettings("hv01", user="operator", password="x"),
                    WSManFaultError("Access is denied."))
    assert str(error).startswith("hv01: access denied for operator (WinRM refused it: Access "
                                 "is denied.): check the user name and password;")
    assert "LocalAccountTokenFilterPolicy" in str(error)


def test_a_hyperv_module_that_will_not_load_says_how_to_install_it() -> None:
    from hvgui.hyperv.errors import ConnectError, error_from_record

    error = error_from_record({
        "Record": "error", "FullyQualifiedErrorId":
        "Modules_ModuleNotFound,Microsoft.PowerShell.Commands.ImportModuleCommand",
        "Category": "ResourceUnavailable", "ExceptionType": "System.IO.FileNotFoundException",
        "Message": "The specified module 'Hyper-V' was not loaded because no valid module file "
        "was found in any module directory.", "TargetObject": "Hyper-V"}, "web01", "hv01")
    assert isinstance(error, ConnectError) and error.subject == "hv01"
    assert error.problem.startswith("the Hyper-V PowerShell module is missing (The specified "
                                    "module 'Hyper-V' was not loaded")
    assert "Install-WindowsFeature Hyper-V-PowerShell" in error.problem
