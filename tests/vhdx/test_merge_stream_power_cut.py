"""A streamed merge (merge.py) cut by a power cut between any two of its durable calls:
what was not flushed is lost, or reaches the disk in part and out of order
(tests/vhdx/powercut.py). Without a rerun every disk reads what it read, or the
destination already holds the merged view; the rerun (the host's journal recovery) then
completes the merge, with nothing left behind."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from hvgui.vhdx import merge_vhd
from tests.vhdx.powercut import PowerCut, recorded
from tests.vhdx.test_merge_stream import check_merged, make, view

SEEDS = (None, 1, 2)  # nothing unflushed kept; random parts of it kept


def cut_and_recover(tmp_path: Path, parent_kind: str, seeds: tuple[int | None, ...],
                    monkeypatch: pytest.MonkeyPatch) -> int:
    """Cut the stream at every durable call with each seed's loss; returns the cut points."""
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
                merge_vhd(child, parent, direction="stream")
            if not rec.cut:
                shutil.rmtree(run)
                return limit
            rec.rebuild(seed)
            at = f"cut before durable call {limit + 1}, seed {seed}"
            assert view(g) == s["grandchild_view"], at
            if child.exists():
                assert view(child) == s["merged"], at
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
