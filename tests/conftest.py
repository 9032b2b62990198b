"""Shared fixtures: offscreen Qt, the real Hyper-V corpus, temporary hosts."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "hyperv"


def need_tool(name: str) -> str:
    """The path of an external tool, or fail: CI installs every tool the tests use."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (.ci/run installs it)")
    return path


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Hyper-V files, gunzipped into a temporary folder (the originals are read-only)."""
    if not CORPUS.is_dir():
        pytest.fail(f"the corpus is missing: {CORPUS}")
    out = tmp_path_factory.mktemp("corpus")
    for src in CORPUS.iterdir():
        if src.suffix == ".gz":
            with gzip.open(src, "rb") as fin, open(out / src.stem, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        elif src.is_file():
            shutil.copy(src, out / src.name)
    return out
