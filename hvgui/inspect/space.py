"""Checkpoint files' sizes over time, from the host's disk event log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from hvgui.backend.formats import host_path


@dataclass(frozen=True)
class SizeSeries:
    path: PurePath  # as the host names it
    points: list[tuple[datetime, int]]  # (time, size), oldest first; 0 once merged or deleted


def space_history(events: Iterable[Any]) -> tuple[list[SizeSeries], list[tuple[datetime, int]]]:
    """Each checkpoint file's size after each event that touched it, and their running total.

    Only checkpoint files count: every AVHDX (each exists because of a checkpoint), and the
    BIN/VSV of checkpoints (in a Snapshots folder). Base disks and the VM's own memory file are
    the VM's, not its checkpoints'.
    """
    sizes: dict[PurePath, list[tuple[datetime, int]]] = {}
    current: dict[PurePath, int] = {}
    total: list[tuple[datetime, int]] = []
    for event in events:
        path = event.path if isinstance(event.path, PurePath) else host_path(str(event.path))
        suffix = path.suffix.lower()
        if suffix in (".bin", ".vsv"):
            if "Snapshots" not in path.parts:
                continue
        elif suffix not in (".avhdx", ".avhd"):
            continue
        if event.action in ("deleted", "merged"):
            size = 0
        elif event.size is not None:
            size = int(event.size)
        else:
            continue
        sizes.setdefault(path, []).append((event.time, size))
        current[path] = size
        total.append((event.time, sum(current.values())))
    series = [SizeSeries(p, pts) for p, pts in sizes.items() if p.suffix.lower() != ".bin"
              or any(s for _, s in pts)]
    return series, total
