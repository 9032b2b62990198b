"""Configurations read the way Hyper-V reads them and written the way it writes them."""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path

import pytest
from lxml import etree

from hvgui.host import Host, HostError
from hvgui.host.xmlconfig import ConfigDoc, Drive
from tests.host.hosthelpers import make_vm
from tests.host.realfiles import CREATED, IDE, config_2012r2, write

VM_ID = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
SCSI_A = "d7a36e9b-9256-4f0d-be2c-3a13887f7b03"
SCSI_B = "0b5e2d1c-7a66-4c6e-9f0e-5d4b3a291807"
DISK = r"C:\ProgramData\Microsoft\Windows\Hyper-V\Virtual Hard Disks\web01.vhdx"


def load(tmp_path: Path, data: bytes) -> ConfigDoc:
    return ConfigDoc.load(write(tmp_path / "web01" / "Virtual Machines" / f"{VM_ID}.xml", data))


def test_a_2012_r2_generation_1_configuration_shows_its_ide_drives(tmp_path: Path) -> None:
    doc = load(tmp_path, config_2012r2(vm_id=VM_ID, name="web01", ide=[(0, 0, "VHD", DISK)]))
    assert doc.drives() == [  # the floppy's VFD drive is not a hard drive
        Drive("IDE", 0, 0, "VHD", DISK),
        Drive("IDE", 0, 1, "NONE", ""),
        Drive("IDE", 1, 0, "ISO", ""),
        Drive("IDE", 1, 1, "NONE", ""),
    ]
    assert doc.data_root == tmp_path / "web01"  # exported: no data_root, derived
    assert doc.snapshot_data_root == tmp_path / "web01"
    assert (doc.checkpoint_type, doc.state, doc.generation) == ("Standard", "Off", 1)
    assert doc.creation_time == CREATED


@pytest.mark.parametrize("listed", [True, False], ids=["listed", "not-in-manifest"])
def test_scsi_drives_are_found_whether_or_not_the_manifest_lists_them(
    tmp_path: Path, listed: bool
) -> None:
    other = r"D:\x.vhdx"
    want = {SCSI_B: [(0, DISK), (1, DISK.replace("web01", "data"))], SCSI_A: [(3, other)]}
    data = config_2012r2(vm_id=VM_ID, name="web01", generation=2, scsi_listed=listed,
                         scsi=[(SCSI_A, want[SCSI_A]), (SCSI_B, want[SCSI_B])])
    doc = load(tmp_path, data)
    order = [SCSI_A, SCSI_B] if listed else [SCSI_B, SCSI_A]  # manifest order, else by GUID
    assert doc.drives() == [
        Drive("SCSI", n, loc, "VHD", path)
        for n, instance in enumerate(order) for loc, path in want[instance]
    ]
    assert doc.scsi_controller_count() == 2


def test_saved_state_lives_in_configuration_savedstate(tmp_path: Path) -> None:
    mem, vsv = r"C:\VMs\Virtual Machines\X\X.bin", r"C:\VMs\Virtual Machines\X\X.vsv"
    doc = load(tmp_path, config_2012r2(vm_id=VM_ID, name="web01", saved=(mem, vsv)))
    assert (doc.saved_state("memlocation"), doc.saved_state("vsvlocation")) == (mem, vsv)
    assert doc.state == "Saved"


@pytest.mark.parametrize(("number", "name"), [
    (2, "Disabled"), (3, "Production"), (4, "ProductionOnly"), (5, "Standard")])
def test_checkpoint_type_is_hyperv_user_snapshot_type(
    host: Host, number: int, name: str
) -> None:
    make_vm(host, disk=None)
    host.set_vm("web01", checkpoint_type=name)
    tree = etree.fromstring(host.get_vm("web01").config_path.read_bytes().decode("utf-16")
                            .split("?>", 1)[1].encode())
    assert tree.find("global_settings/snapshots/user_type").text == str(number)
    assert tree.find("global_settings/snapshots/user_type").get("type") == "integer"
    assert host.get_vm("web01").checkpoint_type == name


