"""Server 2016+ VMCX (configuration) and VMRS (runtime state) files, decoded read-only through
the optional extra `hvgui[vmcx]` (dissect.hypervisor, AGPL-3.0: kept out of the default
install and imported only here, when such a file is decoded).

Both are one key-value store: a tree of named nodes whose leaves are integers, doubles,
booleans, strings or byte arrays; large values live in "file objects" elsewhere in the file
(a VMRS's memory). The tree is turned into the same element tree as an XML configuration
(`<memory><bank><size type="integer">1024</size>...`), so the inspector's text, tree and diff
views show it as they show a configuration, and a checkpoint's VMCX diffs against the VM's.
Values stored in file objects are named with their size, never read whole.
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

from hvgui.inspect.facts import InspectError

EXTRA = "vmcx"
INSTALL_HINT = "pip install 'hvgui[vmcx]'"
MODULE = "dissect.hypervisor.descriptor.hyperv"
MAX_NODES = 200_000  # a real configuration has a few thousand keys
MAX_DEPTH = 64  # and is some ten levels deep
MAX_STRING = 1 << 20  # a string stored in a file object larger than this is named, not read


def available() -> bool:
    """Whether the extra is installed (without importing it)."""
    try:
        return importlib.util.find_spec("dissect.hypervisor") is not None
    except (ImportError, ValueError):
        return False


def missing_note(kind_name: str) -> str:
    return (f"A Windows Server 2016+ {kind_name}. hvgui decodes it with the optional extra "
            f"`{INSTALL_HINT}` (dissect.hypervisor, licensed AGPL-3.0, so not installed by "
            "default); without it the hex view shows its bytes.")


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")  # an XML element name without a prefix


def _xml_name(key: str) -> str | None:
    """`key` as an element name, or None when XML cannot name an element so."""
    return key if _NAME.match(key) else None


def _element(parent: etree._Element | None, key: str) -> etree._Element:
    name = _xml_name(key)
    tag = name or "key"
    element = etree.Element(tag) if parent is None else etree.SubElement(parent, tag)
    if name is None:
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
    if budget.nodes > MAX_NODES or depth > MAX_DEPTH:
        raise ValueError(f"more than {MAX_NODES} keys or {MAX_DEPTH} levels: not a "
                         "configuration Hyper-V writes")
    element = _element(parent, key)
    data_type = entry.type
    if data_type == module.KeyDataType.Node:
        for child_key, child in entry.children.items():
            _add(element, child_key, child, module, depth + 1, budget)
    else:
        _leaf(element, entry, data_type)
    return element


def load(path: str | os.PathLike[str]) -> tuple[etree._Element, dict[str, Any]]:
    """The file's key tree as an element tree, and a summary: the store's version, key count
    and file objects. Raises InspectError for a missing extra or an unreadable file."""
    path = Path(path)
    if not available():
        raise InspectError(path, f"decoding it needs the optional extra: {INSTALL_HINT}")
    module = importlib.import_module(MODULE)
    budget = _Budget()
    try:
        with open(path, "rb") as handle:
            store = module.HyperVFile(handle)
            roots = list(store.items())
            if len(roots) == 1:
                root = _add(None, roots[0][0], roots[0][1], module, 0, budget)
            else:  # several top-level keys (or none): one element holds them
                root = etree.Element("vmcx")
                for key, entry in roots:
                    _add(root, key, entry, module, 1, budget)
            objects = sorted((offset, obj.size) for offset, obj in store.file_objects.items())
            version = int(store.version)
    except InspectError:
        raise
    except OSError as exc:
        raise InspectError(path, f"cannot read it: {exc.strerror or exc}") from exc
    except Exception as exc:  # the decoder's own errors on a damaged or hostile file
        raise InspectError(path, f"not a readable VMCX/VMRS key store: "
                           f"{type(exc).__name__}: {exc}") from exc
    summary = {
        "format": "Hyper-V key-value store (VMCX/VMRS)",
        "version": version,
        "keys": budget.nodes,
        "file_objects": [{"offset": offset, "size": size} for offset, size in objects],
        "decoder": "dissect.hypervisor (the hvgui[vmcx] extra)",
    }
    return root, summary


def as_dict(element: etree._Element) -> dict[str, Any]:
    """The tree as nested dicts of strings (for JSON and hvctl's listing)."""
    out: dict[str, Any] = {}
    for child in element:
        key = child.get("name") or str(child.tag)
        out[key] = as_dict(child) if len(child) else (child.text or "")
    return out


def text(root: etree._Element) -> str:
    """The tree as XML text, indented as Hyper-V writes its configurations."""
    return etree.tostring(root, pretty_print=True, encoding="unicode")
