"""The disk event log read again and again (the window re-reads it after every operation):
each read shows exactly what a first read of the file shows, and parses only the lines
appended since the one before, whatever happened to the file meanwhile."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hvgui.backend.model import DiskEvent
from hvgui.host import events
from hvgui.host.events import EventLog


def event(n: int, vm: str = "vm-1") -> DiskEvent:
    return DiskEvent(datetime(2026, 12, 6, 10, 0, n % 60, tzinfo=UTC), "Checkpoint", vm,
                     "created", Path(f"/lab/disk{n}.avhdx"), n, f"event {n}")


def details(found: list[DiskEvent]) -> list[str]:
    return [e.detail for e in found]


def fresh(path: Path) -> list[str]:
    """What a reader that never read the log before finds."""
    return details(EventLog(path).read())


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The lines parsed, in order."""
    lines: list[bytes] = []
    real = events.parse_json

    def counting(data: bytes | str) -> Any:
        lines.append(data if isinstance(data, bytes) else data.encode())
        return real(data)

    monkeypatch.setattr(events, "parse_json", counting)
    return lines


def test_a_second_read_parses_only_the_lines_appended_since(
    tmp_path: Path, parsed: list[bytes]
) -> None:
    path = tmp_path / "events.jsonl"
    window, other = EventLog(path), EventLog(path)  # the other: hvctl, another window
    other.append([event(1), event(2), event(3)])
    assert details(window.read()) == ["event 1", "event 2", "event 3"]
    parsed.clear()
    other.append([event(4), event(5, vm="vm-2")])
    assert details(window.read()) == fresh(path) == [f"event {n}" for n in range(1, 6)]
    assert len(parsed) == 2 + 5  # the two new lines, then the fresh reader's five
    assert details(window.read("vm-2")) == ["event 5"]


def test_a_log_rewritten_or_replaced_is_read_whole_again(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append([event(1), event(2)])
    assert details(log.read()) == ["event 1", "event 2"]
    # rewritten in place, longer (same file): its lines are not the ones read
    replacement = EventLog(tmp_path / "other.jsonl")
    replacement.append([event(7), event(8), event(9)])
    with open(path, "r+b") as f:
        f.write((tmp_path / "other.jsonl").read_bytes())
    assert details(log.read()) == fresh(path) == ["event 7", "event 8", "event 9"]
    # replaced by another file (a new inode), shorter
    os.replace(tmp_path / "other.jsonl", path)
    with open(path, "r+b") as f:
        f.truncate(len(f.readline()))
    assert details(log.read()) == fresh(path) == ["event 7"]


def test_a_last_line_without_its_newline_is_shown_once_and_read_again_when_whole(
    tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append([event(1), event(2)])
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])  # the newline of the last line not written (yet)
    assert details(log.read()) == fresh(path) == ["event 1", "event 2"]
    with open(path, "ab") as f:
        f.write(b"\n")
    EventLog(path).append([event(3)])
    assert details(log.read()) == fresh(path) == ["event 1", "event 2", "event 3"]
    # a torn line (a crash mid-write), then more appended after it
    with open(path, "ab") as f:
        f.write(whole[: len(whole) // 3])
    assert details(log.read()) == fresh(path) == ["event 1", "event 2", "event 3"]
    EventLog(path).append([event(4)])
    assert details(log.read()) == fresh(path) == ["event 1", "event 2", "event 3"]
    EventLog(path).append([event(5)])
    assert details(log.read()) == fresh(path) == ["event 1", "event 2", "event 3", "event 5"]


def test_only_the_newest_bytes_are_read_however_the_log_grew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parsed: list[bytes]
) -> None:
    path = tmp_path / "events.jsonl"
    log, other = EventLog(path), EventLog(path)
    other.append([event(0)])
    line = len(path.read_bytes())
    monkeypatch.setattr(events, "MAX_READ", 3 * line + line // 2)  # three lines and a half
    n = 1
    for grow in (1, 2, 1, 5, 1, 9, 2):  # by less and by more than the window between reads
        other.append([event(n + i) for i in range(grow)])
        n += grow
        parsed.clear()
        seen = details(log.read())
        assert len(parsed) <= 4  # never more than the window, however much was appended
        assert seen == fresh(path) == [f"event {i}" for i in range(max(0, n - 3), n)]


def test_an_absurd_line_is_skipped_once(tmp_path: Path, parsed: list[bytes]) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append([event(1)])
    with open(path, "ab") as f:
        f.write(b"x" * (events.MAX_LINE + 10) + b"\n")
    EventLog(path).append([event(2)])
    assert details(log.read()) == ["event 1", "event 2"]
    parsed.clear()
    EventLog(path).append([event(3)])
    assert details(log.read()) == fresh(path) == ["event 1", "event 2", "event 3"]
    assert len(parsed) == 1 + 3
