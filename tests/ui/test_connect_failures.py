"""Connect to Server... names why a host cannot be used in the error box: the same one line
as hvctl (tests/hyperv/test_connect_failures.py), the host, the cause and the fix; the
window keeps only its lab host and remembers no host that failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hvgui.backend import HostError
from hvgui.hyperv.settings import ConnectionSettings
from hvgui.ui import ask, recent_servers
from hvgui.ui.main_window import MainWindow
from hvgui.ui.server_dialog import ServerDialog
from tests.hyperv.failing_hosts import SAYS, failing_host
from tests.hyperv.test_connect_failures import first_failure
from tests.ui.helpers import Answers

# Past the connection the host answers, then fails the first Get-VM: the window shows that
# where it shows the host's VMs, not in this box.
AT_CONNECT = sorted(case for case in SAYS if not case.startswith("get-vm"))


def connect_to(window: MainWindow, settings: ConnectionSettings,
               monkeypatch: pytest.MonkeyPatch) -> None:
    """File > Connect to Server..., the dialog answered with `settings`."""
    monkeypatch.setattr(ServerDialog, "ask", classmethod(
        lambda cls, parent, recent, *rest: (settings, False)))
    window.acts.connect_server.trigger()


@pytest.mark.parametrize("case", AT_CONNECT)
def test_the_dialog_shows_the_cause_and_the_fix(
    case: str, qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with failing_host(case, tmp_path, monkeypatch) as settings:
        connect_to(window, settings, monkeypatch)
        qtbot.waitUntil(lambda: bool(answers.errors), timeout=30000)
        [error] = answers.errors
        shown = ask.error_summary(error)
        assert isinstance(error, HostError) and "\n" not in shown
        assert shown == str(first_failure(settings))  # hvctl's line, word for word
    assert shown.startswith("127.0.0.1: ")
    for words in SAYS[case]:
        assert words in shown
    assert len(window.navigation.hosts()) == 1
    assert recent_servers.load(window.settings) == []
    answers.errors.clear()  # the one error this test expected


@pytest.mark.parametrize("case", sorted(set(SAYS) - set(AT_CONNECT)))
def test_a_host_that_answers_then_refuses_get_vm_says_why_above_its_vms(
    case: str, qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with failing_host(case, tmp_path, monkeypatch) as settings:
        connect_to(window, settings, monkeypatch)
        qtbot.waitUntil(lambda: len(window.navigation.hosts()) == 2, timeout=30000)
        qtbot.waitUntil(window.problem_banner.isVisible, timeout=30000)
        shown = window.problem_banner.text()
        assert window.problem_banner.wordWrap()  # the fix shows, not cut at the pane's edge
        window.grab().save(str(tmp_path / f"{case}.png"))
    assert shown == f"⚠ {first_failure(settings).problem}"
    for words in SAYS[case]:
        assert words in shown
    assert answers.errors == []


def test_the_window_keeps_working_while_a_silent_host_is_tried(
    qtbot: Any, window: MainWindow, answers: Answers, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, record_property: Any,
) -> None:
    """Connecting to a host that accepts and never answers runs off the GUI thread: the
    window keeps ticking (no freeze a user would call a hang; the bound is generous, as in
    test_responsiveness) until the one-line error comes."""
    from tests.gap_meter import GapMeter
    from tests.ui.test_responsiveness import WORST_GAP_MS

    with failing_host("silent-host", tmp_path, monkeypatch) as settings:
        meter = GapMeter(10)
        meter.start()
        connect_to(window, settings, monkeypatch)
        qtbot.waitUntil(lambda: bool(answers.errors), timeout=30000)
        worst = meter.stop()
    record_property("worst_gui_gap_ms", round(worst, 1))
    print(f"worst GUI gap while connecting: {worst:.1f} ms over {meter.ticks} ticks")
    assert meter.ticks > 10  # it ticked all along the connect timeout
    assert worst < WORST_GAP_MS, f"the window froze for {worst:.0f} ms"
    assert "accepts connections but did not start HTTPS within 1 s" in str(answers.errors[0])
    answers.errors.clear()  # the one error this test expected
