"""Decoding one file into JSON-ready facts (VHDX via the engine, XML, BIN/VSV via the host), and
the settings diff of two configurations. XML text is capped; nothing is read whole."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgui.errors import HvError
from hvgui.host import savedstate
from hvgui.host.checkpoints import derive_parent
from hvgui.host.xmlconfig import ConfigDoc, detect_encoding, is_config_file
from hvgui.inspect import vmcx
from hvgui.inspect.facts import (
    AVHDX,
    BIN,
    VHD,
    VHDX,
    VMCX,
    VMGS,
    VMRS,
    VSV,
    XML,
    XML_TEXT_LIMIT,
    InspectError,
    file_facts,
    identify,
)
from hvgui.vhdx import dump_vhd, dump_vhdx, test_vhd, walk_chain

_NOT_DECODED = {
    VMCX: vmcx.missing_note("VM configuration (VMCX), the binary key-value store that replaced "
                            "the XML configuration"),
    VMRS: vmcx.missing_note("runtime state file (VMRS): memory and device state, which "
                            "replaced the BIN and VSV files"),
    VMGS: "A Windows Server 2016+ guest state file (VMGS). The format is not documented: "
    "recognised, not decoded. The hex view shows its bytes.",
}
KEY_STORES = (VMCX, VMRS)  # decoded through the hvgui[vmcx] extra, shown as configurations


# -- inspect one file --


@dataclass(frozen=True)
class SettingChange:
    """A configuration setting that differs between two XML files (None = absent there)."""
    path: str
    left: str | None
    right: str | None


def read_text_capped(path: Path, limit: int = XML_TEXT_LIMIT) -> tuple[str, bool]:
    """The file's text (its encoding detected as the host reads configurations; at most `limit`
    bytes) and whether it was cut. A VMCX/VMRS gives its key tree's text."""
    if identify(path) in KEY_STORES:
        whole = vmcx.text(vmcx.load(path)[0])
        return whole[:limit], len(whole) > limit
    with open(path, "rb") as handle:
        raw = handle.read(limit + 1)
    truncated = len(raw) > limit
    raw = raw[:limit]
    codec, _, mark = detect_encoding(raw[:4])
    encoding = codec or "utf-8"
    raw = raw[mark:]
    if encoding.startswith("utf-16") and len(raw) % 2:
        raw = raw[:-1]
    return raw.decode(encoding, errors="replace"), truncated


