"""A streamed merge (merge.py) cut by a power cut between any two of its durable calls:
what was not flushed is lost, or reaches the disk in part and out of order
(tests/vhdx/powercut.py). Without a rerun every disk reads what it read, or the
destination already holds the merged view; the rerun (the host's journal recovery) then
completes the merge, with nothing left behind. The same for a forward merge, by each of its
ways of writing the child's blocks into the parent: O_DIRECT from the mapped child
(vhdx/direct_copy.py) and the kernel copy (the parent's own view may be half-changed while
it copies: only the child's chain must read the same, as merge.py's step 2 says).

The slow test also cuts the power of a real ext4 (loop-mounted, shut down) at the same
calls. That one cannot show a missing fsync between two writes of one file (ext4 writes
them together), which the simulation does: remove the absorb's data fsync and it fails."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from hvgui.vhdx import merge_vhd
from tests.vhdx.powercut import PowerCut, recorded
from tests.vhdx.test_kernel_copy import force_direct, no_direct
from tests.vhdx.test_merge_stream import check_merged, make, view

SEEDS = (None, 1, 2)  # nothing unflushed kept; random parts of it kept


def cut_and_recover(tmp_path: Path, parent_kind: str, seeds: tuple[int | None, ...],
                    monkeypatch: pytest.MonkeyPatch, direction: str = "stream") -> int:
    """Cut the merge at every durable call with each seed's loss; returns the cut points."""
    template = tmp_path / "template"
    s = make(template, parent_kind, child_writes=8)
    names = {k: Path(str(v)).name for k, v in s.items() if isinstance(v, Path)}
    for limit in range(200):
        for seed in seeds:
            run = tmp_path / "run"
            shutil.copytree(template, run)
            here = {k: run / n for k, n in names.items()}
            parent, child, g = here["parent"], here["child"], here["grandchild"]
            with (monkeypatch.context() as patch, recorded(run, limit, patch) as rec,
                  contextlib.suppress(PowerCut)):
                merge_vhd(child, parent, direction=direction)
            if not rec.cut:
                shutil.rmtree(run)
                return limit
            rec.rebuild(seed)
            at = f"cut before durable call {limit + 1}, seed {seed}"
            assert view(g) == s["grandchild_view"], at
            if child.exists():
                assert view(child) == s["merged"], at
                if direction == "stream":
                    assert view(parent) in (s["parent_view"], s["merged"]), at
                merge_vhd(child, parent)  # as the host's journal recovery does
            else:
                assert view(parent) == s["merged"], at
            check_merged({**s, **here}, interop=limit % 5 == 0 and seed is None)
            assert sorted(p.name for p in run.iterdir()) == sorted(
                {n for k, n in names.items() if k != "child"}), at
            shutil.rmtree(run)
    pytest.fail("the merge never finished")


