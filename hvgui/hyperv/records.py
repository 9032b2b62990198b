"""The scripts' output contract: one JSON object per line, each a progress, result or error.

    {"Record": "progress", "Phase": "Creating Checkpoint", "PercentComplete": 37, "JobType": 70,
     "VMId": "...", "Cancellable": true}
    {"Record": "result", "Kind": "VM", "Object": {...Get-VM's properties...}}
    {"Record": "error", "FullyQualifiedErrorId": "...", "Category": "ObjectNotFound",
     "ExceptionType": "...", "Message": "...", "TargetObject": "..."}

Every transport (remote, local, lab) yields `Record`s parsed here; a line that breaks the
contract is an error naming the script and the problem, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from hvgui.backend.errors import HostError

Kind = Literal["progress", "result", "error"]
KINDS: tuple[Kind, ...] = ("progress", "result", "error")

# A ranged-read chunk is 1 MiB as base64 (1.4 MB); nothing a script prints is near 8 MiB.
MAX_LINE = 8 << 20


class RecordError(HostError):
    """A script printed something that is not a record (a broken or hostile host)."""


@dataclass(frozen=True)
class Record:
    kind: Kind
    data: dict[str, Any]

    @property
    def result_kind(self) -> str:
        return str(self.data.get("Kind", ""))

    @property
    def object(self) -> Any:
        return self.data.get("Object")


def parse_line(script: str, line: str | bytes) -> Record | None:
    """The record on one output line; None for a blank line. Windows PowerShell 5.1 may start
    its output with a byte-order mark and ends lines with CRLF: both are ignored."""
    if len(line) > MAX_LINE:
        raise RecordError(script, f"an output line of {len(line)} bytes is longer than allowed")
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RecordError(script, f"output is not UTF-8 ({exc.reason})") from None
    text = line.lstrip("\ufeff").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise RecordError(script, f"output is not a JSON record: {shorten(text)}") from None
    return to_record(script, data)


def to_record(script: str, data: Any) -> Record:
    """A decoded JSON value as a Record, or RecordError saying what is wrong with it."""
    if not isinstance(data, dict):
        raise RecordError(script, f"a record must be a JSON object, not {type(data).__name__}")
    kind = data.get("Record")
    if kind not in KINDS:
        raise RecordError(
            script, f"a record's 'Record' must be progress, result or error, not {kind!r}"
        )
    return Record(kind, data)


def shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
