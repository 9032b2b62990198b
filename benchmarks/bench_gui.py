"""GUI benchmarks: start to first painted window, scrolling, the GUI thread during a merge and
during operations on a busy machine, and the inspector's first paint.

    python benchmarks/bench_gui.py [--workdir DIR] [--quick]
                                   [--only startup|scroll|big|merge|busy|inspector ...] [--why]

- startup-demo: a fresh `python` process opening the demo lab, from spawn to the first paint of
  the VM list with its rows (target < 1.5 s);
- startup-big: the same on a host of 200 VMs x 20 checkpoints (target < 2.5 s);
- scroll: frame times while the 200-VM list and a 20-checkpoint tree scroll end to end;
- big: the worst GUI-thread gap on that host while VMs are picked one after another, while
  each checkpoint of a 20-checkpoint tree is selected, and during the once-a-second re-reads
  while another process renames a VM every 0.5 s (target < 50 ms each);
- merge: the worst stall of the GUI thread (a 10 ms QTimer's longest late tick) while a
  checkpoint whose disk holds 1 GiB of new data is deleted (merged) from the window
  (target: < 100 ms);
- busy: the same during four operations with a busy loop per core (benchmarks/README.md);
- inspector: Inspect Files... to the inspector's first paint, and a click on the demo lab's
  largest AVHDX to its view painted (target < 150 ms each); and the worst GUI stall while a
  2000 GiB VHD and a 4 TiB VHDX of 1 MiB blocks (millions of BAT entries) are opened by path
  (target < 50 ms); and the extra memory the block map of a 64 TiB VHDX of 1 MiB blocks under a
  child takes (target < 200 MB).
Prints the table every benchmark prints (benchmarks/table.py: target and whether it was met);
asserts nothing. Hosts are cached in --workdir (the big one: bench_host.big_host).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_host import big_host  # noqa: E402  (benchmarks/bench_host.py: cached)
from precompile import compile_hvgui  # noqa: E402  (benchmarks/precompile.py)
from table import Row, Target, print_rows  # noqa: E402  (benchmarks/table.py)

MiB = 1 << 20
GiB = 1 << 30


# ---------------------------------------------------------------- hosts
def demo_host(workdir: Path) -> Path:
    root = workdir / "demo-host"
    if not (root / "Virtual Machines").is_dir():
        from hvgui.teaching.demo import build_demo_host

        build_demo_host(root)
    return root


# ---------------------------------------------------------------- startup (child process)
CHILD = """
import os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, {repo!r})
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {settings!r})
from hvgui.ui.main_window import MainWindow
win = MainWindow()
win.resize(1280, 820)
win.open_host({host!r})
class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        model = win.vm_view.model()  # None while the host opens on a worker
        if event.type() == QEvent.Type.Paint and model is not None and model.rowCount() > 0:
            QTimer.singleShot(0, done)
        return False
def done():
    print(time.monotonic(), flush=True)
    os._exit(0)
f = FirstPaint()
win.vm_view.viewport().installEventFilter(f)
win.show()
app.exec()
"""


INSPECT_CHILD = """
import json, os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, {repo!r})
from pathlib import Path
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {settings!r})
from hvgui.ui.main_window import MainWindow
target = max(Path({host!r}).rglob("*.avhdx"), key=lambda p: p.stat().st_size)
win = MainWindow()
key = win.open_host({host!r})
win.show()
times = {{}}
class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "window" not in times:
            times["window"] = time.perf_counter()
        return False
painted, clicked, inspector = FirstPaint(), [0.0], []
class ViewPaint(QObject):  # the AVHDX's own view (its decoded facts) painted
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "view" not in times:
            times["view"] = time.perf_counter()
            out = {{k: round(1000 * (times[k] - clicked[0])) for k in ("window", "listed")}}
            out["view"] = round(1000 * (times["view"] - clicked[1]))
            print(json.dumps(out), flush=True)
            os._exit(0)
        return False
view_painted = ViewPaint()
def settled(window, path):
    view = window.view_of(path)
    return view is not None and type(view).__name__ != "WaitingPanel"
