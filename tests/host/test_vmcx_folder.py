"""A folder copied off a Windows Server 2016+ host (`Virtual Machines\\<GUID>.vmcx`) opens
read-only: with the optional extra hvgui[vmcx] its VMs are read through the same configuration
model as XML ones (name, generation, memory, drives found by their Windows paths); without it,
one line per VM says what to install; a damaged or hostile VMCX gets one line naming it, in
bounded time and memory. Nothing in the folder is ever written."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from hvgui.backend import HostKind
from hvgui.cli.main import main
from hvgui.host import Host, keystore
from hvgui.host.errors import HostError, ReadOnlyHostError
from hvgui.host.foreign import VMCX_FOLDER
from hvgui.vhdx import open_disk
from tests.host.hosthelpers import listing
from tests.host.vmcxfiles import (
    CHECKPOINTS,
    DISK_GUIDS,
    DISK_NAME,
    REAL_DISK,
    VM_ID,
    VM_NAME,
    vmcx_folder,
    vmcx_folder_with_checkpoints,
)

GiB = 1 << 30


@pytest.fixture
def folder(corpus_dir: Path, tmp_path: Path) -> Path:
    return vmcx_folder(corpus_dir, tmp_path / "Server2019")


def _config(folder: Path) -> Path:
    return folder / "Virtual Machines" / f"{VM_ID}.vmcx"


@pytest.mark.usefixtures("vmcx_extra")
def test_the_file_is_named_by_the_vms_own_id(corpus_dir: Path) -> None:
    root, _ = keystore.load(corpus_dir / "test.vmcx")
    assert root.findtext("properties/global_id") == VM_ID
    assert root.findtext("properties/name") == VM_NAME


@pytest.mark.usefixtures("vmcx_extra")
def test_a_2016_folder_shows_its_vm_read_only(folder: Path) -> None:
    before = listing(folder)
    host = Host.open(folder, create=False)
    assert host.read_only == VMCX_FOLDER and host.kind is HostKind.VMCX_FOLDER
    assert host.windows_root == ""
    (vm,) = host.list_vms()
    assert (vm.id, vm.name, vm.state, vm.generation, vm.version) == (
        VM_ID, VM_NAME, "Off", 1, "9.0")
    assert (vm.memory_startup, vm.processor_count, vm.checkpoint_type) == (
        GiB, 1, "Production")  # user_type 3, as the file stores it
    assert vm.path == folder and vm.config_path == _config(folder)
    (drive,) = vm.hard_drives  # C:\Users\Public\...\Virtual Hard Disks\Other Location.vhdx
    assert (drive.controller_type, drive.controller_number, drive.controller_location) == (
        "IDE", 0, 0)
    assert drive.path == folder / "Virtual Hard Disks" / DISK_NAME
    with open_disk(drive.path) as disk:
        assert disk.size == 10 << 20
    assert host.get_vm(VM_NAME).id == VM_ID
    assert host.list_snapshots(VM_NAME) == []  # its list is empty (size 0)
    assert [f.message for f in host.check()] == []
    with pytest.raises(ReadOnlyHostError, match="Windows Server 2016"):
        host.checkpoint_vm(VM_NAME)
    with pytest.raises(ReadOnlyHostError, match="Windows Server 2016"):
        host.set_vm(VM_NAME, notes="mine")
    with pytest.raises(HostError, match="cannot be adopted"):
        host.adopt()
    assert listing(folder) == before  # not even .hvgui


@pytest.mark.usefixtures("vmcx_extra")
def test_hvctl_reads_it_and_refuses_changes_in_one_line(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = listing(folder)
    disk = str(folder / "Virtual Hard Disks" / DISK_NAME)
    for argv in (["get-vm"], ["get-vm", VM_NAME], ["--json", "get-vm", VM_NAME],
                 ["get-vmsnapshot", VM_NAME], ["test-host"], ["get-vmevent"],
                 ["inspect-checkpoint", VM_NAME]):
        assert main(["--host", str(folder), *argv]) == 0, capsys.readouterr().err
    for argv in (["inspect", str(_config(folder))], ["get-vhd", disk], ["test-vhd", disk]):
        assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert VM_NAME in out and '"Generation": 1' in out and '"MemoryStartup": 1073741824' in out
    assert f'"Path": "{disk}"' in out  # the IDE 0:0 disk, found in the copy
    assert "no problems found" in out and "Hyper-V key-value store (VMCX/VMRS)" in out
    assert f"{VM_ID}.VMRS  Runtime state (VMRS, Server 2016+)" in out  # the VM's files
    for argv in (["checkpoint-vm", VM_NAME], ["adopt-host"], ["start-vm", VM_NAME]):
        assert main(["--host", str(folder), *argv]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Windows Server 2016+" in err, err
    assert listing(folder) == before


@pytest.mark.usefixtures("vmcx_extra")
def test_a_disk_not_in_the_copy_is_named_with_where_it_was_looked_for(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = vmcx_folder(corpus_dir, tmp_path / "NoDisk", disk=False)
    (vm,) = Host.open(folder, create=False).list_vms()
    assert [str(d.path) for d in vm.hard_drives] == [REAL_DISK]  # as the host named it
    assert main(["--host", str(folder), "test-host"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"ERROR: VM '{VM_NAME}': its disk {REAL_DISK} (IDE 0:0) is missing; looked for "
        f"{REAL_DISK} in: {folder / 'Virtual Machines'}, {folder}, and by the name "
        f"'{DISK_NAME}' anywhere in {folder}")
    assert out[1:] == [f"    {REAL_DISK}"]  # never a path made up from the current folder


@pytest.mark.usefixtures("without_vmcx_extra")
def test_without_the_extra_each_vm_says_what_to_install(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = listing(folder)
    host = Host.open(folder, create=False)
    errors: list[HostError] = []
    assert host.list_vms(errors=errors) == []
    (error,) = errors
    assert error.subject == str(_config(folder))
    assert keystore.INSTALL_HINT in error.problem
    assert main(["--host", str(folder), "get-vm"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"hvctl: error: {_config(folder)}: {error.problem}\n"
    assert "Traceback" not in captured.out + captured.err
    assert listing(folder) == before


# ------------------------------------------------------------------ hostile files
# Each attack changes the real file where the decoder follows it (offsets from its own struct
# definitions): what a decoder without bounds would loop on, or allocate per byte for.
_OBJECTS = 0x2000  # the object table; its entries follow its 8-byte header
_ENTRY = struct.Struct("<BIQIB")  # type, checksum, offset, size, allocated (18 bytes)
_FIRST_KEY_TABLE = 0x3000  # key table 1: a 10-byte header, then its first key
_LOG = 0xA000  # the replay log (the header in force says so)


def _object(data: bytearray, index: int, kind: int, offset: int, size: int) -> None:
    _ENTRY.pack_into(data, _OBJECTS + 8 + index * _ENTRY.size, kind, 0, offset, size, 1)


def _loop(data: bytearray) -> None:
    _object(data, 8, 1, _OBJECTS, 4096)  # an object table listing itself


def _huge_object_table(data: bytearray) -> None:
    struct.pack_into("<I", data, _OBJECTS + 4, 0xFFFFFFFF)


def _huge_log(data: bytearray) -> None:
    struct.pack_into("<I", data, _LOG + 8, 0xFFFFFFFF)


def _tiny_keys(data: bytearray) -> None:
    struct.pack_into("<I", data, _FIRST_KEY_TABLE + 10 + 2, 1)  # a key of one byte


def _giant_key_table(data: bytearray) -> None:
    _object(data, 0, 2, _FIRST_KEY_TABLE, 0xFFFFFFFF)


def _many_key_tables(data: bytearray) -> None:
    for index in range(8, 227):  # every free slot: key table 1 again
        _object(data, index, 2, _FIRST_KEY_TABLE, 4096)


ATTACKS: dict[str, tuple[Callable[[bytearray], None], str]] = {
    "object-table-loop": (_loop, "object tables refer to each other in a loop"),
    "huge-object-table": (_huge_object_table, "object table lists 4294967295 objects"),
    "huge-replay-log": (_huge_log, "replay log lists 4294967295 entries"),
    "one-byte-keys": (_tiny_keys, "is 1 bytes, smaller than a key's 21-byte header"),
    "giant-key-table": (_giant_key_table, "key tables hold more than 16 MiB"),
    "many-key-tables": (_many_key_tables, ""),  # bounded: read, or refused in words
}


@pytest.mark.usefixtures("vmcx_extra")
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_hostile_vmcx_gets_one_line_in_bounded_memory(
    folder: Path, attack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    change, problem = ATTACKS[attack]
    path = _config(folder)
    data = bytearray(path.read_bytes())
    assert data[_OBJECTS:_OBJECTS + 4] == struct.pack("<I", 0x01110001)  # the offsets hold
    change(data)
    path.write_bytes(bytes(data))
    before = listing(folder)
    tracemalloc.start()
    try:
        errors: list[HostError] = []
        vms = Host.open(folder, create=False).list_vms(errors=errors)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20, f"{attack}: {peak >> 20} MiB"
    if problem or errors:
        (error,) = errors
        assert vms == [] and error.subject == str(path)
        assert "\n" not in error.problem and problem in error.problem, error.problem
        assert main(["--host", str(folder), "get-vm"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"hvctl: error: {path}: ")
    else:
        assert [vm.name for vm in vms] == [VM_NAME]
    assert listing(folder) == before


@pytest.mark.usefixtures("vmcx_extra")
def test_damaged_copies_of_the_real_vmcx_get_one_line_each(folder: Path) -> None:
    """Truncated, zeroed and randomly damaged: each reads or is refused in one line naming
    the file (a VMRS in its place holds no VM: refused as a configuration)."""
    import random

    path = _config(folder)
    real = path.read_bytes()
    vmrs = (folder / "Virtual Machines" / f"{VM_ID}.VMRS").read_bytes()
    cases = [real[:4096], real[: len(real) // 2], real[:64], b"", real[:8] + bytes(len(real) - 8),
             vmrs]
    rng = random.Random(2016)
    for _ in range(40):
        damaged = bytearray(real)
        for _ in range(rng.randint(1, 60)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        cases.append(bytes(damaged))
    refused = 0
    for data in cases:
        path.write_bytes(data)
        errors: list[HostError] = []
        vms = Host.open(folder, create=False).list_vms(errors=errors)
        if errors:
            refused += 1
            (error,) = errors
            assert vms == [] and error.subject == str(path) and "\n" not in error.problem
        else:
            assert len(vms) == 1
    assert refused >= 6  # the truncated, empty, zeroed and VMRS ones at least


# ------------------------------------------------------------------ checkpoints
@pytest.mark.usefixtures("vmcx_extra")
def test_checkpoint_vmcx_files_make_the_checkpoint_tree(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = vmcx_folder_with_checkpoints(corpus_dir, tmp_path / "WithCheckpoints")
    before = listing(folder)
    host = Host.open(folder, create=False)
    (vm,) = host.list_vms()
    assert (vm.snapshot_count, vm.parent_snapshot_name) == (2, "After")
    disks = folder / "Virtual Hard Disks"
    assert [d.path for d in vm.hard_drives] == [disks / f"Other Location_{DISK_GUIDS[1]}.avhdx"]
    snaps = host.list_snapshots(VM_NAME)
    for snap_id, _, _ in CHECKPOINTS:  # nothing of hvgui's in the files: no parent named
        assert keystore.load(folder / "Snapshots" / f"{snap_id}.vmcx")[0].find("snapshot") is None
    assert keystore.load(_config(folder))[0].find("global_settings/snapshots/parent") is None
    # so the tree is derived from the disks each checkpoint froze
    assert [(s.name, s.parent_snapshot_name) for s in snaps] == [
        ("Before", None), ("After", "Before")]
    assert [s.config_path for s in snaps] == [
        folder / "Snapshots" / f"{snap_id}.vmcx" for snap_id, _, _ in CHECKPOINTS]
    assert [s.hard_drives[0].path for s in snaps] == [
        disks / DISK_NAME, disks / f"Other Location_{DISK_GUIDS[0]}.avhdx"]
    with open_disk(vm.hard_drives[0].path) as now, open_disk(disks / DISK_NAME) as base:
        assert now.read(0, 1 << 20) == base.read(0, 1 << 20)  # through the whole chain
    assert [f.message for f in host.check()] == []
    with pytest.raises(ReadOnlyHostError):
        host.restore_snapshot(VM_NAME, "Before")
    with pytest.raises(ReadOnlyHostError):
        host.remove_snapshot(VM_NAME, "After")
    assert main(["--host", str(folder), "--json", "get-vmsnapshot", VM_NAME]) == 0
    out = capsys.readouterr().out
    assert '"ParentSnapshotName": "Before"' in out
    assert listing(folder) == before


@pytest.mark.usefixtures("vmcx_extra")
def test_a_checkpoint_vmcx_in_mixed_case_is_found(corpus_dir: Path, tmp_path: Path) -> None:
    """`<id>.Vmcx`, as a copying tool may leave it: Windows names ignore case, so it is the
    checkpoint's configuration and the tree is the same."""
    folder = vmcx_folder_with_checkpoints(corpus_dir, tmp_path / "MixedCase")
    for snap_id, _, _ in CHECKPOINTS:
        config = folder / "Snapshots" / f"{snap_id}.vmcx"
        config.rename(config.with_suffix(".Vmcx"))
    host = Host.open(folder, create=False)
    snaps = host.list_snapshots(VM_NAME)
    assert [(s.name, s.parent_snapshot_name) for s in snaps] == [
        ("Before", None), ("After", "Before")]
    assert [s.config_path for s in snaps] == [
        folder / "Snapshots" / f"{snap_id}.Vmcx" for snap_id, _, _ in CHECKPOINTS]
    assert host.get_vm(VM_NAME).parent_snapshot_name == "After"
    assert [f.message for f in host.check()] == []


