"""Many hands on one host: two windows and several hvctl processes take, apply, rename and
delete checkpoints and write guest files at the same time, bounded in count and time, while
the host check runs over and over (busy VMs, never a false finding). Each operation either
does its work or is refused in words (busy VM, a checkpoint someone else just deleted); at the
end test-host is clean and every checkpoint's disks open and read through their whole chain.

The default run is short; `pytest -m slow` runs the long one."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, QTimer

from hvgui.backend import OperationResult
from hvgui.guest.guest import Guest
from hvgui.host import Host, HostError, VMBusyError
from hvgui.progress import CancelToken, Progress
from hvgui.ui.main_window import MainWindow
from hvgui.vhdx import open_disk
from tests.ui.helpers import Answers, open_and_wait

MiB = 1 << 20
VMS = ("web01", "db01", "app01")
MAX_CHECKPOINTS_KEPT = 5  # beyond this a worker deletes rather than takes
# What an operation racing another one may be told; anything else is a failure.
REFUSALS = ("VM is busy", "no checkpoint with this name or Id",
            "another program is changing this host", "the guest is not running",
            "the checkpoint no longer exists")


@dataclass
class Tally:
    done: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, who: str, outcome: str, detail: str = "") -> None:
        with self.lock:
            if outcome == "done":
                self.done[who] += 1
            elif outcome == "refused":
                self.refused[who] += 1
            else:
                self.failures.append(f"{who}: {detail}")


def _lab(root: Path) -> Host:
    host = Host.open(root)
    for name in VMS:
        host.new_vm(name, memory_startup_bytes=64 * MiB, new_vhd_size_bytes=64 * MiB)
        host.start_vm(name)
        Guest(host, name).write_file("/base.txt", f"{name} base".encode())
        if name != "web01":  # one running VM: checkpoints with memory, guest writes
            host.stop_vm(name)
        host.checkpoint_vm(name, snapshot_name="base")
    return host


def _pick(rng: random.Random, host: Host, vm: str, serial: str) -> tuple[str, list[str]]:
    """An operation on `vm` as (kind, hvctl arguments), from the checkpoints it has now."""
    snaps = [s.id for s in host.list_snapshots(vm)]
    kinds = ["checkpoint", "apply", "rename", "delete"] + (["write"] if vm == "web01" else [])
    kind = "delete" if len(snaps) > MAX_CHECKPOINTS_KEPT else rng.choice(kinds)
    if not snaps:
        kind = "checkpoint"
    snap = rng.choice(snaps) if snaps else ""
    return kind, {
        "checkpoint": ["checkpoint-vm", vm, "--snapshot-name", f"cp {serial}"],
        "apply": ["restore-vmsnapshot", vm, snap],
        "rename": ["rename-vmsnapshot", vm, snap, f"renamed {serial}"],
        "delete": ["remove-vmsnapshot", vm, snap,
                   *(["--include-all-child-snapshots"] if rng.random() < 0.2 else [])],
        "write": ["guest-write-file", vm, f"/w{serial}.txt", "--text", serial],
    }[kind]


def _hvctl_worker(root: Path, index: int, budget: int, deadline: float, tally: Tally) -> None:
    rng = random.Random(1000 + index)
    host = Host.open(root, create=False)
    # On a loaded machine every attempt before the deadline can find its VM busy with the
    # windows' operations; the windows start nothing after it, so keep going until one is done.
    n = 0
    while n < budget or tally.done["hvctl"] == 0:
        if time.monotonic() > deadline and (tally.done["hvctl"] > 0
                                            or time.monotonic() > deadline + 120):
            return
        n += 1
        try:
            _, argv = _pick(rng, host, rng.choice(VMS), f"h{index}.{n}")
        except HostError as exc:  # a configuration replaced under the read: try again
            tally.count("hvctl", "failed", f"reading the host: {exc}")
            continue
        done = subprocess.run([sys.executable, "-m", "hvgui.cli.main", *argv, "--host",
                               str(root)], capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            tally.count("hvctl", "done")
        elif (done.returncode == 1 and done.stderr.count("\n") == 1
              and any(words in done.stderr for words in REFUSALS)):
            tally.count("hvctl", "refused")
        else:
            tally.count("hvctl", "failed", f"{argv}: exit {done.returncode}: {done.stderr}")


def _checker(root: Path, stop: threading.Event, tally: Tally) -> None:
    """test-host over and over while the others work: busy VMs, never false findings."""
    host = Host.open(root, create=False)
    while not stop.is_set():
        try:
            findings = [f for f in host.check() if f.code != "vm-busy"]
        except Exception as exc:  # a check that crashes is a failure too, not a dead thread
            tally.count("check", "failed",
                        "the check raised " + "".join(traceback.format_exception(exc)))
            continue
        tally.count("check", "done")
        if findings:
            tally.count("check", "failed", f"findings mid-soak: {findings}")


class WindowDriver:
    """Starts operations in one window, as its user would, one at a time per VM."""

    def __init__(self, window: MainWindow, index: int, budget: int, deadline: float,
                 tally: Tally) -> None:
        self.window, self.budget, self.deadline, self.tally = window, budget, deadline, tally
        self.rng = random.Random(2000 + index)
        self.index, self.started, self.running = index, 0, 0
        self.timer = QTimer(window)
        self.timer.timeout.connect(self.tick)
        self.timer.start(150)

    @property
    def finished(self) -> bool:
        return self.running == 0 and (
            self.started >= self.budget or time.monotonic() > self.deadline
        )

    def tick(self) -> None:
        session = self.window.session
        if self.started >= self.budget or time.monotonic() > self.deadline:
            self.timer.stop()
            return
        assert session is not None
        vm = next((v for v in session.vm_model.vms()
                   if v.name == self.rng.choice(VMS) and not session.is_busy(v.id)), None)
        if vm is None:
            return
        serial = f"w{self.index}.{self.started}"
        self.started += 1
        self.running += 1
        host, rng = session.host, random.Random(self.rng.random())

        def call(progress: Progress, cancel: CancelToken) -> OperationResult | None:
            kind, argv = _pick(rng, host, vm.id, serial)  # read in the worker, not here
            if kind == "write":
                Guest(host, vm.id).write_file(argv[2], argv[4].encode())
                return None
            method = {"checkpoint": lambda: host.checkpoint_vm(
                          vm.id, snapshot_name=argv[3], progress=progress, cancel=cancel),
                      "apply": lambda: host.restore_snapshot(
                          vm.id, argv[2], progress=progress, cancel=cancel),
                      "rename": lambda: host.rename_snapshot(
                          vm.id, argv[2], argv[3], progress=progress, cancel=cancel),
                      "delete": lambda: host.remove_snapshot(
                          vm.id, argv[2], include_children=len(argv) > 3, progress=progress,
                          cancel=cancel)}[kind]
            return method()

        def failed(exc: BaseException) -> None:
            expected = isinstance(exc, VMBusyError) or (
                isinstance(exc, HostError) and any(w in str(exc) for w in REFUSALS))
            self.tally.count("window", "refused" if expected else "failed",
                             "".join(traceback.format_exception(exc)))

        def finished() -> None:
            self.running -= 1

        session.run(vm, "Soak", call, on_result=lambda _r: self.tally.count("window", "done"),
                    on_error=failed, on_finished=finished)


def _window(qtbot: Any, root: Path, name: str) -> MainWindow:
    win = MainWindow(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                               "hvgui-tests", name))
    qtbot.addWidget(win)
    open_and_wait(qtbot, win, root)
    win.resize(1000, 700)
    win.show()
    return win


def _every_checkpoint_reads(host: Host) -> int:
    """Open every disk of every checkpoint and of Now, and read it whole through its chain."""
    disks = 0
    for vm in host.list_vms():
        drives = [d for s in host.list_snapshots(vm.id) for d in s.hard_drives]
        for drive in [*drives, *vm.hard_drives]:
            with open_disk(drive.path) as disk:
                for offset in range(0, disk.size, 4 * MiB):
                    assert len(disk.read(offset, min(4 * MiB, disk.size - offset))) > 0
            disks += 1
    return disks


def _soak(qtbot: Any, tmp_path: Path, answers: Answers, *, workers: int, budget: int,
          seconds: float) -> Tally:
    host = _lab(tmp_path / "lab")
    tally = Tally()
    deadline = time.monotonic() + seconds
    windows = [_window(qtbot, host.root, f"soak{i}") for i in range(2)]
    drivers = [WindowDriver(w, i, budget, deadline, tally) for i, w in enumerate(windows)]
    threads = [threading.Thread(target=_hvctl_worker,
                                args=(host.root, i, budget, deadline, tally))
               for i in range(workers)]
    stop = threading.Event()
    threads.append(threading.Thread(target=_checker, args=(host.root, stop, tally)))
    for thread in threads:
        thread.start()
    try:
        qtbot.waitUntil(lambda: all(d.finished for d in drivers)
                        and not any(t.is_alive() for t in threads[:-1]),
                        timeout=int(seconds * 1000) + 600_000)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for win in windows:
            win.close()
            assert not win.runner.busy or win.runner.wait(60000)
    after = Host.open(host.root, create=False)
    damage = after.check()  # read first: a failure below says whether the host was damaged
    assert tally.failures == [], "\n".join([*tally.failures, f"test-host after: {damage}"])
    assert answers.errors == []
    assert damage == []
    disks = _every_checkpoint_reads(after)
    print(f"soak: {tally.done['window'] + tally.done['hvctl']} operations done "
          f"{dict(tally.done)}, {sum(tally.refused.values())} refused {dict(tally.refused)}, "
          f"{tally.done['check']} host checks meanwhile, {disks} disks read whole")
    return tally


def test_two_windows_and_hvctl_processes_at_once_lose_nothing(
    qtbot: Any, tmp_path: Path, answers: Answers
) -> None:
    tally = _soak(qtbot, tmp_path, answers, workers=3, budget=6, seconds=15)
    assert tally.done["window"] > 0 and tally.done["hvctl"] > 0  # both hands did work


@pytest.mark.slow
def test_long_soak(qtbot: Any, tmp_path: Path, answers: Answers) -> None:
    tally = _soak(qtbot, tmp_path, answers, workers=4, budget=80, seconds=300)
    assert tally.done["window"] > 20 and tally.done["hvctl"] > 20
