"""Which progress reports are passed on (hvgui.progress.changes_only): the one rule an
operation's child process and the window's pool thread both follow."""

from __future__ import annotations

from hvgui.progress import changes_only


def test_only_a_new_phase_or_whole_percentage_is_passed_on() -> None:
    passed: list[tuple[float, str]] = []
    progress = changes_only(lambda fraction, phase: passed.append((fraction, phase)))
    for i in range(1001):  # a report per block: 101 whole percentages
        progress(i / 1000, "Merge in progress")
    assert len(passed) == 101 and passed[0] == (0.0, "Merge in progress")
    assert [int(f * 100) for f, _ in passed] == list(range(101))
    progress(1.0, "Deleting Checkpoint")  # a new phase at the same percentage
    progress(1.0, "Merge in progress")  # and back: new again
    assert passed[-2:] == [(1.0, "Deleting Checkpoint"), (1.0, "Merge in progress")]


def test_a_report_past_either_end_shows_as_that_end() -> None:
    passed: list[float] = []
    progress = changes_only(lambda fraction, _phase: passed.append(fraction))
    for fraction in (-0.5, 0.0, 1.0, 1.2, float("inf")):
        progress(fraction, "Copying")
    assert passed == [-0.5, 1.0]  # passed on as reported, once per end
