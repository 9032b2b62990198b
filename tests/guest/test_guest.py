"""The simulated guest on a real lab host: files come back on Apply, the note lives in memory,
a workload grows the running AVHDX. Files are checked through hvctl and through mtools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hvgui import vhdx
from hvgui.cli.main import main as hvctl
from hvgui.fat.partitioned import GUEST_PARTITION_OFFSET
from hvgui.guest.guest import Guest
from hvgui.host import Host, HostError
from hvgui.progress import Cancelled, CancelToken
from tests.conftest import need_tool

MiB = 1 << 20


def run(capsys: pytest.CaptureFixture[str], host: Path, *argv: str) -> tuple[int, str, str]:
    code = hvctl([*argv, "--host", str(host)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def mtype(image: Path, guest_path: str) -> str:
    done = subprocess.run(
        [need_tool("mtype"), "-i", f"{image}@@{GUEST_PARTITION_OFFSET}", f"::{guest_path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_deleted_file_is_back_after_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host.new(tmp_path / "host").root
    assert run(capsys, host, "new-vm", "Guest1", "--new-vhd-size-bytes", "1GB")[0] == 0
    assert run(capsys, host, "start-vm", "Guest1")[0] == 0
    text = "Written before the checkpoint"
    path = "/Documents/Keep Me.txt"
    assert run(capsys, host, "guest-write-file", "Guest1", path, "--text", text)[0] == 0
    assert run(capsys, host, "checkpoint-vm", "Guest1", "--snapshot-name", "Before")[0] == 0
    assert run(capsys, host, "guest-remove-file", "Guest1", path)[0] == 0
    code, _, err = run(capsys, host, "guest-read-file", "Guest1", path)
    assert code == 1 and "no such file" in err
    assert "Keep Me.txt" not in run(capsys, host, "guest-list-files", "Guest1", "/Documents")[1]

    assert run(capsys, host, "restore-vmsnapshot", "Guest1", "Before")[0] == 0
    code, out, _ = run(capsys, host, "guest-read-file", "Guest1", path)
    assert (code, out) == (0, text)
    assert "Keep Me.txt" in run(capsys, host, "guest-list-files", "Guest1", "/Documents")[1]

    # The same file, read by mtools from the running disk flattened to raw.
    running = Host.open(host).get_vm("Guest1").hard_drives[0].path
    assert running.suffix == ".avhdx"
    raw = tmp_path / "now.raw"
    assert hvctl(["convert-vhd", str(running), str(raw)]) == 0
    assert mtype(raw, path) == text


def test_new_vm_disk_has_a_guest_partition(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("Fresh", new_vhd_size_bytes=256 * MiB)
    disk = host.get_vm("Fresh").hard_drives[0].path
    assert Guest(host, "Fresh").list_files("/") == []
    raw = tmp_path / "fresh.raw"
    vhdx.convert_vhd(disk, raw)
    done = subprocess.run(
        [need_tool("mdir"), "-i", f"{raw}@@{GUEST_PARTITION_OFFSET}", "::/"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "GUEST" in done.stdout
    assert disk.stat().st_size < 48 * MiB  # formatting wrote only a few sectors


def test_memory_note_survives_standard_checkpoints_not_production_ones(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("Mem", new_vhd_size_bytes=256 * MiB, memory_startup_bytes=256 * MiB)
    host.start_vm("Mem")
    Guest(host, "Mem").set_note("typed, never saved")
    host.checkpoint_vm("Mem", snapshot_name="Standard")
    Guest(host, "Mem").set_note("changed after the checkpoint")
    assert Guest(host, "Mem").note() == "changed after the checkpoint"
    host.stop_vm("Mem", turn_off=True)
    assert Guest(host, "Mem").note() is None  # Turn Off loses memory

    host.restore_snapshot("Mem", "Standard")
    guest = Guest(host, "Mem")
    assert guest.vm.state == "Running"
    assert guest.note() == "typed, never saved"

    host.save_vm("Mem")  # Save keeps memory (in the VM's BIN) across Start
    host.start_vm("Mem")
    assert Guest(host, "Mem").note() == "typed, never saved"

    host.stop_vm("Mem", turn_off=True)
    host.set_vm("Mem", checkpoint_type="Production")
    host.start_vm("Mem")
    Guest(host, "Mem").set_note("in memory at a production checkpoint")
    host.checkpoint_vm("Mem", snapshot_name="Production")
    host.restore_snapshot("Mem", "Production")
    guest = Guest(host, "Mem")
    assert guest.vm.state == "Off"
    assert guest.note() is None
    host.start_vm("Mem")
    assert Guest(host, "Mem").note() is None


def test_note_via_hvctl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host = Host.new(tmp_path / "host").root
    run(capsys, host, "new-vm", "N", "--new-vhd-size-bytes", "64MB")
    code, _, err = run(capsys, host, "guest-note", "N", "--set", "hello")
    assert code == 1 and "not running" in err
    run(capsys, host, "start-vm", "N")
    assert run(capsys, host, "guest-note", "N", "--set", "hello")[:2] == (0, "hello\n")
    assert run(capsys, host, "guest-note", "N")[:2] == (0, "hello\n")


def test_workload_grows_the_running_avhdx_by_about_its_size(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("Load", new_vhd_size_bytes=1 << 30, memory_startup_bytes=256 * MiB)
    host.start_vm("Load")
    host.checkpoint_vm("Load")
    running = host.get_vm("Load").hard_drives[0].path
    parent_size = next(iter(host.list_snapshots("Load"))).hard_drives[0].path.stat().st_size
    before = running.stat().st_size
    result = Guest(host, "Load").run_workload(64 * MiB)
    growth = running.stat().st_size - before
    print(f"64 MiB workload: AVHDX grew by {growth / MiB:.1f} MiB in {result.seconds:.2f} s")
    assert result.bytes_written == 64 * MiB
    assert result.disk == running and result.disk_growth == growth
    assert 64 * MiB <= growth <= 64 * MiB + 8 * MiB
    assert running.stat().st_size > parent_size  # the child outgrew its dynamic parent
    assert Guest(host, "Load").list_files("/Workload")[0].size == 64 * MiB
    assert vhdx.test_vhd(running) == []


def test_every_guest_action_is_in_the_event_log(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("Ev", new_vhd_size_bytes=64 * MiB)
    host.start_vm("Ev")
    vm_id = host.get_vm("Ev").id
    guest = Guest(host, "Ev")
    guest.write_file("/a.txt", b"a")
    guest.remove_file("/a.txt")
    guest.set_note("n")
    guest.run_workload(2 * MiB, path="/load.bin")
    details = [e.detail for e in host.events(vm_id) if e.operation == "Guest"]
    assert details[0] == "guest wrote /a.txt (1 bytes)"
    assert details[1] == "guest deleted /a.txt"
    assert details[2].startswith("guest note set")
    assert details[3].startswith("guest workload wrote /load.bin (2097152 bytes")


def test_guest_file_changes_need_a_running_vm(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("Off1", new_vhd_size_bytes=64 * MiB)
    with pytest.raises(Exception, match="not running"):
        Guest(host, "Off1").write_file("/x.txt", b"x")
    assert Guest(host, "Off1").list_files() == []  # reading an Off VM's disk is fine


def test_the_guest_asks_the_host_whether_it_runs_not_the_status_column(tmp_path: Path) -> None:
    """While an operation runs, the Status column shows a passing state (Saving); the guest's
    memory is still there and its writes are judged by the host alone, in the guest's words."""
    host = Host.open(tmp_path / "host")
    host.new_vm("Busy", new_vhd_size_bytes=64 * MiB)
    host.start_vm("Busy")
    guest = Guest(host, "Busy")
    guest.set_note("kept while saving")
    seen: list[tuple[str, str | None]] = []
    host.save_vm("Busy", progress=lambda _f, _p: seen.append((guest.vm.state, guest.note())))
    assert ("Saving", "kept while saving") in seen
    assert guest.note() == "kept while saving"  # Saved: the memory is kept
    with pytest.raises(HostError, match="cannot write a file: the VM is Saved, not running"):
        guest.write_file("/a.txt", b"x")
    with pytest.raises(HostError, match="cannot run a workload: the VM is Saved, not running"):
        guest.run_workload(MiB)


