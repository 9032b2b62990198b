"""Two VMs' operations at once on an isolated lab host (hvgui/host/isolated.py): as in one
process, an operation on one VM does not wait for another VM's (the window's guest writing
a disk, another operation in a child); one VM still runs one operation at a time; a child
whose window died keeps the host lock until it has ended its operation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hvgui import portable
from hvgui.connect import new_lab_host
from hvgui.guest.guest import Guest
from hvgui.host import Host, VMBusyError
from hvgui.host.isolated import IsolatedHost

MiB = 1 << 20
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the lock is shared by fd")


def _two_vms(root: Path) -> IsolatedHost:
    host = new_lab_host(root, isolated=True)
    assert isinstance(host, IsolatedHost)
    for name in ("A", "B"):
        host.new_vm(name, memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    host.start_vm("A")
    return host


def _clean(root: Path) -> None:
    host = Host.open(root, create=False)
    assert [f for f in host.check() if f.is_problem] == []
    assert list(host.layout.journal_dir.iterdir()) == []


def test_a_checkpoint_runs_while_the_windows_guest_writes_another_vms_disk(
    tmp_path: Path,
) -> None:
    """The guest's open disk holds the host lock in the window's process: the child
    checkpointing another VM used to wait a minute for it, then fail as "another program"."""
    host = _two_vms(tmp_path / "host")
    with host.open_vm_disk("A", writable=True, what="run a workload") as disk:
        disk.write(0, b"guest" * 100)
        made = host.checkpoint_vm("B", snapshot_name="b1")
        assert made.snapshot is not None and made.snapshot.name == "b1"
        # The VM whose disk is open is busy, at once, as in one process.
        with pytest.raises(VMBusyError, match=r"^A: VM is busy: "):
            host.checkpoint_vm("A", snapshot_name="a1")
    assert [s.name for s in host.list_snapshots("B")] == ["b1"]
    assert host.list_snapshots("A") == []
    _clean(tmp_path / "host")


def _gated(tmp_path: Path, module: str, function: str, phase: str,
           monkeypatch: pytest.MonkeyPatch) -> Path:
    """In the children, `module.function` stops at its first report in `phase` until the
    returned gate file exists (30 s at most: a failing test must end)."""
    gate = tmp_path / "gate"
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(f"""\
        import os, sys, time
        def gated(*args, progress=None, **kwargs):
            def held(fraction, phase):
                progress(fraction, phase)
                if {phase!r} in ("", phase):
                    for _ in range(3000):
                        if os.path.exists({str(gate)!r}):
                            break
                        time.sleep(0.01)
            return _real(*args, progress=held, **kwargs)
        if any("hvgui.host.childproc" in a for a in sys.orig_argv):  # not in the window
            from hvgui.host import {module} as ops
            _real = ops.{function}
            ops.{function} = gated
        """))
    monkeypatch.setenv("PYTHONPATH", str(site))
    return gate


def test_the_host_lock_is_free_once_an_operation_returned(tmp_path: Path) -> None:
    """hvctl or another window must not wait for an isolated host's idle process or child:
    no hold of the lock outlives the operation (a child kept for the next one included)."""
    host = _two_vms(tmp_path / "host")
    host.checkpoint_vm("B", snapshot_name="b1")
    fd = portable.open_fd(host.layout.lock_file, os.O_RDWR)
    try:
        assert portable.lock(fd, wait=False)  # another open file: another program's
    finally:
        os.close(fd)


def test_two_children_run_two_vms_operations_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """VM A's export stays mid-way (its child waits for a gate after its first report)
    while VM B is checkpointed in another child; then A's export ends."""
    host = _two_vms(tmp_path / "host")
    gate = _gated(tmp_path, "storage_ops", "export_vm", "", monkeypatch)
    during: list[str] = []

    def progress(_fraction: float, _phase: str) -> None:
        if not during:
            during.append("A mid-way")
            # A's child holds the host lock now, waiting: B's operation runs beside it.
            made = host.checkpoint_vm("B", snapshot_name="b1")
            during.append(made.snapshot.name if made.snapshot else "")
            gate.touch()

    host.export_vm("A", tmp_path / "out", progress=progress)
    assert during == ["A mid-way", "b1"]
    assert (tmp_path / "out" / "A").is_dir()
    _clean(tmp_path / "host")


_WINDOW = """\
import os, signal, sys
from hvgui.host.isolated import IsolatedHost
from hvgui.progress import MERGE_PHASE
host = IsolatedHost.open(sys.argv[1], create=False)
vm_id = host.get_vm("Merge").id
def progress(fraction, phase):
    if phase == MERGE_PHASE:
        print(host.status_board.read(vm_id)["pid"], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # the window dies mid-merge
host.remove_snapshot("Merge", "Before", progress=progress)
"""


def test_a_child_whose_window_died_keeps_the_host_lock_until_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The window is killed during a delete's merge: its child, still merging, holds the
    lock the window passed it; another program opening the host meanwhile must not recover
    (roll back) the live merge's journal. Once the child has ended (cancelled at a safe
    point, or the merge finished), the host is clean."""
    root = tmp_path / "host"
    host = Host.open(root)
    host.new_vm("Merge", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=64 * MiB)
    host.start_vm("Merge")
    Guest(host, "Merge").run_workload(8 * MiB, path="/base.bin")
    host.checkpoint_vm("Merge", snapshot_name="Before")
    Guest(host, "Merge").run_workload(8 * MiB, path="/big.bin")
    gate = _gated(tmp_path, "checkpoint_ops", "remove_snapshot", "Merge in progress",
                  monkeypatch)
    # Its stderr a file: the child inherits it, a pipe would be read until the child ends.
    with (tmp_path / "stderr").open("wb") as stderr:
        window = subprocess.run([sys.executable, "-c", _WINDOW, str(root)], timeout=120,
                                stdout=subprocess.PIPE, stderr=stderr, check=False)
    assert window.returncode == -9, (tmp_path / "stderr").read_text()
    child = int(window.stdout)
    try:
        assert portable.pid_alive(child)  # at its gate, mid-merge, its window gone
        journals = sorted(host.layout.journal_dir.iterdir())
        assert journals
        fd = portable.open_fd(host.layout.lock_file, os.O_RDWR)
        try:
            assert not portable.lock(fd, wait=False)  # still held: by the child
        finally:
            os.close(fd)
        Host.open(root, create=False)  # another program: recovers nothing of it
        assert sorted(host.layout.journal_dir.iterdir()) == journals
    finally:
        gate.touch()
    for _ in range(3000):  # it goes on, sees its window gone, ends
        if not portable.pid_alive(child):
            break
        time.sleep(0.01)
    assert not portable.pid_alive(child)
    _clean(root)
