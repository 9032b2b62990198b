"""Fuzzing hvgui's readers of untrusted files: the VHDX/VHD engine (open, read, survey, Test-VHD,
convert, write; a chain's reads and merge), the configuration parser, the BIN and VSV parsers
(tests/fuzz/targets.py).

Every corpus file (seeds, and every input a fuzzer ever found a problem with) is replayed in
the default run: a clear answer or a clear refusal, never another exception. Then each target
is fuzzed for a fixed number of inputs with atheris (coverage-guided, seeded, so a CI run is
repeatable); atheris has wheels for Linux x86-64 up to Python 3.11, and where it is missing
the test skips with that reason, unless HVGUI_REQUIRE_FUZZ is set (`.ci/run` sets it).
A longer campaign: `python -m tests.fuzz.run TARGET -runs=100000 NEW_DIR
tests/fuzz/corpus/TARGET` (tests/fuzz/README.md).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.fuzz.targets import CORPUS, MAX_FILE_WRITTEN, TARGETS, corpus_files

REPO = Path(__file__).resolve().parents[2]
# Inputs per target in the default run: a few seconds each on a 2-core machine.
RUNS = {"vhdx": 200, "chain": 300, "config": 2000, "host": 300, "bin": 1500, "vsv": 2000,
        "vmcx": 600}


@pytest.mark.parametrize(("target", "path"), corpus_files(), ids=lambda v: getattr(v, "name", v))
def test_every_corpus_input_gets_a_clear_answer(
    target: str, path: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if target == "vmcx":
        request.getfixturevalue("vmcx_extra")  # its reader is the optional extra
    TARGETS[target](path.read_bytes(), tmp_path / "work")
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "work").rglob("*") if p.is_file()}
    assert max(sizes.values(), default=0) <= MAX_FILE_WRITTEN, sizes


# libFuzzer's -rss_limit_mb reads the process's peak RSS, and Linux hands a child the peak of
# the process it was forked from (kept across exec): after a long test session pytest holds
# gigabytes, and every target would "run out of memory" at once. A shell that forks the
# target gives it a peak of its own.
FRESH_PEAK = ("/bin/sh", "-c", '"$@"; exit $?', "sh")

def test_every_target_has_seeds_and_every_finding_is_kept() -> None:
    for target in TARGETS:
        names = [p.name for p in (CORPUS / target).iterdir()]
        assert any(n.startswith("seed-") for n in names), target
        assert all(n.startswith(("seed-", "finding-")) for n in names), names


@pytest.mark.parametrize("target", sorted(RUNS))
def test_fuzzing_finds_nothing(target: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if target == "vmcx":
        request.getfixturevalue("vmcx_extra")
    if importlib.util.find_spec("atheris") is None:
        reason = "atheris is not installed (no wheel for this platform or Python)"
        if os.environ.get("HVGUI_REQUIRE_FUZZ"):
            pytest.fail(f"HVGUI_REQUIRE_FUZZ is set but {reason}")
        pytest.skip(reason)
    found = tmp_path / "found"
    new = tmp_path / "new"
    new.mkdir()
    shm = Path("/dev/shm")  # in RAM where there is one: the targets fsync what they write
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else tmp_path) as work:
        result = subprocess.run(
            [*FRESH_PEAK, sys.executable, "-m", "tests.fuzz.run", target, f"-runs={RUNS[target]}",
             "-seed=1", "-max_len=65536", "-timeout=20", "-rss_limit_mb=1536",
             f"-artifact_prefix={found}-", str(new), str(CORPUS / target)],
            capture_output=True, text=True, cwd=REPO, timeout=300,
            env={**os.environ, "HVGUI_FUZZ_WORK": str(Path(work) / "work")},
        )
    done = re.search(r"Done (\d+) runs", result.stderr)
    artifacts = sorted(p.name for p in tmp_path.glob("found-*"))
    assert result.returncode == 0 and done and not artifacts, (
        f"a finding ({artifacts}): put the input in tests/fuzz/corpus/{target}/ as "
        f"finding-<what>, then fix it\n{result.stderr[-4000:]}"
    )
    print(f"{target}: {done.group(1)} inputs, no finding")
