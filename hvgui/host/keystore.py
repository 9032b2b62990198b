"""Hyper-V's key-value store: Server 2016+ configurations (VMCX) and runtime state (VMRS),
read-only, through the optional extra `hvgui[vmcx]` (dissect.hypervisor, AGPL-3.0: kept out of
the default install and imported only here, when such a file is read).

The store is a tree of named keys whose leaves are integers, doubles, booleans, strings or
byte arrays; large values live in "file objects" elsewhere in the file (a VMRS's memory). The
tree becomes the same element tree an XML configuration parses to
(`<memory><bank><size type="integer">1024</size>...`), so the host reads a VMCX through the
same ConfigDoc as an XML file, and the inspector shows and diffs it as one.

Every file is hostile: before the decoder builds its objects, the structures it would follow
(object tables, replay logs, key tables and their entries) are walked with the decoder's own
struct definitions and refused past bounds far above any real file (a real configuration has
a few hundred keys in eight 4 KiB tables), and all the decoder reads is counted, so a damaged
file costs bounded time and memory and gets one line naming it and the problem.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

from lxml import etree

from hvgui.host.errors import HostError
from hvgui.host.fileio import open_regular

EXTRA = "vmcx"
INSTALL_HINT = "pip install 'hvgui[vmcx]'"
MODULE = "dissect.hypervisor.descriptor.hyperv"
MAX_KEYS = 50_000  # a real configuration has some 400 keys, a runtime state file fewer
MAX_DEPTH = 64  # and is some ten levels deep
MAX_STRING = 1 << 20  # a string stored in a file object larger than this is named, not read
MAX_OBJECT_TABLES = 16  # real files have one
MAX_OBJECTS = 16_384  # object table entries (real: 227, most unallocated)
MAX_LOG_ENTRIES = 16_384  # replay log entries (real: at most 145)
MAX_KEY_TABLE_BYTES = 16 << 20  # all key tables together (real: eight of 4 KiB)
MAX_READ = 64 << 20  # all the decoder may read (file objects are read only for strings)


def available() -> bool:
    """Whether the extra is installed (without importing it)."""
    try:
        return importlib.util.find_spec("dissect.hypervisor") is not None
    except (ImportError, ValueError):
        return False


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0


class _CountedReader:
    """The file as the decoder reads it, refusing to read more than MAX_READ in all (a file
    whose structures point at each other would make it read the same bytes again and again)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        wanted = size if size >= 0 else MAX_READ + 1
        if self.read_bytes + wanted > MAX_READ:  # refused before the read, not after
            raise _Refused(f"its structures would have it read more than {MAX_READ >> 20} MiB")
        data: bytes = self.handle.read(wanted)
        self.read_bytes += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return int(self.handle.seek(offset, whence))

    def tell(self) -> int:
        return int(self.handle.tell())


class _Refused(Exception):
    """A bound the file broke: its problem in words."""


def _preflight(reader: _CountedReader, module: Any) -> None:
    """Walk what the decoder would follow and refuse what no real file holds."""
    c = module.c_hyperv
    kinds = module.ObjectEntryType
    entry_header = len(c.HyperVStorageKeyTableEntryHeader)
    headers = []
    for offset in (c.FIRST_HEADER_OFFSET, c.SECOND_HEADER_OFFSET):
        reader.seek(offset)
        headers.append(c.HyperVStorageHeader(reader))
    first, second = headers  # the newer is the one in force, as the decoder picks it
    header = first if first.sequence_number > second.sequence_number else second
    if header.signature != c.SIGNATURE_STORAGE_HEADER:
        return  # the decoder names the bad signature
    _check_log(reader, c, header.replay_log_offset)
    pending: list[int] = [c.OBJECT_TABLE_OFFSET]
    seen: set[int] = set()
    keys = key_bytes = 0
    while pending:
        offset = pending.pop()
        if offset in seen or len(seen) >= MAX_OBJECT_TABLES:
            raise _Refused("its object tables refer to each other in a loop or are too many")
        seen.add(offset)
        reader.seek(offset)
        table = c.HyperVStorageObjectTable(reader)
        if table.signature != c.SIGNATURE_OBJECT_TABLE_HEADER:
            return  # the decoder names the bad signature
        if table.num_entries > MAX_OBJECTS:
            raise _Refused(f"its object table lists {table.num_entries} objects; "
                           f"at most {MAX_OBJECTS}")
        for entry in c.HyperVStorageObjectTableEntry[table.num_entries](reader):
            if not entry.allocated:
                continue
            if entry.type == kinds.ObjectTable:
                pending.append(entry.offset)
            elif entry.type == kinds.ReplayLog:
                _check_log(reader, c, entry.offset)
            elif entry.type == kinds.KeyTable:
                key_bytes += entry.size
                if key_bytes > MAX_KEY_TABLE_BYTES:
                    raise _Refused(f"its key tables hold more than {MAX_KEY_TABLE_BYTES >> 20} "
                                   "MiB")
                keys += _count_keys(reader, c, entry.offset, entry.size, entry_header)
                if keys > MAX_KEYS:
                    raise _Refused(f"it holds more than {MAX_KEYS} keys: not a file Hyper-V "
                                   "writes")


