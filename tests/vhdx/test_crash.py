"""A write interrupted after any of its file writes leaves a file that opens cleanly and
reads each sector as either its old or its new content (the allocation order at work)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hvgui.vhdx import MiB, VhdxImage, create_differencing, create_dynamic, create_fixed, open_disk


class Crash(Exception):
    pass


def _setup(tmp_path: Path, kind: str) -> Path:
    if kind in ("fixed", "dynamic"):
        path = tmp_path / "d.vhdx"
        (create_fixed if kind == "fixed" else create_dynamic)(path, 8 * MiB, block_size=1 * MiB)
        with open_disk(path, writable=True) as disk:
            disk.write(0, b"\x01" * 3 * MiB)
        return path
    parent = tmp_path / "p.vhdx"
    create_dynamic(parent, 8 * MiB, block_size=1 * MiB)
    with open_disk(parent, writable=True) as disk:
        disk.write(0, b"\x01" * 8 * MiB)
    path = tmp_path / "c.avhdx"
    create_differencing(path, parent, block_size=1 * MiB)
    if kind == "differencing-partial":
        with open_disk(path, writable=True) as disk:
            disk.write(2 * MiB + 4096, b"\x02" * 4096)
    return path


@pytest.mark.parametrize("kind", ["fixed", "dynamic", "differencing-new", "differencing-partial"])
def test_interrupted_writes_never_corrupt(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pristine = _setup(tmp_path, kind)
    with open_disk(pristine) as disk:
        old = disk.read(0, disk.size)
    offset, data = 2 * MiB - 1536, b"\xee" * (MiB + 3072)  # spans two blocks, partly new
    work = tmp_path / "work" / pristine.name
    work.parent.mkdir()
    for other in pristine.parent.glob("p.vhdx"):
        shutil.copy(other, work.parent / other.name)
    new = _merged(old, offset, data)
    real = VhdxImage._pwrite_all
    crashed_at_least_once = False
    for limit in range(0, 40):
        shutil.copy(pristine, work)
        calls = 0

        def counted(self: VhdxImage, buf: bytes, pos: int, limit: int = limit) -> None:
            nonlocal calls
            if calls >= limit:
                raise Crash
            calls += 1
            real(self, buf, pos)

        monkeypatch.setattr(VhdxImage, "_pwrite_all", counted)
        try:
            with open_disk(work, writable=True) as disk:
                disk.write(offset, data)
            finished = True
        except Crash:
            finished = False
            crashed_at_least_once = True
        monkeypatch.setattr(VhdxImage, "_pwrite_all", real)
        with open_disk(work) as disk:
            now = disk.read(0, disk.size)
            disk.block_sources()
        assert (
            now[:offset] == old[:offset] and now[offset + len(data) :] == old[offset + len(data) :]
        )
        for s in range(offset - offset % 512, offset + len(data), 512):
            sector = now[s : s + 512]
            assert sector in (old[s : s + 512], new[s : s + 512]), (limit, s)
        if finished:
            assert now == new
            break
    assert crashed_at_least_once and finished


def _merged(old: bytes, offset: int, data: bytes) -> bytes:
    new = bytearray(old)
    new[offset : offset + len(data)] = data
    return bytes(new)
