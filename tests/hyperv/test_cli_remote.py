"""hvctl --computer-name HOST [--port N] [--credential USER]: the host commands on a real
host (here its scripts answered by a lab host), the password from HVGUI_PASSWORD or the
terminal, never an option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvgui.backend import HostBackend
from hvgui.cli.main import main
from hvgui.host import Host
from hvgui.hyperv.connect import open_backend
from hvgui.hyperv.settings import ConnectionSettings
from tests.hyperv.lab_transport import LabTransport


@pytest.fixture
def connections(lab: Host, monkeypatch: pytest.MonkeyPatch) -> list[ConnectionSettings]:
    """Every connection hvctl makes, answered by the lab host."""
    made: list[ConnectionSettings] = []

    def connect(settings: ConnectionSettings) -> HostBackend:
        made.append(settings)
        return open_backend(LabTransport(lab, settings.display_name))

    monkeypatch.setattr("hvgui.connect.connect_to_server", connect)
    return made


def hvctl(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_host_commands_run_on_the_named_computer(
    lab: Host, vm_id: str, connections: list[ConnectionSettings],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HVGUI_PASSWORD", "s3cret")
    code, out, err = hvctl(capsys, "--computer-name", "hv01", "--credential", "LAB\\admin",
                           "checkpoint-vm", "web01", "--snapshot-name", "before")
    assert code == 0, err
    assert [s.name for s in lab.list_snapshots(vm_id)] == ["before"]
    [settings] = connections
    assert (settings.computer_name, settings.user, settings.password, settings.port,
            settings.use_https) == ("hv01", "LAB\\admin", "s3cret", None, True)
    assert "s3cret" not in repr(settings)
    code, out, err = hvctl(capsys, "--computer-name", "hv01", "--port", "5985", "--json",
                           "get-vmsnapshot", "web01")
    assert code == 0, err
    assert [s["Name"] for s in json.loads(out)] == ["before"]
    assert (connections[1].port, connections[1].use_https, connections[1].user) == (
        5985, False, None)


def test_what_a_real_host_cannot_do_is_refused_with_the_reason(
    vm_id: str, connections: list[ConnectionSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = hvctl(capsys, "--computer-name", "hv01", "test-host")
    assert code == 1 and err.startswith("hvctl: error: hv01: Check Host reads a lab host's")


def test_no_password_and_no_terminal_is_one_clear_line(
    connections: list[ConnectionSettings], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HVGUI_PASSWORD", raising=False)
    code, _, err = hvctl(capsys, "--computer-name", "hv01", "--credential", "admin", "get-vm")
    assert code == 1 and connections == []
    assert err == ("hvctl: error: hv01: a password for admin is needed: set HVGUI_PASSWORD, "
                   "or run hvctl on a terminal\n")


@pytest.mark.parametrize(("argv", "said"), [
    (["--computer-name", "hv01", "get-vhd", "a.vhdx"], "get-vhd does not take --computer-name"),
    (["--port", "5986", "get-vm"], "--port is for --computer-name"),
    (["--computer-name", "hv01", "--host", "lab", "get-vm"], "--host and --computer-name"),
    (["--computer-name", "hv01", "get-vm", "--password", "x"], "unrecognized arguments"),
])
def test_usage_errors(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and said in capsys.readouterr().err


def test_a_checkpoints_files_are_inspected_through_local_copies(
    lab: Host, vm_id: str, connections: list[ConnectionSettings],
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab.start_vm(vm_id)
    snap = lab.checkpoint_vm(vm_id, snapshot_name="before").snapshot
    assert snap is not None
    code, out, err = hvctl(capsys, "--computer-name", "hv01", "--json",
                           "inspect-checkpoint", "web01", "before")
    assert code == 0, err
    files = json.loads(out)
    originals = [snap.config_path, snap.bin_path, snap.vsv_path, snap.hard_drives[0].path]
    listed = files if isinstance(files, list) else files["Files"]
    # Each file under the host's own name and length, read from its local copy.
    assert [Path(f["path"]).name for f in listed] == [p.name for p in originals if p]
    assert [f["size"] for f in listed] == [p.stat().st_size for p in originals if p]
    assert [f["kind"] for f in listed] == ["xml", "bin", "vsv", "vhdx"]  # decoded as such
    assert listed[3]["role"].startswith("A virtual disk on the host, read in part")
    assert all(f["exists"] and not f["problem"] for f in listed)
    # Copies (below the host's folder names), never the host's files; each names its origin.
    assert all(not f["path"].startswith(str(lab.root)) for f in listed)
    assert [f["origin"] for f in listed] == [str(p) for p in originals if p]


def test_a_host_that_is_not_there_is_one_line_with_the_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    code, out, err = hvctl(capsys, "--computer-name", "127.0.0.1", "--port", str(port),
                           "get-vm")
    assert (code, out) == (1, "")
    assert err.startswith(f"hvctl: error: 127.0.0.1: nothing listens on port {port}: WinRM")
    assert "Enable-PSRemoting" in err and err.count("\n") == 1  # one line, no traceback


def test_the_delete_preview_of_a_checkpoint_on_a_real_host(
    lab: Host, vm_id: str, connections: list[ConnectionSettings],
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab.checkpoint_vm(vm_id, snapshot_name="one")
    frozen = lab.get_snapshot(vm_id, "one").hard_drives[0].path
    now = lab.get_vm(vm_id).hard_drives[0].path
    code, out, err = hvctl(capsys, "--computer-name", "hv01", "inspect-checkpoint", "web01",
                           "one", "--delete-preview")
    assert code == 0, err
    [merge] = [line for line in out.splitlines() if line.startswith("Merge")]
    assert merge.split()[1:3] == [now.name, frozen.name]  # Now's AVHDX into one's disk
    assert "FreeSpaceAvailable : unknown" in out
    code, out, err = hvctl(capsys, "--computer-name", "hv01", "--json", "inspect-checkpoint",
                           "web01", "one", "--delete-preview")
    assert code == 0, err
    preview = json.loads(out)
    assert preview["FreeSpaceAvailable"] is None and preview["BytesMoved"] > 0
