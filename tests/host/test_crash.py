"""Kill tests: an operation killed with SIGKILL at known points of its journal (the worker kills
itself from the journal's fault hook: before the commit record, before each action, inside a
merge, after the last action); the host reopens, rolling back what was not committed and
forward what was, passes its check, and every checkpoint and Now read as before the operation
or, from the commit record on, as after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hvgui.host import Host
from hvgui.host.layout import Layout

from .hosthelpers import MiB, contents, make_vm, write_now

WORKER = Path(__file__).with_name("crash_worker.py")
MARK = 3 * MiB  # a memory address the guest wrote before the operation


def build(root: Path, merge_bytes: int) -> Host:
    """Running VM with checkpoints c1 -> c2, then `merge_bytes` written to Now: deleting c2
    merges that much into c2's disk; applying c1 discards it."""
    host = Host.open(root)
    make_vm(host, disk=max(16 * MiB, 2 * merge_bytes), running=True)
    write_now(host, "web01", 0, b"first" * 1000)
    host.write_memory("web01", MARK, b"memory mark")
    host.checkpoint_vm("web01", snapshot_name="c1")
    write_now(host, "web01", 1 * MiB, b"second" * 1000)
    host.checkpoint_vm("web01", snapshot_name="c2")
    chunk = os.urandom(4 * MiB)
    for offset in range(0, merge_bytes, len(chunk)):
        write_now(host, "web01", offset, chunk[: min(len(chunk), merge_bytes - offset)])
    write_now(host, "web01", 2 * MiB, b"now" * 3000)
    return host


def run_worker(root: Path, operation: str, argument: str, kill_at: str) -> tuple[int, str]:
    """Run the operation in a child process that kills itself where `kill_at` says
    (crash_worker.py's HVGUI_KILL_AT); `count` runs it whole. (return code, stdout)"""
    done = subprocess.run(
        [sys.executable, str(WORKER), str(root), operation, argument],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, HVGUI_KILL_AT=kill_at),
    )
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode, done.stdout


def kill_points(points: list[str], every: bool) -> list[str]:
    """HVGUI_KILL_AT values for the journal points a whole run went through: every one, or
    the first and last of each run of one kind (all the kinds, both ends of each)."""
    chosen = [
        f"{point}:{i}" for i, point in enumerate(points)
        if every or i in (0, len(points) - 1)
        or points[i - 1] != point or points[i + 1] != point
    ]
    if "merge" in points:
        chosen += [f"merge@{f}" for f in ((0.25, 0.5, 0.75) if every else (0.5,))]
        # The merge of these hosts streams (c2's disk holds less than Now): its own steps.
        chosen += ["stream@marked", "stream@placed", "stream@renamed"]
    return chosen


def journal_records(host_root: Path) -> list[dict[str, object]]:
    folder = Layout(host_root).journal_dir
    return [json.loads(p.read_text()) for p in folder.glob("*.json")]


def expected_outcomes(
    host: Host, operation: str, argument: str, tmp: Path
) -> tuple[dict[str, str], dict[str, str]]:
    before = contents(host, "web01")
    after = dict(before)
    if operation == "checkpoint":
        after[argument] = before["Now"]
    elif operation == "apply":
        after["Now"] = before[argument]
    elif operation == "delete":
        del after[argument]
    return before, after


@pytest.mark.parametrize(
    ("operation", "argument"),
    [("checkpoint", "c3"), ("apply", "c1"), ("delete", "c2"), ("move", "moved")],
)
def test_killed_operation_leaves_a_consistent_host(
    tmp_path: Path, operation: str, argument: str
) -> None:
    kill_and_verify(tmp_path, operation, argument, merge_bytes=8 * MiB, every=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("operation", "argument"),
    [("checkpoint", "c3"), ("apply", "c1"), ("delete", "c2"), ("move", "moved")],
)
def test_killed_at_every_journal_point_leaves_a_consistent_host(
    tmp_path: Path, operation: str, argument: str
) -> None:
    # a merge over several of its write-back steps (32 MiB), a move copying a few
    merge_bytes = {"delete": 128 * MiB, "move": 64 * MiB}.get(operation, 8 * MiB)
    kill_and_verify(tmp_path, operation, argument, merge_bytes=merge_bytes, every=True)


def kill_and_verify(
    tmp_path: Path, operation: str, argument: str, merge_bytes: int, every: bool
) -> None:
    """A whole run counts the journal's points; then, for each chosen point, a fresh host
    whose operation is killed exactly there must reopen as before the operation (killed
    before the commit record) or as after it (killed at or past it: the actions roll
    forward, a merge cut half-way included)."""
    def arg_for(root: Path) -> str:
        return str(root / "moved-storage") if operation == "move" else argument

    reference = tmp_path / "reference" / "host"
    host = build(reference, merge_bytes)
    before, after = expected_outcomes(host, operation, argument, tmp_path)
    code, out = run_worker(reference, operation, arg_for(reference), "count")
    host = Host.open(reference)
    assert code == 0 and contents(host, "web01") == after and host.check() == []
    points = next(line.split()[1:] for line in out.splitlines() if line.startswith("points "))
    assert "commit" in points and points[-1] == "done"
    outcomes = []
    for i, kill_at in enumerate(kill_points(points, every)):
        root = tmp_path / f"kill{i}" / "host"
        before, after = expected_outcomes(build(root, merge_bytes), operation, argument, tmp_path)
        code, _ = run_worker(root, operation, arg_for(root), kill_at)
        assert code == -signal.SIGKILL, f"{kill_at}: the operation was not killed there"
        (record,) = journal_records(root)  # the kill left the operation's journal behind
        committed = not kill_at.startswith(("created:", "commit:"))
        assert record["committed"] is committed, kill_at
        host = Host.open(root)  # completes or rolls back the interrupted operation
        assert host.check() == [], f"killed at {kill_at}"
        now = contents(host, "web01")
        assert now == (after if committed else before), f"killed at {kill_at}: {now}"
        vm = host.get_vm("web01")
        if operation == "move":  # contents never change: where the VM lives tells
            assert vm.path == (root / "moved-storage" if committed else root), kill_at
        if vm.state == "Running":
            assert host.read_memory("web01", MARK, 11) == b"memory mark"
        assert not list(host.layout.journal_dir.iterdir())
        outcomes.append(f"{kill_at}={'after' if committed else 'before'}")
    print(operation, "killed at", len(outcomes), "points:", " ".join(outcomes))
