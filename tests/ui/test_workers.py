"""The generic background operation: progress, result, errors once, cancellation, waiting."""

from __future__ import annotations

import gc
import os
import sys
import threading
import weakref
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QEvent

from hvgui.errors import HvError
from hvgui.progress import WORKER_NICE_STEPS, Cancelled, CancelToken, Progress
from hvgui.ui import workers
from hvgui.ui.workers import Op, Runner


@pytest.fixture
def runner(qtbot: Any) -> Any:
    r = Runner()
    yield r
    assert r.wait(5000)


def test_result_and_progress_arrive_on_the_gui_thread(qtbot: Any, runner: Runner) -> None:
    gui = threading.current_thread()
    seen: list[tuple[float, str, bool]] = []
    results: list[object] = []

    def work(progress: Progress, cancel: CancelToken) -> str:
        assert threading.current_thread() is not gui
        for i in range(5):
            progress(i / 4, "Working")
        return "done"

    op = Op(runner, work).on_progress(
        lambda f, p: seen.append((f, p, threading.current_thread() is gui))
    ).success(results.append)
    op.run_in_background()
    qtbot.waitUntil(lambda: op.done, timeout=5000)
    assert results == ["done"]
    # reports that come faster than they are shown are merged: the latest wins, the last one
    # is shown before the result
    fractions = [s[0] for s in seen]
    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(s[2] for s in seen)


def test_a_flood_of_progress_is_one_signal_showing_the_latest(
    qtbot: Any, runner: Runner
) -> None:
    seen: list[tuple[float, str]] = []
    events: list[str] = []

    def work(progress: Progress, cancel: CancelToken) -> str:
        for i in range(1000):  # a report per block
            progress(i / 999, "Merging")
        return "done"

    op = Op(runner, work).on_progress(lambda f, p: seen.append((f, p))).success(
        lambda _r: events.append("result"))
    op.run_in_background()
    assert runner.wait(5000)  # the GUI thread took none of them while the job ran
    qtbot.waitUntil(lambda: op.done, timeout=5000)
    assert seen == [(1.0, "Merging")] and events == ["result"]


def test_a_short_phase_is_still_shown(qtbot: Any, runner: Runner) -> None:
    seen: list[tuple[float, str]] = []

    def work(progress: Progress, cancel: CancelToken) -> str:
        for phase in ("Deleting Checkpoint", "Merge in progress", "Deleting Checkpoint"):
            for i in range(50):
                progress(i / 49, phase)
        return "done"

    op = Op(runner, work).on_progress(lambda f, p: seen.append((f, p)))
    op.run_in_background()
    assert runner.wait(5000)  # all reported before the GUI thread takes any
    qtbot.waitUntil(lambda: op.done, timeout=5000)
    assert seen == [(1.0, "Deleting Checkpoint"), (1.0, "Merge in progress"),
                    (1.0, "Deleting Checkpoint")]


def test_progress_is_shown_at_most_once_an_interval_the_latest_last(
    qtbot: Any, runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "_PROGRESS_INTERVAL", 3600.0)  # all later reports are "soon"
    first_shown = threading.Event()
    seen: list[float] = []
    order: list[str] = []

    def show(fraction: float, phase: str) -> None:
        seen.append(fraction)
        order.append("progress")
        first_shown.set()

    def work(progress: Progress, cancel: CancelToken) -> str:
        progress(0.1, "Copying")
        assert first_shown.wait(5)
        progress(0.5, "Copying")  # within the interval: held...
        progress(0.7, "Copying")  # ... and replaced by the next
        return "done"

    op = Op(runner, work).on_progress(show).success(lambda _r: order.append("result"))
    op.run_in_background()
    qtbot.waitUntil(lambda: op.done, timeout=5000)
    assert seen == [0.1, 0.7]
    assert order == ["progress", "progress", "result"]


def test_an_error_reaches_the_failure_callback_once(qtbot: Any, runner: Runner) -> None:
    failures: list[BaseException] = []
    successes: list[object] = []

    def work(progress: Progress, cancel: CancelToken) -> None:
        raise HvError("disk.avhdx", "the parent is missing")

    op = Op(runner, work).success(successes.append).failure(failures.append)
    op.run_in_background()
    qtbot.waitUntil(lambda: op.done, timeout=5000)
    assert successes == []
    assert len(failures) == 1 and str(failures[0]) == "disk.avhdx: the parent is missing"


