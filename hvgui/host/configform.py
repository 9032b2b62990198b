"""The form Hyper-V writes a configuration in, and the upgrade of hvgui's older layout.

Hyper-V (2012 R2, as its files show) writes every container's children in ordinal order of
their names (`VDEVVersion` before `address`, `manifest/size` before `vdev001`), base64 values
followed by a newline, empty values as `<x type="string"></x>`, the emulated IDE controller
only as its section (never in the manifest), a `manifest/version`, and a set of default
elements every VM has. `written()` gives that form of a tree; the tree in memory stays as the
host left it, so what is shown of a file read from a real host is what the file holds.

hvgui wrote some elements elsewhere before (saved state under `global_settings`, the
checkpoint type as a string, a checkpoint's time in its own `snapshot` section, the IDE
controller in the manifest): `upgrade()` moves them, in memory, to where Hyper-V keeps them,
so an old lab host opens as it was and its next write stores the new form.
"""

from __future__ import annotations

import base64
import copy
import struct
import uuid
from collections.abc import Iterable

from lxml import etree

from hvgui.backend.ps_enums import CHECKPOINT_TYPE

IDE_DEVICE = "83f8638b-8dca-4152-9eda-2ca8b33039b4"
SCSI_DEVICE = "d422512d-2bf2-4752-809d-7b82b5fcb1b4"
MANIFEST_VERSION = 260  # what the 2012 R2 manifest carries
SAVED_STATE = "savedstate"  # configuration/savedstate: in_progress, memlocation, type, vsvlocation
# CheckpointType as Windows Server 2016 stores it: Msvm_VirtualSystemSettingData.UserSnapshotType
# (2 Disabled, 3 Production, 4 ProductionOnly, 5 Standard), the numbers PowerShell prints.
USER_TYPE = "global_settings/snapshots/user_type"
USER_SNAPSHOT_TYPES = CHECKPOINT_TYPE

# Elements every 2012 R2 configuration holds, with the values a new VM gets (the owner's SID is
# our choice: BUILTIN\Administrators, as no user of the lab host has a Windows account; so is
# the vNUMA topology, which is the host's: one node holding the largest VM hvgui makes).
_DEFAULTS: tuple[tuple[str, str, str], ...] = (
    ("global_settings/devices/allow_reduced_fc_redundancy", "bool", "False"),
    ("global_settings/devices/storage_allow_full_scsi_command_set", "bool", "False"),
    ("global_settings/owner/sid", "string", "S-1-5-32-544"),
    ("global_settings/power/host_shutdown/action", "integer", "1"),
    ("global_settings/power/host_startup/action", "integer", "1"),
    ("global_settings/unexpected_termination/action", "integer", "1"),
    ("global_settings/vhd_path_acled", "bool", "True"),
    ("settings/memory/vnuma/max_size_per_node", "integer", "1048576"),
    ("settings/processors/features/limit", "bool", "False"),
    ("settings/processors/limit_cpuid", "bool", "False"),
    ("settings/processors/vnuma/count_per_node/max", "integer", "64"),
    ("settings/processors/vnuma/node_per_socket/max", "integer", "1"),
    ("settings/stopped_at_host_shutdown", "bool", "False"),
    ("settings/topology/low_mmio_gap_mb", "integer", "128"),
    ("settings/vnuma/enabled", "bool", "True"),
    ("manifest/version", "integer", str(MANIFEST_VERSION)),
)
# A virtual hard disk drive's storage QoS and reservation defaults.
DISK_DRIVE_DEFAULTS: tuple[tuple[str, str, str], ...] = (
    ("iops_limit", "integer", "0"),
    ("iops_reservation", "integer", "0"),
    ("persistent_reservations_supported", "bool", "False"),
    ("weight", "integer", "100"),
)


def container(parent: etree._Element, where: str) -> etree._Element:
    """The element at `where` below `parent`, created with its containers when missing."""
    node = parent
    for part in where.split("/"):
        child = node.find(part)
        if child is None:
            child = etree.SubElement(node, part)
        node = child
    return node


def leaf(parent: etree._Element, where: str, kind: str, text: str) -> etree._Element:
    """The leaf at `where` below `parent`, created with its containers when missing."""
    node = container(parent, where)
    node.attrib["type"] = kind
    node.text = text
    return node


def add_missing(parent: etree._Element, defaults: Iterable[tuple[str, str, str]]) -> None:
    for where, kind, text in defaults:
        if parent.find(where) is None:
            leaf(parent, where, kind, text)


def _move(root: etree._Element, old: str, new: str) -> etree._Element | None:
    node = root.find(old)
    if node is None:
        return None
    parent = node.getparent()
    assert parent is not None
    parent.remove(node)
    if root.find(new) is None:
        container = root
        for part in new.split("/")[:-1]:
            found = container.find(part)
            container = found if found is not None else etree.SubElement(container, part)
        node.tag = new.rsplit("/", 1)[-1]
        container.append(node)
    return node