def watch():  # the files listed and the first one shown: the user clicks the AVHDX
    window = inspector[0]
    files = [Path(f.path) for f in window.file_model.files()]
    if files and "listed" not in times:
        times["listed"] = time.perf_counter()
    if target in files and settled(window, files[0]):
        clicked.append(time.perf_counter())
        window.file_table.selectRow(files.index(target))
        QTimer.singleShot(0, shown)
        return
    QTimer.singleShot(1, watch)
def shown():  # its view, once decoded off the GUI thread
    window = inspector[0]
    if settled(window, target):
        window.view_of(target).installEventFilter(view_painted)
        return
    QTimer.singleShot(1, shown)
def inspect():  # Inspect Files... on Now of the VM whose disk is the largest AVHDX
    session = win.sessions.get(key)
    if session is None or not session.vm_model.vms():  # the host still opens on its worker
        QTimer.singleShot(5, inspect)
        return
    vm = next(v for v in session.vm_model.vms() if target.name.startswith(v.name + "_"))
    win.vm_view.selectRow(next(r for r in range(win.vm_view.model().rowCount())
                               if win.vm_view.model().index(r, 0).data() == vm.name))
    app.processEvents()
    clicked[0] = time.perf_counter()
    window = win.inspect()
    window.installEventFilter(painted)
    inspector.append(window)
    watch()