@pytest.mark.parametrize("parent_kind", ["base", "differencing"])
def test_a_power_cut_anywhere_in_a_stream_loses_nothing(
    tmp_path: Path, parent_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = cut_and_recover(tmp_path, parent_kind, (None,), monkeypatch)
    assert points >= 15  # every step of the protocol has its own durable calls


@pytest.mark.slow
@pytest.mark.parametrize("parent_kind", ["base", "differencing"])
def test_a_power_cut_anywhere_in_a_stream_with_writes_out_of_order_loses_nothing(
    tmp_path: Path, parent_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = cut_and_recover(tmp_path, parent_kind, (*SEEDS, 3, 4, 5), monkeypatch)
    print(parent_kind, "parent:", points, "cut points x", len(SEEDS) + 3, "losses")


@pytest.fixture(params=["direct", "kernel"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The forward merge's data path: O_DIRECT from the child's pages, or the kernel copy."""
    if request.param == "direct":
        force_direct(monkeypatch, tmp_path)
    else:
        no_direct(monkeypatch)
    return str(request.param)


@pytest.mark.parametrize("parent_kind", ["base", "differencing"])
def test_a_power_cut_anywhere_in_a_forward_merge_loses_nothing(
    tmp_path: Path, parent_kind: str, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = cut_and_recover(tmp_path, parent_kind, (None,), monkeypatch, "forward")
    assert points >= 10


@pytest.mark.slow
@pytest.mark.parametrize("parent_kind", ["base", "differencing"])
def test_a_power_cut_anywhere_in_a_forward_merge_with_writes_out_of_order_loses_nothing(
    tmp_path: Path, parent_kind: str, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = cut_and_recover(tmp_path, parent_kind, (*SEEDS, 3, 4, 5), monkeypatch, "forward")
    print(parent_kind, way, "forward:", points, "cut points x", len(SEEDS) + 3, "losses")


def test_the_simulated_cut_loses_what_was_not_flushed_in_any_part_and_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness itself: a write flushed survives; two writes after it may both be lost,
    or only the first, or only the second (the reordering a missing fsync would let
    through); a rename not followed by an fsync of the folder may be lost."""
    import os

    (tmp_path / "f").write_bytes(bytes(3 * 4096))
    with (monkeypatch.context() as patch, recorded(tmp_path, 2, patch) as rec,
          contextlib.suppress(PowerCut)):
        fd = os.open(tmp_path / "f", os.O_RDWR)
        try:
            os.pwrite(fd, b"A" * 4096, 0)
            os.fsync(fd)
            os.pwrite(fd, b"B" * 4096, 4096)
            os.pwrite(fd, b"C" * 4096, 8192)
            os.rename(tmp_path / "f", tmp_path / "g")
            os.fsync(fd)  # call 3: the cut
        finally:
            os.close(fd)
    assert rec.cut
    seen = set()
    for seed in (None, *range(20)):
        rec.rebuild(seed)
        (name,) = [p.name for p in tmp_path.iterdir()]
        data = (tmp_path / name).read_bytes()
        assert data[:4096] == b"A" * 4096
        seen.add((name, data[4096:4097], data[8192:8193]))
    assert {(b, c) for _, b, c in seen} == {(b"\0", b"\0"), (b"B", b"\0"), (b"\0", b"C"),
                                           (b"B", b"C")}
    assert {n for n, _, _ in seen} == {"f", "g"}


# --- the same cut points on a real file system ----------------------------------------------
# The kill script of test_merge_stream, shutting the disks' file system down as a power cut
# would before it dies: what ext4's journal has not committed is lost.

@pytest.mark.slow
@pytest.mark.parametrize("direction", ["stream", "forward"])
@pytest.mark.parametrize("parent_kind", ["base", "differencing"])
def test_a_real_power_cut_at_every_durable_call_of_a_merge_loses_nothing(
    tmp_path: Path, parent_kind: str, direction: str
) -> None:
    """On ext4 the forward merge writes the child's whole blocks with O_DIRECT."""
    import os
    import subprocess
    import sys

    from tests.host.loopfs import make_image, mount_image, unmount
    from tests.vhdx.test_merge_stream import KILL_SCRIPT, REPO

    image, mount = tmp_path / "fs.img", tmp_path / "mnt"
    make_image(image, 128)
    mount.mkdir()
    mount_image(image, mount)
    try:
        s = make(mount / "lab", parent_kind, child_writes=8)
    finally:
        unmount(mount)
    names = {k: Path(str(v)).name for k, v in s.items() if isinstance(v, Path)}
    for limit in range(200):
        cut = tmp_path / "cut.img"
        subprocess.run(["cp", "--sparse=always", str(image), str(cut)], check=True)
        mount_image(cut, mount)
        try:
            here = {k: mount / "lab" / n for k, n in names.items()}
            parent, child = here["parent"], here["child"]
            done = subprocess.run(
                [sys.executable, "-c", KILL_SCRIPT, str(child), str(parent), str(limit),
                 str(mount), direction], cwd=REPO, capture_output=True, timeout=300)
            assert done.returncode in (0, 9), done.stderr.decode()
        finally:
            unmount(mount)
        mount_image(cut, mount)  # replays the journal, as after a reboot
        try:
            at = f"power cut before durable call {limit + 1}"
            assert view(here["grandchild"]) == s["grandchild_view"], at
            if child.exists():
                assert view(child) == s["merged"], at
                if direction == "stream":
                    assert view(parent) in (s["parent_view"], s["merged"]), at
                merge_vhd(child, parent)
            else:
                assert view(parent) == s["merged"], at
            check_merged({**s, **here}, interop=False)
        finally:
            unmount(mount)
            os.unlink(cut)
        if done.returncode == 0:
            assert limit >= (15 if direction == "stream" else 10)
            return
    pytest.fail("the merge never finished")
