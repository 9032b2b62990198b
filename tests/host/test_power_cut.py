"""Power cuts: the host lives on a loop-mounted ext4; an operation runs in another process
and the file system is shut down (EXT4_IOC_SHUTDOWN, NOLOGFLUSH: whatever the journal has not
committed is lost, as in a power cut) at spread-out moments during the operation and up to two
seconds after it reported success. Then the file system is remounted (journal replay) and the
host must be as before the operation or as after it: test-host clean, every VM and checkpoint
reading what it read, guest memory there, nothing half-done left. A cut after success must
always give "after".

Needs root and loop devices; elsewhere it skips with the reason (`.ci/run` sets
HVGUI_REQUIRE_LOOP=1, which turns the skip into a failure). The long version:
`pytest -m slow tests/host/test_power_cut.py`.
"""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hvgui.host import Host

from .hosthelpers import MARK, MiB, build_chain, contents, write_now
from .loopfs import make_image, mount_image, power_cut, unmount

WORKER = Path(__file__).with_name("crash_worker.py")
IMAGE_MIB = 384
QUICK_DURING = (0.5,)  # fractions of the operation's own duration
QUICK_AFTER = (0.05, 1.0)  # seconds after the operation reported success
SLOW_DURING = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SLOW_AFTER = (0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0)


def build_running(root: Path) -> None:
    """Running VM web01: checkpoints c1 -> c2, then 8 MiB more written to Now (a delete of c2
    merges them)."""
    build_chain(root)
    host = Host.open(root)
    for offset in range(0, 8 * MiB, 2 * MiB):
        write_now(host, "web01", 4 * MiB + offset, bytes([offset >> 20 | 1]) * (2 * MiB))


def build_big(root: Path) -> None:
    """As build_running with 64 MiB written to Now: deleting c2 is a long merge."""
    build_chain(root, disk=96 * MiB)
    host = Host.open(root)
    chunk = bytes(range(256)) * (16 * 1024)  # 4 MiB
    for offset in range(0, 64 * MiB, len(chunk)):
        write_now(host, "web01", 16 * MiB + offset, chunk)


def build_off(root: Path) -> None:
    build_running(root)
    Host.open(root).stop_vm("web01", turn_off=True)


# name -> (build, worker operation, argument; a "{root}" in it is the host folder)
OPERATIONS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "checkpoint-off": (build_off, "checkpoint", "c3"),
    "checkpoint-running": (build_running, "checkpoint", "c3"),
    "delete-with-merge": (build_running, "delete", "c2"),
    "apply": (build_running, "apply", "c1"),
    "rename": (build_running, "rename", "web09"),
    "save": (build_running, "save", ""),
    "move-storage": (build_running, "move", "{root}/moved"),
    "new-vm": (build_running, "new-vm", "web02"),
}
SLOW_ONLY = {"delete-with-long-merge": (build_big, "delete", "c2")}


def look(root: Path) -> dict[str, Any]:
    """What a user sees: each VM's folder, state and what Now and every checkpoint read."""
    host = Host.open(root)
    seen: dict[str, Any] = {}
    for vm in host.list_vms():
        seen[vm.name] = (vm.id, vm.path, vm.state, contents(host, vm.id))
    return seen


def same(seen: dict[str, Any], expected: dict[str, Any], before: dict[str, Any]) -> bool:
    """`seen` is `expected`; a VM the operation made differs only in its Id and its new disk's
    bytes (a new file system has a new serial number), which must still read."""
    def shape(looked: dict[str, Any]) -> dict[str, Any]:
        return {name: value if name in before else (value[1], value[2], sorted(value[3]))
                for name, value in looked.items()}

    return shape(seen) == shape(expected)


def copy_image(source: Path, destination: Path) -> None:
    subprocess.run(["cp", "--sparse=always", str(source), str(destination)], check=True)


