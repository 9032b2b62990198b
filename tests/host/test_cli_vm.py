"""hvctl's VM and checkpoint commands, run through main(argv) like a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hvgui.cli.main import main

GET_VM_KEYS = {
    "Name",
    "State",
    "CPUUsage",
    "MemoryAssigned",
    "Uptime",
    "Status",
    "Id",
    "Path",
    "ConfigurationLocation",
    "SnapshotFileLocation",
    "ParentSnapshotId",
    "ParentSnapshotName",
    "CheckpointType",
    "HardDrives",
}
SNAPSHOT_KEYS = {
    "Name",
    "Id",
    "VMName",
    "SnapshotType",
    "CreationTime",
    "ParentSnapshotId",
    "ParentSnapshotName",
    "Path",
}


class Cli:
    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root, self.capsys = root, capsys

    def __call__(self, *argv: str, code: int = 0) -> str:
        rc = main([*argv, "--host", str(self.root)])
        out, err = self.capsys.readouterr()
        assert rc == code, f"{argv}: exit {rc}\n{out}\n{err}"
        self.err = err
        return out

    def json(self, *argv: str) -> object:
        return json.loads(self(*argv, "--json"))


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    assert main(["new-host", str(tmp_path / "host")]) == 0  # --host opens only existing hosts
    capsys.readouterr()
    return Cli(tmp_path / "host", capsys)


def test_vm_life_cycle_and_checkpoints(cli: Cli, tmp_path: Path) -> None:
    out = cli("new-vm", "web01", "--memory-startup-bytes", "256MB", "--new-vhd-size-bytes", "16MB")
    assert "PS> New-VM -Name 'web01' -MemoryStartupBytes 256MB -Generation 2" in out
    cli("start-vm", "web01")
    out = cli("get-vm")
    assert out.splitlines()[0].split() == [
        "Name",
        "State",
        "CPUUsage(%)",
        "MemoryAssigned(M)",
        "Uptime",
        "Status",
    ]
    assert out.splitlines()[2].split()[:2] == ["web01", "Running"]
    vm = cli.json("get-vm", "web01")
    assert isinstance(vm, dict) and set(vm) >= GET_VM_KEYS
    assert vm["MemoryAssigned"] == 256 << 20
    assert vm["HardDrives"][0]["ControllerType"] == "SCSI"
    out = cli("checkpoint-vm", "web01", "--snapshot-name", "before patch")
    assert "PS> Checkpoint-VM -Name 'web01' -SnapshotName 'before patch'" in out
    assert ".avhdx" in out and "read-only" in out
    vm = cli.json("get-vm", "web01")
    assert isinstance(vm, dict) and vm["ParentSnapshotName"] == "before patch"
    assert vm["HardDrives"][0]["Path"].endswith(".avhdx")  # the running disk
    snaps = cli.json("get-vmsnapshot", "web01")
    assert isinstance(snaps, list) and set(snaps[0]) >= SNAPSHOT_KEYS
    assert (snaps[0]["Name"], snaps[0]["SnapshotType"]) == ("before patch", "Standard")
    cli("checkpoint-vm", "web01", "--snapshot-name", "after patch")
    cli("rename-vmsnapshot", "web01", "after patch", "patched")
    cli("restore-vmsnapshot", "web01", snaps[0]["Id"], "--take-checkpoint-first")
    names = [s["Name"] for s in cli.json("get-vmsnapshot", "web01")]  # type: ignore[union-attr]
    assert names[:2] == ["before patch", "patched"] and len(names) == 3
    out = cli("remove-vmsnapshot", "web01", "before patch", "--include-all-child-snapshots")
    assert "-IncludeAllChildSnapshots" in out
    assert cli.json("get-vmsnapshot", "web01") == []
    assert "no problems found" in cli("test-host")
    cli("stop-vm", "web01", "--turn-off")
    cli("remove-vm", "web01")
    assert cli.json("get-vm") == []


def test_settings_devices_export_and_move(cli: Cli, tmp_path: Path) -> None:
    outside = tmp_path / "outside"  # the lab may reach it: the user named it
    outside.mkdir()
    assert str(outside) in cli("set-host", "--allow-outside-folder", str(outside))
    tmp_path = outside
    cli(
        "new-vm",
        "db01",
        "--new-vhd-size-bytes",
        "16MB",
        "--generation",
        "1",
        "--path",
        str(tmp_path / "vms"),
    )
    vm = cli.json("get-vm", "db01")
    assert isinstance(vm, dict) and vm["Path"] == str(tmp_path / "vms" / "db01")
    cli(
        "set-vm",
        "db01",
        "--processor-count",
        "2",
        "--checkpoint-type",
        "Production",
        "--snapshot-file-location",
        str(tmp_path / "snaps"),
    )
    vm = cli.json("get-vm", "db01")
    assert isinstance(vm, dict)
    assert (vm["ProcessorCount"], vm["CheckpointType"]) == (2, "Production")
    assert vm["SnapshotFileLocation"] == str(tmp_path / "snaps")
    raw = tmp_path / "lun.raw"
    raw.write_bytes(bytes(1 << 20))
    cli("add-vmharddiskdrive", "db01", "--path", str(raw), "--pass-through")
    assert "pass-through" in cli.err
    cli("add-vmfibrechannelhba", "db01", "--san-name", "SAN1")
    vm = cli.json("get-vm", "db01")
    assert isinstance(vm, dict) and [d["PassThrough"] for d in vm["HardDrives"]] == [False, True]
    cli("checkpoint-vm", "db01", "--snapshot-name", "one")
    cli("export-vmsnapshot", "db01", "one", str(tmp_path / "export"))
    assert list((tmp_path / "export" / "db01" / "Virtual Hard Disks").glob("*.vhdx"))
    cli("move-vmstorage", "db01", "--destination-storage-path", str(tmp_path / "new"))
    vm = cli.json("get-vm", "db01")
    assert isinstance(vm, dict) and vm["Path"] == str(tmp_path / "new")
    drive = vm["HardDrives"][1]
    cli(
        "remove-vmharddiskdrive",
        "db01",
        "--controller-type",
        drive["ControllerType"],
        "--controller-number",
        str(drive["ControllerNumber"]),
        "--controller-location",
        str(drive["ControllerLocation"]),
    )
    cli("test-host")


def test_errors_and_exit_codes(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli("get-vm", "nope", code=1)
    assert cli.err.strip() == "hvctl: error: nope: no VM with this name or Id on this host"
    cli("new-vm", "web01")
    cli("suspend-vm", "web01", code=1)
    assert "cannot pause the VM: it is not running" in cli.err
    cli("checkpoint-vm", "web01", "--snapshot-name", " ", code=1)
    assert "cannot be blank" in cli.err
    for empty in (["--snapshot-name", ""], [""]):  # an empty name is no default name
        cli("checkpoint-vm", "web01", *empty, code=1)
        assert cli.err.strip() == "hvctl: error: web01: a checkpoint name cannot be blank"
    assert cli.json("get-vmsnapshot", "web01") == []
    # An empty word ('' from an unset variable) names nothing: refused, the argument named.
    for argv, argument in ((["get-vm", ""], "NAME"), (["start-vm", ""], "NAME"),
                           (["get-vmsnapshot", "web01", ""], "SNAPSHOT"),
                           (["export-vmsnapshot", "web01", "s", ""], "DESTINATION"),
                           (["get-vhd", ""], "PATH"), (["get-vm", "--host", ""], "--host"),
                           (["--computer-name", "", "get-vm"], "--computer-name")):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err == f"hvctl: error: {argument}: cannot be empty\n"
    cli("restore-vmsnapshot", "web01", "missing", code=1)
    assert "no checkpoint with this name or Id" in cli.err
    with pytest.raises(SystemExit) as info:
        main(["set-vm", "web01", "--checkpoint-type", "Sometimes"])
    assert info.value.code == 2


def test_checkpoint_and_get_snapshot_take_the_cmdlets_second_positional(cli: Cli) -> None:
    """`Checkpoint-VM web01 'name'` and `Get-VMSnapshot web01 'name'`: the cmdlets' second
    positional parameters (-SnapshotName, -Name) work positionally in hvctl too."""
    cli("new-vm", "web01", "--new-vhd-size-bytes", "16MB")
    out = cli("checkpoint-vm", "web01", "before patch")
    assert "PS> Checkpoint-VM -Name 'web01' -SnapshotName 'before patch'" in out
    cli("checkpoint-vm", "web01", "after patch", "--snapshot-name", "after patch")
    cli("checkpoint-vm", "web01", "Patch Tuesday")
    with pytest.raises(SystemExit) as info:
        main(["checkpoint-vm", "web01", "one", "--snapshot-name", "two", "--host", str(cli.root)])
    assert info.value.code == 2
    assert "given twice" in cli.capsys.readouterr().err
    names = [s["Name"] for s in cli.json("get-vmsnapshot", "web01")]  # type: ignore[union-attr]
    assert names == ["before patch", "after patch", "Patch Tuesday"]

    one = cli.json("get-vmsnapshot", "web01", "BEFORE PATCH")  # -Name ignores case
    assert isinstance(one, list) and [s["Name"] for s in one] == ["before patch"]
    by_id = cli.json("get-vmsnapshot", "web01", "{" + one[0]["Id"].lower() + "}")
    assert by_id == one
    wild = cli.json("get-vmsnapshot", "web01", "*patch")
    assert isinstance(wild, list) and [s["Name"] for s in wild] == ["before patch", "after patch"]
    assert cli.json("get-vmsnapshot", "web01", "nothing*") == []  # a wildcard may match none
    assert "Patch Tuesday" in cli("get-vmsnapshot", "web01", "patch ?uesday")
    cli("checkpoint-vm", "web01", "Patch Tuesday")  # a second one of that name
    twins = cli.json("get-vmsnapshot", "web01", "Patch Tuesday")
    assert isinstance(twins, list) and len(twins) == 2
    cli("restore-vmsnapshot", "web01", "Patch Tuesday", code=1)  # which one? Its Ids say
    assert cli.err.strip() == (
        "hvctl: error: Patch Tuesday: several checkpoints have this name: use the checkpoint's "
        f"Id ({twins[0]['Id']}, {twins[1]['Id']})")
    cli("restore-vmsnapshot", "web01", twins[0]["Id"])
    cli("get-vmsnapshot", "web01", "missing", code=1)  # a plain name must exist
    assert cli.err.strip() == (
        "hvctl: error: missing: no checkpoint with this name or Id on VM 'web01'")


def test_the_powershell_line_names_lab_files_as_the_windows_host_does(
    cli: Cli, tmp_path: Path
) -> None:
    """The PS> line is what to type on the Windows host the lab stands for: its paths are that
    host's (C:\\ProgramData\\...), never this computer's; a folder outside the lab, which that
    host has no name for, stays as it is."""
    root = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"
    out = cli("new-vm", "web01", "--new-vhd-size-bytes", "16MB")
    assert f"-NewVHDPath '{root}\\Virtual Hard Disks\\web01.vhdx'" in out
    cli("checkpoint-vm", "web01", "one")
    out = cli("move-vmstorage", "web01", "--destination-storage-path", str(cli.root / "Moved"))
    assert f"-DestinationStoragePath '{root}\\Moved'" in out
    out = cli("export-vmsnapshot", "web01", "one", str(cli.root / "Exports"))
    assert f"-Path '{root}\\Exports'" in out
    outside = tmp_path / "elsewhere"
    out = cli("export-vmsnapshot", "web01", "one", str(outside))
    assert f"-Path '{outside}'" in out
    assert str(cli.root) not in "".join(line for line in out.splitlines() if "PS>" in line)


def test_test_host_exits_1_with_findings(cli: Cli) -> None:
    cli("new-vm", "web01", "--new-vhd-size-bytes", "16MB")
    cli("checkpoint-vm", "web01", "--snapshot-name", "one")
    vm = cli.json("get-vm", "web01")
    assert isinstance(vm, dict)
    base = Path(vm["HardDrives"][0]["Path"]).parent / "web01.vhdx"
    base.unlink()
    out = cli("test-host", code=1)
    assert "ERROR: Checkpoint 'one' of VM 'web01'" in out
    findings = json.loads(cli("test-host", "--json", code=1))
    assert {f["Code"] for f in findings} >= {"missing-file"}


def test_hvctl_process_and_environment(tmp_path: Path) -> None:
    env = {"HVGUI_HOST": str(tmp_path / "envhost"), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "hvgui.cli.main"]
    subprocess.run([*run, "new-host", env["HVGUI_HOST"]], env=env, check=True, capture_output=True)
    subprocess.run([*run, "new-vm", "web01"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [*run, "get-vm", "--json"], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert [v["Name"] for v in json.loads(out)] == ["web01"]
    assert (tmp_path / "envhost" / "Virtual Machines").is_dir()
