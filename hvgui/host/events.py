"""The disk event log: what each operation did to files, oldest first (JSON lines)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO

from hvgui import durable, portable
from hvgui.backend.model import DiskEvent
from hvgui.host.boundary import shared_file
from hvgui.host.errors import HostError
from hvgui.host.fileio import open_regular, parse_json

MAX_LINE = 64 * 1024
# The most of the log read: its newest lines (tens of thousands of events; a real log takes
# years of daily use to grow this far), so a huge log costs a bounded read, not a huge list.
MAX_READ = 8 << 20
_NO_LINKS = portable.no_follow()  # appending through a link would write outside the host


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, events: list[DiskEvent]) -> None:
        if not events:
            return
        text = "".join(json.dumps(e.to_json(), separators=(",", ":")) + "\n" for e in events)
        if shared_file(self.path) and not self.path.is_symlink():
            # another lab's log too (a `cp -al` copy): this host's own copy first
            with os.fdopen(open_regular(self.path), "rb") as handle:
                durable.replace_file(self.path, handle.read())
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
            size = os.fstat(fd).st_size
            if size > MAX_READ:  # start at the first whole line of the newest MAX_READ bytes
                handle.seek(size - MAX_READ - 1)
                if handle.read(1) != b"\n":
                    _skip_line(handle, b"")
            while line := handle.readline(MAX_LINE + 1):
                if len(line) > MAX_LINE:  # never hold an absurd line: skip to its end
                    _skip_line(handle, line)
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


def _skip_line(handle: BinaryIO, read: bytes) -> None:
    """Read on to the end of the line whose first bytes, `read`, were read already."""
    line = read
    while not line.endswith(b"\n"):
        line = handle.readline(MAX_LINE + 1)
        if not line:
            return