def test_workload_keeps_its_rate_and_can_be_cancelled(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("Slow", new_vhd_size_bytes=64 * MiB)
    host.start_vm("Slow")
    seen: list[float] = []
    result = Guest(host, "Slow").run_workload(
        2 * MiB, rate=4 * MiB, path="/paced.bin", progress=lambda f, _: seen.append(f)
    )
    assert result.seconds >= 0.45  # 2 MiB at 4 MiB/s
    assert seen[-1] == 1.0

    token = CancelToken()

    def cancel_after_first(fraction: float, _phase: str) -> None:
        token.cancel()

    with pytest.raises(Cancelled):
        Guest(host, "Slow").run_workload(
            8 * MiB, path="/cancelled.bin", progress=cancel_after_first, cancel=token
        )
    names = [e.name for e in Guest(host, "Slow").list_files("/")]
    assert names == ["paced.bin"]  # the cancelled file never appeared
    Guest(host, "Slow").write_file("/after.txt", b"the disk still works")
    assert Guest(host, "Slow").read_file("/after.txt") == b"the disk still works"


def test_a_workload_larger_than_the_disk_is_refused_at_once(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("Big", new_vhd_size_bytes=64 * MiB)
    host.start_vm("Big")
    running = host.get_vm("Big").hard_drives[0].path
    before = running.stat().st_size
    with pytest.raises(HostError, match=r"cannot fit on its 64\.0 MiB virtual disk"):
        Guest(host, "Big").run_workload(1 << 40)
    assert running.stat().st_size == before  # nothing was written
