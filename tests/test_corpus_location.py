"""A fresh clone has no real Hyper-V corpus: its tests are skipped with one clear reason, and
CI (HVGUI_REQUIRE_CORPUS=1) fails instead of silently skipping them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CORPUS_TEST = "tests/vhdx/test_hyperv_corpus.py"


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HVGUI_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", CORPUS_TEST],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=300,
    )


def test_without_the_corpus_its_tests_are_skipped_with_one_reason(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, HVGUI_CORPUS=str(tmp_path / "absent"))
    assert result.returncode == 0, result.stdout + result.stderr
    reasons = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(reasons) == 1, result.stdout
    assert "real Hyper-V corpus not found: set HVGUI_CORPUS" in reasons[0]
    assert " passed" not in result.stdout and "skipped" in result.stdout


def test_ci_fails_when_the_corpus_tests_would_be_skipped(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path, HVGUI_CORPUS=str(tmp_path / "absent"), HVGUI_REQUIRE_CORPUS="1"
    )
    assert result.returncode == 1, result.stdout
    assert "real Hyper-V corpus not found" in result.stdout
    assert "HVGUI_REQUIRE_CORPUS=1" in result.stdout


def test_hvgui_corpus_points_the_tests_at_a_corpus_elsewhere(
    tmp_path: Path, corpus_dir: Path
) -> None:
    """The gunzipped copy in a folder of its own is found through HVGUI_CORPUS alone."""
    result = run_pytest(tmp_path, HVGUI_CORPUS=str(corpus_dir), HVGUI_REQUIRE_CORPUS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped" not in result.stdout and " passed" in result.stdout
