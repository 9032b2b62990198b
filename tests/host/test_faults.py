"""Fault injection: ENOSPC and EIO at the I/O points of every operation that changes disks.

For each operation the host is built once and copied back before each fault. A reference run
counts the I/O points (faults.py) and records what every checkpoint and Now read afterwards.
Then the Nth point fails. Afterwards the host reopens (completing or rolling back), test-host
is clean, the VM reads exactly as before or as after, every checkpoint still listed reads as
before and its disk file is byte for byte the same and read-only, the guest's memory is there,
no `*.tmp`/`*.hvnew` is left, and an operation undone runs again without faults.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hvgui import vhdx
from hvgui.errors import HvError
from hvgui.host import Host
from hvgui.host.errors import HostError

from .faults import Plan, injected
from .hosthelpers import MARK, MiB, build_chain, contents, digest, now_disk, write_now

Op = Callable[[Host, Path], object]


def build_pending(root: Path) -> None:
    """c1 has two children (c2's disk and Now after applying c1), then c1 is deleted: its disk
    waits to be merged; applying c2 discards Now and so resolves the pending merge."""
    build_chain(root)
    host = Host.open(root)
    host.restore_snapshot("web01", "c1")
    write_now(host, "web01", 4 * MiB, b"after apply" * 500)
    host.remove_snapshot("web01", "c1")
    assert host.get_vm("web01").merge_pending


OPERATIONS: dict[str, tuple[Callable[[Path], None], Op]] = {
    "checkpoint": (build_chain, lambda h, _: h.checkpoint_vm("web01", snapshot_name="c3")),
    "apply": (build_chain, lambda h, _: h.restore_snapshot("web01", "c1")),
    "apply-resolving-merge": (build_pending, lambda h, _: h.restore_snapshot("web01", "c2")),
    "delete-leaf-merge": (build_chain, lambda h, _: h.remove_snapshot("web01", "c2")),
    "delete-middle": (build_chain, lambda h, _: h.remove_snapshot("web01", "c1")),
    "delete-pending": (build_pending, lambda h, _: h.remove_snapshot("web01", "c2")),
    "export": (build_chain, lambda h, out: h.export_snapshot("web01", "c1", out / "export")),
    "move": (build_chain, lambda h, out: h.move_storage("web01", h.root / "moved")),
}


@dataclass
class Snapshot:
    """What the host looks like: contents, checkpoints' disk files and where the VM lives."""

    contents: dict[str, str]
    disks: dict[str, tuple[Path, str]]  # checkpoint -> (its disk file, hash of the file)
    vm_path: Path
    exported: str | None  # what an export's flattened disk reads, if there is an export


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def look(host: Host) -> Snapshot:
    disks = {}
    for snap in host.list_snapshots("web01"):
        path = snap.hard_drives[0].path
        disks[snap.name] = (path, file_hash(path))
    exported = None
    export = host.root.parent / "export"
    if export.exists():
        (folder,) = export.iterdir()  # nothing half-made beside the export
        exported = digest(next((folder / "Virtual Hard Disks").iterdir()))
        assert Host.open(folder, create=False).check() == []
    return Snapshot(contents(host, "web01"), disks, host.get_vm("web01").path, exported)


class Bench:
    """One operation's host, built once and put back before each fault."""

    def __init__(self, base: Path, operation: str) -> None:
        self.build, self.op = OPERATIONS[operation]
        self.work = base / "work"  # same absolute paths every time: configurations hold them
        self.root = self.work / "host"
        self.saved = base / "saved"
        self.build(self.root)
        subprocess.run(["cp", "-a", "--sparse=always", str(self.work), str(self.saved)],
                       check=True)
        self.before = look(Host.open(self.root))
        plan = Plan(fail_at=0, code=errno.EIO)
        with injected(pytest.MonkeyPatch(), plan):
            self.op(Host.open(self.root), self.work)
        self.points = {errno.EIO: plan.count}
        self.after = look(Host.open(self.root))
        self.restore()
        plan = Plan(fail_at=0, code=errno.ENOSPC)
        with injected(pytest.MonkeyPatch(), plan):
            self.op(Host.open(self.root), self.work)
        self.points[errno.ENOSPC] = plan.count
        self.retried = 0  # faults whose unfinished operation a retry in the window completed

    def restore(self) -> None:
        shutil.rmtree(self.work)
        subprocess.run(["cp", "-a", "--sparse=always", str(self.saved), str(self.work)],
                       check=True)

    def fault(self, monkeypatch: pytest.MonkeyPatch, plan: Plan, retry_here: bool) -> str:
        """Inject `plan`, then check the host; returns "before" or "after" (what it became).
        With `retry_here`, an operation left unfinished is completed by the user's retry in
        the same window; otherwise by reopening the host."""
        self.restore()
        host = Host.open(self.root)
        # The operation stops with one clear message (or completes, past a late fault).
        with injected(monkeypatch, plan), contextlib.suppress(HvError, OSError):
            self.op(host, self.work)
        where = f"{os.strerror(plan.code)} at {plan.fail_at} ({plan.failed[:1]})"
        if retry_here and list(host.layout.journal_dir.glob("*.json")):
            self.retry(host)
            self.retried += 1
        else:
            host = Host.open(self.root)  # completes or rolls back
        assert host.check() == [], where
        now = look(host)
        assert now.contents in (self.before.contents, self.after.contents), where
        def seen(s: Snapshot) -> object:  # a merge writes fresh GUIDs: file hashes differ
            return s.contents, {k: v[0] for k, v in s.disks.items()}, s.vm_path, s.exported

        outcome = "after" if seen(now) == seen(self.after) else "before"
        expected = self.after if outcome == "after" else self.before
        assert (now.disks.keys(), now.vm_path, now.exported) == (
            expected.disks.keys(), expected.vm_path, expected.exported), where
        for name, (path, hashed) in now.disks.items():
            old_path, old_hash = self.before.disks.get(name, (path, hashed))
            if path == old_path:  # a checkpoint's disk file never changes (merged: contents)
                assert hashed == old_hash, f"{where}: checkpoint {name}'s disk changed"
            assert not path.stat().st_mode & 0o222, f"{where}: {name}'s disk is writable"
        assert host.get_vm("web01").state == "Running", where
        assert host.read_memory("web01", MARK, 11) == b"memory mark", where
        litter = [p for p in self.work.rglob("*")
                  if p.name.endswith((".tmp", ".hvnew", ".export-partial"))]
        assert not litter, f"{where}: left behind {litter}"
        assert not list(host.layout.journal_dir.iterdir()), where
        if outcome == "before":  # undone completely: it runs again
            self.op(host, self.work)
            assert look(Host.open(self.root)).contents == self.after.contents, where
        return outcome


    def retry(self, host: Host) -> None:
        """The same operation again; when what it names is already gone (a delete whose
        configurations were renamed before the fault), the VM's next action finishes it."""
        try:
            self.op(host, self.work)
        except HostError as exc:
            if "no checkpoint with this name" not in str(exc):
                raise
            host.open_vm_disk("web01").close()


def spread(total: int, count: int) -> list[int]:
    """`count` fault points spread over 1..total, first and last included."""
    if total <= count:
        return list(range(1, total + 1))
    return sorted({1 + round(i * (total - 1) / (count - 1)) for i in range(count)})


def run_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str, per_kind: int | None
) -> None:
    bench = Bench(tmp_path, operation)
    tally: dict[str, int] = {}
    for code, sticky in ((errno.ENOSPC, True), (errno.EIO, False)):
        total = bench.points[code]
        points = range(1, total + 1) if per_kind is None else spread(total, per_kind)
        for n in points:
            plan = Plan(fail_at=n, code=code, sticky=sticky)
            outcome = bench.fault(monkeypatch, plan, retry_here=n % 2 == 0)
            tally[outcome] = tally.get(outcome, 0) + 1
    print(f"{operation}: points ENOSPC {bench.points[errno.ENOSPC]}, EIO {bench.points[errno.EIO]};"
          f" outcomes {tally}, {bench.retried} finished by a retry in the same window")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_fault_anywhere_leaves_before_or_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    run_faults(tmp_path, monkeypatch, operation, per_kind=4)


