"""hvctl's disk commands, as a user runs them: output, exit codes, and one-line errors (never a
traceback) for damaged or hostile files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hvgui.cli.main import main
from hvgui.vhdx import MiB, open_disk, set_read_only

REPO = Path(__file__).resolve().parents[2]


def hvctl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run hvctl in a fresh process, as a user would."""
    return subprocess.run([sys.executable, "-m", "hvgui.cli.main", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_new_vhd_dynamic_fixed_and_differencing(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.vhdx"
    assert main(["new-vhd", str(base), "--size-bytes", "64MB"]) == 0
    out = capsys.readouterr().out
    assert "VhdType                 : Dynamic" in out
    assert f"Size                    : {64 * MiB}" in out
    fixed = tmp_path / "fixed.vhdx"
    assert main(["new-vhd", str(fixed), "--size-bytes", "8MB", "--fixed",
                 "--block-size-bytes", "1MB", "--logical-sector-size-bytes", "4096"]) == 0
    capsys.readouterr()
    assert main(["get-vhd", str(fixed), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["VhdType"], record["BlockSize"], record["LogicalSectorSize"]) == (
        "Fixed", MiB, 4096)
    child = tmp_path / "child.avhdx"
    assert main(["new-vhd", str(child), "--parent-path", str(base)]) == 0
    assert f"ParentPath              : {base.resolve()}" in capsys.readouterr().out


def test_new_vhd_usage_errors_exit_2(tmp_path: Path) -> None:
    result = hvctl("new-vhd", tmp_path / "x.vhdx")
    assert result.returncode == 2 and "--size-bytes is required" in result.stderr
    result = hvctl("new-vhd", tmp_path / "x.vhdx", "--size-bytes", "12 parsecs")
    assert result.returncode == 2 and "invalid size" in result.stderr
    result = hvctl("new-vhd", tmp_path / "y.avhdx", "--parent-path", tmp_path / "p.vhdx",
                   "--size-bytes", "1GB")
    assert result.returncode == 2 and "cannot be used with --parent-path" in result.stderr


def test_read_and_write_bytes(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    disk = tmp_path / "d.vhdx"
    main(["new-vhd", str(disk), "--size-bytes", "16MB"])
    payload = tmp_path / "in.bin"
    payload.write_bytes(b"hello, disk" * 100)
    assert main(["write-vhd", str(disk), "--offset", "1MB", "--input", str(payload)]) == 0
    capsysbinary.readouterr()
    assert main(["read-vhd", str(disk), "--offset", str(MiB), "--length", "1100"]) == 0
    assert capsysbinary.readouterr().out == payload.read_bytes()
    out = tmp_path / "out.bin"
    assert main(["read-vhd", str(disk), "--offset", "0", "--length", "1MB",
                 "--output", str(out)]) == 0
    assert out.read_bytes() == bytes(MiB)
    # Odd offsets and lengths, the last byte of the disk, and never onto the disk itself.
    assert main(["read-vhd", str(disk), "--offset", str(MiB + 3), "--length", "7"]) == 0
    assert capsysbinary.readouterr().out == b"lo, dis"
    assert main(["read-vhd", str(disk), "--offset", str(16 * MiB - 1), "--length", "1"]) == 0
    assert capsysbinary.readouterr().out == b"\0"
    size = disk.stat().st_size
    assert main(["read-vhd", str(disk), "--offset", "0", "--length", "1",
                 "--output", str(disk)]) == 1
    assert disk.stat().st_size == size
    assert b"would destroy it" in capsysbinary.readouterr().err


def test_reading_past_the_end_is_a_one_line_error(tmp_path: Path) -> None:
    disk = tmp_path / "d.vhdx"
    main(["new-vhd", str(disk), "--size-bytes", "1MB"])
    result = hvctl("read-vhd", disk, "--offset", "0", "--length", "2MB")
    assert result.returncode == 1
    assert result.stderr.startswith(f"hvctl: error: {disk}: bytes 0..")
    assert "past the end of the virtual disk" in result.stderr


def test_test_vhd_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    main(["new-vhd", str(base), "--size-bytes", "8MB"])
    main(["new-vhd", str(child), "--parent-path", str(base)])
    # new-vhd made the parent read-only, as Hyper-V does: the fresh chain is sound, and
    # write-vhd cannot break it by accident.
    assert "is now read-only" in capsys.readouterr().err
    assert main(["test-vhd", str(child)]) == 0
    assert "no problems found" in capsys.readouterr().out
    (tmp_path / "x.bin").write_bytes(b"x")
    assert main(["write-vhd", str(base), "--offset", "0", "--input", str(tmp_path / "x.bin")]) == 1
    assert "read-only" in capsys.readouterr().err
    set_read_only(base, False)
    with open_disk(base, writable=True) as disk:
        disk.write(0, b"oops")
    assert main(["test-vhd", str(child), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["Sound"] is False
    assert {f["Code"] for f in report["Findings"]} >= {"linkage-mismatch", "parent-writable"}
    assert main(["test-vhd", str(child)]) == 1
    assert "error: " in capsys.readouterr().out


def test_merge_and_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    main(["new-vhd", str(base), "--size-bytes", "8MB"])
    main(["new-vhd", str(child), "--parent-path", str(base)])
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(3 * MiB))
    main(["write-vhd", str(child), "--offset", "4096", "--input", str(data)])
    capsys.readouterr()
    assert main(["merge-vhd", "--path", str(child)]) == 0
    out = capsys.readouterr().out
    assert f"into {base}" in out
    # The empty base held less than the child: it was folded into the child, renamed.
    assert ("base.vhdx held less: its data was folded into child.avhdx, which then took "
            "its name") in out
    assert not child.exists()
    raw = tmp_path / "flat.raw"
    assert main(["convert-vhd", str(base), str(raw)]) == 0
    assert raw.read_bytes()[4096 : 4096 + 3 * MiB] == data.read_bytes()


def test_get_vhd_of_a_hyperv_checkpoint_without_its_parent(corpus_dir: Path) -> None:
    result = hvctl("get-vhd", corpus_dir / "differencing.avhdx")
    assert result.returncode == 0
    assert "VhdType                 : Differencing" in result.stdout
    assert "Generation 1_49C4BAF3-4B25-4406-8C4B-D39E65C32385.avhdx" in result.stdout
    assert "its parent disk is missing" in result.stderr
    result = hvctl("test-vhd", corpus_dir / "differencing.avhdx")
    assert result.returncode == 1
    assert "its parent disk is missing" in result.stdout


# Damaged and hostile files through every command: tests/cli/test_hostile_disks.py.


def test_new_vhd_picks_the_format_by_extension_and_never_mixes_vhd_and_vhdx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As New-VHD: a `.vhd` is a legacy VHD (qemu-img reads it as vpc), and a differencing
    disk's name must match its parent's format (.avhd under a VHD, .avhdx under a VHDX)."""
    from tests.vhdx.helpers import qemu_raw, vhdiinfo

    for name, fixed in (("dynamic.vhd", False), ("fixed.vhd", True)):
        path = tmp_path / name
        assert main(["new-vhd", str(path), "--size-bytes", "8MB",
                     *(["--fixed"] if fixed else [])]) == 0
        assert "VhdFormat               : VHD\n" in capsys.readouterr().out
        assert qemu_raw(path, "vpc") == bytes(8 * MiB)
        assert ("Fixed" if fixed else "Dynamic") in vhdiinfo(path)
    with pytest.raises(SystemExit):
        main(["new-vhd", str(tmp_path / "x.vhd"), "--size-bytes", "8MB",
              "--logical-sector-size-bytes", "4096"])
    assert "must be 512 for a VHD" in capsys.readouterr().err
    vhdx_base = tmp_path / "base.vhdx"
    assert main(["new-vhd", str(vhdx_base), "--size-bytes", "8MB"]) == 0
    for child, parent, words in (("c.avhd", vhdx_base, "is a VHDX"),
                                 ("c.avhdx", tmp_path / "dynamic.vhd", "is a VHD")):
        capsys.readouterr()
        assert main(["new-vhd", str(tmp_path / child), "--parent-path", str(parent)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "does not mix VHD and VHDX" in err
        assert not (tmp_path / child).exists()
    # Any other name is no format: refused in one line, nothing made (c.txt was a VHDX).
    for name, parent in (("c.txt", None), ("noext", None), ("base.avhdx", None),
                         ("c.txt", vhdx_base), ("c.vhdx.tmp", vhdx_base)):
        capsys.readouterr()
        argv = ["--parent-path", str(parent)] if parent else ["--size-bytes", "8MB"]
        assert main(["new-vhd", str(tmp_path / name), *argv]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"hvctl: error: {tmp_path / name}: unknown format ")
        assert err.count("\n") == 1 and "name the disk .vhdx (or .vhd)" in err
        assert not (tmp_path / name).exists()
