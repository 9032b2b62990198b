"""test-host while another process operates on a VM: that VM is reported busy (its half-done
files are not findings), and every other VM is still checked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hvgui.backend.model import Finding
from hvgui.cli.main import main
from hvgui.guest.guest import Guest
from hvgui.host import Host, HostError

MiB = 1 << 20
OPERATIONS = [
    ["remove-vmsnapshot", "web01", "one"],  # a merge of a middle checkpoint
    ["checkpoint-vm", "web01", "--snapshot-name", "three"],  # a running VM: BIN and VSV too
    ["restore-vmsnapshot", "web01", "two"],
    ["rename-vmsnapshot", "web01", "two", "deux"],
    ["remove-vmsnapshot", "web01", "deux", "--include-all-child-snapshots"],
]


def _lab(root: Path) -> Host:
    host = Host.open(root)
    for name in ("web01", "db01"):
        host.new_vm(name, memory_startup_bytes=64 * MiB, new_vhd_size_bytes=128 * MiB)
        host.start_vm(name)
        Guest(host, name).write_file("/data.bin", os.urandom(4 * MiB))
        host.checkpoint_vm(name, snapshot_name="one")
        Guest(host, name).write_file("/more.bin", os.urandom(4 * MiB))
        host.checkpoint_vm(name, snapshot_name="two")
        Guest(host, name).write_file("/now.txt", b"now")
    return host


def _sample_while_running(root: Path, argv: list[str]) -> list[list[Finding]]:
    """Run hvctl `argv` in another process, freezing it again and again to check the host
    in the middle of its operation; the findings of each check."""
    proc = subprocess.Popen([sys.executable, "-m", "hvgui.cli.main", *argv, "--host", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    try:
        while proc.poll() is None and len(samples) < 400:
            time.sleep(0.02)
            try:
                os.kill(proc.pid, signal.SIGSTOP)
            except ProcessLookupError:
                break
            try:
                samples.append(Host.open(root, create=False).check())
            finally:
                os.kill(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (argv, err)
    return samples


def test_check_during_another_process_operation_reports_busy_not_damage(tmp_path: Path) -> None:
    host = _lab(tmp_path / "lab")
    assert host.check() == []
    # A real problem on the other VM, which must still be found meanwhile.
    stray = host.get_vm("db01").config_path.parent / host.get_vm("db01").id / "stray.vsv"
    stray.write_bytes(b"left behind")
    real = {(f.code, f.path) for f in host.check()}
    assert real == {("stray-state", stray)}
    busy_seen = 0
    checks = 0
    for argv in OPERATIONS:
        for findings in _sample_while_running(host.root, argv):
            checks += 1
            busy = [f for f in findings if f.code == "vm-busy"]
            assert {(f.code, f.path) for f in findings if f.code != "vm-busy"} == real, (
                argv, findings)
            assert all(f.vm == "web01" and f.severity == "warning" and "busy: " in f.message
                       for f in busy)
            busy_seen += bool(busy)
    assert busy_seen >= 1, checks  # seen mid-operation (a quick one may slip between checks)
    stray.unlink()
    assert Host.open(host.root).check() == []


def test_test_host_names_the_busy_vm_and_its_operation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _lab(tmp_path / "lab")
    proc = subprocess.Popen([sys.executable, "-m", "hvgui.cli.main", "remove-vmsnapshot",
                             "web01", "one", "--host", str(host.root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = host.layout.status_file(host.get_vm("web01").id)
    try:
        deadline = time.monotonic() + 120
        while not status.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGSTOP)
        if not status.exists():
            pytest.fail("the delete ended before it could be seen running")
        code = main(["test-host", "--host", str(host.root)])
        out = capsys.readouterr().out
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait(timeout=300)
    assert code == 1  # not checked is not "no problems"
    assert out.startswith("WARNING: VM 'web01' busy: ")
    assert "ERROR" not in out and out.count("WARNING") == 1, out


@pytest.mark.parametrize("operation", ["rename", "apply", "export"])
def test_a_checkpoint_deleted_by_another_hand_meanwhile_is_a_refusal_not_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    """Found by the soak: the window looked the checkpoint up, hvctl deleted it, then the
    window's operation said its configuration file was missing (as if the host were damaged)."""
    host = Host.open(tmp_path / "lab")
    host.new_vm("web01", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=64 * MiB)
    host.checkpoint_vm("web01", snapshot_name="one")
    other = Host.open(host.root)  # another window or process
    looked_up = host.get_snapshot

    def look_up_then_lose_it(vm: str, name: str) -> object:
        found = looked_up(vm, name)
        other.remove_snapshot(vm, found.id)
        return found

    monkeypatch.setattr(host, "get_snapshot", look_up_then_lose_it)
    call = {"rename": lambda: host.rename_snapshot("web01", "one", "two"),
            "apply": lambda: host.restore_snapshot("web01", "one"),
            "export": lambda: host.export_snapshot("web01", "one", tmp_path / "out")}[operation]
    with pytest.raises(HostError) as refused:
        call()
    # In words of a refusal (Apply looks it up again under the lock), never of damage.
    assert ("the checkpoint no longer exists" in str(refused.value)
            or "no checkpoint with this name or Id" in str(refused.value)), refused.value
    assert Host.open(host.root).check() == []
    assert host.list_snapshots("web01") == []


