"""The inspector's structural dump of a VHDX file, a view of its survey (info.py): every
structure as decoded, damaged ones included, and every problem found."""

from __future__ import annotations

import json
import os
from typing import Any

from hvgui.vhdx import format as F
from hvgui.vhdx.info import (
    Survey,
    linkage_matches,
    locator_candidates,
    resolve_parent,
    survey,
)
from hvgui.vhdx.structures import Header

_BITMAP_STATES = {F.SB_BLOCK_NOT_PRESENT: "NOT_PRESENT", F.SB_BLOCK_PRESENT: "PRESENT"}
_NO_HEADER = Header(0, F.NULL_GUID, F.NULL_GUID, F.NULL_GUID, 0, 0, version=0)


def dump_vhdx(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the file inspector shows about one VHDX, JSON-ready. Works on damaged files:
    what can be decoded is shown and every problem is listed under "problems"."""
    s = survey(path)
    m = s.metadata
    out: dict[str, Any] = {
        "path": str(s.path),
        "file_size": s.file_size,
        "file_type": {"signature_ok": s.identifier is not None,
                      "creator": "" if s.identifier is None else s.identifier.creator},
        "headers": [_dump_header(s, n) for n in range(len(s.header_slots))],
        "region_table": [
            {
                "slot": t.slot,
                "valid": t.valid,
                "entries": [
                    {"guid": str(e.guid).upper(), "name": e.name, "offset": e.file_offset,
                     "length": e.length, "required": e.required}
                    for e in t.table.entries
                ],
            }
            for t in s.region_slots
        ],
        "metadata": [
            {
                "guid": str(e.item_id).upper(),
                "name": F.KNOWN_METADATA.get(e.item_id, "unknown"),
                "offset": e.offset,
                "length": e.length,
                "flags": {"is_user": e.is_user, "is_virtual_disk": e.is_virtual_disk,
                          "is_required": e.is_required},
                "value": m.values.get(i),
            }
            for i, e in enumerate(m.entries)
        ],
        "disk": {
            "type": s.disk_type,
            "virtual_size": m.virtual_size,
            "block_size": m.block_size,
            "logical_sector_size": m.logical_sector_size,
            "physical_sector_size": m.physical_sector_size,
            "disk_identifier": None if m.page83 is None else str(m.page83).upper(),
        },
        "parent_locator": _dump_locator(s),
        "bat": _dump_bat(s),
        "log": _dump_log(s),
        "problems": [
            {"severity": p.severity, "code": p.code, "message": p.message} for p in s.problems
        ],
    }
    json.dumps(out)  # fail here, not in the UI, if anything is not JSON-ready
    return out


def _dump_header(s: Survey, index: int) -> dict[str, Any]:
    slot = s.header_slots[index]
    h = slot.header or _NO_HEADER
    return {
        "slot": slot.slot,
        "offset": slot.offset,
        "current": s.current is slot,
        "signature_ok": slot.signature_ok,
        "crc_ok": slot.crc_ok,
        "checksum": f"0x{h.checksum:08X}",
        "sequence": h.sequence_number,
        "file_write_guid": str(h.file_write_guid),
        "data_write_guid": str(h.data_write_guid),
        "log_guid": str(h.log_guid),
        "log_version": h.log_version,
        "version": h.version,
        "log_length": h.log_length,
        "log_offset": h.log_offset,
    }


def _dump_locator(s: Survey) -> dict[str, Any] | None:
    locator = s.metadata.locator
    if locator is None:
        return None
    resolved = resolve_parent(s.path, locator.entries)
    linkage: bool | None = None
    if resolved is not None:
        linkage = linkage_matches(locator.entries, survey(resolved, bat=False))
    return {
        "type": str(locator.type).upper(),
        "entries": dict(locator.entries),
        "candidates": [str(p) for p in locator_candidates(s.path, locator.entries)],
        "resolved": None if resolved is None else str(resolved),
        "linkage_ok": linkage,
    }


def _dump_bat(s: Survey) -> dict[str, Any] | None:
    scan = s.bat
    if scan is None or s.regions is None or s.regions.bat is None:
        return None
    g = scan.geometry
    bitmap: dict[str, int] = {}
    if g.has_parent:
        bitmap = {_BITMAP_STATES.get(k, f"RESERVED_{k}"): n
                  for k, n in scan.bitmap_counts().items()}
    return {
        "offset": s.regions.bat.file_offset,
        "entries": g.total_entries,
        "payload_blocks": g.payload_blocks,
        "chunk_ratio": g.chunk_ratio,
        "counts": {F.PAYLOAD_STATE_NAMES.get(k, f"RESERVED_{k}"): n
                   for k, n in scan.payload_counts().items()},
        "bitmap_counts": bitmap,
        "fragmentation_percentage": scan.fragmentation(),
    }


def _dump_log(s: Survey) -> dict[str, Any]:
    header = s.header
    if header is None:
        return {"state": "unknown (no valid header)"}
    entries = 0 if s.log_plan is None else len(s.log_plan.entries)
    empty = header.log_guid == F.NULL_GUID or entries == 0
    return {
        "offset": header.log_offset,
        "length": header.log_length,
        "guid": str(header.log_guid),
        "state": "empty (nothing to replay)" if empty
        else "NOT EMPTY: must be replayed before the BAT and metadata can be trusted "
        "(replayed in memory for this view)",
        "entries_to_replay": entries,
    }