@pytest.mark.slow
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_fault_at_every_point_leaves_before_or_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    run_faults(tmp_path, monkeypatch, operation, per_kind=None)


def built(tmp_path: Path, build: Callable[[Path], None]) -> Host:
    build(tmp_path / "host")
    return Host.open(tmp_path / "host")


def first_write_fails(monkeypatch: pytest.MonkeyPatch, call: Callable[[], object]) -> str:
    """Run `call` with the disk full from its first merge write on; returns the error."""
    plan = Plan(fail_at=1, code=errno.ENOSPC, sticky=True)
    with pytest.raises(HvError) as caught, monkeypatch.context() as patch:
        real_merge = vhdx.merge_vhd

        def full_disk_merge(*args: Any, **kwargs: Any) -> Any:
            with injected(patch, plan):
                return real_merge(*args, **kwargs)

        patch.setattr(vhdx, "merge_vhd", full_disk_merge)
        call()
    assert plan.failed, "the merge never wrote"
    return str(caught.value)


def test_a_full_disk_during_a_deletes_merge_never_falsifies_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = built(tmp_path, build_chain)
    before = look(host)
    message = first_write_fails(monkeypatch, lambda: host.remove_snapshot("web01", "c2"))
    assert "No space left on device" in message and "completed" in message
    # The retry (same window, same process) finishes the delete: c2 is gone, nothing else moved.
    result = host.remove_snapshot("web01", "c2")
    assert any("completed" in w for w in result.warnings)
    after = look(host)
    assert list(after.disks) == ["c1"] and after.disks["c1"] == before.disks["c1"]
    assert after.contents == {k: v for k, v in before.contents.items() if k != "c2"}
    assert host.check() == []
    assert not list(host.layout.journal_dir.iterdir())