def inspect_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the inspector knows about one file, JSON-ready.

    Keys: path, kind, label, decoded (bool), file (sizes, read-only, times), and per kind:
    `vhdx` (the engine's dump) + `findings` (Test-VHD over the chain); `xml` (summary);
    `saved_state` (decoded header and sections); `note` for formats shown but not decoded.
    A file that cannot be decoded gets `error`: the problem in words (never an exception,
    except for a file that does not exist).
    """
    path = Path(path)
    facts = file_facts(path)
    if not facts.exists:
        raise InspectError(path, "the file does not exist")
    out: dict[str, Any] = {
        "path": str(path),
        "kind": facts.kind,
        "label": facts.label,
        "decoded": False,
        "file": {
            "size": facts.size,
            "size_on_disk": facts.size_on_disk,
            "read_only": facts.read_only,
            "modified": facts.modified.isoformat() if facts.modified else None,
            "accessed": facts.accessed.isoformat() if facts.accessed else None,
            "changed": facts.changed.isoformat() if facts.changed else None,
        },
        "error": facts.problem,
    }
    if facts.problem:  # not a regular file, or unreadable: nothing more can be learnt
        return out
    try:
        if facts.kind in (VHDX, AVHDX):
            out.update(_inspect_vhdx(path))
        elif facts.kind == XML:
            out.update(_inspect_xml(path))
        elif facts.kind in (BIN, VSV):
            out.update(_inspect_saved_state(path))
        elif facts.kind in KEY_STORES and vmcx.available():
            tree, summary = vmcx.load(path)
            out.update({"decoded": True, "vmcx": summary, "vmcx_tree": vmcx.as_dict(tree)})
            if facts.kind == VMCX and tree.find("properties/global_id") is not None:
                # a VM's or checkpoint's configuration: summed up as an XML one is
                try:
                    out.update(_inspect_xml(path))
                except HvError as exc:  # its key tree is shown all the same
                    out["note"] = f"Not readable as a VM's configuration: {exc.problem}"
        elif facts.kind in (VMCX, VMRS, VMGS):
            out["note"] = _NOT_DECODED[facts.kind]
        elif facts.size == 0:
            out["note"] = ("The file is empty (0 bytes): there is nothing to decode. A disk, "
                           "configuration or saved state left empty was cut off before its "
                           "first write.")
        elif facts.kind == VHD:
            out.update(_inspect_vhd(path))
        else:
            out["note"] = "Not a file type hvgui knows: shown in hex only."
    except HvError as exc:
        out["error"] = exc.problem
    except (OSError, ValueError) as exc:
        out["error"] = f"cannot read it: {getattr(exc, 'strerror', None) or exc}"
    return out


def _inspect_vhdx(path: Path) -> dict[str, Any]:
    return {"decoded": True, "vhdx": dump_vhdx(path), **_chain_facts(path)}


def _inspect_vhd(path: Path) -> dict[str, Any]:
    """A legacy VHD: footer, dynamic header, locators and BAT (the engine's dump), then the
    same Test-VHD findings and chain as a VHDX."""
    return {"decoded": True, "vhd": dump_vhd(path), **_chain_facts(path)}


def _chain_facts(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    try:
        findings = [
            {
                "severity": f.severity,
                "code": f.code,
                "message": f.message,
                "path": str(f.path),
            }
            for f in test_vhd(path)
        ]
    except HvError as exc:
        findings = [{"severity": "error", "code": type(exc).__name__, "message": exc.problem,
                     "path": exc.subject}]
    result["findings"] = findings
    # Every file below, as far as they exist: the break may be further down than the parent.
    result["chain"] = [
        {"path": str(link.path), "exists": link.exists, "problem": link.problem,
         "code": link.code}
        for link in walk_chain(path)
    ]
    return result


def _inspect_xml(path: Path) -> dict[str, Any]:
    doc = ConfigDoc.load(path)
    derived = derive_parent(doc)  # a real host's file names no parent checkpoint
    summary: dict[str, Any] = {
        "kind": "checkpoint configuration" if doc.is_snapshot else "VM configuration",
        "name": doc.name,
        "id": doc.id,
        "generation": doc.generation,
        "version": doc.version,
        "created": doc.creation_time.isoformat(),
        "memory_startup_mb": doc.memory_mb,
        "processor_count": doc.processor_count,
        "checkpoint_type": doc.checkpoint_type,
        "encoding": doc.encoding,
    }
    if doc.is_snapshot:
        summary["checkpoint"] = {
            "vm_id": doc.snapshot_vm_id,
            "type": doc.snapshot_type,
            "parent_checkpoint_id": doc.snapshot_parent_id,
            "created": doc.snapshot_creation_time.isoformat(),
            "vm_state_when_taken": doc.snapshot_vm_state,
        }
        if derived:
            summary["checkpoint"]["parent_from"] = DERIVED
    else:
        summary["parent_checkpoint_id"] = doc.parent_snapshot_id
        if derived:
            summary["parent_from"] = DERIVED
        summary["checkpoints"] = doc.snapshot_ids
        summary["merge_pending"] = doc.merge_pending
    summary["drives"] = [
        {"slot": f"{d.controller_type} {d.controller_number}:{d.controller_location}",
         "type": d.kind, "path": d.path}
        for d in doc.drives()
    ]
    return {"decoded": True, "xml": summary}


# Where a parent checkpoint shown comes from when the file names none (a real host's).
DERIVED = "the disk chain (the file names no parent checkpoint)"

# The BIN's touched-memory runs listed at most (the count is always given).
MAX_RUNS_LISTED = 256


def _inspect_saved_state(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        magic = handle.read(8)
    if magic == savedstate.BIN_MAGIC:
        return {"decoded": True, "saved_state": _describe_bin(path)}
    return {"decoded": True, "saved_state": _describe_vsv(path)}


# What each BIN region holds, for the reader of the inspector.
_BIN_MEANINGS = {
    "chunk bitmap": "one bit per 1 MiB chunk of guest memory: 1 = saved in this file",
    "memory data": "chunk n at data_offset + n MiB; untouched chunks are holes",
}


def _pending_meaning(pending: savedstate.PendingWrite | None) -> str:
    if pending is None:
        return "empty: no write is half done"
    return (f"a logged write of {pending.length} bytes at guest offset {pending.guest_offset:#x}"
            " (its writer stopped before finishing): readers apply it over the data")


def _describe_bin(path: Path) -> dict[str, Any]:
    with savedstate.BinFile(path) as memory:
        info = memory.info()
        pending = memory.pending_write()
        regions = memory.sections()
        runs: list[dict[str, int | str]] = []
        count = 0
        for first, length in memory.touched_runs():
            count += 1
            if len(runs) < MAX_RUNS_LISTED:
                runs.append({
                    "name": f"memory {first * info.chunk_size:#x}",
                    "guest_address": first * info.chunk_size,
                    "length": length * info.chunk_size,
                    "offset": info.data_offset + first * info.chunk_size,
                })
    sections: list[dict[str, Any]] = []
    for region in regions[1:]:  # the header is described on its own below
        entry: dict[str, Any] = {"name": region.name, "offset": region.offset,
                                 "length": region.length}
        if region.name == "pending-write record":
            entry["meaning"] = _pending_meaning(pending)
            entry["pending_write"] = (
                None if pending is None
                else {"guest_offset": pending.guest_offset, "length": pending.length})
        else:
            entry["meaning"] = _BIN_MEANINGS.get(region.name, "")
        sections.append(entry)
    return {
        "format": "hvgui BIN (saved memory), version 1",
        "header": {
            "offset": 0,
            "magic": savedstate.BIN_MAGIC.decode(),
            "memory_size": info.memory_size,
            "chunk_size": info.chunk_size,
            "chunk_count": info.chunk_count,
            "touched_chunks": info.touched_chunks,
            "touched_bytes": info.touched_bytes,
            "data_offset": info.data_offset,
            "crc_ok": True,
        },
        "sections": sections,
        "touched_runs": {"count": count, "listed": runs},
    }


def _describe_vsv(path: Path) -> dict[str, Any]:
    state = savedstate.read_vsv(path)  # validates magic, CRCs and layout
    header, *regions = savedstate.vsv_sections(path)
    sections = [
        {"name": r.name, "type": r.kind, "offset": r.offset, "length": r.length,
         "crc32c": f"{r.crc32c or 0:#010x}", "crc_ok": True}
        for r in regions
    ]
    return {
        "format": f"hvgui VSV (device state), version {savedstate.FORMAT_VERSION}",
        "header": {"offset": 0, "length": header.length, "magic": savedstate.VSV_MAGIC.decode(),
                   "section_count": len(regions), "file_length": path.stat().st_size,
                   "crc_ok": True},
        "sections": sections,
        "processors": [
            {"name": f"vCPU {n}", **{k: f"{v:#018x}" for k, v in registers.items()}}
            for n, registers in enumerate(state.processors)
        ],
        "devices": state.devices,
        "guest_bytes": len(state.guest),
    }


# -- XML settings and their diff ---------------------------------------------------------------

# A Hyper-V folder keeps the VMs' configurations in one folder and the checkpoints' in the
# other: a configuration is compared with those beside it and those in the other folder.
_CONFIG_FOLDERS = {"virtual machines": "Snapshots", "snapshots": "Virtual Machines"}
MAX_DIFF_TARGETS = 50


def configurations_near(path: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """(title, path) of the configurations (XML or VMCX) a lone configuration file can be
    compared with: its folder's, then the other Hyper-V configuration folder's."""
    path = Path(path)
    folders = [(path.parent, "same folder")]
    other = _CONFIG_FOLDERS.get(path.parent.name.lower())
    if other is not None:
        folders.append((path.parent.parent / other, other))
    found: list[tuple[str, Path]] = []
    for folder, where in folders:
        try:
            names = sorted(folder.iterdir())
        except OSError:
            continue
        found += [(f"{p.name} ({where})", p) for p in names
                  if is_config_file(p) and p != path and p.is_file()]
    return found[:MAX_DIFF_TARGETS]


def load_xml_tree(path: str | os.PathLike[str]) -> Any:
    """The parsed configuration (an lxml element), through the host's hardened parser; a
    VMCX/VMRS's key tree as the same kind of element tree."""
    if identify(path) in KEY_STORES:
        return vmcx.load(path)[0]
    return ConfigDoc.load(Path(path)).root


def xml_settings(path: str | os.PathLike[str]) -> dict[str, str]:
    """Every leaf setting of a configuration file: `settings/memory/bank/size` -> `"1024"`."""
    root = load_xml_tree(path)
    out: dict[str, str] = {}

    def walk(element: Any, prefix: str) -> None:
        children = [c for c in element if isinstance(c.tag, str)]
        if not children:
            out[prefix] = (element.text or "").strip()
            return
        counts: dict[str, int] = {}
        for child in children:
            name = str(child.tag)
            counts[name] = counts.get(name, 0) + 1
            key = f"{prefix}/{name}" if counts[name] == 1 else f"{prefix}/{name}[{counts[name]}]"
            walk(child, key.lstrip("/"))

    walk(root, "")
    return out


def settings_diff(
    left: str | os.PathLike[str], right: str | os.PathLike[str]
) -> list[SettingChange]:
    """Settings that differ between two configuration files, in path order."""
    a, b = xml_settings(left), xml_settings(right)
    return [
        SettingChange(key, a.get(key), b.get(key))
        for key in sorted(a.keys() | b.keys())
        if a.get(key) != b.get(key)
    ]