def upgrade(root: etree._Element) -> None:
    """hvgui's earlier layout, in memory, in Hyper-V's (in place; a Hyper-V file is unchanged)."""
    saved = _move(root, "global_settings/savedstate", SAVED_STATE)
    if saved is not None:
        add_missing(saved, (("in_progress", "bool", "False"), ("type", "string", "Normal")))
    old_type = root.find("global_settings/snapshots/checkpoint_type")
    if old_type is not None:
        parent = old_type.getparent()
        assert parent is not None
        parent.remove(old_type)
        number = USER_SNAPSHOT_TYPES.get((old_type.text or "").strip(), 5)
        if root.find(USER_TYPE) is None:
            leaf(root, USER_TYPE, "integer", str(number))
    old_time = root.find("snapshot/creation_time")
    if old_time is not None:  # the checkpoint's own time: properties/creation_time, as FILETIME
        parent = old_time.getparent()
        assert parent is not None
        parent.remove(old_time)
        text = (old_time.text or "").strip()
        if text.isascii() and text.isdigit() and len(text) <= 20 and int(text) < 1 << 64:
            raw = base64.b64encode(struct.pack("<Q", int(text))).decode("ascii")
            leaf(root, "properties/creation_time", "bytes", raw)


# Resource metering (Measure-VM) counters, global_settings/metrics, as a 2012 R2 configuration
# holds them with metering off: a `devicetype` per metered device type, a `deviceinstance` per
# device, a `metric` per counter. Processor and memory always; each disk drive its five
# counters, typecode `<counter>;<controller>\\<location>\\L`, under its controller's type
# and instance (the IDE controller's instance is its type; a SCSI disk's: *ours*, the same form
# under the SCSI controller's type and instance).
METRICS = "global_settings/metrics"
_PROCESSOR = "B637F346-6A0E-4DEC-AF52-BD70CB80A21D"
_MEMORY = "4764334D-E001-4176-82EE-5594EC9B530E"
_ALWAYS_METERED: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # type, resource type, counters
    (_PROCESSOR, "B637F347-6A0E-4DEC-AF52-BD70CB80A21D",
     ("3F6F1051-C8FC-47EF-9821-C07240848748;0",)),
    (_MEMORY, "4764334E-E001-4176-82EE-5594EC9B530E", (
        "394DCE66-458F-4895-AE56-41D7C9602A49", "FF85EA46-9933-4436-BE5D-C96827399966",
        "04BDF59E-580D-4441-8828-FFFE44472D2D")),
)
_DISK_RESOURCE = "70BB60D2-A9D3-46AA-B654-3DE53004B4F8"
_DISK_COUNTERS = (
    "AD29978B-AAB6-44AE-81CD-0609BF929F18", "A4BCA0D9-C27D-4BC8-A7E3-7ED13C89E373",
    "72544D55-3035-41DA-B9D7-6C5A39BF8F35", "A9DFBC22-E05F-438D-9405-22E2078353D6",
    "534FA8D7-9875-4FAB-BAA6-2424DF29B31E",
)


def _child_with_guid(parent: etree._Element, tag: str, guid: str) -> etree._Element:
    """`parent`'s `tag` child whose `guid` is `guid` (any case), made when missing."""
    for child in parent.iterfind(tag):
        if (child.findtext("guid") or "").strip().upper() == guid:
            return child
    child = etree.SubElement(parent, tag)
    leaf(child, "guid", "string", guid)
    return child


def _add_metrics(instance: etree._Element, resource: str, typecodes: Iterable[str]) -> None:
    """A `metric` under `instance` for each typecode it has none for (metering off, zero)."""
    have = {(m.findtext("typecode") or "").strip().upper() for m in instance.iterfind("metric")}
    for typecode in typecodes:
        if typecode.upper() in have:
            continue
        metric = etree.SubElement(instance, "metric")
        for where, kind, text in (
            ("enabled", "bool", "False"), ("lastcomputedtime", "integer", "0"),
            ("peaktime", "integer", "0"), ("poolid", "string", ""),
            ("resourcetypeid", "string", resource), ("starttime", "integer", "0"),
            ("typecode", "string", typecode), ("value", "integer", "0"),
        ):
            leaf(metric, where, kind, text)