def test_the_runner_default_handler_catches_unhandled_errors(qtbot: Any, runner: Runner) -> None:
    caught: list[BaseException] = []
    runner.default_failure = caught.append

    def work(progress: Progress, cancel: CancelToken) -> None:
        raise ValueError("boom")

    op = Op(runner, work).run_in_background()
    qtbot.waitUntil(lambda: op.done, timeout=5000)
    assert [type(e) for e in caught] == [ValueError]


def test_cancel_stops_a_cooperative_job(qtbot: Any, runner: Runner) -> None:
    started = threading.Event()
    failures: list[BaseException] = []

    def work(progress: Progress, cancel: CancelToken) -> None:
        started.set()
        while True:
            cancel.raise_if_cancelled()
            threading.Event().wait(0.005)

    op = Op(runner, work).failure(failures.append).run_in_background()
    assert runner.busy
    started.wait(5)
    runner.cancel_all()
    assert runner.wait(5000)
    qtbot.waitUntil(lambda: op.done, timeout=5000)
    assert [type(e) for e in failures] == [Cancelled]
    assert not runner.busy


def test_shutdown_delivers_the_last_results_before_returning(qtbot: Any) -> None:
    runner = Runner()
    results: list[object] = []
    done: list[bool] = []
    op = Op(runner, lambda p, c: 42).success(results.append).finally_(lambda: done.append(True))
    op.run_in_background()
    runner.shutdown()
    assert results == [42] and done == [True]  # delivered now, not at some later loop pass
    assert not runner.busy


def test_nothing_starts_after_shutdown(qtbot: Any) -> None:
    runner = Runner()
    started: list[Op] = []

    def chain(_result: object) -> None:  # a callback delivered during shutdown starts a job
        started.append(Op(runner, lambda p, c: 1).run_in_background())

    Op(runner, lambda p, c: 0).success(chain).run_in_background()
    runner.shutdown()
    assert len(started) == 1 and started[0].done
    assert not runner.busy and runner.pool.activeThreadCount() == 0


class _Held:
    """Something an op's function holds (a window, a host, a read buffer)."""


def test_a_finished_op_lets_go_of_what_its_function_held(qtbot: Any, runner: Runner) -> None:
    # The window polls its host every second: an op that kept its function after finishing
    # would keep, at each poll, all that function reached.
    alive: weakref.WeakSet[_Held] = weakref.WeakSet()
    ops = []
    for _ in range(300):
        held = _Held()
        alive.add(held)
        ops.append(Op(runner, lambda p, c, held=held: id(held)).run_in_background())
        del held
    qtbot.waitUntil(lambda: all(op.done for op in ops), timeout=20000)
    assert runner.wait(5000)
    ops.clear()
    QCoreApplication.sendPostedEvents(None, int(QEvent.Type.DeferredDelete))
    gc.collect()
    assert len(alive) == 0


def _nice_of(tid: int) -> int:
    """A thread's nice value as the kernel reports it (/proc/<pid>/task/<tid>/stat, field 19)."""
    with open(f"/proc/{os.getpid()}/task/{tid}/stat") as f:
        stat = f.read()
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="a thread's own nice value exists on Linux only")
def test_pool_threads_run_below_the_gui_thread(qtbot: Any, runner: Runner) -> None:
    gui = threading.get_native_id()
    before = _nice_of(gui)
    seen: list[tuple[int, int]] = []

    def work(progress: Progress, cancel: CancelToken) -> None:
        seen.append((_nice_of(threading.get_native_id()), _nice_of(gui)))

    for _ in range(2):  # every job, on a new pool thread or one that ran a job before
        op = Op(runner, work).run_in_background()
        qtbot.waitUntil(lambda op=op: op.done, timeout=5000)
    expected = min(19, before + WORKER_NICE_STEPS)
    assert seen == [(expected, before), (expected, before)]
    assert _nice_of(gui) == before
