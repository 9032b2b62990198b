"""Merge-VHD: the merged chain reads exactly what the child read, with independent readers as
oracles, grandchildren re-pointed, and nothing lost when the merge is killed at any moment."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hvgui.progress import Cancelled, CancelToken
from hvgui.vhdx import (
    MiB,
    ParentMismatchError,
    VhdxError,
    create_differencing,
    create_dynamic,
    create_fixed,
    get_vhd,
    merge_vhd,
    open_disk,
    set_read_only,
    test_vhd,
)
from tests.vhdx.helpers import (
    build_chain,
    pyvhdi_raw,
    qemu_check,
    qemu_raw,
    scattered_writes,
    sevenzip_raw,
)

REPO = Path(__file__).resolve().parents[2]


def view(path: Path) -> bytes:
    with open_disk(path) as disk:
        return disk.read(0, disk.size)


def write_all(path: Path, writes: list[tuple[int, bytes]]) -> None:
    with open_disk(path, writable=True) as disk:
        for offset, data in writes:
            disk.write(offset, data)


def errors(path: Path) -> list[str]:
    return [f.message for f in test_vhd(path) if f.severity == "error"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_merge_into_a_dynamic_base_keeps_the_childs_view(tmp_path: Path, seed: int) -> None:
    chain, model = build_chain(tmp_path, 24 * MiB, [4 * MiB, 1 * MiB], seed=seed)
    child, base = chain
    assert view(child) == model
    result = merge_vhd(child)
    assert result.destination == base and result.merged == [child]
    assert not child.exists()
    assert view(base) == model
    # Independent readers agree, and qemu finds nothing wrong with the merged base.
    qemu_check(base)
    assert qemu_raw(base) == model
    assert errors(base) == []


def test_merge_into_a_fixed_base(tmp_path: Path) -> None:
    base, child = tmp_path / "fixed.vhdx", tmp_path / "child.avhdx"
    create_fixed(base, 12 * MiB, block_size=1 * MiB)
    write_all(base, scattered_writes(12 * MiB, 6, seed=5))
    create_differencing(child, base)
    write_all(child, scattered_writes(12 * MiB, 20, seed=6))
    before = view(child)
    merge_vhd(child)
    assert view(base) == before
    assert get_vhd(base).vhd_type == "Fixed"
    assert qemu_raw(base) == before


def test_merge_into_a_differencing_parent_sets_its_bitmaps(tmp_path: Path) -> None:
    chain, model = build_chain(tmp_path, 16 * MiB, [2 * MiB, 1 * MiB, 2 * MiB], seed=9)
    leaf, middle, base = chain
    merge_vhd(leaf)
    assert view(middle) == model
    # libvhdi reads the merged differencing disk over its (unchanged) base the same way.
    assert pyvhdi_raw([middle, base]) == model
    assert errors(middle) == []


def test_merge_several_levels_into_the_base_repoints_the_grandchild(tmp_path: Path) -> None:
    chain, _ = build_chain(tmp_path, 16 * MiB, [1 * MiB, 2 * MiB, 1 * MiB, 4 * MiB], seed=4)
    leaf, upper, lower, base = chain
    grandchild = tmp_path / "grandchild.avhdx"
    create_differencing(grandchild, leaf)
    set_read_only(leaf, True)
    write_all(grandchild, scattered_writes(16 * MiB, 10, seed=44))
    before_leaf, before_grandchild = view(leaf), view(grandchild)
    result = merge_vhd(leaf, base)
    assert result.merged == [leaf, upper, lower]
    assert result.repointed == [grandchild]
    assert not any(p.exists() for p in (leaf, upper, lower))
    assert view(base) == before_leaf
    assert view(grandchild) == before_grandchild
    with open_disk(grandchild) as disk:
        assert disk.chain == [grandchild, base]
    assert pyvhdi_raw([grandchild, base]) == before_grandchild
    assert sevenzip_raw(grandchild) == before_grandchild
    assert errors(grandchild) == []
    # The base still has a child, so it stays read-only as Hyper-V keeps parents.
    assert not os.access(base, os.W_OK) or os.geteuid() == 0
    assert get_vhd(grandchild).parent_path == str(base.resolve())


def test_a_grandchild_in_another_folder_is_repointed_when_named(tmp_path: Path) -> None:
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    create_dynamic(base, 8 * MiB, block_size=1 * MiB)
    create_differencing(child, base)
    write_all(child, scattered_writes(8 * MiB, 8, seed=3))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    grandchild = elsewhere / "g.avhdx"
    create_differencing(grandchild, child)
    write_all(grandchild, scattered_writes(8 * MiB, 8, seed=4))
    expected = view(grandchild)
    result = merge_vhd(child, children=[grandchild])
    assert result.repointed == [grandchild]
    assert view(grandchild) == expected


def test_merge_refuses_when_another_disk_depends_on_an_intermediate(tmp_path: Path) -> None:
    chain, _ = build_chain(tmp_path, 8 * MiB, [1 * MiB, 1 * MiB, 1 * MiB], seed=2)
    leaf, middle, base = chain
    branch = tmp_path / "branch.avhdx"
    create_differencing(branch, middle)
    before = view(branch), view(leaf)
    with pytest.raises(VhdxError, match=r"branch\.avhdx also depends on this disk"):
        merge_vhd(leaf, base)
    assert (view(branch), view(leaf)) == before


def test_a_sibling_of_the_merged_disk_is_reported_broken(tmp_path: Path) -> None:
    base = tmp_path / "base.vhdx"
    create_dynamic(base, 8 * MiB, block_size=1 * MiB)
    one, two = tmp_path / "one.avhdx", tmp_path / "two.avhdx"
    create_differencing(one, base)
    create_differencing(two, base)
    write_all(one, [(0, b"\x01" * 4096)])
    merge_vhd(one)
    with pytest.raises(ParentMismatchError):
        open_disk(two)
    assert any(f.code == "linkage-mismatch" for f in test_vhd(two))


def test_merge_refuses_a_disk_without_parent_and_a_wrong_destination(tmp_path: Path) -> None:
    base = tmp_path / "base.vhdx"
    create_dynamic(base, 8 * MiB)
    with pytest.raises(VhdxError, match="not a differencing disk"):
        merge_vhd(base)
    other = tmp_path / "other.vhdx"
    create_dynamic(other, 8 * MiB)
    child = tmp_path / "child.avhdx"
    create_differencing(child, base)
    with pytest.raises(VhdxError, match="not an ancestor"):
        merge_vhd(child, other)


def test_cancel_leaves_a_chain_that_reads_the_same_and_a_rerun_completes(tmp_path: Path) -> None:
    chain, model = build_chain(tmp_path, 32 * MiB, [1 * MiB, 1 * MiB], writes_per_level=40)
    child, base = chain
    token = CancelToken()
    phases: list[str] = []

    def progress(fraction: float, phase: str) -> None:
        phases.append(phase)
        if fraction > 0.3:
            token.cancel()

    with pytest.raises(Cancelled):
        merge_vhd(child, progress=progress, cancel=token)
    assert set(phases) == {"Merge in progress"}
    assert view(child) == model
    assert errors(child) == []
    assert "merge-interrupted" in {f.code for f in test_vhd(child)}
    merge_vhd(child)
    assert view(base) == model


def test_progress_reaches_the_end(tmp_path: Path) -> None:
    chain, _ = build_chain(tmp_path, 8 * MiB, [1 * MiB, 1 * MiB])
    seen: list[float] = []
    merge_vhd(chain[0], progress=lambda f, _p: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


# --- killed at any instant ---------------------------------------------------------------------

# The script says "ready" once imported, so that kill times count from the merge's start. With
# "step" it also prints each progress fraction and waits for a line on stdin before going on,
# so that a kill can land exactly at a chosen point of the copy, whatever the machine's load.
_MERGE_SCRIPT = """
import sys
from hvgui.vhdx import merge_vhd
def step(fraction, phase):
    print(fraction, flush=True)
    sys.stdin.readline()
