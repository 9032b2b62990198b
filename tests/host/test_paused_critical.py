"""A running VM whose AVHDX cannot grow (its file system is full) goes Paused-Critical, as on
Hyper-V: shown in State, no guest byte lost, refused what a paused VM refuses; Resume-VM
succeeds once there is space again, and the guest's write then goes through."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvgui.guest.guest import Guest
from hvgui.host import Host, states
from hvgui.host.errors import InvalidStateError, PausedCriticalError
from hvgui.ui.allowed import refusals

from .hosthelpers import MiB, make_vm, write_now
from .loopfs import fill, small_filesystem


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with small_filesystem(tmp_path, 160) as mount:
        yield mount


def read_now(host: Host, offset: int, length: int) -> bytes:
    with host.open_vm_disk("web01", writable=False) as disk:
        return disk.read(offset, length)


def test_a_guest_write_on_a_full_disk_pauses_the_vm_until_space_returns(small_fs: Path) -> None:
    host = Host.open(small_fs / "host")
    make_vm(host, running=True)
    host.checkpoint_vm("web01", snapshot_name="c1")
    write_now(host, "web01", 0, b"kept" * 1024)
    host.write_memory("web01", 5 * MiB, b"memory mark")
    full = fill(small_fs, leave=1 * MiB)  # a new 2 MiB block of the AVHDX does not fit
    late = os.urandom(2 * MiB)

    with pytest.raises(PausedCriticalError, match=r"Paused-Critical: .* cannot grow"):
        write_now(host, "web01", 8 * MiB, late)
    vm = host.get_vm("web01")
    assert vm.state == states.PAUSED_CRITICAL and vm.memory_assigned > 0
    assert read_now(host, 0, 4096) == b"kept" * 1024  # nothing the guest wrote is lost
    assert host.read_memory("web01", 5 * MiB, 11) == b"memory mark"
    assert host.check() == []
    with pytest.raises(InvalidStateError, match="Paused-Critical"):
        write_now(host, "web01", 8 * MiB, late)
    with pytest.raises(InvalidStateError):
        host.write_memory("web01", 0, b"x")
    with pytest.raises(InvalidStateError, match="resume it"):
        host.start_vm("web01")
    # The window offers what the host allows: Resume, Turn Off, Save; not Start or Pause.
    offered = {a for a, why in refusals(vm, busy_here=False).items() if not why}
    assert {states.RESUME, states.TURN_OFF, states.SAVE} <= offered
    assert not {states.START, states.PAUSE, states.SHUT_DOWN} & offered
    with pytest.raises(Exception, match=r"not enough space: resuming the VM needs .* free on /"):
        host.resume_vm("web01")
    with pytest.raises(Exception, match=r"not enough space: resetting the VM needs .*"):
        host.reset_vm("web01")
    assert host.get_vm("web01").state == states.PAUSED_CRITICAL

    full.unlink()  # space again
    host.resume_vm("web01")
    assert host.get_vm("web01").state == states.RUNNING
    write_now(host, "web01", 8 * MiB, late)  # the guest's retry
    assert read_now(host, 8 * MiB, 2 * MiB) == late
    assert read_now(host, 0, 4096) == b"kept" * 1024
    assert host.read_memory("web01", 5 * MiB, 11) == b"memory mark"
    assert host.check() == []


def test_a_guest_file_write_that_fills_the_disk_pauses_the_vm(small_fs: Path) -> None:
    host = Host.open(small_fs / "host")
    make_vm(host, disk=64 * MiB, running=True)
    guest = Guest(host, "web01")
    guest.write_file("/before.txt", b"written before the disk filled")
    host.checkpoint_vm("web01", snapshot_name="c1")
    full = fill(small_fs, leave=3 * MiB)
    with pytest.raises(PausedCriticalError):
        guest.run_workload(16 * MiB, path="/big.bin")
    assert host.get_vm("web01").state == states.PAUSED_CRITICAL
    assert guest.read_file("/before.txt") == b"written before the disk filled"
    full.unlink()
    host.resume_vm("web01")
    guest.run_workload(16 * MiB, path="/big2.bin")  # the guest carries on
    assert guest.read_file("/before.txt") == b"written before the disk filled"
    assert len(guest.read_file("/big2.bin")) == 16 * MiB
    assert host.check() == []
