"""Recorded output: records shaped as the Hyper-V cmdlets' documented objects (Get-VM's
VirtualMachine, Get-VMSnapshot's VMSnapshot, Get-VHD's VirtualHardDisk, Msvm_ConcreteJob's
JobType/JobState/PercentComplete/Cancellable), as the scripts print them and as Windows
PowerShell 5.1 prints them uncast (enum numbers, \\/Date(ms)\\/, TimeSpan objects, a
one-element array unrolled, GUIDs in braces, '<>& escaped as \\u0027 \\u003c \\u003e \\u0026),
parsed into the model; Windows paths stay the host's text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import PureWindowsPath

import pytest

from hvgui.backend import errors
from hvgui.backend.model import HardDrive
from hvgui.hyperv.errors import error_from_record
from hvgui.hyperv.host import HyperVHost
from hvgui.hyperv.parse import vm_from_record
from hvgui.hyperv.records import Record
from tests.hyperv.replay import RECORDED, Replay, lines

WEB01 = "3C7B2F0E-5B1D-4F7E-9A57-2B0C6D1E8F10"


@pytest.fixture
def host() -> HyperVHost:
    return HyperVHost(Replay({"get_vms": "get_vms.jsonl", "get_snapshots": "get_snapshots.jsonl",
                              "get_vhd": "get_vhd.jsonl",
                              "remove_snapshot": "remove_snapshot.jsonl"}))


def test_get_vm_as_the_scripts_print_it(host: HyperVHost) -> None:
    db01, web01 = host.list_vms()
    assert (web01.id, web01.name, web01.state, web01.cpu_usage) == (WEB01, "web01", "Running", 3)
    assert web01.uptime == timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=567000)
    assert web01.status == ""  # "Operating normally": Hyper-V Manager's Status column is empty
    assert web01.checkpoint_type == "Production" and web01.generation == 2
    assert web01.notes == "IIS <front> & api"
    assert web01.parent_snapshot_name == "before patch 'KB5031'"
    assert web01.parent_snapshot_id == "9A0E1C44-7A3B-4E1F-8C2D-5E6F7A8B9C0D"
    assert str(web01.config_path) == (
        "D:\\Hyper-V\\web01\\Virtual Machines\\3C7B2F0E-5B1D-4F7E-9A57-2B0C6D1E8F10.vmcx")
    disk, physical = web01.hard_drives
    assert (disk.controller_type, disk.controller_location, disk.pass_through) == (
        "SCSI", 0, False)
    assert str(disk.path).endswith("web01_9A0E1C44-7A3B-4E1F-8C2D-5E6F7A8B9C0D.avhdx")
    assert physical.pass_through
    # Msvm_ConcreteJob JobType 50 (merging disks) running at 12%: the Status column says so.
    assert db01.status == "Merge in progress (12%)"
    assert (db01.parent_snapshot_id, db01.parent_snapshot_name) == (None, None)
    assert (db01.generation, db01.snapshot_count) == (1, 3)


def test_get_vm_as_windows_powershell_5_1_prints_it_uncast() -> None:
    vm = vm_from_record(json.loads((RECORDED / "get_vm_ps51_uncast.json").read_text()))
    assert vm.id == "0D6C2A9E-1F3B-4C5D-8E7F-A0B1C2D3E4F5"
    assert vm.state == "Paused-Critical"  # VMState 32789 PausedCritical
    assert vm.uptime == timedelta(hours=1)  # the TimeSpan object's Ticks
    assert vm.checkpoint_type == "ProductionOnly"  # CheckpointType 4
    [drive] = vm.hard_drives  # one drive: 5.1 printed the object, not a list of one
    assert (drive.controller_type, str(drive.path)) == ("SCSI", "E:\\Lab\\lab-dc.vhdx")
    assert str(vm.snapshot_file_location) == "E:\\Lab\\Checkpoints"  # the alias


def test_get_vmsnapshot_builds_the_tree_from_parent_snapshot_id(host: HyperVHost) -> None:
    snaps = host.list_snapshots("web01")
    assert [s.name for s in snaps] == ["one", "two", "three"]
    one, two, three = snaps
    assert one.creation_time == datetime(2026, 11, 25, 13, 5, 9, tzinfo=UTC)  # +01:00
    assert two.creation_time == datetime(2026, 11, 25, 13, 6, 10, 123456, tzinfo=UTC)
    assert three.creation_time == datetime(2026, 11, 25, 13, 10, tzinfo=UTC)  # \/Date(ms)\/
    assert two.parent_snapshot_id == three.parent_snapshot_id == one.id
    assert (one.state, three.state, three.snapshot_type) == ("Running", "Off", "Standard")
    assert str(one.bin_path).endswith(".vmrs") and two.bin_path is None
    assert [d.controller_type for d in three.hard_drives] == ["SCSI"]
    assert host.transport.asked[-1] == ("get_snapshots", {"VMId": WEB01})  # type: ignore[attr-defined]


def test_get_vhd_walks_the_chain(host: HyperVHost) -> None:
    child, parent = host.get_vhd_chain("D:\\Hyper-V\\web01\\Virtual Hard Disks\\x.avhdx")
    assert (child.vhd_format, child.vhd_type, child.block_size) == ("VHDX", "Differencing",
                                                                    2 * 1024 * 1024)
    assert child.parent_path == str(parent.path) and child.minimum_size is None
    assert (parent.vhd_format, parent.vhd_type, parent.parent_path) == ("VHDX", "Dynamic", None)
    assert (parent.file_size, parent.logical_sector_size, parent.physical_sector_size) == (
        4 * 1024 * 1024, 512, 4096)


def test_the_merge_is_shown_after_remove_vmsnapshot_returns(host: HyperVHost) -> None:
    seen: list[str] = []
    host.remove_snapshot("web01", "two",
                         progress=lambda f, phase: seen.append(f"{phase} ({round(f * 100)}%)"))
    assert seen == ["Deleting Checkpoint (0%)", "Deleting Checkpoint (100%)",
                    "Merge in progress (12%)", "Merge in progress (57%)",
                    "Merge in progress (100%)"]  # the merge job ended: its last text stays
    script, parameters = host.transport.asked[-2]  # type: ignore[attr-defined]
    assert (script, parameters) == ("remove_snapshot", {
        "VMId": WEB01, "SnapshotId": "2E0A7D31-64B8-4F0C-A1D2-E3F405162738",
        "IncludeAllChildSnapshots": False})


@pytest.mark.parametrize("record", lines("errors.jsonl"),
                         ids=[r.data["Expect"] for r in lines("errors.jsonl")])
def test_powershell_error_records_become_hvgui_errors(record: Record) -> None:
    error = error_from_record(record.data, "web01")
    assert type(error) is getattr(errors, record.data["Expect"])
    host_said = " ".join(record.data["Message"].split())
    assert host_said in error.problem  # the host's own message, on one line
    assert error.subject == (record.data["TargetObject"] or "web01")


def test_a_2012_r2_host_has_no_checkpoint_type() -> None:
    record = json.loads((RECORDED / "get_vm_ps51_uncast.json").read_text())
    record.update(CheckpointType="", Version="5.0")  # [string]$null: the property is not there
    assert vm_from_record(record).checkpoint_type == "Standard"


def test_get_vhd_of_a_vhd_chain_as_5_1_prints_it_uncast() -> None:
    """A 2012-era VHD chain: an AVHD on a fixed VHD, VhdFormat 2 and VhdType 4/2 as numbers,
    512-byte physical sectors, a fixed disk's BlockSize 0, MinimumSize (VHDX only) and the
    base's ParentPath null."""
    host = HyperVHost(Replay({"get_vhd": "get_vhd_vhd.jsonl"}))
    child, base = host.get_vhd_chain("E:\\Lab\\lab-dc_5F1E2D3C.avhd")
    assert (child.vhd_format, child.vhd_type, child.block_size, child.minimum_size) == (
        "VHD", "Differencing", 2 * 1024 * 1024, None)
    assert child.parent_path == "E:\\Lab\\lab-dc.vhd" == str(base.path)
    assert (base.vhd_format, base.vhd_type, base.block_size, base.parent_path) == (
        "VHD", "Fixed", 0, None)
    assert (base.logical_sector_size, base.physical_sector_size) == (512, 512)
    assert base.file_size == base.size + 512  # a fixed VHD: the data, then its footer
    drive = HardDrive("IDE", 0, 0, PureWindowsPath("E:\\Lab\\lab-dc_5F1E2D3C.avhd"))
    assert host.chain_files([drive]) == [PureWindowsPath(child.path), PureWindowsPath(base.path)]
    assert [p.name for p in host.chain_files([drive])] == [
        "lab-dc_5F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9.avhd", "lab-dc.vhd"]
