"""The disk event log: what each operation did to files, oldest first (JSON lines)."""

from __future__ import annotations

import bisect
import json
import os
import threading
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
_TAIL = 64  # bytes compared to tell an append from a rewrite
_NO_LINKS = portable.no_follow()  # appending through a link would write outside the host


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        # What the last read parsed, so that the next parses only the lines appended since
        # (the window re-reads the log after every operation; parsing all of a big one held
        # the interpreter lock on a pool thread for 0.3 s): the file's (device, inode), the
        # offset its complete lines reached, the bytes just before it (an append leaves them
        # in place, a rewrite does not) and the events with the offsets their lines start at.
        self._lock = threading.Lock()
        self._file: tuple[int, int] | None = None
        self._parsed_to = 0
        self._tail = b""
        self._parsed: list[tuple[int, DiskEvent]] = []

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
        if not self.path.exists():
            return []
        try:
            fd = open_regular(self.path)
        except (OSError, HostError):
            return []  # not a readable log (a FIFO, a folder): nothing to show
        with os.fdopen(fd, "rb") as handle, self._lock:
            parsed = self._read_new(handle)
        return [e for _, e in parsed if vm_id is None or e.vm_id == vm_id]

    def _read_new(self, handle: BinaryIO) -> list[tuple[int, DiskEvent]]:
        """The events of the newest MAX_READ bytes with their line offsets: those parsed
        before, if the file is the one read then and only grew (by less than MAX_READ), and
        the lines after them."""
        st = os.fstat(handle.fileno())
        size = st.st_size
        first = max(0, size - MAX_READ)  # a line starting before this is left out
        appended = (
            self._file == (st.st_dev, st.st_ino) and first <= self._parsed_to <= size
            and portable.pread(handle.fileno(), len(self._tail),
                               self._parsed_to - len(self._tail)) == self._tail
        )
        if appended:
            kept = self._parsed[bisect.bisect_left(self._parsed, first, key=lambda p: p[0]):]
            handle.seek(self._parsed_to)
        else:
            kept = []
            if size > MAX_READ:  # start at the first whole line of the newest MAX_READ bytes
                handle.seek(size - MAX_READ - 1)
                if handle.read(1) != b"\n":
                    _skip_line(handle, b"")
        self._file = (st.st_dev, st.st_ino)
        unfinished: list[tuple[int, DiskEvent]] = []  # a last line without its newline yet
        at = whole_to = handle.tell()
        while line := handle.readline(MAX_LINE + 1):
            if len(line) > MAX_LINE:  # never hold an absurd line: skip to its end
                _skip_line(handle, line)
            else:
                event = _event(line)
                if event is not None:
                    (kept if line.endswith(b"\n") else unfinished).append((at, event))
            at = handle.tell()
            if line.endswith(b"\n") or (
                    len(line) > MAX_LINE and portable.pread(handle.fileno(), 1, at - 1) == b"\n"):
                whole_to = at  # the lines before this are not parsed again
        tail = min(whole_to, _TAIL)
        self._parsed_to = whole_to
        self._tail = portable.pread(handle.fileno(), tail, whole_to - tail)
        self._parsed = kept
        return kept + unfinished


def _event(line: bytes) -> DiskEvent | None:
    """The event a log line holds, or None for a torn last line after a crash, or garbage."""
    try:
        record = parse_json(line)
        if not isinstance(record, dict):
            return None
        return DiskEvent.from_json(record)
    except (ValueError, KeyError, TypeError):
        return None


def _skip_line(handle: BinaryIO, read: bytes) -> None:
    """Read on to the end of the line whose first bytes, `read`, were read already."""
    line = read
    while not line.endswith(b"\n"):
        line = handle.readline(MAX_LINE + 1)
        if not line:
            return
