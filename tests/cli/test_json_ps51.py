"""`--json-ps51`: what Windows PowerShell 5.1's ConvertTo-Json prints, for scripts written against
real Hyper-V hosts; `--json` stays as it was."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hvgui.cli.main import build_parser, main
from hvgui.cli.ps51 import convert_to_json, pipeline_to_json

TIME_SPAN_KEYS = ["Ticks", "Days", "Hours", "Milliseconds", "Minutes", "Seconds", "TotalDays",
                  "TotalHours", "TotalMilliseconds", "TotalMinutes", "TotalSeconds"]
DATE = re.compile(r"^/Date\((-?\d+)\)/$")  # "\/Date(ms)\/" once the JSON is parsed


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


@pytest.fixture
def lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A host with web01 (running, one checkpoint) and db01 (off)."""
    host = str(tmp_path / "lab")
    ok(capsys, "new-host", host)
    for name in ("web01", "db01"):
        ok(capsys, "new-vm", name, "--host", host, "--new-vhd-size-bytes", "64MB")
    ok(capsys, "start-vm", "web01", "--host", host)
    ok(capsys, "checkpoint-vm", "web01", "--snapshot-name", "before", "--host", host)
    return host


def ms(iso: str) -> int:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def test_get_vm_states_and_types_are_hyper_v_enum_numbers(
    lab: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = json.loads(ok(capsys, "get-vm", "--host", lab, "--json"))
    ps51 = json.loads(ok(capsys, "get-vm", "--host", lab, "--json-ps51"))
    assert [vm["Name"] for vm in ps51] == [vm["Name"] for vm in plain]
    by_name = {vm["Name"]: vm for vm in ps51}
    assert by_name["web01"]["State"] == 2 and by_name["db01"]["State"] == 3  # Running, Off
    assert {vm["CheckpointType"] for vm in ps51} == {5}  # Standard
    # --json is the contract: names, not numbers
    assert {vm["State"] for vm in plain} == {"Running", "Off"}
    assert {vm["CheckpointType"] for vm in plain} == {"Standard"}
    # same properties in the same order: only the values' form differs
    assert [list(vm) for vm in ps51] == [list(vm) for vm in plain]


def test_uptime_is_a_time_span_object_as_powershell_5_1_writes_it(
    lab: str, capsys: pytest.CaptureFixture[str]
) -> None:
    vm = json.loads(ok(capsys, "get-vm", "web01", "--host", lab, "--json-ps51"))
    uptime = vm["Uptime"]
    assert list(uptime) == TIME_SPAN_KEYS
    assert uptime["Ticks"] % 10_000 == 0  # Hyper-V counts uptime in milliseconds
    assert uptime["Milliseconds"] == uptime["Ticks"] // 10_000 % 1000
    assert abs(uptime["Ticks"] - uptime["TotalSeconds"] * 10_000_000) < 1
    plain = json.loads(ok(capsys, "get-vm", "web01", "--host", lab, "--json"))
    hours, minutes, seconds = (int(p) for p in plain["Uptime"].split(":"))
    assert abs(uptime["TotalSeconds"] - (hours * 3600 + minutes * 60 + seconds)) <= 2


def test_time_span_fields_and_doubles_match_dotnet() -> None:
    text = convert_to_json({"Uptime": timedelta(days=1, hours=2, minutes=3, seconds=4.5)})
    span = json.loads(text)["Uptime"]
    assert span == {
        "Ticks": 937845000000, "Days": 1, "Hours": 2, "Milliseconds": 500, "Minutes": 3,
        "Seconds": 4, "TotalDays": 937845000000 / 864_000_000_000, "TotalHours": 26.0512500,
        "TotalMilliseconds": 93784500, "TotalMinutes": 1563.075, "TotalSeconds": 93784.5,
    }
    # .NET's "R" format: a whole double has no ".0"; 15 digits when they round-trip,
    # else 17, exponent as E-05
    assert '"TotalMilliseconds":  93784500,' in text
    one_second = json.loads(convert_to_json({"Uptime": "00:00:01"}))["Uptime"]
    assert one_second["Ticks"] == 10_000_000
    raw = convert_to_json({"Uptime": "00:00:01"})
    assert '"TotalDays":  1.1574074074074073E-05,' in raw


def test_dates_are_slash_date_milliseconds(lab: str, capsys: pytest.CaptureFixture[str]) -> None:
    raw = ok(capsys, "get-vmsnapshot", "web01", "--host", lab, "--json-ps51")
    plain = json.loads(ok(capsys, "get-vmsnapshot", "web01", "--host", lab, "--json"))
    assert re.search(r'"CreationTime":  "\\/Date\(\d+\)\\/",', raw)  # the escaped slashes
    snap = json.loads(raw)  # one checkpoint: the object itself, as the pipeline gives it
    match = DATE.match(snap["CreationTime"])
    assert match and int(match.group(1)) == ms(plain[0]["CreationTime"])
    assert snap["SnapshotType"] == 0 and snap["State"] == 2  # Standard, taken while Running
    assert plain[0]["SnapshotType"] == "Standard" and plain[0]["State"] == "Running"
    events = json.loads(ok(capsys, "get-vmevent", "web01", "--host", lab, "--json-ps51"))
    assert all(DATE.match(e["Time"]) for e in events)


def test_a_list_goes_down_the_pipeline_none_one_or_many(
    lab: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(json.loads(ok(capsys, "get-vm", "--host", lab, "--json-ps51")), list)
    single = json.loads(ok(capsys, "get-vmsnapshot", "web01", "--host", lab, "--json-ps51"))
    assert isinstance(single, dict) and single["Name"] == "before"
    assert ok(capsys, "get-vmsnapshot", "db01", "--host", lab, "--json-ps51") == ""
    assert json.loads(ok(capsys, "get-vmsnapshot", "db01", "--host", lab, "--json")) == []
    assert pipeline_to_json([]) is None


def test_past_depth_two_an_object_is_powershell_text(
    lab: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = json.loads(ok(capsys, "checkpoint-vm", "db01", "--snapshot-name", "x",
                           "--host", lab, "--json-ps51"))
    (drive,) = result["Snapshot"]["HardDrives"]  # result > Snapshot > HardDrives > drive
    assert drive.startswith("@{ControllerType=SCSI; ControllerNumber=0; ControllerLocation=0;")
    assert drive.endswith("db01.vhdx; PassThrough=False}")
    assert DATE.match(result["Events"][0]["Time"])  # dates are values: no depth limit
    two_vms = json.loads(ok(capsys, "get-vm", "--host", lab, "--json-ps51"))
    assert all(isinstance(d, str) and d.startswith("@{") for d in two_vms[0]["HardDrives"])
    one_vm = json.loads(ok(capsys, "get-vm", "db01", "--host", lab, "--json-ps51"))
    assert one_vm["HardDrives"][0]["ControllerType"] == 1  # SCSI, one level less deep


def test_layout_and_escaping_are_powershell_5_1s() -> None:
    text = convert_to_json({"Name": "it's <a> & \"b\"\t", "Empty": [], "Obj": {"A": [1, None]},
                            "On": True})
    assert text == "\n".join([
        "{",
        '    "Name":  "it\\u0027s \\u003ca\\u003e \\u0026 \\"b\\"\\t",',
        '    "Empty":  [',
        "",
        "              ],",
        '    "Obj":  {',
        '                "A":  [',
        "                          1,",
        "                          null",
        "                      ]",
        "            },",
        '    "On":  true',
        "}",
    ])
    assert json.loads(text)["Name"] == "it's <a> & \"b\"\t"


def test_get_vhd_formats_and_types(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disk = str(tmp_path / "a.vhdx")
    ok(capsys, "new-vhd", disk, "--size-bytes", "64MB")
    info = json.loads(ok(capsys, "get-vhd", disk, "--json-ps51"))
    assert (info["VhdFormat"], info["VhdType"]) == (3, 3)  # VHDX, Dynamic
    plain = json.loads(ok(capsys, "get-vhd", disk, "--json"))
    assert (plain["VhdFormat"], plain["VhdType"]) == ("VHDX", "Dynamic")
    assert json.loads(ok(capsys, "--json-ps51", "get-vhd", disk)) == info


def test_every_command_taking_json_takes_json_ps51(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    taking = 0
    for name, sub in commands.choices.items():
        options = {o for a in sub._actions for o in a.option_strings}
        if "--json" in options:
            taking += 1
            assert "--json-ps51" in options, name
    assert taking >= 10
    code, out, err = run(capsys, "get-vhd", str(tmp_path / "a.vhdx"), "--json", "--json-ps51")
    assert (code, out) == (2, "") and "not allowed with argument" in err
    code, out, err = run(capsys, "--json-ps51", "new-host", str(tmp_path / "h"))
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == "hvctl: error: new-host does not take --json-ps51"
