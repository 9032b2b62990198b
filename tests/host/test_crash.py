"""Kill tests: an operation killed with SIGKILL at spread-out moments; the host reopens
(completing or rolling back the operation), passes its check, and every checkpoint and Now
read as before the operation or as after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hvgui.host import Host

from .hosthelpers import MiB, contents, make_vm, write_now

WORKER = Path(__file__).with_name("crash_worker.py")
MARK = 3 * MiB  # a memory address the guest wrote before the operation
KILL_AT = (0.0, 0.15, 0.35, 0.55, 0.75, 0.9, 1.0)  # fractions of the operation's duration
QUICK_KILL_AT = (0.05, 0.4, 0.75, 1.0)  # the default run: fewer moments, still spread out


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


def run_worker(root: Path, operation: str, argument: str, delay: float | None) -> float:
    """Run the operation; kill it `delay` seconds after it starts (None: let it finish)."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(root), operation, argument],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "go", proc.stderr.read() if proc.stderr else ""
    if delay is None:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        return float(out.split()[-1])  # the operation's own duration, as the worker measured it
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return delay


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
    kill_and_verify(tmp_path, operation, argument, merge_bytes=24 * MiB, kill_at=QUICK_KILL_AT)


@pytest.mark.slow
@pytest.mark.parametrize(("operation", "argument"), [("delete", "c2"), ("move", "moved")])
def test_killed_big_merge_leaves_a_consistent_host(
    tmp_path: Path, operation: str, argument: str
) -> None:
    kill_and_verify(tmp_path, operation, argument, merge_bytes=320 * MiB, kill_at=KILL_AT)


def kill_and_verify(
    tmp_path: Path, operation: str, argument: str, merge_bytes: int, kill_at: tuple[float, ...]
) -> None:
    def arg_for(root: Path) -> str:
        return str(root / "moved-storage") if operation == "move" else argument

    reference = tmp_path / "reference" / "host"
    host = build(reference, merge_bytes)
    before, after = expected_outcomes(host, operation, argument, tmp_path)
    duration = run_worker(reference, operation, arg_for(reference), None)
    host = Host.open(reference)
    assert contents(host, "web01") == after and host.check() == []
    outcomes = []
    for i, fraction in enumerate(kill_at):
        root = tmp_path / f"kill{i}" / "host"
        before, after = expected_outcomes(build(root, merge_bytes), operation, argument, tmp_path)
        run_worker(root, operation, arg_for(root), duration * fraction)
        host = Host.open(root)  # completes or rolls back the interrupted operation
        assert host.check() == [], f"killed at {duration * fraction:.3f}s"
        now = contents(host, "web01")
        assert now in (before, after), (
            f"killed at {duration * fraction:.3f}s: {now} is neither before nor after"
        )
        vm = host.get_vm("web01")
        if operation == "move":  # contents never change: where the VM lives tells
            assert vm.path in (root, root / "moved-storage")
            outcomes.append("after" if vm.path != root else "before")
        else:
            outcomes.append("after" if now == after and now != before else "before")
        if vm.state == "Running":
            assert host.read_memory("web01", MARK, 11) == b"memory mark"
        assert not list(host.layout.journal_dir.iterdir())
    print(operation, "outcomes:", outcomes, f"(operation takes {duration:.3f}s)")
