"""Winding down a widget's background jobs before the widget is deleted.

PySide6 6.12 keeps a strong reference to the receiver of each queued (cross-thread) signal
until the event is delivered. Deleting a Runner's ops while such events are still queued, as
happens when a window closes right after a job finished, corrupts memory ("shared QObject was
deleted directly"). `wind_down` cancels the jobs, waits for them and delivers what they posted,
so deleting the owner afterwards is safe. Callbacks must tolerate running during close.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent

from hvgui.ui.workers import Runner


def wind_down(runner: Runner) -> None:
    runner.cancel_all()
    runner.wait()
    QCoreApplication.sendPostedEvents()
    # ...including the deferred deletes of the finished ops, before their owner goes.
    QCoreApplication.sendPostedEvents(None, int(QEvent.Type.DeferredDelete))