@pytest.mark.usefixtures("vmcx_extra")
def test_test_host_names_a_checkpoint_vmcx_no_vm_lists(corpus_dir: Path, tmp_path: Path) -> None:
    folder = vmcx_folder_with_checkpoints(corpus_dir, tmp_path / "Stray")
    stray = folder / "Snapshots" / "0C1D2E3F-4A5B-4C6D-8E7F-9A0B1C2D3E4F.vmcx"
    stray.write_bytes((folder / "Snapshots" / f"{CHECKPOINTS[0][0]}.vmcx").read_bytes())
    state = stray.with_suffix(".VMRS")
    state.write_bytes((folder / "Virtual Machines" / f"{VM_ID}.VMRS").read_bytes())
    found = {(f.code, f.path) for f in Host.open(folder, create=False).check()}
    assert found == {("orphaned-checkpoint", stray), ("stray-state", state)}


@pytest.mark.usefixtures("vmcx_extra")
def test_a_vmcx_copied_into_a_lab_host_is_listed_and_never_changed(
    corpus_dir: Path, tmp_path: Path
) -> None:
    lab = Host.open(tmp_path / "lab")
    lab.new_vm("web01", memory_startup_bytes=64 << 20, new_vhd_size_bytes=4 << 20)
    copied = lab.root / "Virtual Machines" / f"{VM_ID}.vmcx"
    copied.write_bytes((corpus_dir / "test.vmcx").read_bytes())
    before = listing(lab.root / "Virtual Machines")
    assert lab.read_only == ""
    assert [vm.name for vm in lab.list_vms()] == [VM_NAME, "web01"]
    for change in (lambda: lab.checkpoint_vm(VM_NAME), lambda: lab.start_vm(VM_NAME),
                   lambda: lab.rename_vm(VM_NAME, "mine")):
        with pytest.raises(ReadOnlyHostError, match="never changes it"):
            change()
    assert listing(lab.root / "Virtual Machines") == before
    lab.checkpoint_vm("web01")  # the lab's own VMs work as before


@pytest.mark.usefixtures("vmcx_extra")
def test_a_2016_vm_is_exported_out_of_the_folder_as_xml(folder: Path, tmp_path: Path) -> None:
    """Export only reads the folder: its VM comes out as a 2012 R2 export hvgui opens."""
    before = listing(folder)
    host = Host.open(folder, create=False)
    host.export_vm(VM_NAME, tmp_path / "out")
    (vm,) = Host.open(tmp_path / "out" / VM_NAME, create=False).list_vms()
    assert (vm.id, vm.name, vm.generation) == (VM_ID, VM_NAME, 1)
    assert vm.config_path.suffix == ".xml"
    with open_disk(vm.hard_drives[0].path) as disk:
        assert disk.size == 10 << 20
    assert listing(folder) == before  # not even .hvgui
