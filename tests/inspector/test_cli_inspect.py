"""`hvctl inspect FILE [--json]` on each file type, and `hvctl inspect-checkpoint`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hvgui.cli.main import main
from hvgui.host import Host
from hvgui.inspect import vmcx
from hvgui.vhdx import create_differencing, create_dynamic, set_read_only

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def run_json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, object]:
    code = main([*map(str, args)])
    return code, json.loads(capsys.readouterr().out)


def test_json_for_each_file_type(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus_dir: Path,
    bin_file: Path, vsv_file: Path, config_pair: tuple[Path, Path],
) -> None:
    base, child = tmp_path / "base.vhdx", tmp_path / "base_A.avhdx"
    create_dynamic(base, 8 * MiB, block_size=MiB)
    create_differencing(child, base)
    set_read_only(base, True)
    cases = {
        base: ("vhdx", True), child: ("avhdx", True), config_pair[0]: ("xml", True),
        bin_file: ("bin", True), vsv_file: ("vsv", True),
        corpus_dir / "fixed.vhdx": ("vhdx", True),
        corpus_dir / "differencing.avhdx": ("avhdx", True),
        corpus_dir / "test.vmcx": ("vmcx", vmcx.available()),
        corpus_dir / "test.VMRS": ("vmrs", vmcx.available()),
    }
    for path, (kind, decoded) in cases.items():
        code, facts = run_json(capsys, "inspect", path, "--json")
        assert isinstance(facts, dict)
        assert (code, facts["kind"], facts["decoded"]) == (0, kind, decoded), path
        assert facts["file"]["size"] == path.stat().st_size
    _, child_facts = run_json(capsys, "inspect", child, "--json")
    assert isinstance(child_facts, dict)
    locator = child_facts["vhdx"]["parent_locator"]
    assert locator["resolved"] == str(base) and locator["linkage_ok"] is True
    assert child_facts["findings"] == []
    _, real = run_json(capsys, "inspect", corpus_dir / "differencing.avhdx", "--json")
    assert isinstance(real, dict)
    assert real["vhdx"]["parent_locator"]["resolved"] is None
    assert [f["code"] for f in real["findings"]] == ["parent-missing"]
    assert real["vhdx"]["bat"]["counts"] == {"NOT_PRESENT": 4064, "PARTIALLY_PRESENT": 32}


def test_text_output_and_exit_codes(tmp_path: Path, corpus_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hvgui.cli.main", "inspect", str(corpus_dir / "test.vmcx")],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0
    assert "Configuration (VMCX, Server 2016+)" in result.stdout
    real = subprocess.run(
        [sys.executable, "-m", "hvgui.cli.main", "inspect",
         str(corpus_dir / "differencing.avhdx")],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert real.returncode == 0
    assert "ParentFound   : MISSING" in real.stdout
    assert "CurrentHeader : slot 2, sequence 7" in real.stdout
    assert "its parent disk is missing" in real.stdout
    if vmcx.available():  # the key tree, as Hyper-V stores it
        assert "Other Location.vhdx" in result.stdout and "controller0" in result.stdout
    else:
        assert "pip install 'hvgui[vmcx]'" in result.stdout
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(b"HVGUIBIN" + bytes(5000))
    result = subprocess.run(
        [sys.executable, "-m", "hvgui.cli.main", "inspect", str(damaged)],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 1
    assert "Problem: " in result.stdout and "Traceback" not in result.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "hvgui.cli.main", "inspect", str(tmp_path / "nope.vhdx")],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert missing.returncode == 1
    assert missing.stderr.startswith("hvctl: error: ") and "does not exist" in missing.stderr


def test_inspect_checkpoint_lists_files_and_previews_a_delete(
    capsys: pytest.CaptureFixture[str], lab: Host
) -> None:
    two = lab.get_snapshot("Lab", "Two")
    code, files = run_json(capsys, "inspect-checkpoint", "Lab", "Two", "--json",
                           "--host", lab.root)
    assert code == 0 and isinstance(files, list)
    assert [f["kind"] for f in files] == ["xml", "bin", "vsv", "avhdx", "vhdx"]
    assert files[3]["path"] == str(two.hard_drives[0].path) and files[3]["read_only"] is True
    code, preview = run_json(capsys, "inspect-checkpoint", "Lab", "Two", "--delete-preview",
                             "--json", "--host", lab.root)
    assert code == 0 and isinstance(preview, dict)
    assert preview["BytesMoved"] == MiB and preview["EnoughSpace"] is True
    assert sorted(f["action"] for f in preview["Files"]) == [
        "delete", "delete", "delete", "keep", "merge"]
    code, subtree = run_json(capsys, "inspect-checkpoint", "Lab", "One", "--delete-preview",
                             "--include-children", "--json", "--host", lab.root)
    assert code == 0 and isinstance(subtree, dict)
    assert subtree["Snapshot"] == "One and its subtree"
    assert [f["action"] for f in subtree["Files"]].count("delete") > 3  # both checkpoints'
    assert main(["inspect-checkpoint", "Lab", "--host", str(lab.root)]) == 0
    out = capsys.readouterr().out
    assert "running disk" in out
