"""hvgui on Windows and macOS, proven on Linux: no module but hvgui/portable.py uses a
POSIX-only call; the core workflows run with those calls hidden (tests/portable_sim.py), each
fallback doing its part; Windows' device names are refused as VM and checkpoint names."""

from __future__ import annotations

import ast
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvgui.guest.guest import Guest
from hvgui.host import Host
from hvgui.host.errors import HostError
from hvgui.host.fileio import copy_sparse
from hvgui.teaching.demo import build_demo_host
from hvgui.vhdx import convert_vhd, open_disk
from tests.conftest import REPO
from tests.portable_sim import POSIX_ONLY, FakeMsvcrt, hide_posix

# os.<name> that exists only on some systems (or, for os.open, that needs O_BINARY on Windows),
# and modules that exist only on some.
OS_ONLY_SOME = set(POSIX_ONLY) | {
    "open", "kill", "statvfs", "fstatvfs", "set_blocking", "posix_fallocate", "sendfile",
    "getuid", "geteuid", "getgid", "mkfifo", "sync",
}
MODULES_ONLY_SOME = {"fcntl", "msvcrt", "termios", "pwd", "grp", "resource", "winreg"}


def uses_of_posix_only(source: str) -> list[str]:
    """`os.X` for X in OS_ONLY_SOME, `getattr(os, "X")`, and imports of such modules."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "os" and node.attr in OS_ONLY_SOME):
            found.append(f"line {node.lineno}: os.{node.attr}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2
              and isinstance(node.args[0], ast.Name) and node.args[0].id == "os"
              and isinstance(node.args[1], ast.Constant) and node.args[1].value in OS_ONLY_SOME):
            found.append(f"line {node.lineno}: {node.func.id}(os, {node.args[1].value!r})")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.split(".")[0] in MODULES_ONLY_SOME or name in {
                        f"os.{n}" for n in OS_ONLY_SOME}:
                    found.append(f"line {node.lineno}: import {name}")
    return found


def test_no_module_but_portable_uses_a_posix_only_call() -> None:
    offenders = {
        str(path.relative_to(REPO)): hits
        for path in sorted((REPO / "hvgui").rglob("*.py"))
        if path.name != "portable.py" and (hits := uses_of_posix_only(path.read_text()))
    }
    assert offenders == {}
    # The scan sees them where they are.
    assert len(uses_of_posix_only((REPO / "hvgui" / "portable.py").read_text())) > 10


@pytest.fixture
def no_posix(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMsvcrt]:
    """This process as Windows would run it: no fcntl, no pread/preadv/pwrite, no
    SEEK_DATA/SEEK_HOLE, no O_NONBLOCK/O_NOFOLLOW, no fdatasync/copy_file_range; msvcrt locks;
    folders are not fsynced. Every fsync is recorded (file or folder)."""
    fake = hide_posix(monkeypatch.setattr, monkeypatch.delattr)
    assert not any(hasattr(os, name) for name in POSIX_ONLY)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    fake.synced = synced  # type: ignore[attr-defined]
    yield fake


def test_core_workflows_run_without_the_posix_only_calls(
    tmp_path: Path, no_posix: FakeMsvcrt
) -> None:
    host = build_demo_host(tmp_path / "lab")  # new VMs, checkpoints, guest files, saved states
    guest = Guest(host, "Web01")
    guest.write_file("/portable.txt", b"before the checkpoint\r\n")
    host.checkpoint_vm("Web01", snapshot_name="Portable")
    guest.write_file("/portable.txt", b"after it\n")
    host.write_memory("Web01", 4096, b"M" * 4096)  # the BIN's own locks
    assert host.read_memory("Web01", 4096, 4096) == b"M" * 4096

    host.restore_snapshot("Web01", "Portable")  # apply: running again, from its saved state
    assert host.get_vm("Web01").state == "Running"
    assert Guest(host, "Web01").read_file("/portable.txt") == b"before the checkpoint\r\n"
    before = {s.name for s in host.list_snapshots("Web01")}
    host.remove_snapshot("Web01", "Portable")  # delete: its disk merges into its child
    assert {s.name for s in host.list_snapshots("Web01")} == before - {"Portable"}
    assert Guest(host, "Web01").read_file("/portable.txt") == b"before the checkpoint\r\n"
    assert host.check() == []

    disk = host.get_vm("Web01").hard_drives[0].path
    convert_vhd(disk, tmp_path / "flat.raw")
    step = 64 << 20  # compared a piece at a time: the disk is 2 GiB (whole, pytest peaked at 6 GB)
    with open_disk(disk) as chain, open(tmp_path / "flat.raw", "rb") as flat:
        for offset in range(0, chain.size, step):
            assert flat.read(step) == chain.read(offset, min(step, chain.size - offset)), offset
        assert flat.read(1) == b""

    assert no_posix.calls > 0  # host and BIN locks went through msvcrt.locking
    synced = no_posix.synced  # type: ignore[attr-defined]
    assert "file" in synced and "folder" not in synced  # fsync, and no folder fsync on Windows


def test_without_hole_detection_the_whole_file_is_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sparse = tmp_path / "memory.bin"
    with open(sparse, "wb") as handle:
        handle.truncate(64 << 20)
        handle.seek(32 << 20)
        handle.write(b"data")
    copy_sparse(sparse, tmp_path / "with-holes.bin")
    hide_posix(monkeypatch.setattr, monkeypatch.delattr)
    copy_sparse(sparse, tmp_path / "without.bin")
    for name in ("with-holes.bin", "without.bin"):
        assert (tmp_path / name).read_bytes() == sparse.read_bytes()
    on_disk = {name: (tmp_path / name).stat().st_blocks * 512
               for name in ("with-holes.bin", "without.bin")}
    assert on_disk["with-holes.bin"] < 1 << 20  # holes kept where the system shows them
    assert on_disk["without.bin"] >= 64 << 20  # every byte copied where it cannot


def test_two_processes_exclude_each_other_with_msvcrt_locks(
    tmp_path: Path, no_posix: FakeMsvcrt
) -> None:
    host = Host.new(tmp_path / "lab")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.portable_sim", str(host.root)], cwd=REPO,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdin is not None
        assert worker.stdout.readline().strip() == "locked"
        assert host.lock.try_exclusive() == -1  # the other process changes the host
        worker.stdin.close()
        assert worker.wait(timeout=60) == 0
    finally:
        worker.kill()
        worker.wait()
    fd = host.lock.try_exclusive()
    assert fd >= 0
    os.close(fd)


@pytest.mark.parametrize("name", ["CON", "con", "Aux", "NUL.txt", "com1", "LPT9 ", "prn.log"])
def test_windows_device_names_are_refused_for_vms_and_checkpoints(
    tmp_path: Path, name: str
) -> None:
    host = Host.new(tmp_path / "lab")
    device = name.split(".")[0].strip().upper()
    with pytest.raises(HostError, match=f"a VM name cannot be {device}, a device name on Windows"):
        host.new_vm(name, new_vhd_size_bytes=None)
    host.new_vm("Web01", new_vhd_size_bytes=None)
    with pytest.raises(HostError, match=f"a checkpoint name cannot be {device}"):
        host.checkpoint_vm("Web01", snapshot_name=name)
    with pytest.raises(HostError, match=f"a VM name cannot be {device}"):
        host.rename_vm("Web01", name)
    assert [vm.name for vm in host.list_vms()] == ["Web01"]
    assert host.list_snapshots("Web01") == []


def test_names_that_only_look_like_devices_are_fine(tmp_path: Path) -> None:
    host = Host.new(tmp_path / "lab")
    for name in ("Console", "COM10", "NULL", "AUX-Server", "lpt"):
        host.new_vm(name, new_vhd_size_bytes=None)
    with pytest.raises(HostError, match="already exists"):  # names are case-insensitive
        host.new_vm("console", new_vhd_size_bytes=None)


def test_parent_locators_use_windows_paths_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The locator code with Windows' path flavour (ntpath): real drive letters written and
    kept, backslashes, a parent on another drive, a rooted path on the child's drive."""
    import ntpath

    from hvgui.vhdx import locator

    monkeypatch.setattr(locator, "_native", ntpath)
    child = Path(r"D:\VMs\Snapshots\Web01_1.avhdx")
    assert locator.absolute_win_path(Path(r"D:\VMs\Web01.vhdx")) == r"D:\VMs\Web01.vhdx"
    assert locator.relative_win_path(child, Path(r"D:\VMs\Web01.vhdx")) == r"..\Web01.vhdx"
    assert locator.relative_win_path(child, Path(r"D:\VMs\Snapshots\a.vhdx")) == r".\a.vhdx"
    assert locator.relative_win_path(child, Path(r"E:\Base.vhdx")) == r"E:\Base.vhdx"
    moved = Path(r"F:\Copy\Web01_1.avhdx")
    found = locator.candidate_paths(moved, {
        "relative_path": r"..\Web01.vhdx",
        "volume_path": r"\\?\Volume{4a49d245-db0a-4634-9818-9f93db5ba6c1}\VMs\Web01.vhdx",
        "absolute_win32_path": r"D:\VMs\Web01.vhdx",
    })
    assert [str(p) for p in found] == [
        r"F:\Web01.vhdx", r"F:\VMs\Web01.vhdx", r"D:\VMs\Web01.vhdx", r"F:\Copy\Web01.vhdx"]
