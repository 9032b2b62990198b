"""The disk command lines of issue 2, to the letter: every command and option parses as
written, and get-vhd --json has exactly Get-VHD's property names."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from hvgui.cli.main import build_parser, main

LINES = [
    "new-vhd d.vhdx --size-bytes 4GB --fixed --block-size-bytes 1MB "
    "--logical-sector-size-bytes 4096 --physical-sector-size-bytes 4096",
    "new-vhd d.vhdx --size-bytes 512MB --dynamic",
    "new-vhd c.avhdx --parent-path d.vhdx",
    "get-vhd d.vhdx",
    "get-vhd d.vhdx --json",
    "test-vhd d.vhdx",
    "test-vhd d.vhdx --json",
    "merge-vhd --path c.avhdx",
    "merge-vhd --path c.avhdx --destination-path d.vhdx",
    "convert-vhd d.vhdx d.raw",
    "read-vhd d.vhdx --offset 0 --length 512 --output out.bin",
    "write-vhd d.vhdx --offset 4096 --input in.bin",
]

GET_VHD_FIELDS = [
    "Path", "VhdFormat", "VhdType", "FileSize", "Size", "MinimumSize", "LogicalSectorSize",
    "PhysicalSectorSize", "BlockSize", "ParentPath", "DiskIdentifier",
    "FragmentationPercentage", "Alignment", "Attached",
]


@pytest.mark.parametrize("line", LINES)
def test_every_command_line_of_the_issue_parses(line: str) -> None:
    words = line.split()
    args = build_parser(words[0]).parse_args(words)
    assert callable(args.func)


def test_get_vhd_json_has_get_vhds_property_names(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    disk = tmp_path / "d.vhdx"
    assert main(["new-vhd", str(disk), "--size-bytes", "64MB"]) == 0
    capsys.readouterr()
    assert main(["get-vhd", str(disk), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert list(record) == GET_VHD_FIELDS
    assert record["VhdFormat"] == "VHDX" and record["VhdType"] == "Dynamic"
    assert main(["get-vhd", str(disk)]) == 0
    listed = [line.split(" : ")[0].strip() for line in capsys.readouterr().out.splitlines()]
    assert listed == GET_VHD_FIELDS


def test_test_vhd_json_is_sound_for_a_new_disk(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    disk = tmp_path / "d.vhdx"
    main(["new-vhd", str(disk), "--size-bytes", "64MB"])
    capsys.readouterr()
    assert main(["test-vhd", str(disk), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["Sound"] is True and record["Findings"] == []


def test_readmes_hvctl_lines_work_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## hvctl at a glance", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```")[1::2]  # every code block of the section, in order
    lines = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()]
    lines = [words for words in lines if words]
    assert sum(words[0] == "hvctl" for words in lines) >= 15
    monkeypatch.chdir(tmp_path)
    for words in lines:
        if words[0] == "export":  # export NAME=VALUE, with $PWD as the shell would expand it
            name, value = words[1].split("=", 1)
            monkeypatch.setenv(name, value.replace("$PWD", str(tmp_path)))
            continue
        assert words[0] == "hvctl", words
        assert main(words[1:]) == 0, (words, capsys.readouterr().err)