def test_an_unknown_checkpoint_type_number_is_named(tmp_path: Path) -> None:
    doc = load(tmp_path, config_2012r2(vm_id=VM_ID, name="web01"))
    doc.set("global_settings/snapshots/user_type", "integer", 7)
    with pytest.raises(HostError, match=r"user_type is not a checkpoint type: 7 \(2 Disabled"):
        _ = doc.checkpoint_type


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-16")


def test_written_in_hyperv_order_with_its_spelling_and_defaults(host: Host) -> None:
    make_vm(host, generation=1)
    path = host.get_vm("web01").config_path
    text = _text(path)
    tree = etree.fromstring(text.split("?>", 1)[1].encode())
    for element in tree.iter():
        names = [str(c.tag) for c in element]
        assert names == sorted(names), f"{element.tag}: {names}"
    assert tree.find("manifest")[0].tag == "size"
    assert tree.find("manifest/version").text == "260"
    assert IDE not in [(e.findtext("device") or "") for e in tree.find("manifest")]
    assert f"<_{IDE}_>" in text
    assert re.search(r'<creation_time type="bytes">[A-Za-z0-9+/=]+\r\n</creation_time>', text)
    assert '<notes type="string"></notes>' in text and "/>" not in text
    for where in ("global_settings/owner/sid", "global_settings/power/host_shutdown/action",
                  f"_{IDE}_/controller0/drive0/iops_limit", f"_{IDE}_/controller0/drive0/weight"):
        assert tree.find(where) is not None, where
    assert tree.find(f"_{IDE}_/controller1/drive0/weight") is None  # the DVD drive: none
    assert tree.find("global_settings/savedstate") is None and tree.find("savedstate") is None
    host.start_vm("web01")
    host.save_vm("web01")
    saved = etree.fromstring(_text(path).split("?>", 1)[1].encode())
    assert [c.tag for c in saved.find("savedstate")] == [
        "in_progress", "memlocation", "type", "vsvlocation"]
    assert saved.findtext("savedstate/type") == "Normal"


def test_a_checkpoint_holds_its_own_creation_time(host: Host) -> None:
    make_vm(host, disk=None)
    vm = ConfigDoc.load(host.get_vm("web01").config_path)
    snap = host.checkpoint_vm("web01", snapshot_name="one").snapshot
    assert snap is not None
    own = ConfigDoc.load(snap.config_path)
    assert own.creation_time == snap.creation_time
    assert own.creation_time > vm.creation_time
    assert ConfigDoc.load(host.get_vm("web01").config_path).creation_time == vm.creation_time
    host.restore_snapshot("web01", "one")  # the VM keeps its own creation time
    assert ConfigDoc.load(host.get_vm("web01").config_path).creation_time == vm.creation_time


def test_a_real_file_written_back_keeps_what_hvgui_does_not_know(tmp_path: Path) -> None:
    doc = load(tmp_path, config_2012r2(vm_id=VM_ID, name="web01", ide=[(0, 0, "VHD", DISK)]))
    again = ConfigDoc.from_bytes(doc.to_bytes(), doc.path)
    assert again.drives() == doc.drives()
    for where in ("_8f0d2762-0b00-4e04-af4f-19010527cb93_/controller0/drive0/type",
                  "_ac6b8dc1-3257-4a70-b1b2-a9c9215659ad_/boot/device1",
                  "global_settings/owner/sid"):
        assert again.get_str(where) == doc.get_str(where)
    assert again.get_str("global_settings/data_root", "") == ""  # still derived, not invented


def dissect_style_disks(path: Path) -> list[str]:
    """The VHD paths a reader that finds controllers the way dissect.target's Hyper-V loader
    does (sections named by the IDE/SCSI type GUIDs, plus manifest instances) maps."""
    tree = etree.fromstring(path.read_bytes().decode("utf-16").split("?>", 1)[1].encode())
    types = {IDE, "d422512d-2bf2-4752-809d-7b82b5fcb1b4"}
    keys = {str(c.tag) for c in tree if str(c.tag)[1:-1].lower() in types}
    for entry in tree.find("manifest"):
        if (entry.findtext("device") or "").lower() in types:
            keys.add(f"_{entry.findtext('instance')}_")
    found = []
    for key in keys:
        section = tree.find(key)
        section = section if section is not None else tree.find(key.lower())
        for controller in section if section is not None else ():
            for drive in controller if str(controller.tag).startswith("controller") else ():
                if drive.findtext("type") == "VHD" and drive.findtext("pathname"):
                    found.append(drive.findtext("pathname") or "")
    return found


