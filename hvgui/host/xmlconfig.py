"""VM and checkpoint configuration files in Windows Server 2012 R2's XML format.

Files are written UTF-16 (little-endian, with a byte-order mark) with CRLF line ends, and read in
UTF-16 LE/BE with or without the mark, or UTF-8/ASCII (copies re-encoded on the way). Leaves carry
`type="string|integer|bool|bytes"`; containers carry none. Everything is read through ONE
hardened lxml parser: no DTD, no entities, no network, no huge trees, and a size bound, so a
hostile file gives a clear HostError naming it. Unknown elements survive a read-modify-write.
The choices this project made where Hyper-V's own are unknown are in docs/formats.md.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import struct
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

from hvgui.host import configform, keystore, storedpaths, winpaths
from hvgui.host.configform import (
    IDE_DEVICE,
    SAVED_STATE,
    SCSI_DEVICE,
    USER_SNAPSHOT_TYPES,
    USER_TYPE,
)
from hvgui.host.errors import HostError
from hvgui.host.fileio import read_bounded
from hvgui.host.layout import SNAPSHOTS, VMCX_SUFFIX

MAX_CONFIG_BYTES = 8 << 20  # real configurations are tens of KiB
# Bounds far above any real host (Hyper-V allows 50 checkpoints, 4 SCSI controllers of 64
# drives; a configuration has a few hundred elements), checked before the work they bound.
MAX_ELEMENTS = 50_000
MAX_LISTED = 1_000  # checkpoint ids or pending merges a configuration lists
MAX_DEVICES = 256  # manifest entries
MAX_DRIVES = 64  # drive slots of one controller
MAX_VM_DRIVES = 260  # Hyper-V's most: 2 IDE controllers of 2, 4 SCSI controllers of 64

# Our choice (Hyper-V's synthetic Fibre Channel device GUID is not public): see docs/formats.md.
FIBRE_CHANNEL_DEVICE = "5b2e6f0c-2f1a-4d7b-9f3e-8a1c6d0b4e21"
FLOPPY_DEVICE = "8f0d2762-0b00-4e04-af4f-19010527cb93"  # its section holds a VFD drive
# The synthetic devices and integration components a 2012 R2 VM lists in its manifest (instance
# GUID = type GUID), with its section's VDEVVersion (None: no section), as the public 2012 R2
# configuration has them.
_SYNTHETIC_DEVICES: tuple[tuple[str, str, int | None], ...] = (
    ("58f75a6d-d949-4320-99e1-a2a2576d581c", "Microsoft Synthetic Mouse", 512),
    ("197f74e3-b84b-46de-8ae6-82f1cd181cdc", "Microsoft Synthetic Keyboard", 256),
    ("f3cf6965-e8d3-44a9-9b7d-a04245ea7525", "Microsoft Synthetic Video", 256),
    ("bc12c717-8898-4688-8ee4-2cd14894f8ea", "Microsoft Hyper-V Activation Component", None),
    ("6c09bb55-d683-4da0-8931-c9bf705f6480", "Microsoft Guest Interface Component", 256),
    ("84eaae65-2f2e-45f5-9bb5-0e857dc8eb47", "Microsoft Heartbeat Component", 256),
    ("2a34b1c2-fd73-4043-8a5b-dd2159bc743f", "Microsoft Key-Value Pair Exchange Component", 256),
    ("9f8233ac-be49-4c79-8ee3-e7e1985b2077", "Microsoft Shutdown Component", 256),
    ("2497f4de-e9fa-4204-80e4-4b75c46419c0", "Microsoft Time Synchronization Component", 256),
    ("5ced1297-4598-4915-a5fc-ad21bb4d02a4", "Microsoft VSS Component", 256),
    ("6c5addb9-a11a-4e8e-84cb-e6208201db63", "Microsoft RDV Component", 512),
)
GUEST_INTERFACE = "6c09bb55-d683-4da0-8931-c9bf705f6480"  # its section: Enabled False
COM_PORTS_DEVICE = "8e3a359f-559a-4b6a-98a9-1690a6100ed7"  # generation 1: COM1/COM2
BIOS_DEVICE = "ac6b8dc1-3257-4a70-b1b2-a9c9215659ad"  # generation 1: boot order, serials

DRIVE_VHD = "VHD"
DRIVE_ISO = "ISO"
DRIVE_NONE = "NONE"
DRIVE_PASSTHROUGH = "PASSTHROUGH"  # our choice of type name for a pass-through (physical) disk
DRIVE_FLOPPY = "VFD"  # a virtual floppy: not a hard drive, not shown
DRIVE_TYPES = (DRIVE_VHD, DRIVE_ISO, DRIVE_NONE, DRIVE_PASSTHROUGH, DRIVE_FLOPPY)

CONFIG_VERSION = 1280  # 5.0: major << 8 | minor
VM_PARENT = "global_settings/snapshots/parent"  # ours: the checkpoint Now descends from
SNAPSHOT_PARENT = "snapshot/parent_id"  # ours: a checkpoint's parent
ENCODING_WRITTEN = "UTF-16 LE with byte-order mark"
ENCODING_VMCX = "VMCX key store (Windows Server 2016+), read-only"
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

_PARSER = etree.XMLParser(
    encoding="utf-8",  # what _decode hands over, whatever the declaration still says
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=True,
    remove_comments=True,
    remove_pis=True,
)


def to_filetime(moment: datetime) -> int:
    """100-ns ticks since 1601-01-01 UTC, as Hyper-V stores times."""
    delta = moment.astimezone(UTC) - _FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def from_filetime(ticks: int) -> datetime:
    return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)


_MAX_FILETIME = to_filetime(datetime(3000, 1, 1, tzinfo=UTC))


def new_guid() -> str:
    return str(uuid.uuid4()).upper()


@dataclass(frozen=True)
class Drive:
    """One drive slot of a controller as the configuration lists it."""

    controller_type: str  # "IDE" | "SCSI"
    controller_number: int
    controller_location: int
    kind: str  # VHD | ISO | PASSTHROUGH | NONE
    path: str  # "" for an empty slot


@dataclass(frozen=True)
class FibreChannelPort:
    instance_id: str
    san_name: str
    wwnn: str
    wwpn: str


# How configuration text arrives: Hyper-V writes UTF-16 LE with a byte-order mark; copies that
# went through git, mail or an editor may have lost the mark, be big-endian, or be UTF-8/ASCII
# still declaring UTF-16. XML's own rule (appendix F of the spec) tells them apart by the first
# bytes; the declaration is then only checked for an encoding we cannot honour.
_BOMS = (
    (b"\xff\xfe\x00\x00", None, "UTF-32"),  # before UTF-16 LE, whose mark it starts with
    (b"\x00\x00\xfe\xff", None, "UTF-32"),
    (b"\xff\xfe", "utf-16-le", "UTF-16 LE with byte-order mark"),
    (b"\xfe\xff", "utf-16-be", "UTF-16 BE with byte-order mark"),
    (b"\xef\xbb\xbf", "utf-8", "UTF-8 with byte-order mark"),
)
_DECLARED = re.compile(r"""\A<\?xml\s[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_READABLE_DECLARATIONS = ("utf-16", "utf-16le", "utf-16be", "utf-8", "us-ascii", "ascii")


def detect_encoding(head: bytes) -> tuple[str | None, str, int]:
    """(codec or None when unreadable, the encoding in words, byte-order mark length) of text
    starting with `head` (its first few bytes are enough)."""
    for mark, codec, words in _BOMS:
        if head.startswith(mark):
            return codec, words, len(mark)
    if len(head) >= 2 and head[0] and not head[1]:
        return "utf-16-le", "UTF-16 LE without byte-order mark", 0
    if len(head) >= 2 and not head[0] and head[1]:
        return "utf-16-be", "UTF-16 BE without byte-order mark", 0
    if head[:1] == b"\x00":
        return None, "binary", 0
    return "utf-8", "UTF-8", 0


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    """The configuration's text and the encoding found, in words; a HostError for anything
    else."""
    codec, words, mark = detect_encoding(data[:4])
    if codec is None:
        raise HostError(
            path, f"not a Hyper-V configuration: {words} content, not UTF-16 or UTF-8 text"
        )
    try:
        text = data[mark:].decode(codec)
    except UnicodeDecodeError as exc:
        raise HostError(
            path, f"not valid {words.split(' with')[0]} text (byte {exc.start + mark})"
        ) from None
    if not text.lstrip().startswith("<"):
        raise HostError(path, f"not a Hyper-V configuration: {words} text that is not XML")
    declared = _DECLARED.match(text)
    if declared and declared.group(1).lower() not in _READABLE_DECLARATIONS:
        raise HostError(
            path,
            f"declares the encoding {declared.group(1)!r}: configurations are UTF-16 "
            "(UTF-8 copies are read too)",
        )
    if codec == "utf-8" and declared and declared.group(1).lower().startswith("utf-16"):
        words += " (declared UTF-16)"
    return text, words


def read_config(path: Path) -> bytes:
    """A configuration file's bytes (bounded); a HostError naming it when it cannot be read."""
    try:
        return read_bounded(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise HostError(path, "the configuration file is missing") from None
    except OSError as exc:
        raise HostError(path, f"cannot read the configuration: {exc.strerror}") from None


# Digest of a configuration's bytes -> the name config_name read from them.
_NAMES: dict[bytes, str] = {}
_MAX_NAMES = 10_000
# Path -> (its stat, the digest of its bytes) for files unchanged for SETTLED_NS when read.
_DIGESTS: dict[Path, tuple[tuple[int, ...], bytes]] = {}
SETTLED_NS = 2_000_000_000  # a file changed this recently may change within the same tick


def digest_of(data: bytes) -> bytes:
    """What config_digest gives for a file holding `data`."""
    return hashlib.blake2b(data, digest_size=16).digest()


def config_digest(path: Path) -> tuple[bytes, bytes | None]:
    """A digest of the configuration file's bytes, and the bytes when they had to be read
    (None: known by the file's stat). A file is known by its stat only when it had not changed
    for two seconds when read: any change since then gives it another change time (or another
    inode), so the window's re-read of hundreds of files once a second stats them instead of
    reading them. A HostError naming a file that cannot be read."""
    try:
        st = os.stat(path)
        stamp: tuple[int, ...] | None = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                         st.st_ctime_ns)
    except OSError:
        stamp = None  # read_config says why
    seen = _DIGESTS.get(path)
    if stamp is not None and seen is not None and seen[0] == stamp:
        return seen[1], None
    data = read_config(path)
    digest = digest_of(data)
    if stamp is not None and time.time_ns() - stamp[-1] > SETTLED_NS:
        if len(_DIGESTS) >= _MAX_NAMES:
            _DIGESTS.clear()
        _DIGESTS[path] = (stamp, digest)
    return digest, data


def config_bytes(path: Path, digest: bytes, data: bytes | None) -> tuple[bytes, bytes]:
    """The configuration's bytes and their digest from what config_digest gave: read again
    where it knew the file by its stat only (`data` None)."""
    if data is None:
        data = read_config(path)
        digest = digest_of(data)
    return data, digest


def config_name(path: Path) -> str:
    """The name (properties/name) a VM's or checkpoint's configuration holds, for finding a VM
    by name or showing a checkpoint's: a HostError naming the file for one that is not a
    well-formed configuration, without the bounds, normal form and paths `ConfigDoc.load`
    checks too (~1.5 ms a file: on a host of hundreds of VMs, a lookup by name or the VM list
    spent most of its time there; whatever is then used is loaded in full). A file read before
    with the same bytes is not parsed again: keyed by content, a change is seen whoever made
    it."""
    if is_vmcx(path):
        return ConfigDoc.load(path).name
    key, data = config_digest(path)
    name = _NAMES.get(key)
    if name is None:
        data, key = config_bytes(path, key, data)  # its name forgotten: read it again
        root, encoding = _parse(data, path)
        name = ConfigDoc(root, path, encoding).name
        if len(_NAMES) >= _MAX_NAMES:
            _NAMES.clear()
        _NAMES[key] = name
    return name


def _parse(data: bytes, path: Path) -> tuple[etree._Element, str]:
    """The configuration's element tree as written and the encoding found, in words; a
    HostError for anything that is not a bounded, well-formed configuration."""
    if len(data) > MAX_CONFIG_BYTES:
        raise HostError(path, f"configuration larger than {MAX_CONFIG_BYTES >> 20} MiB")
    text, encoding = _decode(data, path)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise HostError(
            path, "contains a DOCTYPE or entity declaration, which configurations never have"
        )
    if text.count("<") > 2 * MAX_ELEMENTS:  # every element has one or two tags
        raise HostError(path, f"holds more than {MAX_ELEMENTS} elements")
    try:
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise HostError(path, f"not well-formed XML: {exc.msg}") from None
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise HostError(path, "contains a DOCTYPE, which configurations never have")
    if root.tag != "configuration":
        raise HostError(path, f"root element is <{root.tag}>, not <configuration>")
    return root, encoding


@functools.lru_cache(maxsize=4096)  # the same few GUIDs are checked at every read
def _is_guid(value: str) -> bool:
    """`value` (uppercase) is a GUID in its canonical form."""
    try:
        return str(uuid.UUID(value)).upper() == value
    except ValueError:
        return False


class ConfigDoc:
    """A parsed configuration: typed access to the elements the host uses, and the whole tree."""

    def __init__(self, root: etree._Element, path: Path, encoding: str = ENCODING_WRITTEN) -> None:
        self.root = root
        self.path = path
        self.encoding = encoding  # as found on reading; written back as ENCODING_WRITTEN
        # A stored path was found by searching a copied host's files (storedpaths.resolve_all):
        # what was read depends on more than the file's bytes.
        self.searched = True

    # ----------------------------------------------------------------- reading and writing
    @classmethod
    def load(cls, path: Path) -> ConfigDoc:
        if is_vmcx(path):
            return cls.from_key_store(path)
        return cls.from_bytes(read_config(path), path)

    @classmethod
    def from_bytes(cls, data: bytes, path: Path) -> ConfigDoc:
        root, encoding = _parse(data, path)
        configform.upgrade(root)  # hvgui's earlier layout: read as Hyper-V's
        searched = storedpaths.resolve_all(root, path.parent)  # relative: from its folder
        doc = cls(root, path, encoding)
        doc.searched = searched
        doc._manifest()  # its bound, checked before any command works on the devices
        doc.to_bytes()  # what we could not write back is refused now, not after a change
        return doc

    @classmethod
    def from_key_store(cls, path: Path) -> ConfigDoc:
        """A Windows Server 2016+ configuration (VMCX): its key tree is the element tree an XML
        configuration parses to (keystore.py), read through everything else as one; never
        written back (to_bytes refuses its path)."""
        root, _ = keystore.load(path)
        if root.tag != "configuration":
            raise HostError(path, f"its top key is {root.get('name') or root.tag!r}, "
                            "not configuration: not a VM's configuration")
        storedpaths.resolve_all(root, path.parent)  # Windows paths: the files in this copy
        doc = cls(root, path, ENCODING_VMCX)
        doc._manifest()  # its bound, checked before any command works on the devices
        return doc

    def to_bytes(self, host_root: Path | None = None) -> bytes:
        """The file's bytes; a HostError, before anything is written, past what load accepts.
        With `host_root`, paths inside the host are stored relative to the file's folder
        (storedpaths.py: a copied lab is a copy). A VMCX is never written: hvgui reads it only."""
        if is_vmcx(self.path):
            raise HostError(self.path, "a Windows Server 2016+ configuration (VMCX): hvgui "
                            "reads it, never writes it")
        root = configform.written(self.root, self._disk_drive_nodes())
        if host_root is not None:
            storedpaths.stored_all(root, self.path.parent, host_root)
        body = etree.tostring(root, encoding="unicode", pretty_print=True)
        text = '<?xml version="1.0" encoding="UTF-16" standalone="yes"?>\n' + body
        data = b"\xff\xfe" + text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-16-le")
        if len(data) > MAX_CONFIG_BYTES:
            raise HostError(
                self.path,
                f"the configuration would be {len(data)} bytes written out; "
                f"at most {MAX_CONFIG_BYTES >> 20} MiB",
            )
        return data

    def copy(self, path: Path) -> ConfigDoc:
        return ConfigDoc(etree.fromstring(etree.tostring(self.root), _PARSER), path)

    # ----------------------------------------------------------------- typed leaves
    def _find(self, where: str) -> etree._Element | None:
        return self.root.find(where)

    def _require(self, where: str) -> etree._Element:
        node = self._find(where)
        if node is None:
            raise HostError(self.path, f"missing element configuration/{where}")
        return node

    def get_str(self, where: str, default: str | None = None) -> str:
        node = self._find(where) if default is not None else self._require(where)
        if node is None:
            return default if default is not None else ""
        return node.text or ""

    def get_int(self, where: str, default: int | None = None) -> int:
        node = self._find(where) if default is not None else self._require(where)
        if node is None:
            return default if default is not None else 0
        try:
            return int((node.text or "").strip())
        except ValueError:
            raise HostError(
                self.path, f"configuration/{where} is not an integer: {node.text!r}"
            ) from None

    def get_bool(self, where: str, default: bool = False) -> bool:
        node = self._find(where)
        if node is None:
            return default
        text = (node.text or "").strip()
        if text not in ("True", "False"):
            raise HostError(self.path, f"configuration/{where} is not True or False: {text!r}")
        return text == "True"

    def set(self, where: str, kind: str, value: str | int | bool | bytes) -> None:
        """Set a leaf, creating it and any missing containers."""
        if kind == "bool":
            text = "True" if value else "False"
        elif kind == "bytes":
            assert isinstance(value, bytes)
            text = base64.b64encode(value).decode("ascii") + "\n"  # as Hyper-V writes it
        else:
            text = str(value)
        configform.leaf(self.root, where, kind, text)

    def remove(self, where: str) -> None:
        node = self._find(where)
        if node is not None:
            parent = node.getparent()
            assert parent is not None
            parent.remove(node)

    # ----------------------------------------------------------------- properties
    @property
    def id(self) -> str:
        return self._guid("properties/global_id", self.get_str("properties/global_id"))

    def _guid(self, where: str, value: str) -> str:
        """`value` as an uppercase GUID; ids name files and folders, so nothing else may pass."""
        value = value.strip().strip("{}").upper()
        if not _is_guid(value):
            raise HostError(self.path, f"{where} is not a GUID: {value[:80]!r}")
        return value

    @property
    def name(self) -> str:
        return self.get_str("properties/name")

    @property
    def notes(self) -> str:
        return self.get_str("properties/notes", "")

    @property
    def generation(self) -> int:
        return 2 if self.get_int("properties/subtype", 0) == 1 else 1

    @property
    def version(self) -> str:
        value = self.get_int("properties/version", CONFIG_VERSION)
        return f"{value >> 8}.{value & 0xFF}"

    @property
    def creation_time(self) -> datetime:
        node = self._find("properties/creation_time")
        if node is None or not node.text:
            return _FILETIME_EPOCH
        try:
            raw = base64.b64decode(node.text.strip(), validate=True)
            (ticks,) = struct.unpack("<Q", raw[:8])
        except (ValueError, struct.error):
            raise HostError(
                self.path, "properties/creation_time is not an 8-byte FILETIME"
            ) from None
        return from_filetime(self._filetime("properties/creation_time", ticks))

    @property
    def memory_mb(self) -> int:
        return self._in_range("settings/memory/bank/size", 32, 1 << 20, "MB (32 MB to 1 TB)")

    @property
    def processor_count(self) -> int:
        return self._in_range("settings/processors/count", 1, 64, "(1 to 64)")

    def _in_range(self, where: str, low: int, high: int, what: str) -> int:
        """A setting the host sizes things by (memory files, vCPU state): never absurd."""
        value = self.get_int(where)
        if not low <= value <= high:
            raise HostError(self.path, f"configuration/{where} is out of range: {value} {what}")
        return value

    @property
    def data_root(self) -> Path:
        """The VM's folder; an exported or converted configuration has none: then the folder
        holding its `Virtual Machines` (or `Snapshots`) folder, as Import-VM takes it."""
        value = self.get_str("global_settings/data_root", "").strip()
        if not value or winpaths.is_windows(value):  # absent, or a real host's own folder
            return self.path.parent.parent
        return Path(value)

    @property
    def snapshot_data_root(self) -> Path:
        value = self.get_str("global_settings/snapshots/data_root", "").strip()
        return Path(value) if value and not winpaths.is_windows(value) else self.data_root

    @property
    def checkpoint_type(self) -> str:
        """CheckpointType, stored as Hyper-V does (UserSnapshotType); 2012 R2 has none:
        Standard."""
        number = self.get_int(USER_TYPE, USER_SNAPSHOT_TYPES["Standard"])
        for name, value in USER_SNAPSHOT_TYPES.items():
            if value == number:
                return name
        raise HostError(
            self.path,
            f"configuration/{USER_TYPE} is not a checkpoint type: {number} "
            "(2 Disabled, 3 Production, 4 ProductionOnly, 5 Standard)",
        )

    @checkpoint_type.setter
    def checkpoint_type(self, name: str) -> None:
        self.set(USER_TYPE, "integer", USER_SNAPSHOT_TYPES[name])

    @property
    def parent_snapshot_id(self) -> str | None:
        value = self.get_str(VM_PARENT, "")
        return self._guid(VM_PARENT, value) if value.strip() else None

    @property
    def names_parent(self) -> bool:
        """Whether the file names the checkpoint it descends from (a VM's: the one Now comes
        from; a checkpoint's: its parent), as hvgui's do; a real host's does not."""
        return self._find(SNAPSHOT_PARENT if self.is_snapshot else VM_PARENT) is not None

    @property
    def state(self) -> str:
        """Ours (hvgui/state); a configuration from a real host has none: Saved when it names
        saved device state, else Off."""
        saved = "Saved" if self.saved_state("vsvlocation") else "Off"
        return self.get_str("hvgui/state", saved) or saved

    @property
    def last_powered_on(self) -> int:
        where = "properties/last_powered_on_time"
        return self._filetime(where, self.get_int(where, 0))

    def _filetime(self, where: str, ticks: int) -> int:
        """A FILETIME a date can hold (1601 to 3000): past that, datetime overflows."""
        if not 0 <= ticks <= _MAX_FILETIME:
            raise HostError(self.path, f"configuration/{where} is not a valid time: {ticks}")
        return ticks

    @property
    def merge_pending(self) -> bool:
        return self.get_bool("global_settings/disk_merge_pending")

    def _list(self, where: str, prefix: str, what: str) -> list[str]:
        """`prefix`0..`prefix`<size-1> of the list at `where`, in one pass over its children."""
        node = self._find(where)
        if node is None:
            return []
        size = self.get_int(f"{where}/size", 0)
        if not 0 <= size <= MAX_LISTED:
            raise HostError(
                self.path, f"configuration/{where} lists {size} {what}; at most {MAX_LISTED}"
            )
        items: dict[str, str] = {}
        for child in node:
            items.setdefault(str(child.tag), child.text or "")
        out = []
        for i in range(size):
            value = items.get(f"{prefix}{i}")
            if value is None:
                raise HostError(self.path, f"missing element configuration/{where}/{prefix}{i}")
            out.append(value)
        return out

    def _set_list(self, where: str, prefix: str, values: list[str]) -> None:
        if len(values) > MAX_LISTED:
            raise HostError(self.path, f"configuration/{where}: at most {MAX_LISTED} items")
        self.remove(where)
        self.set(f"{where}/size", "integer", len(values))
        node = self._require(where)
        for i, value in enumerate(values):
            leaf = etree.SubElement(node, f"{prefix}{i}")
            leaf.attrib["type"] = "string"
            leaf.text = value

    @property
    def snapshot_ids(self) -> list[str]:
        where = "global_settings/snapshots/list"
        return [self._guid(where, v) for v in self._list(where, "guid", "checkpoints")]

    @snapshot_ids.setter
    def snapshot_ids(self, ids: list[str]) -> None:
        self._set_list("global_settings/snapshots/list", "guid", ids)

    @property
    def pending_merges(self) -> list[str]:
        return self._list("global_settings/snapshots/pending_merge", "disk", "pending merges")

    @pending_merges.setter
    def pending_merges(self, paths: list[str]) -> None:
        self._set_list("global_settings/snapshots/pending_merge", "disk", paths)
        self.set("global_settings/disk_merge_pending", "bool", bool(paths))

    def saved_state(self, key: str) -> str:
        """`memlocation` (BIN) or `vsvlocation` (VSV) of configuration/savedstate, or ""."""
        return self.get_str(f"{SAVED_STATE}/{key}", "").strip()

    def set_saved_state(self, bin_path: Path | None, vsv_path: Path | None) -> None:
        """Hyper-V's savedstate section; none at all when there is no saved state (as in an
        Off VM's configuration from a real host)."""
        if bin_path is None and vsv_path is None:
            self.remove(SAVED_STATE)
            return
        self.set(f"{SAVED_STATE}/in_progress", "bool", False)
        self.set(f"{SAVED_STATE}/memlocation", "string", str(bin_path or ""))
        self.set(f"{SAVED_STATE}/type", "string", "Normal")
        self.set(f"{SAVED_STATE}/vsvlocation", "string", str(vsv_path or ""))

    def set_creation_time(self, moment: datetime) -> None:
        """properties/creation_time: a VM's, or a checkpoint's own."""
        self.set("properties/creation_time", "bytes", struct.pack("<Q", to_filetime(moment)))

    # ----------------------------------------------------------------- checkpoint section
    @property
    def is_snapshot(self) -> bool:
        """A checkpoint's configuration: hvgui's `snapshot` section, or (a real host's) a file
        in a `Snapshots` folder."""
        return (self._find("snapshot") is not None
                or self.path.parent.name.casefold() == SNAPSHOTS.casefold())

    @property
    def snapshot_parent_id(self) -> str | None:
        value = self.get_str(SNAPSHOT_PARENT, "")
        return self._guid(SNAPSHOT_PARENT, value) if value.strip() else None

    @property
    def snapshot_type(self) -> str:
        return self.get_str("snapshot/type", "Standard") or "Standard"

    @property
    def snapshot_creation_time(self) -> datetime:
        """A checkpoint's configuration holds its own creation time, as Hyper-V's does."""
        return self.creation_time

    @property
    def snapshot_vm_id(self) -> str:
        """The VM's Id: ours, or the logical id the copy of the VM's configuration keeps ("" when
        neither is there). A GUID, as every id here: it names the VM's configuration file."""
        for where in ("snapshot/vm_id", "settings/global/logical_id"):
            value = self.get_str(where, "")
            if value.strip():
                return self._guid(where, value)
        return ""

    @property
    def snapshot_vm_state(self) -> str:
        """The VM's state when taken: ours; a real host's checkpoint holding memory and device
        state: Saved (applying it leaves the VM saved, as Hyper-V does), else Off."""
        saved = "Saved" if self.saved_state("vsvlocation") else "Off"
        return self.get_str("snapshot/vm_state", saved) or saved

    # ----------------------------------------------------------------- devices
    def _manifest(self) -> list[tuple[etree._Element, str, str]]:
        """(entry, device type GUID, instance GUID) for each vdevNNN, in order."""
        manifest = self._find("manifest")
        if manifest is None:
            return []
        entries: list[tuple[etree._Element, str, str]] = []
        for entry in manifest:
            if not str(entry.tag).startswith("vdev"):
                continue
            if len(entries) == MAX_DEVICES:
                raise HostError(self.path, f"the manifest lists more than {MAX_DEVICES} devices")
            device = (entry.findtext("device") or "").strip().lower()
            instance = (entry.findtext("instance") or "").strip().lower()
            if instance:  # it names the device's section, so nothing else may pass
                instance = self._guid(f"manifest/{entry.tag}/instance", instance).lower()
            entries.append((entry, device, instance))
        return entries

    def _add_device(self, device: str, instance: str, name: str) -> etree._Element:
        manifest = self.root.find("manifest")
        if manifest is None:
            manifest = etree.SubElement(self.root, "manifest")
        numbers = [n for e, _, _ in self._manifest() if (n := _number(e, "vdev")) is not None]
        entry = etree.SubElement(manifest, f"vdev{max(numbers, default=0) + 1:03d}")
        for tag, kind, value in (
            ("device", "string", device),
            ("flags", "integer", "1"),
            ("instance", "string", instance.upper()),
            ("name", "string", name),
        ):
            leaf = etree.SubElement(entry, tag)
            leaf.attrib["type"] = kind
            leaf.text = value
        self.set("manifest/size", "integer", len(self._manifest()))
        section = self.root.find(f"_{instance.lower()}_")
        if section is None:
            section = etree.SubElement(self.root, f"_{instance.lower()}_")
        return section

    def _remove_device(self, instance: str) -> None:
        for entry, _, inst in self._manifest():
            if inst == instance.lower():
                parent = entry.getparent()
                assert parent is not None
                parent.remove(entry)
        self.remove(f"_{instance.lower()}_")
        self.set("manifest/size", "integer", len(self._manifest()))

    def _controllers(self) -> list[tuple[str, int, etree._Element, str]]:
        """(controller type, number, its device section, the tag holding drive0..N) for every
        controller, found as Hyper-V finds them: the emulated IDE controller by its section
        (2012 R2 never lists it in the manifest), SCSI controllers by the manifest in its order,
        then any unlisted device section that holds drives, in order of instance GUID."""
        sections: dict[str, etree._Element] = {}
        for child in self.root:  # one pass, not one search per device
            sections.setdefault(str(child.tag).lower(), child)
        out: list[tuple[str, int, etree._Element, str]] = []
        ide = sections.get(f"_{IDE_DEVICE}_")
        if ide is not None:
            out += [("IDE", n, ide, f"controller{n}") for n in (0, 1)
                    if ide.find(f"controller{n}") is not None]
        scsi: list[etree._Element] = []
        listed = {IDE_DEVICE, FLOPPY_DEVICE}
        for _, device, instance in self._manifest():
            listed.add(instance)
            section = sections.get(f"_{instance}_")
            if device == SCSI_DEVICE and section is not None:
                scsi.append(section)
        for tag in sorted(sections):
            if (
                len(tag) == 38 and tag[0] == tag[-1] == "_" and tag[1:-1] not in listed
                and _holds_drives(sections[tag])
            ):
                scsi.append(sections[tag])
        out += [("SCSI", n, section, "controller0") for n, section in enumerate(scsi)]
        return out

    def _drive_elements(self) -> list[tuple[str, int, int, etree._Element]]:
        """(controller type, number, location, element) of every drive slot."""
        out = []
        for ctype, number, section, tag in self._controllers():
            controller = section.find(tag)
            for drive in controller if controller is not None else ():
                location = _number(drive, "drive")
                if location is None:
                    continue
                if location >= MAX_DRIVES:
                    raise HostError(
                        self.path,
                        f"drive {ctype} {number}:{location}: a controller has at most "
                        f"{MAX_DRIVES} locations",
                    )
                out.append((ctype, number, location, drive))
                if len(out) > MAX_VM_DRIVES:  # each may become a file a checkpoint makes
                    raise HostError(self.path, f"lists more than {MAX_VM_DRIVES} drives")
        return out

    def drives(self) -> list[Drive]:
        result = []
        for ctype, number, location, drive in self._drive_elements():
            kind = (drive.findtext("type") or DRIVE_NONE).strip().upper()
            if kind not in DRIVE_TYPES:
                raise HostError(
                    self.path, f"drive {ctype} {number}:{location} has unknown type {kind!r}"
                )
            if kind == DRIVE_FLOPPY:
                continue
            path = (drive.findtext("pathname") or "").strip()
            result.append(Drive(ctype, number, location, kind, path))
        return result

    def _disk_drive_nodes(self) -> list[etree._Element]:
        """The drive elements holding a disk (for the defaults Hyper-V writes with them);
        never raises: a damaged file is still written back as it was read."""
        try:
            return [
                node for *_, node in self._drive_elements()
                if (node.findtext("type") or "").strip().upper() in (DRIVE_VHD, DRIVE_PASSTHROUGH)
            ]
        except HostError:
            return []

    def _drive_node(self, ctype: str, number: int, location: int) -> etree._Element | None:
        for t, n, loc, node in self._drive_elements():
            if (t, n, loc) == (ctype, number, location):
                return node
        return None

    def set_drive(self, ctype: str, number: int, location: int, kind: str, path: str) -> None:
        found = next(
            ((s, tag) for t, n, s, tag in self._controllers() if (t, n) == (ctype, number)), None
        )
        if found is None:
            raise HostError(self.path, f"there is no {ctype} controller {number}")
        section, tag = found
        controller = section.find(tag)
        if controller is None:
            controller = etree.SubElement(section, tag)
        drive = controller.find(f"drive{location}")
        if drive is None:
            drive = etree.SubElement(controller, f"drive{location}")
        configform.leaf(drive, "pathname", "string", path)
        configform.leaf(drive, "type", "string", kind)
        if kind in (DRIVE_VHD, DRIVE_PASSTHROUGH):
            configform.add_missing(drive, configform.DISK_DRIVE_DEFAULTS)
        else:  # an empty slot or a DVD drive holds only its path and type
            for extra, _, _ in configform.DISK_DRIVE_DEFAULTS:
                node = drive.find(extra)
                if node is not None:
                    drive.remove(node)

    def remove_drive(self, ctype: str, number: int, location: int) -> None:
        node = self._drive_node(ctype, number, location)
        if node is None:
            return
        if ctype == "IDE":  # IDE slots always exist; they become empty
            self.set_drive(ctype, number, location, DRIVE_NONE, "")
        else:
            parent = node.getparent()
            assert parent is not None
            parent.remove(node)

    def scsi_controller_count(self) -> int:
        return sum(1 for c in self._controllers() if c[0] == "SCSI")

    def add_scsi_controller(self) -> int:
        self._add_device(SCSI_DEVICE, new_guid(), "Synthetic SCSI Controller")
        return self.scsi_controller_count() - 1

    def fibre_channel(self) -> list[FibreChannelPort]:
        ports = []
        for _, device, instance in self._manifest():
            if device != FIBRE_CHANNEL_DEVICE:
                continue
            where = f"_{instance}_"
            ports.append(
                FibreChannelPort(
                    instance.upper(),
                    self.get_str(f"{where}/san_name", ""),
                    self.get_str(f"{where}/wwnn1", ""),
                    self.get_str(f"{where}/wwpn1", ""),
                )
            )
        return ports

    def add_fibre_channel(self, san_name: str) -> FibreChannelPort:
        instance = new_guid()
        self._add_device(FIBRE_CHANNEL_DEVICE, instance, "Synthetic Fibre Channel Adapter")
        raw = uuid.UUID(instance).bytes
        wwnn = "C003FF" + raw[:5].hex().upper()
        wwpn = "C003FF" + raw[5:10].hex().upper()
        where = f"_{instance.lower()}_"
        self.set(f"{where}/san_name", "string", san_name)
        self.set(f"{where}/wwnn1", "string", wwnn)
        self.set(f"{where}/wwpn1", "string", wwpn)
        return FibreChannelPort(instance, san_name, wwnn, wwpn)

    def remove_fibre_channel(self, instance_id: str) -> None:
        self._remove_device(instance_id)


def is_vmcx(path: Path) -> bool:
    """A Windows Server 2016+ configuration (`<GUID>.vmcx`, any case), not an XML one."""
    return path.suffix.lower() == VMCX_SUFFIX


def is_config_file(path: Path) -> bool:
    """A VM's or checkpoint's configuration by its name: XML, or a 2016+ host's VMCX."""
    return path.suffix.lower() == ".xml" or is_vmcx(path)


def _holds_drives(section: etree._Element) -> bool:
    """Whether a device section has `controllerN/driveM` slots with a type (a storage
    controller the manifest does not list)."""
    return any(
        _number(drive, "drive") is not None and drive.find("type") is not None
        for controller in section
        if _number(controller, "controller") is not None
        for drive in controller
    )


def _number(node: etree._Element, prefix: str) -> int | None:
    """N of a `<prefix>N` tag (drive3, vdev012); None for any other tag. Past 9 digits N is
    just "huge": int() of thousands of digits is slow, and past 4300 it raises."""
    tag = str(node.tag)
    digits = tag[len(prefix) :]
    if not tag.startswith(prefix) or not (digits.isascii() and digits.isdigit()):
        return None
    return int(digits) if len(digits) <= 9 else 10**9


def new_vm_config(
    path: Path,
    *,
    vm_id: str,
    name: str,
    generation: int,
    memory_mb: int,
    data_root: Path,
    snapshot_data_root: Path,
    created: datetime,
) -> ConfigDoc:
    """A fresh VM configuration: one processor, static memory, the controllers of its generation."""
    doc = ConfigDoc(etree.Element("configuration"), path)
    filetime = to_filetime(created)
    doc.set_creation_time(created)
    doc.set("properties/global_id", "string", vm_id)
    doc.set("properties/highly_available", "bool", False)
    doc.set("properties/last_powered_off_time", "integer", 0)
    doc.set("properties/last_powered_on_time", "integer", 0)
    doc.set("properties/last_state_change_time", "integer", filetime)
    doc.set("properties/name", "string", name)
    doc.set("properties/notes", "string", "")
    doc.set("properties/subtype", "integer", 1 if generation == 2 else 0)
    doc.set("properties/type_id", "string", "Virtual Machines")
    doc.set("properties/version", "integer", CONFIG_VERSION)
    doc.set("settings/global/logical_id", "string", vm_id)
    doc.set("settings/memory/bank/dynamic_memory_enabled", "bool", False)
    doc.set("settings/memory/bank/limit", "integer", 1048576)
    doc.set("settings/memory/bank/priority", "integer", 5000)
    doc.set("settings/memory/bank/reservation", "integer", 512)
    doc.set("settings/memory/bank/size", "integer", memory_mb)
    doc.set("settings/memory/bank/target_memory_buffer", "integer", 20)
    doc.set("settings/processors/count", "integer", 1)
    doc.set("settings/processors/limit", "integer", 100000)
    doc.set("settings/processors/reservation", "integer", 0)
    doc.set("settings/processors/weight", "integer", 100)
    doc.set("global_settings/data_root", "string", str(data_root))
    doc.set("global_settings/disk_merge_pending", "bool", False)
    doc.set("global_settings/snapshots/data_root", "string", str(snapshot_data_root))
    doc.checkpoint_type = "Standard"
    doc.set("global_settings/snapshots/parent", "string", "")
    doc.snapshot_ids = []
    doc.set("hvgui/state", "string", "Off")
    for device, device_name, vdev_version in _SYNTHETIC_DEVICES:
        section = doc._add_device(device, device, device_name)
        if vdev_version is None:
            doc.root.remove(section)
        else:
            doc.set(f"_{device}_/VDEVVersion", "integer", vdev_version)
    doc.set(f"_{GUEST_INTERFACE}_/Enabled", "bool", False)
    if generation == 1:  # emulated: a section of its own, never in the manifest
        section = etree.SubElement(doc.root, f"_{IDE_DEVICE}_")
        doc.set(f"_{IDE_DEVICE}_/VDEVVersion", "integer", 1280)
        for number in (0, 1):
            etree.SubElement(section, f"controller{number}")
            for location in (0, 1):
                kind = DRIVE_ISO if (number, location) == (1, 0) else DRIVE_NONE
                doc.set_drive("IDE", number, location, kind, "")
        _emulated_generation_1(doc, vm_id)
    else:
        doc.add_scsi_controller()
    return doc


def _emulated_generation_1(doc: ConfigDoc, vm_id: str) -> None:
    """The emulated devices' sections of a new generation 1 VM, as the public 2012 R2 file
    has them: the floppy drive (empty), COM1 and COM2 (unconnected), and the BIOS (Hyper-V's
    default boot order; serial numbers and BIOS GUID of its own, derived from the VM's Id)."""
    doc.set(f"_{FLOPPY_DEVICE}_/VDEVVersion", "integer", 256)
    doc.set(f"_{FLOPPY_DEVICE}_/controller0/drive0/pathname", "string", "")
    doc.set(f"_{FLOPPY_DEVICE}_/controller0/drive0/type", "string", DRIVE_FLOPPY)
    doc.set(f"_{COM_PORTS_DEVICE}_/VDEVVersion", "integer", 512)
    for port in (0, 1):
        doc.set(f"_{COM_PORTS_DEVICE}_/port{port}/connection", "string", "")
    bios = f"_{BIOS_DEVICE}_"
    digits = f"{uuid.uuid5(uuid.NAMESPACE_URL, f'hvgui:bios:{vm_id}').int:040d}"[-26:]
    serial = "-".join(digits[i:i + 4] for i in range(0, 26, 4))  # 1981-9952-...-7651-98
    doc.set(f"{bios}/VDEVVersion", "integer", 512)
    doc.set(f"{bios}/base_board/serial_number", "string", serial)
    bios_guid = uuid.uuid5(uuid.NAMESPACE_URL, f"hvgui:bios-guid:{vm_id}")
    doc.set(f"{bios}/bios_guid", "string", "{" + str(bios_guid).upper() + "}")
    doc.set(f"{bios}/bios_serial_number", "string", serial)
    for number, device in enumerate(("Optical", "HardDrive", "Network", "Floppy")):
        doc.set(f"{bios}/boot/device{number}", "string", device)
    doc.set(f"{bios}/chassis/asset_tag", "string", serial)
    doc.set(f"{bios}/chassis/serial_number", "string", serial)
    doc.set(f"{bios}/num_lock", "bool", False)
    doc.set(f"{bios}/pause_after_boot_failure", "bool", False)
    doc.set(f"{bios}/pxe_preferred_protocol", "integer", 4)
    doc.set(f"{bios}/secure_boot_enabled", "bool", False)
