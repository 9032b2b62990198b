"""The disk event log: what each operation did to files, oldest first (JSON lines)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hvgui import durable, portable
from hvgui.host.errors import HostError
from hvgui.host.fileio import open_regular, parse_json
from hvgui.host.model import DiskEvent

MAX_LINE = 64 * 1024
_NO_LINKS = portable.no_follow()  # appending through a link would write outside the host


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, events: list[DiskEvent]) -> None:
        if not events:
            return
        text = "".join(json.dumps(e.to_json(), separators=(",", ":")) + "\n" for e in events)
        durable.append(self.path, text.encode("utf-8"), lambda p, f: open_regular(p, f | _NO_LINKS))

    def read(self, vm_id: str | None = None) -> list[DiskEvent]:
        out: list[DiskEvent] = []
        if not self.path.exists():
            return out
        try:
            fd = open_regular(self.path)
        except (OSError, HostError):
            return out  # not a readable log (a FIFO, a folder): nothing to show
        with os.fdopen(fd, "rb") as handle:
            while line := handle.readline(MAX_LINE + 1):
                if len(line) > MAX_LINE:  # never hold an absurd line: skip to its end
                    while line and not line.endswith(b"\n"):
                        line = handle.readline(MAX_LINE + 1)
                    continue
                try:
                    record = parse_json(line)
                    if not isinstance(record, dict):
                        continue
                    event = DiskEvent.from_json(record)
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash, or garbage: skip it
                if vm_id is None or event.vm_id == vm_id:
                    out.append(event)
        return out