def _disk_slot(drive: etree._Element) -> tuple[str, str, str] | None:
    """(device type, instance, `<controller>\\<location>`) of a drive element in its section."""
    controller = drive.getparent()
    section = controller.getparent() if controller is not None else None
    if controller is None or section is None:
        return None
    instance = str(section.tag).strip("_").upper()
    kind = IDE_DEVICE.upper() if instance == IDE_DEVICE.upper() else SCSI_DEVICE.upper()
    numbers = (str(controller.tag)[len("controller"):], str(drive.tag)[len("drive"):])
    if not all(n.isascii() and n.isdigit() and len(n) <= 9 for n in numbers):
        return None
    return kind, instance, f"{int(numbers[0])}\\{int(numbers[1])}"


def _metered(out: etree._Element, disk_drives: list[etree._Element]) -> None:
    """The counters of the processor, the memory and each disk drive of `out`, added
    where missing (a real file's counting values are kept); a disk's counters go with it."""
    metrics = container(out, METRICS)
    for device, resource, codes in _ALWAYS_METERED:
        instance = _child_with_guid(_child_with_guid(metrics, "devicetype", device),
                                    "deviceinstance", device)
        _add_metrics(instance, resource, codes)
    slots: dict[tuple[str, str], set[str]] = {}
    for drive in disk_drives:
        found = _disk_slot(drive)
        if found is not None:
            slots.setdefault(found[:2], set()).add(found[2])
    for (device, instance_id), places in sorted(slots.items()):
        instance = _child_with_guid(_child_with_guid(metrics, "devicetype", device),
                                    "deviceinstance", instance_id)
        _add_metrics(instance, _DISK_RESOURCE, [f"{counter};{place}\\L"
                                                for place in sorted(places)
                                                for counter in _DISK_COUNTERS])
    for devicetype in list(metrics.iterfind("devicetype")):  # a removed disk's counters go
        device = (devicetype.findtext("guid") or "").strip().upper()
        for instance in list(devicetype.iterfind("deviceinstance")):
            places = slots.get((device, (instance.findtext("guid") or "").strip().upper()), set())
            for metric in list(instance.iterfind("metric")):
                code = (metric.findtext("typecode") or "").strip()
                _, _, place = code.partition(";")
                if (metric.findtext("resourcetypeid") or "").strip().upper() == _DISK_RESOURCE \
                        and place.endswith("\\L") and place[:-2] not in places:
                    instance.remove(metric)
                    if instance.find("metric") is None:  # its last disk: the controller too
                        devicetype.remove(instance)
                        if devicetype.find("deviceinstance") is None:
                            metrics.remove(devicetype)


def _drop_ide_from_manifest(root: etree._Element) -> None:
    manifest = root.find("manifest")
    if manifest is None:
        return
    entries = [e for e in manifest if str(e.tag).startswith("vdev")]
    for entry in entries:
        if (entry.findtext("device") or "").strip().lower() == IDE_DEVICE:
            manifest.remove(entry)
    kept = [e for e in manifest if str(e.tag).startswith("vdev")]
    for number, entry in enumerate(kept, 1):  # numbered without gaps, in their order
        entry.tag = f"vdev{number:03d}"
    leaf(manifest, "size", "integer", str(len(kept)))


def _sorted_and_spelled(node: etree._Element) -> None:
    """Children in ordinal order of their names (stable: repeated names keep their order),
    base64 ending in a newline, empty leaves written with both tags."""
    stack = [node]
    while stack:
        current = stack.pop()
        children = list(current)
        if children:
            ordered = sorted(children, key=lambda c: str(c.tag))
            if ordered != children:  # moving lxml's children costs; most are in order
                current[:] = ordered
            stack.extend(ordered)
        elif current.get("type") == "bytes":
            current.text = (current.text or "").strip() + "\n"
        elif not current.text:
            current.text = ""


def written(root: etree._Element, disk_drives: Iterable[etree._Element]) -> etree._Element:
    """A copy of `root` in the form Hyper-V writes. `disk_drives` are the drive elements of
    `root` holding a virtual or pass-through disk (they get the drive defaults)."""
    drive_ids = {id(d) for d in disk_drives}
    originals = list(root.iter())
    out = copy.deepcopy(root)
    pairs = list(zip(originals, list(out.iter()), strict=True))
    for original, twin in pairs:
        if id(original) in drive_ids:
            add_missing(twin, DISK_DRIVE_DEFAULTS)
    if out.find("properties") is not None:  # a configuration, not a fragment under test
        add_missing(out, _DEFAULTS)
        if out.find("global_settings/devices/generation_id") is None:  # stable per VM
            vm = out.findtext("settings/global/logical_id") or out.findtext("properties/global_id")
            if vm:  # without an id there is nothing stable to derive it from (not "None")
                leaf(out, "global_settings/devices/generation_id", "string",
                     uuid.uuid5(uuid.NAMESPACE_URL, f"hvgui:generation:{vm}").hex)
        _metered(out, [twin for original, twin in pairs if id(original) in drive_ids])
    _drop_ide_from_manifest(out)
    _sorted_and_spelled(out)
    return out