print("ready", flush=True)
merge_vhd(sys.argv[1], progress=step if sys.argv[2] == "step" else None)
"""


def _start_merge(child: Path, mode: str = "run") -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", _MERGE_SCRIPT, str(child), mode], cwd=REPO,
                            stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


def _kill_during_merge(child: Path, *, after_progress: float | None, delay: float) -> bool:
    """Start a merge in a subprocess and SIGKILL it: when its progress first passes
    `after_progress` (it waits there), or `delay` s after it starts. True if it had finished
    before the kill."""
    proc = _start_merge(child, "run" if after_progress is None else "step")
    assert proc.stdout is not None and proc.stdin is not None
    if after_progress is not None:
        for line in proc.stdout:
            if float(line) > after_progress:
                break
            proc.stdin.write(b"\n")
            proc.stdin.flush()
    time.sleep(delay)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        stream.close()
    return finished


def _digest(path: Path) -> str:
    with open_disk(path) as disk:
        h = hashlib.sha256()
        for offset in range(0, disk.size, 8 * MiB):
            h.update(disk.read(offset, 8 * MiB))
        return h.hexdigest()


def _template(folder: Path, changed: int) -> tuple[Path, Path, Path]:
    """base <- child (with `changed` bytes of new blocks and scattered writes) <- grandchild."""
    folder.mkdir()
    size = 2 * changed
    base, child, grandchild = folder / "b.vhdx", folder / "c.avhdx", folder / "g.avhdx"
    create_dynamic(base, size, block_size=8 * MiB)
    write_all(base, scattered_writes(size, 20, seed=1))
    create_differencing(child, base)
    set_read_only(base, True)
    with open_disk(child, writable=True) as disk:
        piece = os.urandom(4 * MiB)
        for offset in range(size // 4, size // 4 + changed, 4 * MiB):
            disk.write(offset, piece[:8] + offset.to_bytes(8, "little") + piece[16:])
        for offset, data in scattered_writes(size, 30, seed=2):
            disk.write(offset, data)
    create_differencing(grandchild, child)
    set_read_only(child, True)
    write_all(grandchild, scattered_writes(size, 10, seed=3))
    return base, child, grandchild


def _copy_folder(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=lambda a, b: shutil.copy2(a, b))


def _crash_test(tmp_path: Path, changed: int, points: int) -> None:
    template = tmp_path / "template"
    base, child, grandchild = _template(template, changed)
    expected = _digest(grandchild)
    expected_child = _digest(child)
    # Time one undisturbed merge to spread the kills over its whole duration.
    timing = tmp_path / "timing"
    _copy_folder(template, timing)
    proc = _start_merge(timing / child.name)
    assert proc.stdin is not None
    proc.stdin.close()
    start = time.perf_counter()
    assert proc.wait() == 0
    duration = time.perf_counter() - start
    assert proc.stdout is not None
    proc.stdout.close()
    assert _digest(timing / grandchild.name) == expected
    # Kill points: moments of the copy chosen by progress, moments in time, and moments just
    # after the copy (BAT entries, re-pointing the grandchild, deleting the child).
    schedule: list[tuple[float | None, float]] = [
        (0.95 * i / points, 0.0) if i % 2 == 0 else (None, duration * i / points)
        for i in range(points)
    ]
    # Just after the copy: before its fsync and BAT entries, and (unpaused) shortly after.
    schedule += [(0.9499, 0.0), (None, duration * 0.97), (None, duration * 1.2)]
    outcomes = []
    for i, (after, delay) in enumerate(schedule):
        run = tmp_path / f"run{i}"
        _copy_folder(template, run)
        finished = _kill_during_merge(run / child.name, after_progress=after, delay=delay)
        # Whatever state the kill left, the grandchild's chain opens and reads the same bytes,
        # and so does the child while it still exists.
        assert _digest(run / grandchild.name) == expected, f"killed at {after}, {delay:.3f}s"
        if (run / child.name).exists():
            assert _digest(run / child.name) == expected_child
            merge_vhd(run / child.name)  # a rerun completes the merge
        assert not (run / child.name).exists()
        assert _digest(run / grandchild.name) == expected
        assert _digest(run / base.name) == expected_child
        assert errors(run / grandchild.name) == []
        outcomes.append(finished)
        shutil.rmtree(run)
    assert not all(outcomes), "every merge finished before the kill: the test proved nothing"


def test_merge_killed_at_spread_out_moments_loses_nothing(tmp_path: Path) -> None:
    _crash_test(tmp_path, changed=64 * MiB, points=4)


@pytest.mark.slow
def test_merge_of_200_mib_killed_at_many_moments_loses_nothing(tmp_path: Path) -> None:
    _crash_test(tmp_path, changed=200 * MiB, points=12)


@pytest.mark.parametrize("seed", range(8))
def test_random_chains_merged_into_a_random_ancestor(tmp_path: Path, seed: int) -> None:
    """Random depth, block and sector sizes, write histories and destination: the leaf (or its
    grandchild) reads the same before and after, and the result passes Test-VHD."""
    import random

    rng = random.Random(seed)
    size = rng.choice([6, 9, 16]) * MiB
    sector = rng.choice([512, 4096])
    base = tmp_path / "base.vhdx"
    if rng.random() < 0.3:
        create_fixed(base, size, block_size=rng.choice([1, 2]) * MiB, logical_sector_size=sector)
    else:
        create_dynamic(base, size, block_size=rng.choice([1, 2, 4, 32]) * MiB,
                       logical_sector_size=sector)
    chain = [base]
    for level in range(rng.randrange(1, 5)):
        if level:
            child = tmp_path / f"c{level}.avhdx"
            create_differencing(child, chain[-1], block_size=rng.choice([1, 2, 4]) * MiB)
            set_read_only(chain[-1], True)
            chain.append(child)
        write_all(chain[-1], scattered_writes(size, rng.randrange(1, 25), seed * 10 + level))
    if len(chain) == 1:
        chain.append(tmp_path / "c1.avhdx")
        create_differencing(chain[-1], base)
        write_all(chain[-1], scattered_writes(size, 9, seed))
    leaf = chain[-1]
    grandchild = None
    if rng.random() < 0.5:
        grandchild = tmp_path / "g.avhdx"
        create_differencing(grandchild, leaf)
        set_read_only(leaf, True)
        write_all(grandchild, scattered_writes(size, 5, seed + 99))
    destination = rng.choice(chain[:-1])
    before_leaf = view(leaf)
    before_grandchild = view(grandchild) if grandchild else None
    result = merge_vhd(leaf, destination)
    assert result.destination == destination
    assert view(destination) == before_leaf
    if grandchild is not None:
        assert result.repointed == [grandchild]
        assert view(grandchild) == before_grandchild
        assert errors(grandchild) == []
    else:
        assert errors(destination) == []
    if destination == base and sector == 512:
        assert qemu_raw(base) == before_leaf


def test_a_disk_full_during_the_merge_is_a_clean_error_and_a_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from hvgui.vhdx import VhdxError
    from hvgui.vhdx import pieces as pieces_module

    chain, model = build_chain(tmp_path, 16 * MiB, [1 * MiB, 1 * MiB], writes_per_level=30)
    child, base = chain
    real_copy = pieces_module.copy_range
    calls = [0]

    def filling_up(*args: int) -> int:
        calls[0] += 1
        if calls[0] > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_copy(*args)

    monkeypatch.setattr(pieces_module, "copy_range", filling_up)
    with pytest.raises(VhdxError, match="the merge stopped: No space left on device"):
        merge_vhd(child)
    assert view(child) == model
    monkeypatch.setattr(pieces_module, "copy_range", real_copy)
    merge_vhd(child)
    assert view(base) == model and not child.exists()


def test_a_forward_merge_killed_in_its_copy_leaves_no_unused_space_behind(
    tmp_path: Path
) -> None:
    """Killed after its copy, before the BAT entries that make it the destination's, a merge
    leaves blocks nothing points at; the rerun gives them back before it allocates, so the
    merged disk is as big as an uninterrupted merge makes it, however often it is cut."""
    template = tmp_path / "template"
    template.mkdir()
    base, child = template / "b.vhdx", template / "c.avhdx"
    create_dynamic(base, 64 * MiB, block_size=8 * MiB)
    write_all(base, [(0, os.urandom(MiB)), (40 * MiB, os.urandom(24 * MiB))])  # holds more
    create_differencing(child, base)
    set_read_only(base, True)
    write_all(child, [(16 * MiB, os.urandom(16 * MiB))])  # blocks the base lacks
    whole = tmp_path / "whole"
    _copy_folder(template, whole)
    assert not merge_vhd(whole / child.name).streamed
    size = (whole / base.name).stat().st_size
    run = tmp_path / "run"
    _copy_folder(template, run)
    for _ in range(3):  # each run's copy lies where the last one's did: none piles up
        assert not _kill_during_merge(run / child.name, after_progress=0.9499, delay=0.0)
        assert (run / base.name).stat().st_size == size
    assert not merge_vhd(run / child.name).streamed
    assert (run / base.name).stat().st_size == size
    qemu_check(run / base.name)