QTimer.singleShot({after_ms}, inspect)
app.exec()
"""


def inspector_open_ms(host: Path, tries: int, after_ms: int) -> dict[str, float]:
    """Milliseconds from Inspect Files... (on the VM whose disk is the largest AVHDX of
    `host`) to the inspector's first paint ("window") and to its files listed ("listed"),
    then from the click on the AVHDX (once the first file is shown) to the AVHDX's decoded
    view painted ("view"); in a fresh process whose main window has been up for `after_ms`:
    medians."""
    times: dict[str, list[float]] = {}
    for _ in range(tries):
        with tempfile.TemporaryDirectory() as settings:
            code = INSPECT_CHILD.format(repo=str(REPO), settings=settings, host=str(host),
                                        after_ms=after_ms)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True, timeout=120)
            for key, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
                times.setdefault(key, []).append(float(value))
    return {key: statistics.median(values) for key, values in times.items()}


def startup_seconds(host: Path, tries: int) -> float:
    times = []
    for _ in range(tries):
        with tempfile.TemporaryDirectory() as settings:
            code = CHILD.format(repo=str(REPO), settings=settings, host=str(host))
            start = time.monotonic()
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True, timeout=120)
            painted = float(out.stdout.strip().splitlines()[-1])
            times.append(painted - start)
    return statistics.median(times)


# ---------------------------------------------------------------- in-process helpers
def _app() -> object:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    return app


def _window(host_dir: Path, tmp: Path) -> object:
    from PySide6.QtCore import QSettings

    from hvgui.ui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp / "bench.ini"), QSettings.Format.IniFormat))
    win.resize(1280, 820)
    key = win.open_host(host_dir)
    win.show()
    _pump_until(lambda: key in win.sessions, timeout=60)  # opened on a worker
    return win


def _pump_until(done: Callable[[], bool], timeout: float) -> None:
    """Run the event loop until `done()`, sleeping between events as app.exec() does (a
    loop of processEvents() would keep the GUI thread on a core and skew every gap)."""
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    end = time.monotonic() + timeout
    wake = QTimer()  # the longest sleep between two looks at done()
    wake.start(20)
    try:
        while not done():
            if time.monotonic() > end:
                raise TimeoutError("timed out")
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    finally:
        wake.stop()


def scroll_frames(host_dir: Path, tmp: Path) -> dict[str, tuple[int, float, float, float]]:
    """Scroll the VM list and the checkpoint tree end to end, repainting each step."""
    _app()
    win = _window(host_dir, tmp)
    # Steady state: painted once, and the first background read (the event log) done.
    _pump_until(lambda: not win.runner.busy, timeout=60)  # type: ignore[attr-defined]
    settle_until = time.monotonic() + 0.3
    _pump_until(lambda: time.monotonic() > settle_until, timeout=5)
    out: dict[str, tuple[int, float, float, float]] = {}
    for label, view in (("vm list", win.vm_view), ("checkpoint tree", win.checkpoint_view)):  # type: ignore[attr-defined]
        bar = view.verticalScrollBar()
        frames = []
        step = 1  # one row per frame: the smallest, most frequent repaint
        for value in range(bar.minimum(), bar.maximum() + 1, step):
            start = time.perf_counter()
            bar.setValue(value)
            view.viewport().repaint()
            frames.append(time.perf_counter() - start)
        frames = frames or [0.0]
        frames.sort()
        p95 = frames[int(0.95 * (len(frames) - 1))]
        out[label] = (len(frames), statistics.median(frames) * 1000, p95 * 1000,
                      frames[-1] * 1000)
    win.close()  # type: ignore[attr-defined]
    return out


def _merge_vm(host: Any, data_bytes: int) -> None:
    """VM "Merge": a checkpoint whose child holds `data_bytes` of new data over a base that holds
    more, so that deleting the checkpoint copies the child's `data_bytes` into the base (a merge
    streams the smaller side: over a nearly empty base it would move only the base's few MiB)."""
    from hvgui.guest.guest import Guest

    host.new_vm("Merge", memory_startup_bytes=512 * MiB,
                new_vhd_size_bytes=max(3 * GiB, data_bytes * 3))
    host.start_vm("Merge")
    Guest(host, "Merge").run_workload(data_bytes + data_bytes // 4, path="/base.bin")
    host.checkpoint_vm("Merge", snapshot_name="Before the data")
    Guest(host, "Merge").run_workload(data_bytes, path="/big.bin")


def merge_gap(workdir: Path, data_bytes: int) -> tuple[float, float, int]:
    """The worst GUI stall (ms) while deleting a checkpoint whose child holds `data_bytes`."""
    from hvgui.host import Host
    from hvgui.ui import ask
    from tests.gap_meter import GapMeter

    _app()
    root = workdir / f"merge-{data_bytes >> 20}MiB-{os.getpid()}"
    host = Host.open(root)
    _merge_vm(host, data_bytes)
    win = _window(root, workdir)
    win.select_checkpoint(host.get_snapshot("Merge", "Before the data").id)  # type: ignore[attr-defined]
    ask.confirm_delete = lambda *a, **k: True  # the bench answers Delete
    meter = GapMeter(10)
    meter.start()
    start = time.perf_counter()
    win.acts.cp_delete.trigger()  # type: ignore[attr-defined]
    _pump_until(lambda: not win.runner.busy, timeout=3600)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - start
    worst = meter.stop()
    ticks = meter.ticks
    if host.list_snapshots("Merge"):
        raise RuntimeError("the checkpoint was not deleted")
    win.close()  # type: ignore[attr-defined]
    shutil.rmtree(root, ignore_errors=True)  # a GiB or more: not worth caching
    return worst, seconds, ticks


def big_disks(workdir: Path) -> list[tuple[str, Path]]:
    """Sparse disks with huge allocation tables, made (and cached) by qemu-img: a 2000 GiB
    VHD (1,024,000 BAT entries) and a 4 TiB VHDX of 1 MiB blocks (4,194,304)."""
    disks = [("2000 GiB VHD", workdir / "big-2000G.vhd", ["-f", "vpc", "-o", "subformat=dynamic"],
              "2000G"),
             ("4 TiB VHDX, 1 MiB blocks", workdir / "big-4T-1M.vhdx",
              ["-f", "vhdx", "-o", "block_size=1M,subformat=dynamic"], "4T")]
    for _, path, options, size in disks:
        if not path.exists():
            subprocess.run(["qemu-img", "create", "-q", *options, str(path), size], check=True)
    return [(label, path) for label, path, _, _ in disks]


def block_map_memory(workdir: Path) -> tuple[float, float]:
    """The extra peak memory (MB) and seconds of building the block map (what the inspector's
    worker builds: the engine's table, BAT states, legend counts) of a 64 TiB VHDX of 1 MiB
    blocks made by qemu-img (every BAT entry ZERO: 512 MiB of BAT) under a differencing child
    of 2 MiB blocks holding a few writes, in a fresh process (Linux: the peak resident set
    from the start of the build, /proc/self/clear_refs, less the resident set before)."""
    parent, child = workdir / "big-64T-1M.vhdx", workdir / "big-64T-child.avhdx"
    if not parent.exists():
        subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", "-o",
                        "block_size=1M,subformat=dynamic", str(parent), "64T"], check=True)
    if not child.exists():
        from hvgui.vhdx import create_differencing, open_disk

        create_differencing(child, parent)
        with open_disk(child, writable=True) as disk:
            disk.write(5 << 40, b"x" * 4096)
            disk.write(33 << 40, b"y" * (3 * MiB))
    code = (
        "import re, sys, time\n"
        "from pathlib import Path\n"
        "import numpy\n"
        "from hvgui.inspect import block_map\n"
        "from hvgui.ui.inspector.block_map import BlockMapData\n"
        "def kib(field):\n"
        "    with open('/proc/self/status') as f:\n"
        "        return int(re.search(field + r':\\s+(\\d+)', f.read()).group(1))\n"
        "before = kib('VmRSS')\n"
        "with open('/proc/self/clear_refs', 'w') as f:\n"
        "    f.write('5')  # the peak (VmHWM) starts again from here\n"
        "start = time.perf_counter()\n"
        "blocks = block_map(Path(sys.argv[1]))\n"
        "BlockMapData.from_table(blocks.chain, blocks.blocks).involvement()\n"
        "seconds = time.perf_counter() - start\n"
        "print((kib('VmHWM') - before) / 1024, seconds)\n")
    out = subprocess.run([sys.executable, "-c", code, str(child)], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout.split()
    return float(out[0]), float(out[1])


def inspect_path_gap(path: Path) -> tuple[float, float]:
    """The worst GUI stall (ms) from opening `path` in the inspector (as `hvgui FILE` does)
    until its view and block map are built, and the seconds that took."""
    from hvgui.ui.inspector.window import InspectorWindow
    from tests.gap_meter import GapMeter

    _app()
    meter = GapMeter(10)
    meter.start()
    start = time.perf_counter()
    window = InspectorWindow(path=path)
    window.show()
    def built() -> bool:
        view = window.view_of(path)
        panel = getattr(view, "block_panel", None)  # its map is read once it is shown
        return (type(view).__name__ not in ("NoneType", "WaitingPanel") and not window.runner.busy
                and (panel is None or panel.map.data() is not None))

    _pump_until(built, timeout=600)
    seconds = time.perf_counter() - start
    worst = meter.stop()
    window.close()
    return worst, seconds


# ---------------------------------------------------------------- the big host, used
CHANGER = """
import sys, time
sys.path.insert(0, {repo!r})
from hvgui.host import Host
host = Host.open({host!r}, create=False)
names = ({first!r}, {first!r} + " renamed")
end = time.monotonic() + {seconds}
turn = 0 if any(vm.name == names[0] for vm in host.list_vms()) else 1
try:
    while time.monotonic() < end:  # another program changing the host: a rename every 0.5 s
        host.rename_vm(names[turn % 2], names[(turn + 1) % 2])
        turn += 1
        time.sleep(0.5)
finally:  # the cached host as it was
    if turn % 2:
        host.rename_vm(names[1], names[0])
"""
CHANGE_SECONDS = 10.0


def big_host_gaps(host_dir: Path, tmp: Path, why: bool) -> list[tuple[str, float, float, int]]:
    """The worst GUI-thread gaps in the window on the big host: picking VMs one after another
    (each VM's 20-checkpoint tree read in the background), selecting each checkpoint of a
    tree, and the once-a-second re-read while another process renames a VM every 0.5 s
    (each re-read lists all the VMs). (what, worst gap ms, seconds, steps)."""
    _app()
    win: Any = _window(host_dir, tmp)
    session = win.session
    _pump_until(lambda: not win.runner.busy and bool(session.history_read), timeout=120)
    view = win.vm_view
    out = []

    def measured(label: str, steps: list[Callable[[], None]],
                 settled: Callable[[], bool]) -> None:
        log = GapLog(10)
        with Sampler() if why else contextlib.nullcontext() as sampler:
            log.start()
            begun = time.perf_counter()
            for step in steps:
                step()
                _pump_until(settled, timeout=120)
            seconds = time.perf_counter() - begun
            worst = log.stop()
        out.append((label, worst, seconds, len(steps)))
        if sampler is not None:
            for start, end, run, wait in sorted(log.gaps, key=lambda g: g[0] - g[1])[:3]:
                print(f"  {label}: {1000 * (end - start):.0f} ms gap ({1000 * run:.0f} ms on a "
                      f"core, {1000 * wait:.0f} ms waiting for one):", file=sys.stderr)
                for line in sampler.during(start, end):
                    print(f"      {line}", file=sys.stderr)
                for line in sampler.during(start, end, gui=False):
                    print(f"      pool: {line}", file=sys.stderr)

    def idle() -> bool:
        return not win.runner.busy and not session.tree_pending

    rows = range(0, view.model().rowCount(), max(1, view.model().rowCount() // 12))
    measured("pick VMs one after another", [lambda r=r: view.selectRow(r) for r in rows], idle)
    tree = session.checkpoint_model
    idents = [s.id for s in session._trees.get(session.selected_vm_id, [])]
    measured(f"select each checkpoint of a {len(idents)}-checkpoint tree",
             [lambda i=i: win.select_checkpoint(i) for i in idents], idle)
    assert tree is session.checkpoint_model
    first = str(view.model().index(0, 0).data()).removesuffix(" renamed")  # (a run killed)
    code = CHANGER.format(repo=str(REPO), host=str(host_dir), first=first,
                          seconds=CHANGE_SECONDS)
    changer = subprocess.Popen([sys.executable, "-c", code])
    try:
        measured(f"re-reads while another process renames a VM every 0.5 s "
                 f"({CHANGE_SECONDS:.0f} s)", [lambda: None],
                 lambda: changer.poll() is not None)
    finally:
        changer.wait(timeout=120)
    win.close()
    return out


# ---------------------------------------------------------------- busy machine
BUSY_LOOP = "while True: pass"
IDLE_SECONDS = 5.0


class Sampler:
    """Where the GUI thread is: its stack sampled every `every` seconds by another thread,
    so that a long gap can be blamed on the code that ran during it (py-spy's dump, in
    process)."""

    def __init__(self, every: float = 0.002) -> None:
        import threading

        self.every = every
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self.others: list[tuple[float, tuple[str, ...]]] = []  # the pool threads' stacks
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import threading
        import traceback

        me = threading.get_ident()
        while not self._stop.wait(self.every):
            now = time.perf_counter()
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = tuple(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                              for f in traceback.extract_stack(frame)[-12:])
                (self.samples if ident == self._main else self.others).append((now, stack))

    def during(self, start: float, end: float, gui: bool = True) -> list[str]:
        """The innermost frames of the GUI thread (or the others) seen between `start` and
        `end`, most frequent first."""
        from collections import Counter

        seen: Counter[str] = Counter()
        for when, stack in self.samples if gui else self.others:
            if start <= when <= end:
                ours = [s for s in stack if not s.startswith(("bench_gui.py", "threading.py"))]
                seen[" < ".join(reversed(ours[-4:]))] += 1
        return [f"{n} x {where}" for where, n in seen.most_common(3)]


class GapLog:
    """Like GapMeter, but keeps every gap over `report_ms` with its time span."""

    def __init__(self, interval_ms: int = 10, report_ms: float = 20.0) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1000
        self.report = report_ms / 1000
        # start, end, and of the GUI thread's time in the gap: on a core, waiting for one
        self.gaps: list[tuple[float, float, float, float]] = []
        self.worst = 0.0
        # The worst gap less the GUI thread's wait for a core in it: what hvgui's own work
        # made of it (its run, and waits for the interpreter lock or I/O), whatever the load.
        self.worst_own = 0.0
        # The GUI thread's longest time on a core between two ticks: the work the machine's
        # load stretches into a gap (a burst of B ms is about B x load / cores ms of gap).
        self.longest_run = 0.0
        self.longest_span = (0.0, 0.0)  # when it was
        self._last = 0.0
        self._last_cpu = (0.0, 0.0)
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last, self._last_cpu = time.perf_counter(), self._sched()
        self._timer.start()

    @staticmethod
    def _sched() -> tuple[float, float]:
        """The GUI thread's seconds on a core and waiting for one (Linux's schedstat); the
        rest of a gap it was blocked: on the GIL, a lock or I/O."""
        try:
            with open("/proc/thread-self/schedstat") as f:
                run, wait, _ = f.read().split()
            return int(run) / 1e9, int(wait) / 1e9
        except OSError:
            return time.thread_time(), 0.0

    def stop(self) -> float:
        self._timer.stop()
        self._tick()
        return self.worst * 1000

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), self._sched()
        late = now - self._last - self.interval
        if late > self.report:
            self.gaps.append((self._last, now, cpu[0] - self._last_cpu[0],
                              cpu[1] - self._last_cpu[1]))
        self.worst = max(self.worst, late)
        self.worst_own = max(self.worst_own, late - (cpu[1] - self._last_cpu[1]))
        if cpu[0] - self._last_cpu[0] > self.longest_run:
            self.longest_run, self.longest_span = cpu[0] - self._last_cpu[0], (self._last, now)
        self._last, self._last_cpu = now, cpu


def busy_gaps(workdir: Path, data_bytes: int, memory_bytes: int, why: bool,
              own_session: bool = True
              ) -> tuple[float, list[tuple[str, float, float, float, float, float]]]:
    """The worst GUI-thread gap during four long operations started from the window while
    busy loops keep every core busy: the floor (the worst gap of the same window doing nothing
    for IDLE_SECONDS under the same loads, ms) and (operation, worst gap ms, seconds it took,
    the GUI thread's CPU ms, its longest burst on a core between two ticks ms, the worst gap
    less the GUI thread's wait for a core in it ms).

    `own_session`: the loops run as another program does, in a session of their own. With
    Linux's autogroup scheduling (on by default) a session is a group that gets its share of
    the cores as a whole: loops in the benchmark's own session would share hvgui's share,
    three runnable threads of one group where the GUI thread had the group's turn to itself."""
    from hvgui.guest.guest import Guest
    from hvgui.host import Host
    from hvgui.ui import ask

    _app()
    root = workdir / f"busy-{os.getpid()}"
    host = Host.open(root)
    _merge_vm(host, data_bytes)
    host.new_vm("Memory", memory_startup_bytes=memory_bytes, new_vhd_size_bytes=256 * MiB)
    host.start_vm("Memory")
    for offset in range(0, 256 * MiB, 16 * MiB):  # 256 MiB touched, spread over the memory
        host.write_memory("Memory", offset * (memory_bytes // (256 * MiB) - 1),
                          os.urandom(16 * MiB))
    for name in ("Export", "Move"):  # half as much data each, then turned off
        host.new_vm(name, memory_startup_bytes=512 * MiB, new_vhd_size_bytes=GiB)
        host.start_vm(name)
        Guest(host, name).run_workload(data_bytes // 2, path="/data.bin")
        host.stop_vm(name, turn_off=True)
    win = _window(root, workdir)
    ask.confirm_delete = lambda *a, **k: True  # type: ignore[assignment]
    folders = iter([root / "Exports", root / "Moved"])  # inside the lab: its boundary
    ask.ask_directory = lambda *a, **k: next(folders)  # type: ignore[assignment]
    errors: list[BaseException] = []  # a modal error box would wait for a click forever
    ask.show_error = lambda _parent, _title, exc: errors.append(exc)  # type: ignore[assignment]

    def select_vm(name: str) -> None:
        view = win.vm_view  # type: ignore[attr-defined]
        model = view.model()
        _pump_until(lambda: any(model.index(r, 0).data() == name
                                for r in range(model.rowCount())), timeout=30)
        view.selectRow(next(r for r in range(model.rowCount())
                            if model.index(r, 0).data() == name))

    before_the_data = host.get_snapshot("Merge", "Before the data").id  # read before: the
    # benchmark must not read the host on the GUI thread it measures

    def delete() -> None:
        select_vm("Merge")
        _pump_until(lambda: win.select_checkpoint(before_the_data),  # type: ignore[attr-defined]
                    timeout=30)
        win.acts.cp_delete.trigger()  # type: ignore[attr-defined]

    def checkpoint() -> None:
        select_vm("Memory")
        win.acts.vm_checkpoint.trigger()  # type: ignore[attr-defined]

    def export() -> None:
        select_vm("Export")
        win.acts.vm_export.trigger()  # type: ignore[attr-defined]

    def move() -> None:
        select_vm("Move")
        win.acts.vm_move.trigger()  # type: ignore[attr-defined]

    steps = [(f"delete with a {data_bytes >> 20} MiB merge", delete),
             (f"checkpoint, {memory_bytes >> 20} MiB memory (256 MiB touched)", checkpoint),
             ("export", export), ("storage move", move)]
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], start_new_session=own_session)
             for _ in range(os.cpu_count() or 2)]
    results = []
    try:
        _pump_until(lambda: not win.runner.busy, timeout=60)  # type: ignore[attr-defined]
        # What the machine alone costs: the same meter over the idle window (its poll still
        # ticks). A gap an operation adds is what it shows beyond this.
        log = GapLog(10)
        log.start()
        idle_until = time.monotonic() + IDLE_SECONDS
        _pump_until(lambda: time.monotonic() > idle_until, timeout=IDLE_SECONDS + 5)
        floor = log.stop()
        for name, start_op in steps:
            log = GapLog(10)
            with Sampler() if why else contextlib.nullcontext() as sampler:
                log.start()
                begun, gui_cpu = time.perf_counter(), time.thread_time()
                start_op()
                _pump_until(lambda: not win.runner.busy, timeout=3600)  # type: ignore[attr-defined]
                seconds = time.perf_counter() - begun
                gui_cpu = time.thread_time() - gui_cpu
                worst = log.stop()
            if errors:
                raise RuntimeError(f"{name} failed: {errors[0]}")
            results.append((name, worst, seconds, 1000 * gui_cpu, 1000 * log.longest_run,
                            1000 * log.worst_own))
            if why:
                print(f"  {name}: the GUI thread used {1000 * gui_cpu:.0f} ms of CPU in "
                      f"{seconds:.1f} s")
            if sampler is not None:
                start, end = log.longest_span
                print(f"  {name}: the longest burst, {1000 * log.longest_run:.0f} ms on a core "
                      f"in {1000 * (end - start):.0f} ms:")
                for line in sampler.during(start, end):
                    print(f"      {line}")
                for start, end, run, wait in sorted(log.gaps, key=lambda g: g[0] - g[1])[:3]:
                    print(f"  {name}: {1000 * (end - start):.0f} ms gap: {1000 * run:.0f} ms on "
                          f"a core, {1000 * wait:.0f} ms waiting for one, the rest blocked:")
                    for line in sampler.during(start, end):
                        print(f"      {line}")
                    for line in sampler.during(start, end, gui=False):
                        print(f"      pool: {line}")
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
        win.close()  # type: ignore[attr-defined]
        shutil.rmtree(root, ignore_errors=True)
    return floor, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (20 VMs x 5 checkpoints, 64 MiB merge)")
    parser.add_argument("--only",
                        choices=["startup", "scroll", "big", "merge", "busy", "inspector"],
                        action="append")
    parser.add_argument("--why", action="store_true",
                        help="busy: print where the GUI thread was during the worst gaps")
    parser.add_argument("--loops-in-our-session", action="store_true",
                        help="busy: start the busy loops in the benchmark's own session (its "
                        "scheduling group under autogroup) instead of one of their own")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hvgui-bench-gui-"))
    workdir.mkdir(parents=True, exist_ok=True)
    only = set(args.only or ["startup", "scroll", "big", "merge", "busy", "inspector"])
    vms, cps = (20, 5) if args.quick else (200, 20)
    data = 64 * MiB if args.quick else GiB
    tries = 1 if args.quick else 3
    print(f"workdir: {workdir}", file=sys.stderr)
    compile_hvgui(REPO)  # the window runs from compiled modules, as after `pip install`
    rows: list[Row] = []
    if "startup" in only:
        s = startup_seconds(demo_host(workdir), tries)
        rows.append(Row("startup-demo: to the first painted window", s, None, "",
                        Target(1.5)))
        s = startup_seconds(big_host(vms, cps), tries)
        rows.append(Row(f"startup-big: the same, {vms} VMs x {cps} checkpoints", s, None, "",
                        Target(2.5)))
    if "scroll" in only:
        with tempfile.TemporaryDirectory() as tmp:
            for label, (steps, median, p95, worst) in scroll_frames(
                big_host(vms, cps), Path(tmp)
            ).items():
                rows.append(Row(f"scroll {label}: 95th percentile repainted frame", p95 / 1000,
                                None, "", Target(round(1 / 60, 4)),
                                note=f"{steps} one-row steps; median {median:.1f} ms, "
                                f"worst {worst:.1f} ms (60 Hz)"))
    if "big" in only:
        with tempfile.TemporaryDirectory() as tmp:
            for label, worst, seconds, steps in big_host_gaps(big_host(vms, cps), Path(tmp),
                                                              args.why):
                rows.append(Row(f"{vms}x{cps} host, {label}: worst GUI gap", worst / 1000,
                                None, "", Target(0.050),
                                note=f"{steps} steps in {seconds:.1f} s"))
    if "merge" in only:
        worst, seconds, ticks = merge_gap(workdir, data)
        rows.append(Row(f"merge {data >> 20} MiB from the window: worst GUI gap", worst / 1000,
                        None, "", Target(0.100),
                        note=f"merged in {seconds:.1f} s, {ticks} timer ticks"))
    if "inspector" in only:
        lab = demo_host(workdir)
        soon = inspector_open_ms(lab, tries * 2 + 1, 100)
        later = inspector_open_ms(lab, tries * 2 + 1, 3000)
        rows.append(Row("inspector: Inspect Files... to first paint (demo lab)",
                        later["window"] / 1000, None, "", Target(0.150),
                        note=f"3 s after start-up; {soon['window']:.0f} ms when opened at "
                        "once, before its modules were loaded in the background"))
        rows.append(Row("inspector: click on the largest AVHDX to its view painted",
                        later["view"] / 1000, None, "", Target(0.150),
                        note=f"decoded on a pool thread; the files were listed "
                        f"{later['listed']:.0f} ms after Inspect Files...; opened at once: "
                        f"{soon['view']:.0f} ms"))
        for label, disk in big_disks(workdir):
            worst, seconds = inspect_path_gap(disk)
            rows.append(Row(f"inspector: open a {label} by path: worst GUI gap", worst / 1000,
                            None, "", Target(0.050),
                            note=f"view and block map built in {seconds:.1f} s"))
        extra, seconds = block_map_memory(workdir)
        rows.append(Row("inspector: block map of a 64 TiB VHDX + child: extra peak memory",
                        extra, None, "", Target(200, unit="MB"),
                        note=f"built in {seconds:.1f} s in a fresh process"))
    if "busy" in only:
        memory = 512 * MiB if args.quick else 4 * GiB
        own = not args.loops_in_our_session
        floor, gaps = busy_gaps(workdir, data, memory, args.why, own_session=own)
        rows.append(Row(f"busy machine, idle window: worst GUI gap over {IDLE_SECONDS:.0f} s",
                        floor / 1000, None, "", None,
                        note=f"the machine's floor; load average {os.getloadavg()[0]:.1f}; "
                        f"loops in {'a session of their own' if own else 'our session'}"))
        for name, worst, seconds, cpu, burst, own_ms in gaps:
            rows.append(Row(f"busy machine, {name}: worst GUI gap", worst / 1000, floor / 1000,
                            "idle window", Target(0.050),
                            note=f"over {seconds:.1f} s; GUI thread CPU {cpu:.0f} ms, longest "
                            f"burst {burst:.0f} ms; worst gap less its wait for a core "
                            f"{own_ms:.0f} ms"))
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
