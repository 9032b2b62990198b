"""Configurations shaped like the ones Windows Server 2012 R2 writes, built from public facts
(docs/formats.md; the structure of a real 2012 R2 gen 1 configuration published in the
repository mwrock/packer-templates), with their own names, GUIDs and paths.

What a real host's file has and hvgui's never had: the IDE controller only as a section (no
manifest entry), a floppy section with a `VFD` drive, device sections for synthetic devices,
Windows paths, no `hvgui` section, and (in an exported file) no data roots.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

from hvgui.host.xmlconfig import to_filetime

IDE = "83f8638b-8dca-4152-9eda-2ca8b33039b4"
SCSI = "d422512d-2bf2-4752-809d-7b82b5fcb1b4"
FLOPPY = "8f0d2762-0b00-4e04-af4f-19010527cb93"
BIOS = "ac6b8dc1-3257-4a70-b1b2-a9c9215659ad"
NIC = "2fc216b0-d2e2-4967-9b6d-b8a5c9ca2778"
SYNTHETIC = (
    ("58f75a6d-d949-4320-99e1-a2a2576d581c", "Microsoft Synthetic Mouse"),
    ("197f74e3-b84b-46de-8ae6-82f1cd181cdc", "Microsoft Synthetic Keyboard"),
    ("f3cf6965-e8d3-44a9-9b7d-a04245ea7525", "Microsoft Synthetic Video"),
    ("84eaae65-2f2e-45f5-9bb5-0e857dc8eb47", "Microsoft Heartbeat Component"),
)
CREATED = datetime(2014, 11, 20, 9, 30, tzinfo=UTC)


def _leaf(parent: etree._Element, where: str, kind: str, text: str) -> None:
    node = parent
    for part in where.split("/"):
        found = node.find(part)
        node = found if found is not None else etree.SubElement(node, part)
    node.attrib["type"] = kind
    node.text = text


def _drive(controller: etree._Element, location: int, kind: str, path: str) -> None:
    drive = etree.SubElement(controller, f"drive{location}")
    if kind == "VHD":
        _leaf(drive, "iops_limit", "integer", "0")
        _leaf(drive, "iops_reservation", "integer", "0")
    _leaf(drive, "pathname", "string", path)
    if kind == "VHD":
        _leaf(drive, "persistent_reservations_supported", "bool", "False")
    _leaf(drive, "type", "string", kind)
    if kind == "VHD":
        _leaf(drive, "weight", "integer", "100")


def config_2012r2(
    *,
    vm_id: str,
    name: str,
    generation: int = 1,
    ide: Sequence[tuple[int, int, str, str]] = (),
    scsi: Sequence[tuple[str, Sequence[tuple[int, str]]]] = (),
    scsi_listed: bool = True,
    data_root: str | None = None,
    snapshots: Sequence[str] = (),
    saved: tuple[str, str] | None = None,
    created: datetime = CREATED,
    logical_id: str | None = None,
) -> bytes:
    """The bytes of a configuration: `ide` = (controller, location, type, Windows path);
    `scsi` = (instance GUID, [(location, Windows path)]); `logical_id`: the VM's Id in a
    checkpoint's configuration (a copy of the VM's: `vm_id` is then the checkpoint's)."""
    root = etree.Element("configuration")
    sections: dict[str, etree._Element] = {}

    def section(guid: str) -> etree._Element:
        if guid not in sections:
            sections[guid] = etree.SubElement(root, f"_{guid.lower()}_")
            _leaf(sections[guid], "VDEVVersion", "integer", "256")
        return sections[guid]

    for guid, _ in SYNTHETIC:
        section(guid)
    if generation == 1:
        ide_section = section(IDE)
        slots = {(c, loc): (kind, path) for c, loc, kind, path in ide}
        for number in (0, 1):
            controller = etree.SubElement(ide_section, f"controller{number}")
            for location in (0, 1):
                default = ("ISO", "") if (number, location) == (1, 0) else ("NONE", "")
                _drive(controller, location, *slots.get((number, location), default))
        floppy = etree.SubElement(section(FLOPPY), "controller0")
        _drive(floppy, 0, "VFD", "")
        bios = section(BIOS)
        for i, device in enumerate(("Optical", "HardDrive", "Network", "Floppy")):
            _leaf(bios, f"boot/device{i}", "string", device)
    for instance, drives in scsi:
        controller = etree.SubElement(section(instance), "controller0")
        for location, path in drives:
            _drive(controller, location, "VHD", path)
    g = "global_settings"
    _leaf(root, f"{g}/devices/allow_reduced_fc_redundancy", "bool", "False")
    _leaf(root, f"{g}/disk_merge_pending", "bool", "False")
    _leaf(root, f"{g}/owner/sid", "string", "S-1-5-21-1004336348-1177238915-682003330-1001")
    _leaf(root, f"{g}/power/host_shutdown/action", "integer", "1")
    if data_root is not None:
        _leaf(root, f"{g}/data_root", "string", data_root)
        _leaf(root, f"{g}/snapshots/data_root", "string", data_root)
    _leaf(root, f"{g}/snapshots/list/size", "integer", str(len(snapshots)))
    for i, snap in enumerate(snapshots):
        _leaf(root, f"{g}/snapshots/list/guid{i}", "string", snap)
    _leaf(root, f"{g}/vhd_path_acled", "bool", "True")
    devices = [*SYNTHETIC, *((inst, "Synthetic SCSI Controller") for inst, _ in scsi
                             if scsi_listed)]
    _leaf(root, "manifest/size", "integer", str(len(devices)))
    for number, (instance, device_name) in enumerate(devices, 1):
        device = SCSI if device_name == "Synthetic SCSI Controller" else instance
        where = f"manifest/vdev{number:03d}"
        _leaf(root, f"{where}/device", "string", device)
        _leaf(root, f"{where}/flags", "integer", "1")
        _leaf(root, f"{where}/instance", "string", instance.upper())
        _leaf(root, f"{where}/name", "string", device_name)
    _leaf(root, "manifest/version", "integer", "260")
    stamp = base64.b64encode(struct.pack("<Q", to_filetime(created))).decode() + "\n"
    _leaf(root, "properties/creation_time", "bytes", stamp)
    _leaf(root, "properties/global_id", "string", vm_id.upper())
    _leaf(root, "properties/name", "string", name)
    _leaf(root, "properties/notes", "string", "")
    _leaf(root, "properties/subtype", "integer", "1" if generation == 2 else "0")
    _leaf(root, "properties/type_id", "string", "Virtual Machines")
    _leaf(root, "properties/version", "integer", "1280")
    if saved is not None:
        _leaf(root, "savedstate/in_progress", "bool", "False")
        _leaf(root, "savedstate/memlocation", "string", saved[0])
        _leaf(root, "savedstate/type", "string", "Normal")
        _leaf(root, "savedstate/vsvlocation", "string", saved[1])
    _leaf(root, "settings/global/logical_id", "string", (logical_id or vm_id).upper())
    _leaf(root, "settings/memory/bank/size", "integer", "1024")
    _leaf(root, "settings/processors/count", "integer", "2")
    for element in root.iter():
        if len(element) == 0 and element.text is None:
            element.text = ""
    body = etree.tostring(root, encoding="unicode", pretty_print=True)
    text = '<?xml version="1.0" encoding="UTF-16" standalone="yes"?>\n' + body
    return b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


