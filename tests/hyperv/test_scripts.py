"""The PowerShell scripts, read as text (no Windows here): each prints the fields its parser
reads, casts what Windows PowerShell 5.1 prints badly, and runs mutating cmdlets as jobs whose
progress it reports."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from hvgui.host import Host
from hvgui.hyperv import parse
from hvgui.hyperv.transport import declared_parameters, script_names, script_text
from hvgui.vhdx import get_vhd
from tests.host.hosthelpers import make_vm
from tests.hyperv.lab_transport import LabTransport, snapshot_object, vm_object

ENUMS = {"State", "CheckpointType", "SnapshotType", "VhdFormat", "VhdType", "ControllerType"}
DATES = {"CreationTime", "LastWriteTime"}


def function_body(name: str) -> str:
    source = script_text("_common")
    start = source.index(f"function {name}(")
    depth, opened = 0, False
    for end in range(source.index("{", start), len(source)):
        depth += {"{": 1, "}": -1}.get(source[end], 0)
        opened = True
        if opened and depth == 0:
            return source[start:end + 1]
    raise AssertionError(f"{name} does not end")


def printed_fields(converter: str) -> dict[str, str]:
    """`Name = <expression>` of the hashtable a ConvertTo-Hvgui* function returns."""
    return dict(re.findall(r"^\s+([A-Z][A-Za-z]*) = (.+)$", function_body(converter), re.M))


class Reads(dict[str, Any]):
    """A record that remembers which properties the parser asked for."""

    asked: set[str]

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def asked_for(reader: Callable[[Any], Any], obj: dict[str, Any]) -> set[str]:
    record = Reads(obj)
    record.asked = set()
    reader(record)
    return record.asked


@pytest.fixture
def sample(tmp_path: Any) -> tuple[Host, str]:
    host = Host.open(tmp_path / "host")
    vm = make_vm(host, "web01")
    host.checkpoint_vm(vm)
    return host, vm


def test_every_field_a_parser_reads_is_printed(sample: tuple[Host, str]) -> None:
    host, vm = sample
    [snap] = host.list_snapshots(vm)
    drive = host.get_vm(vm).hard_drives[0]
    cases = [
        ("ConvertTo-HvguiVM", parse.vm_from_record, vm_object(host.get_vm(vm))),
        ("ConvertTo-HvguiSnapshot", parse.snapshot_from_record, snapshot_object(snap)),
        ("ConvertTo-HvguiVHD", parse.vhd_from_record, get_vhd(drive.path).to_json()),
        ("ConvertTo-HvguiDrive", parse.hard_drive, drive.to_json()),
    ]
    for converter, reader, obj in cases:
        printed = printed_fields(converter)
        # Fields asked for but absent from `obj` are optional aliases (CheckpointFileLocation).
        missing = {name for name in asked_for(reader, obj) & set(obj) if name not in printed}
        assert not missing, f"{converter} does not print {sorted(missing)}"


def test_enums_dates_and_ids_are_cast_for_windows_powershell_5_1() -> None:
    for converter in ("ConvertTo-HvguiVM", "ConvertTo-HvguiSnapshot", "ConvertTo-HvguiVHD",
                      "ConvertTo-HvguiDrive"):
        for name, expression in printed_fields(converter).items():
            if name in ENUMS or name in ("Id", "VMId", "Uptime", "DiskIdentifier"):
                assert expression.startswith("[string]"), f"{converter}.{name}: {expression}"
            if name in DATES:
                assert expression.startswith("ConvertTo-HvguiDate"), f"{converter}.{name}"
            if name == "ParentSnapshotId":
                assert "[string]$" in expression
    assert ".ToUniversalTime().ToString('o')" in function_body("ConvertTo-HvguiDate")
    assert "LastWriteTime = ConvertTo-HvguiDate" in function_body("ConvertTo-HvguiFile")
    record = function_body("Write-HvguiRecord")
    assert "-Compress" in record and "-Depth" in record  # one line, nested drives kept


@pytest.mark.parametrize(("script", "jobs"), [
    ("checkpoint_vm", ["70"]),
    ("restore_snapshot", ["71", "70"]),
    ("remove_snapshot", ["72, 50"]),
    ("export_snapshot", ["62"]),
    ("move_storage", ["63"]),
])
def test_mutating_cmdlets_run_as_jobs_with_progress(script: str, jobs: list[str]) -> None:
    text = script_text(script)
    assert "-AsJob" in text
    for job in jobs:
        assert f"$VMId @({job})" in text
    common = script_text("_common")
    assert "Msvm_ConcreteJob" in common and "PercentComplete" in common
    assert "Start-Sleep -Milliseconds 500" in function_body("Wait-HvguiJob")
    # A stopped pipeline (cancel) terminates a cancellable Hyper-V job.
    assert "Stop-HvguiJob" in function_body("Wait-HvguiJob")
    assert "RequestStateChange" in function_body("Stop-HvguiJob")
    assert "Cancellable" in function_body("Stop-HvguiJob")


def test_progress_records_are_never_piped_away() -> None:
    """Wait-HvguiJob's and Wait-HvguiMerge's output IS the progress: `| Out-Null` after them
    would silence the Status column."""
    for name in script_names():
        for line in script_text(name).splitlines():
            if "Wait-Hvgui" in line:
                assert "Out-Null" not in line and "$null =" not in line, f"{name}: {line}"
    assert "$null = Receive-Job" in function_body("Wait-HvguiJob")  # the cmdlet's output


def test_remove_reports_the_merge_until_it_ends() -> None:
    text = script_text("remove_snapshot")
    assert text.index("Wait-HvguiJob") < text.index("Wait-HvguiMerge") < text.index("'Done'")
    assert "-IncludeAllChildSnapshots:$IncludeAllChildSnapshots" in text
    assert "@(50)" in function_body("Wait-HvguiMerge")


def test_get_vms_asks_summary_information_once_for_all_vms() -> None:
    text = script_text("get_vms")
    assert text.count("-MethodName GetSummaryInformation") == 1 and "SettingData" not in text
    # state, memory, uptime, checkpoints, jobs, status
    for number in ("100", "103", "105", "107", "108", "110"):
        assert re.search(rf"\b{number}\b", text.split("$requested")[1])


def test_the_lab_transport_answers_every_script_with_its_parameters() -> None:
    names = script_names()
    assert {"get_vms", "get_snapshots", "checkpoint_vm", "restore_snapshot", "remove_snapshot",
            "rename_snapshot", "export_snapshot", "move_storage", "set_vm_state", "set_vm",
            "get_vhd", "read_file", "vm_files", "probe", "stop_job"} <= set(names)
    for name in names:
        assert callable(getattr(LabTransport, f"_{name}", None)), name
        assert "param(" in script_text(name) or not declared_parameters(name)


def test_the_ranged_read_shares_the_file_and_sends_1_mib_chunks() -> None:
    text = script_text("read_file")
    assert "[IO.File]::Open($Path, 'Open', 'Read', 'ReadWrite')" in text
    assert "New-Object byte[] (1mb)" in text and "ToBase64String" in text


def test_vm_files_gives_each_disk_its_parent_from_get_vhd() -> None:
    """What happened names which AVHDX merged into which parent from these (changes.py)."""
    text = script_text("vm_files")
    assert "Get-VHD -Path $item.FullName" in text
    assert "$file.ParentPath = [string]$vhd.ParentPath" in text  # '' for a base disk