def test_a_disk_that_goes_away_during_the_check_is_a_finding_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the soak: a merge deleted an AVHDX between the check seeing it and opening it,
    and test-host died with a FileNotFoundError."""
    import hvgui.vhdx

    host = Host.open(tmp_path / "lab")
    host.new_vm("web01", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=64 * MiB)
    host.checkpoint_vm("web01", snapshot_name="one")
    now_disk = host.get_vm("web01").hard_drives[0].path
    real_open = hvgui.vhdx.open_disk

    def vanishing(path: Path, *args: object, **kwargs: object) -> object:
        if Path(path) == now_disk and now_disk.exists():
            now_disk.unlink()  # another hand, while the engine was opening it (as in the soak)
            raise FileNotFoundError(2, "No such file or directory", str(now_disk))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(hvgui.vhdx, "open_disk", vanishing)
    findings = host.check()
    errors = [f for f in findings if f.severity == "error"]
    assert [f.path.name for f in errors] == [now_disk.name]
    assert errors[0].code in ("missing-file", "broken-chain")


def test_two_threads_rewriting_one_state_file_at_once_both_succeed(tmp_path: Path) -> None:
    """Found by the soak: two operations in one window (threads of one process) ending
    together rewrote the revision stamp through the same temporary file name, and one failed
    with FileExistsError or FileNotFoundError after its work was done."""
    import threading

    from hvgui.durable import replace_file

    target = tmp_path / "revision"
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def rewrite(n: int) -> None:
        start.wait()
        for i in range(300):
            try:
                replace_file(target, f"{n}.{i}".encode(), durable=False)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=rewrite, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [p.name for p in tmp_path.iterdir()] == ["revision"]


def test_files_made_during_the_check_by_a_vm_busy_throughout_are_not_orphans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The soak's false orphans: another process, busy on web01 at both ends of the check,
    creates, commits and forgets its journal while the configurations are being read, so its
    new checkpoint's XML and AVHDX are in the folders but in no configuration the check read.
    They are not orphans; a real leftover from before the check still is."""
    from hvgui.host import check

    host = _lab(tmp_path / "host")
    web01 = host.get_vm("web01")
    leftover = host.root / "Snapshots" / "0F0F0F0F-0000-4000-8000-000000000001.xml"
    leftover.write_bytes(b"<configuration/>")
    os.utime(leftover, (time.time() - 60, time.time() - 60))
    time.sleep(0.2)  # its inode change time too is from before the check (which allows 50 ms)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        status = host.layout.status_file(web01.id)
        status.write_text(f'{{"pid": {other.pid}, "operation": "Creating Checkpoint", '
                          '"percent": 40, "state": null, "visible": true}')
        made = [host.root / "Snapshots" / "0F0F0F0F-0000-4000-8000-000000000002.xml",
                host.root / "Virtual Hard Disks" /
                "web01_0F0F0F0F-0000-4000-8000-000000000003.avhdx"]
        real_check = check._check

        def check_while_the_other_makes_files(h: Host) -> object:
            for path in made:
                path.write_bytes(b"x")
            return real_check(h)

        monkeypatch.setattr(check, "_check", check_while_the_other_makes_files)
        findings = Host.open(tmp_path / "host", create=False).check()
    finally:
        other.kill()
        other.wait()
    assert [f.code for f in findings if f.vm == "web01"] == ["vm-busy"]
    assert {f.path for f in findings if f.code.startswith("orphaned")} == {leftover}


def test_a_finding_seen_once_is_a_moment_not_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operation that starts and ends between two reads of one check (the long soak's many
    hands) can make a file look orphaned once; a second check right after does not see it, so
    it is not reported. A real leftover is seen both times and is reported."""
    from hvgui.host import check

    host = _lab(tmp_path / "host")
    leftover = host.root / "Snapshots" / "0F0F0F0F-0000-4000-8000-000000000001.xml"
    leftover.write_bytes(b"<configuration/>")
    passing = host.root / "Virtual Hard Disks" / "web01_0F0F0F0F-0000-4000-8000-000000000002.avhdx"
    real_check = check._check
    calls: list[int] = []

    def another_hand_passing_through(h: Host) -> object:
        calls.append(1)
        if len(calls) > 1:
            return real_check(h)
        passing.write_bytes(b"x")  # there for this read only, as a half-made checkpoint's disk
        try:
            return real_check(h)
        finally:
            passing.unlink()

    monkeypatch.setattr(check, "_check", another_hand_passing_through)
    findings = Host.open(tmp_path / "host", create=False).check()
    assert {f.path for f in findings} == {leftover}
    assert len(calls) == 2
