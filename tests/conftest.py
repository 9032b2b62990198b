"""Shared fixtures: offscreen Qt, the real Hyper-V corpus, temporary hosts."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
# The real Hyper-V files (README: "The real Hyper-V corpus"): HVGUI_CORPUS, else the CI's folder
# beside the clone. A fresh clone has neither, so the tests needing it are skipped, except where
# HVGUI_REQUIRE_CORPUS=1 (.ci/run) turns the skip into a failure.
CORPUS = Path(os.environ.get("HVGUI_CORPUS") or REPO.parent / "shared" / "corpus" / "hyperv")
CORPUS_MISSING = "real Hyper-V corpus not found: set HVGUI_CORPUS (see README)"


def need_tool(name: str) -> str:
    """The path of an external tool, or fail: CI installs every tool the tests use."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (.ci/run installs it)")
    return path


@pytest.fixture(autouse=True)
def own_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own hvgui settings folder (the folders hosts may reach outside themselves):
    never the user's, and never another test's."""
    folder = tmp_path_factory.mktemp("settings")
    monkeypatch.setenv("HVGUI_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Hyper-V files, gunzipped into a temporary folder (the originals are read-only)."""
    if not CORPUS.is_dir():
        if os.environ.get("HVGUI_REQUIRE_CORPUS") == "1":
            pytest.fail(f"{CORPUS_MISSING} ({CORPUS} is not a folder; HVGUI_REQUIRE_CORPUS=1)")
        pytest.skip(CORPUS_MISSING)
    out = tmp_path_factory.mktemp("corpus")
    for src in CORPUS.iterdir():
        if src.suffix == ".gz":
            with gzip.open(src, "rb") as fin, open(out / src.stem, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        elif src.is_file():
            shutil.copy(src, out / src.name)
    return out


@pytest.fixture
def without_vmcx_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a default install: the optional VMCX/VMRS decoder (hvgui[vmcx]) is absent (the
    host's reader, which the inspector asks too, says so)."""
    from hvgui.host import keystore

    monkeypatch.setattr(keystore, "available", lambda: False)


@pytest.fixture
def vmcx_extra() -> None:
    """The optional decoder hvgui[vmcx] (dissect.hypervisor): skipped without it, except in CI,
    where HVGUI_REQUIRE_VMCX=1 (.ci/run installs the extra) makes its absence a failure."""
    from hvgui.host import keystore

    if not keystore.available():
        reason = f"the optional extra is not installed: {keystore.INSTALL_HINT}"
        if os.environ.get("HVGUI_REQUIRE_VMCX") == "1":
            pytest.fail(f"HVGUI_REQUIRE_VMCX=1 but {reason}")
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """All corpus skips fold into one summary line (pytest would give one per test)."""
    report = yield
    longrepr = getattr(report, "longrepr", None)
    if (
        getattr(report, "skipped", False)
        and isinstance(longrepr, tuple)
        and str(longrepr[2]).endswith(CORPUS_MISSING)
    ):
        source = Path(__file__).read_text().splitlines()
        line = next(n for n, text in enumerate(source, 1) if "skip(CORPUS_MISSING)" in text)
        report.longrepr = (str(Path(__file__).relative_to(REPO)), line, CORPUS_MISSING)
    return report