REAL_ROOT = "C:\\ClusterStorage\\Volume1\\Hyper-V"  # where the VM lived on its host


def exported_vm(destination: Path, name: str = "web01", *, checkpoints: bool = True,
                branch: bool = False) -> Path:
    """A VM folder as Export-VM (2012 R2) leaves it: `<destination>/<name>/` with `Virtual
    Machines`, `Snapshots` and `Virtual Hard Disks`; configurations name the files by the
    Windows paths of the host it came from (in another case than the files have: Windows
    names ignore case). With `checkpoints`: "Before" and its child "After", Now under
    "After"; with `branch` also "Branch", a second child of "Before" (taken after applying
    it; "After" applied again since). As on a real host, no configuration names a parent
    checkpoint: the tree is in the disks (each checkpoint's configuration names the disk it
    froze, a child AVHDX names its parent in its locator)."""
    from hvgui.vhdx import create_differencing, create_dynamic, open_disk

    folder = destination / name
    disks = folder / "Virtual Hard Disks"
    disks.mkdir(parents=True)
    win_disks = f"{REAL_ROOT}\\{name}\\Virtual Hard Disks"
    vm_id, cp1, cp2, cp3 = (
        "5A1C36F2-0C3B-4E43-8E6B-6F0C7D1B2A01",
        "8B2D47A3-1D4C-4F54-9F7C-7A1D8E2C3B02",
        "9C3E58B4-2E5D-4A65-8A8D-8B2E9F3D4C03",
        "AD4F69C5-3F6E-4B76-9B9E-9C3FA04E5D04",
    )
    base = disks / f"{name}.vhdx"
    create_dynamic(base, 16 << 20)
    with open_disk(base, writable=True) as disk:
        disk.write(0, b"BASE".ljust(512, b"."))

    def child(parent: Path, guid: str) -> Path:
        made = disks / f"{name}_{guid}.avhdx"
        create_differencing(made, parent)
        return made

    taken = []  # (checkpoint id, its name, the disk it froze)
    now = base
    if checkpoints:
        after = child(base, "1C9B2A3D-4E5F-4071-8293-A4B5C6D7E8F9")
        taken += [(cp1, "Before", base), (cp2, "After", after)]
        if branch:
            taken.append((cp3, "Branch", child(base, "3E1D4C5F-6071-4293-A4B5-C6D7E8F90A1B")))
        now = child(after, "2D0C3B4E-5F60-4182-93A4-B5C6D7E8F90A")
        with open_disk(now, writable=True) as disk:
            disk.write(512, b"NOW".ljust(512, b"."))
        for _, _, frozen in taken:  # a checkpoint's disks are read-only on the host
            frozen.chmod(0o444)

    def win(path: Path) -> str:  # as the host wrote it, upper-cased: Windows ignores case
        return f"{win_disks}\\{path.name.upper()}"

    vm = config_2012r2(vm_id=vm_id, name=name, ide=[(0, 0, "VHD", win(now))],
                       snapshots=[snap for snap, _, _ in taken])
    write(folder / "Virtual Machines" / f"{vm_id}.xml", vm)
    for hours, (snap, snap_name, disk) in enumerate(taken, 1):
        data = config_2012r2(vm_id=snap, name=snap_name, ide=[(0, 0, "VHD", win(disk))],
                             logical_id=vm_id, created=CREATED + timedelta(hours=hours))
        write(folder / "Snapshots" / f"{snap}.xml", data)
    return folder