class Rig:
    """One file-system image and mount point for the module; the hosts built once per kind
    (configurations hold absolute paths: every host is used at the same mount point)."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.image, self.mount = where / "fs.img", where / "mnt"
        self.mount.mkdir()
        self.templates: dict[str, tuple[Path, dict[str, Any]]] = {}

    @property
    def root(self) -> Path:
        return self.mount / "host"

    @contextmanager
    def mounted(self) -> Iterator[None]:
        mount_image(self.image, self.mount)
        try:
            yield
        finally:
            gc.collect()  # no file of ours stays open on it
            unmount(self.mount)

    def template(self, build: Callable[[Path], None]) -> tuple[Path, dict[str, Any]]:
        """An image of the host `build` makes (everything in it durable) and how it looks."""
        if build.__name__ not in self.templates:
            make_image(self.image, IMAGE_MIB)
            with self.mounted():
                build(self.root)
                before = look(self.root)
            saved = self.where / f"{build.__name__}.img"
            copy_image(self.image, saved)
            self.templates[build.__name__] = (saved, before)
        return self.templates[build.__name__]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Rig:
    return Rig(tmp_path_factory.mktemp("power-cut"))


class Bench:
    """One operation on its host, cut again and again."""

    def __init__(self, rig: Rig, operation: str) -> None:
        build, _, _ = {**OPERATIONS, **SLOW_ONLY}[operation]
        self.rig, self.operation = rig, operation
        self.saved, self.before = rig.template(build)
        self.root, self.mounted = rig.root, rig.mounted
        copy_image(self.saved, rig.image)
        with self.mounted():
            self.duration = self.run(None)
            self.after = look(self.root)
        assert self.after != self.before

    def run(self, cut: Callable[[], None] | None, during: float | None = None) -> float:
        """Run the operation in a worker; `cut` it `during` seconds after it starts, or (no
        `during`) once it reported success. Returns the operation's duration."""
        _, operation, argument = {**OPERATIONS, **SLOW_ONLY}[self.operation]
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(self.root), operation,
             argument.format(root=self.root)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        try:
            assert proc.stdout.readline().strip() == "go", proc.stderr.read()
            started = time.monotonic()
            if cut is None:
                out, err = proc.communicate(timeout=300)
                assert proc.returncode == 0, err
                return float(out.split()[-1])
            if during is not None:
                time.sleep(during)
            else:
                line = proc.stdout.readline()
                assert line.startswith("done"), proc.stderr.read()
            cut()
            return time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)

    def cut(self, *, during: float | None = None, after: float | None = None) -> str:
        """Cut the power once; returns "before" or "after", or what is wrong."""
        copy_image(self.saved, self.rig.image)
        moment = f"{during:.2f}s into" if during is not None else f"{after:.2f}s after"

        def cut() -> None:
            time.sleep(after or 0.0)
            power_cut(self.rig.mount)

        with self.mounted():
            self.run(cut, during)
        with self.mounted():  # the remount replays the journal, as after a reboot
            return f"{moment} {self.operation}: {self.verify(during is None)}"

    def verify(self, succeeded: bool) -> str:
        try:
            host = Host.open(self.root)  # finishes or rolls back what the cut interrupted
            findings = host.check()
            if findings:
                return f"UNSOUND test-host: {[f.message for f in findings]}"
            leftovers = [p.name for p in self.root.rglob("*")
                         if p.name.endswith((".tmp", ".hvnew")) or p.suffix == ".damaged"]
            leftovers += [p.name for p in host.layout.journal_dir.iterdir()]
            if leftovers:
                return f"UNSOUND left behind: {leftovers}"
            now = look(self.root)
            for name, (vm_id, _, state, _) in now.items():
                if state in ("Running", "Saved") and name != "web02":
                    memory = host.read_memory(vm_id, MARK, 11)
                    if memory != b"memory mark":
                        return f"UNSOUND guest memory of {name} lost: {memory!r}"
                if state == "Saved" and self.operation == "save":
                    memory = host.read_memory(vm_id, 5 * MiB, 10)
                    if memory != b"saved mark":  # written by the guest just before Save-VM
                        return f"UNSOUND saved memory lost: {memory!r}"
            if same(now, self.after, self.before):
                return "after"
            if now == self.before and not succeeded:
                return "before"
            if now == self.before:
                return "UNSOUND: reported done, then lost by the power cut"
            return f"UNSOUND neither before nor after: {now}"
        except Exception as exc:  # an unreadable host is an outcome to report, not a crash
            return f"UNSOUND {type(exc).__name__}: {exc}"


def run_cuts(rig: Rig, operation: str, during: tuple[float, ...],
             after: tuple[float, ...]) -> None:
    bench = Bench(rig, operation)
    outcomes = [bench.cut(during=bench.duration * f) for f in during]
    outcomes += [bench.cut(after=s) for s in after]
    unsound = [o for o in outcomes if "UNSOUND" in o]
    print(f"{operation} ({bench.duration:.2f}s): {len(outcomes)} cuts, {len(unsound)} unsound;",
          "; ".join(outcomes))
    assert not unsound, "\n".join(unsound)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_power_cut_leaves_before_or_after(rig: Rig, operation: str) -> None:
    run_cuts(rig, operation, QUICK_DURING, QUICK_AFTER)


@pytest.mark.slow
@pytest.mark.parametrize("operation", sorted({**OPERATIONS, **SLOW_ONLY}))
def test_a_power_cut_at_many_moments_leaves_before_or_after(
    rig: Rig, operation: str
) -> None:
    run_cuts(rig, operation, SLOW_DURING, SLOW_AFTER)
