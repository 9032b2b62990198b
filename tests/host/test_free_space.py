"""Free space is checked before a merge, an export, a storage move or a running VM's
checkpoint: on a real, nearly full file system the operation is refused with the numbers
("needs X, Y free on <folder>") and nothing changes; with the space back it runs."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hvgui.backend.formats import human_size
from hvgui.host import Host, freespace
from hvgui.host.errors import HostError, UnfinishedError
from hvgui.inspect import delete_preview

from .hosthelpers import MiB, contents, make_vm, write_now
from .loopfs import fill, small_filesystem

NEEDS = re.compile(r"not enough space: .+ needs [\d.]+ \w?i?B, [\d.]+ \w?i?B free on /")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with small_filesystem(tmp_path, 160) as mount:
        yield mount


def chain(root: Path) -> Host:
    """Running VM with checkpoints c1 -> c2, Now written in a block c2's disk lacks."""
    host = Host.open(root)
    make_vm(host, running=True)
    write_now(host, "web01", 0, b"first" * 1000)
    host.checkpoint_vm("web01", snapshot_name="c1")
    write_now(host, "web01", 1 * MiB, b"second" * 1000)
    host.checkpoint_vm("web01", snapshot_name="c2")
    write_now(host, "web01", 6 * MiB, b"now" * 3000)
    return host


def refused_then_done(host: Host, full: Path, operation: Callable[[], object]) -> None:
    """`operation` is refused with the numbers while `full` holds the space, and changes
    nothing; once the space is back it succeeds."""
    before = contents(host, "web01"), host.get_vm("web01").path
    with pytest.raises(HostError) as refused:
        operation()
    assert NEEDS.search(str(refused.value)), str(refused.value)
    assert (contents(host, "web01"), host.get_vm("web01").path) == before
    assert host.check() == []
    assert not [p for p in host.root.rglob("*") if p.name.endswith((".tmp", ".hvnew"))]
    full.unlink()
    operation()
    assert host.check() == []


def test_a_merge_is_refused_when_its_disk_cannot_grow(small_fs: Path) -> None:
    host = chain(small_fs / "host")
    full = fill(small_fs, leave=2 * MiB)  # the merge needs a 2 MiB block and a margin
    preview = delete_preview(host, "web01", "c2")  # the window's preview says the same
    assert not preview.enough_space
    with pytest.raises(HostError, match=f"needs {human_size(preview.free_space_needed)}, "):
        host.remove_snapshot("web01", "c2")
    refused_then_done(host, full, lambda: host.remove_snapshot("web01", "c2"))
    assert [s.name for s in host.list_snapshots("web01")] == ["c1"]


def test_a_running_vms_checkpoint_is_refused_without_room_for_its_files(small_fs: Path) -> None:
    host = chain(small_fs / "host")
    full = fill(small_fs, leave=3 * MiB)  # a new AVHDX (4 MiB) and the memory do not fit
    refused_then_done(host, full, lambda: host.checkpoint_vm("web01", snapshot_name="c3"))
    assert [s.name for s in host.list_snapshots("web01")] == ["c1", "c2", "c3"]


def test_an_export_is_refused_when_the_destination_is_too_small(
    tmp_path: Path, small_fs: Path
) -> None:
    host = chain(tmp_path / "host")
    full = fill(small_fs, leave=4 * MiB)  # the flattened disk and the memory do not fit
    refused_then_done(host, full, lambda: host.export_snapshot("web01", "c2", small_fs / "out"))
    assert (small_fs / "out" / "web01").is_dir()


def test_a_storage_move_to_another_file_system_is_refused_when_it_does_not_fit(
    tmp_path: Path, small_fs: Path
) -> None:
    host = chain(tmp_path / "host")
    host.allow_outside_folders([small_fs])  # another file system, named by the user
    full = fill(small_fs, leave=4 * MiB)
    refused_then_done(host, full, lambda: host.move_storage("web01", small_fs / "moved"))
    assert host.get_vm("web01").path == small_fs / "moved"


@pytest.mark.parametrize("side", ["forward", "stream"])
def test_a_disk_that_fills_during_a_merge_loses_nothing(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch, side: str
) -> None:
    """Another program takes the space right after the check: the merge really runs out of
    space half way. The delete is past its point of no return: c1 and Now read as before, and
    the retry, once there is space, finishes it. c2's disk holds as much as Now (the merge
    copies Now forward into it), or less (c2's 2 MiB are folded into Now, which takes its
    name)."""
    host = chain(small_fs / "host")
    host.remove_snapshot("web01", "c2")
    if side == "forward":
        write_now(host, "web01", 0, os.urandom(8 * MiB))  # as much as Now will hold
    else:
        write_now(host, "web01", 2 * MiB, os.urandom(2 * MiB))
    host.checkpoint_vm("web01", snapshot_name="c2")
    write_now(host, "web01", 8 * MiB, os.urandom(8 * MiB))
    before = contents(host, "web01")
    c1_disk = host.get_snapshot("web01", "c1").hard_drives[0].path
    c1_bytes = c1_disk.read_bytes()
    real_require = freespace.require
    fillers: list[Path] = []

    def then_fill(*args: Any) -> None:
        real_require(*args)
        fillers.append(fill(small_fs, leave=256 << 10))

    monkeypatch.setattr(freespace, "require", then_fill)
    with pytest.raises(UnfinishedError, match="No space left on device"):
        host.remove_snapshot("web01", "c2")
    monkeypatch.undo()
    assert contents(host, "web01")["Now"] == before["Now"]
    assert c1_disk.read_bytes() == c1_bytes
    fillers[0].unlink()
    result = host.remove_snapshot("web01", "c2")  # the retry
    assert any("completed" in w for w in result.warnings)
    merged = [e.detail for e in host.events("web01") if e.action == "merged"]
    assert ("which took its name" in merged[-1]) == (side == "stream")
    assert contents(host, "web01") == {k: v for k, v in before.items() if k != "c2"}
    assert c1_disk.read_bytes() == c1_bytes
    assert host.check() == []
    assert not [p for p in host.root.rglob("*") if p.name.endswith((".tmp", ".hvnew"))]


def test_a_streamed_merge_needs_room_for_the_parents_blocks_only(tmp_path: Path) -> None:
    """The parent holds 2 MiB, the child 8 MiB: the merge folds the parent into the child,
    which grows by the parent's one block (a forward merge would need the child's four)."""
    from hvgui import vhdx

    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    vhdx.create_dynamic(base, 16 * MiB, block_size=2 * MiB)
    with vhdx.open_disk(base, writable=True) as disk:
        disk.write(0, os.urandom(2 * MiB))
    vhdx.create_differencing(child, base, block_size=2 * MiB)
    with vhdx.open_disk(child, writable=True) as disk:
        disk.write(8 * MiB, os.urandom(8 * MiB))
    growth = freespace.merge_growth(child, base)
    assert growth == 2 * MiB
    size = child.stat().st_size
    assert vhdx.merge_vhd(child, base).streamed
    assert base.stat().st_size - size <= growth
