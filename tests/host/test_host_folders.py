"""Folders that are not what they seem: a mistyped --host, an empty folder, the default host.

`--host` and `HVGUI_HOST` open only an existing lab host; a new one is made only by
`hvctl new-host DIR` (or File > New Host... in the window)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hvgui.cli.main import build_parser, main
from hvgui.host import Host, HostError


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hvctl: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["get-vm"],
        ["test-host"],
        ["new-vm", "web01"],
        ["checkpoint-vm", "web01"],
        ["inspect-checkpoint", "web01"],
    ],
)
def test_a_mistyped_host_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    typo = tmp_path / "lab-typo"
    assert main([*argv, "--host", str(typo)]) == 1
    line = _one_error_line(capsys)
    assert str(typo) in line and "no such folder" in line and "hvctl new-host" in line
    assert not typo.exists()


def test_hvgui_host_naming_a_missing_folder_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    env = {**os.environ, "HVGUI_HOST": str(typo)}
    done = subprocess.run([sys.executable, "-m", "hvgui.cli.main", "get-vm"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith(f"hvctl: error: {typo}: no such folder")
    assert not typo.exists()


def test_an_empty_folder_becomes_a_host_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in (["get-vm"], ["new-vm", "web01"]):
        assert main([*argv, "--host", str(empty)]) == 1
        assert "an empty folder, not a lab host" in _one_error_line(capsys)
        assert list(empty.iterdir()) == []
    assert main(["new-host", str(empty)]) == 0
    assert "a new lab host" in capsys.readouterr().out
    assert main(["new-vm", "web01", "--host", str(empty)]) == 0
    assert [vm.name for vm in Host.open(empty, create=False).list_vms()] == ["web01"]


def test_new_host_makes_a_missing_folder_a_host_and_never_remakes_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = tmp_path / "courses" / "lab"
    assert main(["new-host", str(lab)]) == 0
    assert (lab / "Virtual Machines").is_dir()
    assert main(["new-vm", "web01", "--host", str(lab)]) == 0
    capsys.readouterr()
    assert main(["new-host", str(lab)]) == 1
    assert "already a lab host" in _one_error_line(capsys)
    assert [vm.name for vm in Host.open(lab, create=False).list_vms()] == ["web01"]


def test_host_open_without_create_refuses_what_is_not_a_host(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    for name, problem in (("missing", "no such folder"), ("empty", "an empty folder"),
                          ("file", "not a folder")):
        with pytest.raises(HostError, match=problem):
            Host.open(tmp_path / name, create=False)
    assert not (tmp_path / "missing").exists() and not any((tmp_path / "empty").iterdir())


def test_help_names_the_way_to_a_new_host() -> None:
    assert "new-host" in build_parser().format_help()


def test_without_host_the_default_host_is_made_in_the_user_data_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HVGUI_HOST"}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-m", "hvgui.cli.main", "get-vm"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "hvgui" / "host" / "Virtual Machines").is_dir()
