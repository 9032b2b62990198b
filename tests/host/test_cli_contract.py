"""The command lines issues 3 and 4 spell out are a contract: every command and option exists
with exactly that spelling (and `--host DIR` on every host command); then the ones no other test
runs end to end are run here, output read the way a user reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvgui.cli.main import build_parser, main
from hvgui.host import Host

# Every command line of the issues, with placeholder values.
CONTRACT = [
    "get-vm",
    "get-vm web01 --json",
    "new-vm web01 --memory-startup-bytes 1GB --new-vhd-size-bytes 1GB --generation 1 --path D",
    "remove-vm web01",
    "start-vm web01",
    "stop-vm web01 --turn-off",
    "save-vm web01",
    "suspend-vm web01",
    "resume-vm web01",
    "restart-vm web01 --force",
    "remove-vmsavedstate web01",
    "set-vm web01 --processor-count 2 --memory-startup-bytes 2GB --snapshot-file-location D"
    " --checkpoint-type ProductionOnly",
    "checkpoint-vm web01 --snapshot-name S",
    "get-vmsnapshot web01 --json",
    "restore-vmsnapshot web01 S --take-checkpoint-first",
    "remove-vmsnapshot web01 S --include-all-child-snapshots",
    "rename-vmsnapshot web01 S T",
    "export-vmsnapshot web01 S D",
    "move-vmstorage web01 --destination-storage-path D",
    "test-host",
    "guest-list-files web01 /Docs --json",
    "guest-read-file web01 /a.txt --output F",
    "guest-write-file web01 /a.txt --text T",
    "guest-write-file web01 /a.txt --input F",
    "guest-remove-file web01 /a.txt",
    "guest-note web01 --set TEXT",
    "guest-workload web01 --bytes 64MB --rate 1MB",
]
NO_HOST_OPTION = {"new-demo-host"}  # its DIR is the host


@pytest.mark.parametrize("line", CONTRACT)
def test_every_command_line_of_the_issues_parses(line: str) -> None:
    args = build_parser().parse_args([*line.split(), "--host", "H"])
    assert args.func is not None and args.host == "H"


@pytest.mark.parametrize("kind", ["Standard", "Production", "ProductionOnly", "Disabled"])
def test_every_checkpoint_type_is_accepted(kind: str) -> None:
    assert build_parser().parse_args(["set-vm", "a", "--checkpoint-type", kind]).checkpoint_type


def test_demo_commands_parse() -> None:
    parser = build_parser()
    assert parser.parse_args(["new-demo-host", "DIR"]).dir == Path("DIR")
    assert parser.parse_args(["demo", "list"]).func is not None
    run = parser.parse_args(["demo", "run", "not-a-backup", "--host", "H"])
    assert (run.scenario, run.host) == ("not-a-backup", "H")


class Cli:
    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root, self.capsys = root, capsys
        self.err = ""

    def __call__(self, *argv: str, code: int = 0) -> str:
        rc = main([*argv, "--host", str(self.root)])
        out, self.err = self.capsys.readouterr()
        assert rc == code, f"{argv}: exit {rc}\n{out}\n{self.err}"
        return out


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    assert main(["new-host", str(tmp_path / "host")]) == 0  # --host opens only existing hosts
    capsys.readouterr()
    return Cli(tmp_path / "host", capsys)


def _vm(cli: Cli) -> dict[str, object]:
    value = json.loads(cli("get-vm", "web01", "--json"))
    assert isinstance(value, dict)
    return value


def test_save_pause_resume_and_settings_while_checkpoints_exist(cli: Cli) -> None:
    cli("new-vm", "web01", "--new-vhd-size-bytes", "16MB", "--memory-startup-bytes", "64MB")
    cli("start-vm", "web01")
    cli("suspend-vm", "web01")
    assert _vm(cli)["State"] == "Paused"
    cli("resume-vm", "web01")
    out = cli("save-vm", "web01")
    assert "PS> Save-VM -Name 'web01'" in out and ".vsv" in out
    assert _vm(cli)["State"] == "Saved"
    cli("stop-vm", "web01", "--turn-off")  # Turn Off discards a saved state
    cli("checkpoint-vm", "web01", "--snapshot-name", "one")
    snap = Host.open(cli.root).get_snapshot("web01", "one")
    frozen = snap.config_path.read_bytes()
    out = cli("set-vm", "web01", "--memory-startup-bytes", "128MB", "--processor-count", "2")
    assert "written" in out and "the 1 checkpoint configuration(s) keep the old settings" in out
    cli("set-vm", "web01", code=1)
    assert "nothing to change" in cli.err
    vm = _vm(cli)
    assert (vm["MemoryStartup"], vm["ProcessorCount"]) == (128 << 20, 2)
    assert snap.config_path.read_bytes() == frozen  # the checkpoint's files are untouched
    cli("set-vm", "web01", "--snapshot-file-location", str(cli.root / "elsewhere"), code=1)
    assert cli.err.count("\n") == 1 and "no checkpoints" in cli.err


def test_delete_merges_rename_limits_and_export_files(cli: Cli, tmp_path: Path) -> None:
    out = cli("new-vm", "web01", "--new-vhd-size-bytes", "16MB")
    assert "too small for a guest file system (under 32 MiB)" in out
    cli("checkpoint-vm", "web01", "--snapshot-name", "one")
    cli("checkpoint-vm", "web01", "--snapshot-name", "two")
    out = cli("remove-vmsnapshot", "web01", "one")
    assert "merged" in out and "moved" in out
    assert "read-only attribute cleared to merge" in out and "set again" in out  # two's disk
    assert [s["Name"] for s in json.loads(cli("get-vmsnapshot", "web01", "--json"))] == ["two"]
    for bad, words in (("   ", "cannot be blank"), ("x" * 101, "has at most 100 characters")):
        cli("rename-vmsnapshot", "web01", "two", bad, code=1)
        assert cli.err == f"hvctl: error: two: a checkpoint name {words}" + (
            " (101 given)\n" if len(bad) == 101 else "\n"
        )
    cli("rename-vmsnapshot", "web01", "two", "x" * 100)
    out = cli("export-vmsnapshot", "web01", "x" * 100, str(tmp_path / "export"))
    exported = tmp_path / "export" / "web01"
    config = next((exported / "Virtual Machines").glob("*.xml"))
    assert str(config) in out and "flattened copy" in out
    assert "WARNING" not in cli.err
    assert "PS> Export-VMSnapshot -VMName 'web01'" in out


def test_guest_files_in_and_out_and_the_workload(cli: Cli, tmp_path: Path) -> None:
    cli("new-vm", "web01", "--new-vhd-size-bytes", "64MB")
    cli("start-vm", "web01")
    source = tmp_path / "report.bin"
    source.write_bytes(bytes(range(256)) * 40)
    cli("guest-write-file", "web01", "/Docs/report.bin", "--input", str(source))
    copy = tmp_path / "copy.bin"
    cli("guest-read-file", "web01", "/Docs/report.bin", "--output", str(copy))
    assert copy.read_bytes() == source.read_bytes()
    listing = json.loads(cli("guest-list-files", "web01", "/Docs", "--json"))
    assert [(e["Name"], e["Length"], e["IsDirectory"]) for e in listing] == [
        ("report.bin", 10240, False)
    ]
    out = cli("guest-workload", "web01", "--bytes", "1MB", "--rate", "8MB")
    assert "wrote 1048576 bytes" in out and "grew by" in out
    cli("guest-write-file", "web01", "/zeros.bin", "--input", "/dev/zero", code=1)
    assert cli.err == "hvctl: error: /dev/zero: not a regular file\n"  # never read forever
    cli("guest-read-file", "web01", "/Docs/missing.txt", code=1)
    assert cli.err.startswith("hvctl: error: ") and cli.err.count("\n") == 1