@pytest.mark.parametrize("generation", [1, 2])
def test_a_forensic_reader_maps_each_disk_once(host: Host, generation: int) -> None:
    make_vm(host, generation=generation)
    assert len(dissect_style_disks(host.get_vm("web01").config_path)) == 1


def test_the_filetime_bytes_are_little_endian(tmp_path: Path) -> None:
    doc = load(tmp_path, config_2012r2(vm_id=VM_ID, name="web01"))
    raw = base64.b64decode(doc.get_str("properties/creation_time").strip())
    assert struct.unpack("<Q", raw)[0] > 0


PROCESSOR, MEMORY = "B637F346-6A0E-4DEC-AF52-BD70CB80A21D", "4764334D-E001-4176-82EE-5594EC9B530E"
METRIC_FIELDS = ["enabled", "lastcomputedtime", "peaktime", "poolid", "resourcetypeid",
                 "starttime", "typecode", "value"]


def _metrics(path: Path) -> dict[tuple[str, str], list[etree._Element]]:
    """(device type, instance) -> its metric elements, as global_settings/metrics holds them."""
    tree = etree.fromstring(_text(path).split("?>", 1)[1].encode())
    out = {}
    for devicetype in tree.find("global_settings/metrics").iterfind("devicetype"):
        for instance in devicetype.iterfind("deviceinstance"):
            out[(devicetype.findtext("guid"), instance.findtext("guid"))] = list(
                instance.iterfind("metric"))
    return out


def test_resource_metering_and_the_other_common_elements_are_written(
    host: Host, tmp_path: Path
) -> None:
    """global_settings/metrics as the 2012 R2 file holds it (metering off): processor, memory
    and each disk's five counters, which go with the disk; the generation id and vNUMA too."""
    make_vm(host, generation=1)
    vm = host.get_vm("web01")
    metrics = _metrics(vm.config_path)
    assert list(metrics) == [(PROCESSOR, PROCESSOR), (MEMORY, MEMORY), (IDE.upper(), IDE.upper())]
    assert (len(metrics[(PROCESSOR, PROCESSOR)]), len(metrics[(MEMORY, MEMORY)])) == (1, 3)
    disk = metrics[(IDE.upper(), IDE.upper())]
    assert [m.findtext("typecode").split(";")[1] for m in disk] == ["0\\0\\L"] * 5
    for metric in [m for ms in metrics.values() for m in ms]:
        assert [c.tag for c in metric] == METRIC_FIELDS
        assert (metric.findtext("enabled"), metric.findtext("value")) == ("False", "0")
    doc = ConfigDoc.load(vm.config_path)
    assert re.fullmatch(r"[0-9a-f]{32}", doc.get_str("global_settings/devices/generation_id"))
    for where in ("settings/memory/vnuma/max_size_per_node",
                  "settings/processors/vnuma/count_per_node/max",
                  "settings/processors/vnuma/node_per_socket/max"):
        assert doc.get_int(where) > 0, where
    host.remove_hard_drive("web01", "IDE", 0, 0)
    assert (IDE.upper(), IDE.upper()) not in _metrics(vm.config_path)  # no disk, no counters
    # A real file's counting values are kept when it is written back.
    real = load(tmp_path, config_2012r2(vm_id=VM_ID, name="web01", ide=[(0, 0, "VHD", DISK)]))
    first = ConfigDoc.from_bytes(real.to_bytes(), real.path)
    counted = first.root.find("global_settings/metrics/devicetype/deviceinstance/metric/value")
    counted.text = "123"
    again = ConfigDoc.from_bytes(first.to_bytes(), first.path)
    assert again.get_str("global_settings/metrics/devicetype/deviceinstance/metric/value") == "123"
    ide = [m for m in again.root.iterfind("global_settings/metrics/devicetype/deviceinstance")
           if m.findtext("guid") == IDE.upper()]
    assert len(ide) == 1 and len(list(ide[0].iterfind("metric"))) == 5


