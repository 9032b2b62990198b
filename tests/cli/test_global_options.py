"""`hvctl --host DIR COMMAND` (the global option before the command, as `git -C` takes it),
`--json` there too, and `--version` of both programs."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from hvgui import app
from hvgui.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: usage errors and --version
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_host_and_json_before_the_command_work_as_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = str(tmp_path / "lab")
    assert run(capsys, "new-demo-host", host)[0] == 0
    before = run(capsys, "--host", host, "--json", "get-vmsnapshot", "Web01")
    mixed = run(capsys, "--json", f"--host={host}", "get-vmsnapshot", "Web01")
    after = run(capsys, "get-vmsnapshot", "Web01", "--host", host, "--json")
    assert before == mixed == after
    assert before[0] == 0 and json.loads(before[1])[0]["VMName"] == "Web01"


def test_the_same_host_on_both_sides_is_fine_two_different_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = str(tmp_path / "lab")
    assert run(capsys, "new-demo-host", host)[0] == 0
    assert run(capsys, "--host", host, "get-vm", "--host", host)[0] == 0
    code, out, err = run(capsys, "--host", host, "get-vm", "--host", str(tmp_path / "other"))
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == (
        f"hvctl: error: --host given twice: {host} before the command, "
        f"{tmp_path / 'other'} after it"
    )


def test_two_spellings_of_one_host_on_both_sides_are_the_same_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = tmp_path / "lab"
    assert run(capsys, "new-demo-host", str(host))[0] == 0
    (tmp_path / "link").symlink_to(host, target_is_directory=True)
    one = run(capsys, "--host", str(host), "get-vm", "--json")
    for spelling in (tmp_path / "link", f"{host}/", tmp_path / "link" / ".." / "lab"):
        assert run(capsys, "--host", str(host), "get-vm", "--host", str(spelling),
                   "--json") == one
    assert one[0] == 0 and "Web01" in one[1]


def test_a_global_option_the_command_does_not_take_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--host", str(tmp_path), "get-vhd", str(tmp_path / "a.vhdx"))
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == "hvctl: error: get-vhd does not take --host"
    assert not any(tmp_path.iterdir())  # nothing created on the way


def test_hvctl_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"hvctl {version('hvgui')}\n", "")


def test_hvgui_version_needs_no_window(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        app.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"hvgui {version('hvgui')}\n"


def test_every_commands_help_says_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    """`hvctl COMMAND --help` opens with the line `hvctl --help` lists the command with (it
    showed only the usage for get-vhd, test-vhd, the guest commands, demo...)."""
    code, listing, _ = run(capsys, "--help")
    assert code == 0
    commands = [line.split()[0] for line in listing.splitlines()
                if line.startswith("    ") and not line.startswith("     ")]
    assert {"get-vhd", "test-vhd", "guest-note", "demo", "inspect-checkpoint"} <= set(commands)
    for argv in [[c] for c in commands] + [["demo", "run"], ["demo", "list"]]:
        code, out, _ = run(capsys, *argv, "--help")
        assert code == 0, argv
        after_usage = out.split("\n\n")[1]
        assert not after_usage.startswith(("positional arguments", "options")), (argv, out)
