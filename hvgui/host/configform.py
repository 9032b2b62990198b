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
from collections.abc import Iterable

from lxml import etree

from hvgui.backend.ps_enums import CHECKPOINT_TYPE

IDE_DEVICE = "83f8638b-8dca-4152-9eda-2ca8b33039b4"
MANIFEST_VERSION = 260  # what the 2012 R2 manifest carries
SAVED_STATE = "savedstate"  # configuration/savedstate: in_progress, memlocation, type, vsvlocation
# CheckpointType as Windows Server 2016 stores it: Msvm_VirtualSystemSettingData.UserSnapshotType
# (2 Disabled, 3 Production, 4 ProductionOnly, 5 Standard), the numbers PowerShell prints.
USER_TYPE = "global_settings/snapshots/user_type"
USER_SNAPSHOT_TYPES = CHECKPOINT_TYPE

# Elements every 2012 R2 configuration holds, with the values a new VM gets (the owner's SID is
# our choice: BUILTIN\Administrators, as no user of the lab host has a Windows account).
_DEFAULTS: tuple[tuple[str, str, str], ...] = (
    ("global_settings/devices/allow_reduced_fc_redundancy", "bool", "False"),
    ("global_settings/devices/storage_allow_full_scsi_command_set", "bool", "False"),
    ("global_settings/owner/sid", "string", "S-1-5-32-544"),
    ("global_settings/power/host_shutdown/action", "integer", "1"),
    ("global_settings/power/host_startup/action", "integer", "1"),
    ("global_settings/unexpected_termination/action", "integer", "1"),
    ("global_settings/vhd_path_acled", "bool", "True"),
    ("settings/processors/features/limit", "bool", "False"),
    ("settings/processors/limit_cpuid", "bool", "False"),
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


def leaf(parent: etree._Element, where: str, kind: str, text: str) -> etree._Element:
    """The leaf at `where` below `parent`, created with its containers when missing."""
    node = parent
    for part in where.split("/"):
        child = node.find(part)
        if child is None:
            child = etree.SubElement(node, part)
        node = child
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
            children.sort(key=lambda c: str(c.tag))
            current[:] = children
            stack.extend(children)
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
    for original, twin in zip(originals, list(out.iter()), strict=True):
        if id(original) in drive_ids:
            add_missing(twin, DISK_DRIVE_DEFAULTS)
    if out.find("properties") is not None:  # a configuration, not a fragment under test
        add_missing(out, _DEFAULTS)
    _drop_ide_from_manifest(out)
    _sorted_and_spelled(out)
    return out
