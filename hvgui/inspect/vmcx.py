"""Server 2016+ VMCX (configuration) and VMRS (runtime state) files in the inspector, decoded
read-only through the optional extra `hvgui[vmcx]` by the host's reader (hvgui/host/keystore.py:
the one place the decoder is imported, its bounds and the element tree it gives). The key tree
is shown in the same text, tree and diff views as an XML configuration, so a checkpoint's VMCX
diffs against the VM's. Values stored in file objects are named with their size, never read
whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lxml import etree

from hvgui.host import keystore
from hvgui.host.errors import HostError
from hvgui.inspect.facts import InspectError

EXTRA = keystore.EXTRA
INSTALL_HINT = keystore.INSTALL_HINT


def available() -> bool:
    """Whether the extra is installed (without importing it)."""
    return keystore.available()


def missing_note(kind_name: str) -> str:
    return (f"A Windows Server 2016+ {kind_name}. hvgui decodes it with the optional extra "
            f"`{INSTALL_HINT}` (dissect.hypervisor, licensed AGPL-3.0, so not installed by "
            "default); without it the hex view shows its bytes.")


def load(path: str | os.PathLike[str]) -> tuple[etree._Element, dict[str, Any]]:
    """The file's key tree as an element tree, and a summary: the store's version, key count
    and file objects. Raises InspectError for a missing extra or an unreadable file."""
    path = Path(path)
    if not available():
        raise InspectError(path, f"decoding it needs the optional extra: {INSTALL_HINT}")
    try:
        return keystore.load(path)
    except HostError as exc:
        raise InspectError(path, exc.problem) from None


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