INTEGRATION = ["Microsoft Hyper-V Activation Component", "Microsoft Guest Interface Component",
               "Microsoft Heartbeat Component", "Microsoft Key-Value Pair Exchange Component",
               "Microsoft Shutdown Component", "Microsoft Time Synchronization Component",
               "Microsoft VSS Component", "Microsoft RDV Component"]


@pytest.mark.parametrize("generation", [1, 2])
def test_a_new_vm_has_the_devices_a_2012_r2_vm_has(host: Host, generation: int) -> None:
    """The manifest lists the integration components (instance = type, as in the public 2012
    R2 file); a generation 1 VM also has its emulated floppy, COM ports and BIOS sections.
    None of them is taken for a storage controller."""
    make_vm(host, generation=generation)
    path = host.get_vm("web01").config_path
    tree = etree.fromstring(_text(path).split("?>", 1)[1].encode())
    listed = [(e.findtext("name"), e.findtext("device"), e.findtext("instance"))
              for e in tree.find("manifest") if str(e.tag).startswith("vdev")]
    names = [name for name, _, _ in listed]
    assert names[:3] == ["Microsoft Synthetic Mouse", "Microsoft Synthetic Keyboard",
                         "Microsoft Synthetic Video"]
    assert names[3:11] == INTEGRATION
    assert all(device.upper() == instance for _, device, instance in listed[:11])
    assert tree.findtext("_6c09bb55-d683-4da0-8931-c9bf705f6480_/Enabled") == "False"
    assert tree.find("_bc12c717-8898-4688-8ee4-2cd14894f8ea_") is None  # no section, as there
    bios = tree.find("_ac6b8dc1-3257-4a70-b1b2-a9c9215659ad_")
    floppy = "_8f0d2762-0b00-4e04-af4f-19010527cb93_/controller0/drive0/type"
    if generation == 1:
        assert [d.text for d in bios.find("boot")] == ["Optical", "HardDrive", "Network",
                                                      "Floppy"]
        assert re.fullmatch(r"(\d{4}-){6}\d{2}", bios.findtext("bios_serial_number"))
        assert tree.findtext(floppy) == "VFD"
        assert tree.find("_8e3a359f-559a-4b6a-98a9-1690a6100ed7_/port1/connection") is not None
    else:
        assert bios is None and tree.find(floppy) is None
    doc = ConfigDoc.load(path)
    assert [d.controller_type for d in doc.drives() if d.kind == "VHD"] == [
        "IDE" if generation == 1 else "SCSI"]
    assert doc.scsi_controller_count() == (0 if generation == 1 else 1)


def test_hvgui_s_own_files_carry_the_checkpoint_tree_in_their_disks_as_a_real_host_s(
    host: Host
) -> None:
    """The tree hvgui names in its own sections is the one its disk chain gives, as a real
    host's files give it: with those sections stripped (a real 2012 R2 host writes none), a
    tree grown by checkpoints, an Apply (a branch) and a delete (a merge) reads the same."""
    make_vm(host, generation=1)
    for name in ("one", "two", "three"):
        host.checkpoint_vm("web01", snapshot_name=name)
    host.restore_snapshot("web01", "one")
    host.checkpoint_vm("web01", snapshot_name="branch")
    host.checkpoint_vm("web01", snapshot_name="leaf")
    host.remove_snapshot("web01", "two")  # three moves up to one; its disk merged

    def tree() -> tuple[list[tuple[str, str | None]], str | None]:
        snaps = host.list_snapshots("web01")
        return ([(s.name, s.parent_snapshot_name) for s in snaps],
                host.get_vm("web01").parent_snapshot_name)

    named = tree()
    assert named == ([("one", None), ("three", "one"), ("branch", "one"),
                      ("leaf", "branch")], "leaf")
    vm = host.get_vm("web01")
    for snap in host.list_snapshots("web01"):
        doc = ConfigDoc.load(snap.config_path)
        doc.remove("snapshot")
        snap.config_path.write_bytes(doc.to_bytes())
    doc = ConfigDoc.load(vm.config_path)
    doc.remove("global_settings/snapshots/parent")
    vm.config_path.write_bytes(doc.to_bytes())
    assert not ConfigDoc.load(vm.config_path).names_parent
    assert tree() == named
