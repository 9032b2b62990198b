"""Malicious files (tests/vhdx/hostile.py) through every disk command: one line
`hvctl: error: <file>: <problem>` and exit 1 (or a sound answer), never a traceback, a hang or
memory out of proportion to the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hvgui.cli.common import parse_size
from hvgui.cli.main import main

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20

# What the engine must say (read-vhd) about some of the files, in words.
EXPECTED = {
    "metadata-count.vhdx": "claims 65535 entries",
    "locator-count.avhdx": "parent locator claims 65535 entries",
    "region-count.vhdx": "region table claims 4294967295 entries",
    "log-zero.vhdx": "the log zeroes 1099511627776 bytes",
    "log-zero-16g.vhdx": "writes 1073741824 bytes at offset 8388608, past the file's end",
    "log-changes.vhdx": "the log holds 20000 changes",
    "log-headers.vhdx": "writes into the header area",
    "bat-headers.vhdx": "points into the header area",
    "bat-metadata.vhdx": "the metadata region",
    "cycle-a.avhdx": "loops back",
    "self.avhdx": "loops back",
    "fifo-parent.avhdx": "parent disk not found",
    "big-bat.vhdx": "the BAT region is",
    "bat-clash.vhdx": "more blocks than the file has room for",
    "folder.vhdx": "is a directory",
    "fifo.vhdx": "not a regular file",
    "empty.vhdx": "too small for a VHDX",
    "truncated.vhdx": "too small for a VHDX",
    "truncated-bat.vhdx": "past the end of the file",
    "headers.vhdx": "both headers are invalid",
    "bat-absurd.vhdx": "past the end of the file",
    "metadata-garbage.vhdx": "signature is not 'metadata'",
    "size.vhd": "disk size 4611686018427387904 is not a multiple of 512 between",
    "checksum.vhd": "footer checksum mismatch",
    "header-offset.vhd": "dynamic header offset 18446744073709550592 is outside the file",
    "bat-entries.vhd": "the BAT has 4294967295 entries, more than 16777216",
    "block-size.vhd": "block size 3145728 is not a power of two",
    "block-far.vhd": "block 3 at offset 2199023124480 is not inside the file",
    "block-clash.vhd": "blocks 0 and 5 overlap in the file",
    "block-header.vhd": "overlap",
    "locator-huge.avhd": "parent locator W2ku holds 4294967280 bytes, not a UTF-16 path",
    "locator-far.avhd": "parent locator W2ku at offset 1152921504606846976 is outside the file",
    "self.avhd": "loops back",
    "truncated.vhd": "dynamic header offset 512 is outside the file",
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("hostile")
    result = subprocess.run([sys.executable, "-m", "tests.cli.hostile_run", str(folder)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_hostile_files_give_one_line_errors(hostile_run: dict[str, object]) -> None:
    results = hostile_run["results"]
    assert isinstance(results, list)
    for r in results:
        where = (r["file"], r["command"], r["code"], r["stderr"])
        assert r["code"] in (0, 1), where
        assert r["seconds"] < 10, where
        if r["code"] == 1 and r["command"] != "test-vhd":
            assert len(r["stderr"]) == 1 and r["stderr"][0].startswith("hvctl: error: "), where
            assert r["file"] in r["stderr"][0], where
    # Test-VHD names at least one problem in every one of these files but one: a log none of
    # whose entries is valid holds nothing to replay, and the disk itself is sound.
    failed_tests = {r["file"] for r in results if r["command"] == "test-vhd" and r["code"] == 1}
    assert failed_tests == {r["file"] for r in results} - {"log-headers-everywhere.vhdx"}
    for name, words in EXPECTED.items():
        (read,) = [r for r in results if r["file"] == name and r["command"] == "read-vhd"]
        assert read["code"] == 1 and words in read["stderr"][0], read
        (test,) = [r for r in results if r["file"] == name and r["command"] == "test-vhd"]
        assert test["code"] == 1, test


def test_a_log_or_header_that_cannot_be_written_back_changes_nothing(
    hostile_run: dict[str, object],
) -> None:
    """A 4 MiB disk whose log zeroes 16 GiB once grew until the file system was full; a log
    growing the file by 200 TiB, or a header sequence number at 2^64-1, is refused before a
    byte is written."""
    results = hostile_run["results"]
    sizes = hostile_run["sizes"]
    assert isinstance(results, list) and isinstance(sizes, dict)
    for name, words in (
        ("log-zero-16g.vhdx", "past the file's end"),
        ("log-grows.vhdx", "the log grows the file by 219902321360896 bytes; at most"),
        ("sequence-max.vhdx", "sequence number 18446744073709551615 is at its maximum"),
    ):
        (write,) = [r for r in results if r["file"] == name and r["command"] == "write-vhd"]
        assert write["code"] == 1 and words in write["stderr"][0], write
        assert sizes[name] == 5 * MiB, (name, sizes[name])


def test_hostile_files_cost_little_memory(hostile_run: dict[str, object]) -> None:
    peak = hostile_run["peak_rss"]
    assert isinstance(peak, int) and peak < 250 << 20, f"peak RSS {peak >> 20} MiB"


def test_the_bat_overlap_message_names_both_sides(hostile_run: dict[str, object]) -> None:
    results = hostile_run["results"]
    assert isinstance(results, list)
    (read,) = [r for r in results
               if r["file"] == "bat-metadata.vhdx" and r["command"] == "read-vhd"]
    assert "the block at file offset 2097152 and the metadata region" in read["stderr"][0]


@pytest.mark.parametrize("args, words", [
    (["--size-bytes", "1000"], "multiple of the 512-byte logical sector"),
    (["--size-bytes", "4GB", "--logical-sector-size-bytes", "4096", "--size-bytes", "6KB"],
     "multiple of the 4096-byte"),
    (["--size-bytes", "0"], "positive multiple"),
    (["--size-bytes", "65TB"], "64TB"),
    (["--size-bytes", "4GB", "--block-size-bytes", "3MB"], "power of 2"),
    (["--size-bytes", "4GB", "--block-size-bytes", "0"], "power of 2"),
    (["--size-bytes", "4GB", "--block-size-bytes", "512MB"], "power of 2"),
    (["--size-bytes", "4GB", "--logical-sector-size-bytes", "1024"], "512 or 4096"),
    (["--size-bytes", "4GB", "--physical-sector-size-bytes", "2KB"], "512 or 4096"),
    (["--size-bytes", "1.3B"], "whole number of bytes"),
])
def test_new_vhd_bad_values_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             args: list[str], words: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["new-vhd", str(tmp_path / "x.vhdx"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: hvctl new-vhd") and words in err
    assert not (tmp_path / "x.vhdx").exists()


def test_sizes_take_powershell_suffixes_and_fractions() -> None:
    assert parse_size("4GB") == 4 << 30
    assert parse_size("512MB") == 512 << 20
    assert parse_size("1.5GB") == 3 << 29
    assert parse_size("64tb") == 64 << 40
    assert parse_size("1048576") == 1 << 20


def test_disk_commands_start_without_the_host(tmp_path: Path) -> None:
    """`hvctl get-vhd` imports only the disk commands: faster, and a problem in the host's
    modules cannot break disk commands."""
    code = (
        "import sys; from hvgui.cli.main import main; "
        f"main(['new-vhd', {str(tmp_path / 'a.vhdx')!r}, '--size-bytes', '1GB']); "
        "bad = sorted(m for m in sys.modules if m.startswith(('hvgui.host', 'lxml', 'PySide6')));"
        "print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_permission_denied_is_one_line(tmp_path: Path) -> None:
    """A file the user may not read (or write) gives one line and exit 1. As root, the
    commands run as root without the capabilities that override file permissions: still
    the owner of the clone, the venv and the test folder wherever they are, but no longer
    of a file with mode 000."""
    import os
    import shutil

    from hvgui.vhdx import create_dynamic

    disk = tmp_path / "secret.vhdx"
    create_dynamic(disk, 8 << 20)
    disk.chmod(0)
    (tmp_path / "in.bin").write_bytes(b"x")

    prefix: list[str] = []
    if os.getuid() == 0:
        setpriv = shutil.which("setpriv")  # util-linux, on every Debian
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot drop the permission to read")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
        probe = subprocess.run([*prefix, sys.executable, "-c", "import hvgui.cli.main"],
                               capture_output=True, text=True, cwd=REPO, timeout=60)
        if probe.returncode != 0:  # no CAP_SETPCAP, or a clone root reads only by override
            reason = (probe.stderr.strip().splitlines() or ["setpriv failed"])[-1]
            pytest.skip(f"root cannot drop the permission to read: {reason}")
    for args, words in (
        (["get-vhd", disk], "no permission to read"),
        (["test-vhd", disk], "no permission to read"),
        (["read-vhd", disk, "--offset", "0", "--length", "1"], "no permission to read"),
        (["write-vhd", disk, "--offset", "0", "--input", "/dev/null"], "no permission to write"),
    ):
        result = subprocess.run([*prefix, sys.executable, "-m", "hvgui.cli.main",
                                 *map(str, args)],
                                capture_output=True, text=True, cwd=REPO, timeout=60)
        assert result.returncode == 1, (args, result.stderr)
        out = result.stdout if args[0] == "test-vhd" else result.stderr
        assert words in out and "Traceback" not in result.stderr, (args, result.stderr)
        if args[0] != "test-vhd":
            assert result.stderr.count("\n") == 1