def _check_log(reader: _CountedReader, c: Any, offset: int) -> None:
    reader.seek(offset)
    log = c.HyperVStorageReplayLog(reader)
    if log.signature == c.SIGNATURE_REPLAY_LOG_HEADER and log.num_entries > MAX_LOG_ENTRIES:
        raise _Refused(f"its replay log lists {log.num_entries} entries; at most "
                       f"{MAX_LOG_ENTRIES}")


def _count_keys(reader: _CountedReader, c: Any, offset: int, size: int, header: int) -> int:
    """The entries of one key table, walked as the decoder walks them (each entry's size
    leads to the next); an entry smaller than its own header would make one per byte."""
    reader.seek(offset)
    raw = memoryview(reader.read(size))
    at, count = len(c.HyperVStorageKeyTable), 0
    while at < len(raw):
        if len(raw) - at < header:
            break  # the decoder stops (or fails) here too
        entry = c.HyperVStorageKeyTableEntryHeader(raw[at:])
        if entry.size == 0:
            break
        if entry.size < header:
            raise _Refused(f"a key at offset {offset + at:#x} is {entry.size} bytes, "
                           f"smaller than a key's {header}-byte header")
        count += 1
        at += entry.size
    return count


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")  # an XML element name without a prefix


def _element(parent: etree._Element | None, key: str) -> etree._Element:
    name = key if _NAME.match(key) else None
    tag = name or "key"
    element = etree.Element(tag) if parent is None else etree.SubElement(parent, tag)
    if name is None:  # XML cannot name an element so: the key's name as an attribute
        element.set("name", key)
    return element


def _leaf(element: etree._Element, entry: Any, data_type: Any) -> None:
    """One value, typed as Hyper-V types the XML configuration's values."""
    kind = data_type.name
    if entry.is_file_object_pointer:
        offset, size = entry.file_object_pointer
        if kind == "String" and size <= MAX_STRING:
            element.set("type", "string")
            element.text = str(entry.value)
            return
        element.set("type", "file_object")
        element.set("offset", str(offset))
        element.set("size", str(size))
        element.text = f"{size} bytes stored at offset {offset:#x}"
        return
    value = entry.value
    if kind in ("Int", "UInt"):
        element.set("type", "integer")
        element.text = str(value)
    elif kind == "Double":
        element.set("type", "double")
        element.text = repr(value)
    elif kind == "Bool":
        element.set("type", "bool")
        element.text = "True" if value else "False"
    elif kind == "String":
        element.set("type", "string")
        element.text = str(value)
    elif kind == "Array":
        element.set("type", "bytes")
        element.text = base64.b64encode(bytes(value)).decode("ascii")
    else:
        element.set("type", kind.lower())


def _add(parent: etree._Element | None, key: str, entry: Any, module: Any, depth: int,
         budget: _Budget) -> etree._Element:
    budget.nodes += 1
    if budget.nodes > MAX_KEYS or depth > MAX_DEPTH:
        raise _Refused(f"more than {MAX_KEYS} keys or {MAX_DEPTH} levels: not a file "
                       "Hyper-V writes")
    element = _element(parent, key)
    if entry.type == module.KeyDataType.Node:
        for child_key, child in entry.children.items():
            _add(element, child_key, child, module, depth + 1, budget)
    else:
        _leaf(element, entry, entry.type)
    return element


def load(path: Path) -> tuple[etree._Element, dict[str, Any]]:
    """The file's key tree as an element tree, and a summary: the store's version, key count
    and file objects. A HostError naming the file for a missing extra or a file that is not
    a readable key store."""
    if not available():
        raise HostError(path, f"needs {INSTALL_HINT} to be read (a Windows Server 2016+ "
                        "file; the optional reader, AGPL-3.0, is not installed)")
    module = importlib.import_module(MODULE)
    budget = _Budget()
    try:
        with os.fdopen(open_regular(path), "rb") as handle:
            reader = _CountedReader(handle)
            _preflight(reader, module)
            reader.read_bytes = 0  # the decoder's own reads, counted afresh
            store = module.HyperVFile(reader)
            roots = list(store.items())
            if len(roots) == 1:
                root = _add(None, roots[0][0], roots[0][1], module, 0, budget)
            else:  # several top-level keys (or none): one element holds them
                root = etree.Element("vmcx")
                for key, entry in roots:
                    _add(root, key, entry, module, 1, budget)
            objects = sorted((offset, obj.size) for offset, obj in store.file_objects.items())
            version = int(store.version)
    except HostError:
        raise
    except _Refused as exc:
        raise HostError(path, f"not a readable VMCX/VMRS key store: {exc}") from None
    except OSError as exc:
        raise HostError(path, f"cannot read it: {exc.strerror or exc}") from None
    except EOFError:  # the decoder read past the end: a bare "EOFError: " said nothing
        raise HostError(path, "not a readable VMCX/VMRS key store: it ends before the data "
                        "it points at (the file is cut short)") from None
    except Exception as exc:  # the decoder's own errors on a damaged or hostile file
        raise HostError(path, f"not a readable VMCX/VMRS key store: "
                        f"{type(exc).__name__}{f': {exc}' if str(exc) else ''}") from None
    summary = {
        "format": "Hyper-V key-value store (VMCX/VMRS)",
        "version": version,
        "keys": budget.nodes,
        "file_objects": [{"offset": offset, "size": size} for offset, size in objects],
        "decoder": "dissect.hypervisor (the hvgui[vmcx] extra)",
    }
    return root, summary