def test_a_full_disk_during_an_apply_resolving_a_merge_completes_on_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = built(tmp_path, build_pending)
    before = look(host)
    first_write_fails(monkeypatch, lambda: host.restore_snapshot("web01", "c2"))
    host = Host.open(host.root)
    assert any("Apply: completed" in line for line in host.recovered)
    vm = host.get_vm("web01")
    assert vm.hard_drives[0].path.exists() and not vm.merge_pending
    after = look(host)
    assert after.contents == {**before.contents, "Now": before.contents["c2"]}
    assert host.check() == []


def test_an_operation_that_cannot_finish_yet_refuses_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = built(tmp_path, build_chain)
    first_write_fails(monkeypatch, lambda: host.remove_snapshot("web01", "c2"))
    # Still full: the VM's next operation tries to finish the delete first, and says why not.
    message = first_write_fails(monkeypatch, lambda: host.checkpoint_vm("web01"))
    assert message.startswith("Delete: stopped after its point of no return: ")
    assert [s.name for s in host.list_snapshots("web01")] == ["c1", "c2"]
    # test-host says so, instead of judging the half-merged files.
    (finding,) = host.check()
    assert finding.code == "unfinished-operation" and "interrupted Delete" in finding.message
    host = Host.open(host.root)  # space again
    assert [s.name for s in host.list_snapshots("web01")] == ["c1"]
    assert host.check() == []


def test_records_that_cannot_be_written_do_not_fail_a_finished_operation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Status column and the event log are records of an operation, not part of it: when
    the disk fills up under them, the delete still completes and says what was not recorded."""
    host = built(tmp_path, build_chain)
    writes = []
    real_write = host.status_board.write

    def status_after_the_first_fails(*args: Any, **kwargs: Any) -> None:
        writes.append(args)
        if len(writes) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(*args, **kwargs)

    def full_log(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(host.status_board, "write", status_after_the_first_fails)
    monkeypatch.setattr(host.log, "append", full_log)
    result = host.remove_snapshot("web01", "c2", progress=lambda *_: None)
    assert len(writes) > 1  # the merge reported progress, and its Status update failed
    assert [w for w in result.warnings if "event log or status could not be updated" in w]
    assert [s.name for s in host.list_snapshots("web01")] == ["c1"]
    assert host.check() == []


def test_ctrl_c_during_a_merge_finishes_the_delete_instead_of_undoing_half(
    tmp_path: Path,
) -> None:
    host = built(tmp_path, build_chain)
    before = look(host)

    def interrupted(fraction: float, phase: str) -> None:
        if phase == "Merge in progress" and 0 < fraction < 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        host.remove_snapshot("web01", "c2", progress=interrupted)
    host = Host.open(host.root)  # the next hvctl command
    after = look(host)
    assert list(after.disks) == ["c1"] and after.disks["c1"] == before.disks["c1"]
    assert after.contents == {k: v for k, v in before.contents.items() if k != "c2"}
    assert host.check() == []


def test_a_cut_streams_marker_is_one_finding_with_its_unfinished_operation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed merge stopped after its point of no return (the rename over the destination
    failing) leaves its marker and third name beside the unfinished delete: test-host says
    one thing of that cause, the unfinished operation, and the next open finishes it all."""
    from hvgui import durable

    host = built(tmp_path, build_chain)
    write_now(host, "web01", 4 * MiB, b"more" * (MiB // 2))  # Now holds more than c2: a stream
    real_rename = durable.rename

    def full_rename(src: Path, dst: Path) -> None:
        if src.name.endswith(".hvmerge-new"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        real_rename(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(durable, "rename", full_rename)
        with pytest.raises(HvError, match="No space left"):
            host.remove_snapshot("web01", "c2")
    left = sorted(p.name for p in now_disk(host, "web01").parent.iterdir() if ".hvmerge" in p.name)
    assert len(left) == 2  # the marker and the third name
    findings = host.check()
    assert [f.code for f in findings] == ["unfinished-operation"], findings
    host = Host.open(host.root)
    assert [s.name for s in host.list_snapshots("web01")] == ["c1"]
    assert host.check() == []
