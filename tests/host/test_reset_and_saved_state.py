"""Hyper-V Manager's Reset (Restart-VM -Force), Delete Saved State (Remove-VMSavedState) and
Export of a running VM (a consistent copy, its memory as a saved state)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui import vhdx
from hvgui.cli.main import main as hvctl
from hvgui.fat.partitioned import GuestFS
from hvgui.guest.guest import Guest
from hvgui.host import Host, InvalidStateError
from hvgui.host.xmlconfig import ConfigDoc

MiB = 1 << 20


@pytest.fixture
def host(tmp_path: Path) -> Host:
    host = Host.open(tmp_path / "host")
    host.new_vm("Alpha", memory_startup_bytes=256 * MiB, new_vhd_size_bytes=64 * MiB)
    host.start_vm("Alpha")
    Guest(host, "Alpha").write_file("/kept.txt", b"on disk")
    Guest(host, "Alpha").set_note("only in memory")
    return host


def test_reset_restarts_the_vm_and_loses_its_memory_not_its_disk(host: Host) -> None:
    result = host.reset_vm("Alpha")
    assert result.powershell == "Restart-VM -Name 'Alpha' -Force"
    guest = Guest(host, "Alpha")
    assert guest.vm.state == "Running"
    assert guest.note() is None  # memory lost, as after pulling the plug and starting again
    assert guest.read_file("/kept.txt") == b"on disk"
    assert {e.action for e in result.events} >= {"deleted", "created"}
    host.stop_vm("Alpha", turn_off=True)
    with pytest.raises(InvalidStateError, match="cannot reset the VM: it is off: start it"):
        host.reset_vm("Alpha")


def test_delete_saved_state_leaves_a_saved_vm_off(host: Host) -> None:
    with pytest.raises(InvalidStateError, match="it is running: it has no saved state"):
        host.remove_saved_state("Alpha")
    host.save_vm("Alpha")
    saved = [p for p in host.root.rglob("*") if p.suffix in (".bin", ".vsv")]
    assert saved
    result = host.remove_saved_state("Alpha")
    assert result.powershell == "Remove-VMSavedState -VMName 'Alpha'"
    assert host.get_vm("Alpha").state == "Off"
    assert not any(p.exists() for p in saved)
    assert Guest(host, "Alpha").note() is None


def test_a_running_vm_exports_as_a_consistent_saved_copy(host: Host, tmp_path: Path) -> None:
    result = host.export_vm("Alpha", tmp_path / "export")
    assert result.powershell.startswith("Export-VM -Name 'Alpha'")
    assert host.get_vm("Alpha").state == "Running"  # the VM ran on
    folder = tmp_path / "export" / "Alpha"
    [config] = (folder / "Virtual Machines").glob("*.xml")
    assert ConfigDoc.load(config).state == "Saved"  # its memory travels as a saved state
    assert {p.suffix for p in (folder / "Virtual Machines").rglob("*.*")} >= {".bin", ".vsv"}
    [disk] = (folder / "Virtual Hard Disks").glob("*.vhdx")
    with vhdx.open_disk(disk) as opened, GuestFS(opened.as_file()) as fs:
        assert fs.read_file("/kept.txt") == b"on disk"  # the disk as the guest had it


def test_hvctl_restart_vm_and_remove_vmsavedstate(
    host: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hvctl(["restart-vm", "Alpha", "--force", "--host", str(host.root)]) == 0
    assert "PS> Restart-VM -Name 'Alpha' -Force" in capsys.readouterr().out
    assert hvctl(["save-vm", "Alpha", "--host", str(host.root)]) == 0
    capsys.readouterr()
    assert hvctl(["remove-vmsavedstate", "Alpha", "--host", str(host.root)]) == 0
    assert "PS> Remove-VMSavedState -VMName 'Alpha'" in capsys.readouterr().out
    assert Host.open(host.root).get_vm("Alpha").state == "Off"
