"""Two VMs' operations at once on an isolated lab host (hvgui/host/isolated.py): as in one
process, an operation on one VM does not wait for another VM's (the window's guest writing
a disk, another operation in a child); one VM still runs one operation at a time."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from hvgui.connect import new_lab_host
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


def test_two_children_run_two_vms_operations_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """VM A's export stays mid-way (its child waits for a gate after its first report)
    while VM B is checkpointed in another child; then A's export ends."""
    host = _two_vms(tmp_path / "host")
    gate = tmp_path / "gate"
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(f"""\
        import os, time
        from hvgui.host import storage_ops
        _export = storage_ops.export_vm
        def export_vm(host, vm, destination, *args, progress=None, **kwargs):
            def held(fraction, phase):
                progress(fraction, phase)
                for _ in range(3000):  # 30 s at most: a failing test must end
                    if os.path.exists({str(gate)!r}):
                        break
                    time.sleep(0.01)
            return _export(host, vm, destination, *args, progress=held, **kwargs)
        storage_ops.export_vm = export_vm
        """))
    monkeypatch.setenv("PYTHONPATH", str(site))
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
