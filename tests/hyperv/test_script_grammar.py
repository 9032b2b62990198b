"""The shipped PowerShell scripts read with a real PowerShell grammar (no Windows here): each
parses; each command is a cmdlet Microsoft documents, given only parameters its page lists
(cmdlet_reference.py), or one of the common functions with the parameters it declares; each
variable read has a value by then; what the records print of a cmdlet's objects is cast.

A parse proves none of what only a host can: the values' types, the parameter set a call
lands in, the objects' properties, a cmdlet's behaviour on a given Hyper-V version. Those are
the recorded-output tests' and the live test's (HVGUI_TEST_HYPERV_HOST) to prove.
"""

from __future__ import annotations

from functools import cache

import pytest

from hvgui.hyperv.transport import COMMON, invocation, script_names, script_text
from tests.hyperv import psgrammar as ps
from tests.hyperv.cmdlet_reference import (
    CIM_CLASSES,
    CIM_METHODS,
    CMDLETS,
    CONCRETE_JOB,
    SUMMARY_INFORMATION,
)

SCRIPTS = [COMMON, *script_names()]
BY_NAME = {name.lower(): cmdlet for name, cmdlet in CMDLETS.items()}
# Enum-typed properties of Get-VM, Get-VMSnapshot, Get-VHD and Get-VMHardDiskDrive objects:
# Windows PowerShell 5.1's ConvertTo-Json prints their numbers unless cast to [string].
ENUMS = {"State", "CheckpointType", "SnapshotType", "VhdFormat", "VhdType", "ControllerType"}
DATES = {"CreationTime", "LastWriteTime"}


@cache
def functions() -> dict[str, list[str]]:
    """The common functions and their parameters (lower-case), in order."""
    found = {}
    for scope in ps.scopes(ps.parse(script_text(COMMON)), COMMON)[1:]:
        found[scope.name.lower()] = scope.parameters
    return found


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_parses(name: str) -> None:
    assert ps.syntax_problems(ps.parse(script_text(name))) == [], name


@pytest.mark.parametrize("name", script_names())
def test_what_a_host_is_sent_parses(name: str) -> None:
    """The prelude, the script as a splatted script block, the error handler: one text."""
    text = invocation(name, {"VMId": "0c3f5d3c-1111-4a2b-9c1d-2e4f6a8b0c1d"})
    assert ps.syntax_problems(ps.parse(text)) == [], name


def test_a_syntax_error_is_found() -> None:
    """The check can fail: a lost brace, a bad parameter block, an unclosed string."""
    for broken in ("if ($x) { Get-VM", "param([string $VMId)\n$x = 1", "$a = 'open\n$b = 1",
                   "Get-VM -Id $VMId |"):
        assert ps.syntax_problems(ps.parse(broken)), broken


def command_problems(name: str, text: str) -> list[str]:
    tree = ps.parse(text)
    declared = functions()
    problems = []
    for command in ps.commands(tree):
        where = f"{name}.ps1 line {command.line}: {command.name}"
        splatted = [k for v in command.splatted for k in ps.splatted_keys(tree.root_node, v)]
        function = declared.get(command.name.lower())
        cmdlet = BY_NAME.get(command.name.lower())
        if function is not None:
            named, positional = ps.bind(command, set())
            known = set(function)
            slots = len(function)
        elif cmdlet is not None:
            named, positional = ps.bind(command, set(cmdlet.switches))
            known = set(cmdlet.parameters)
            slots = cmdlet.positional
        else:
            problems.append(f"{where}: neither a documented cmdlet nor a common function")
            continue
        for parameter in [*named, *splatted]:
            if parameter.strip().lower() not in known:
                problems.append(f"{where}: no parameter -{parameter.strip()}")
        if positional > slots:
            problems.append(f"{where}: {positional} positional arguments, at most {slots}")
    return problems


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_command_is_documented_and_given_only_its_parameters(name: str) -> None:
    assert command_problems(name, script_text(name)) == []


def test_the_command_check_finds_what_a_host_would_refuse() -> None:
    """A made-up parameter, a splatted one, a misspelt cmdlet, too many positionals: each is
    named; so is an upper-case multiplier (1MB), which this grammar misreads as a command."""
    broken = (
        "param([string] $VMId)\n"
        "$vm = Get-VM -Id $VMId\n"
        "Remove-VMSnapshot -VM $vm -IncludeChildren\n"
        "$arguments = @{ VM = $vm; Snapshot = 'x' }\n"
        "$arguments.Async = $true\n"
        "Checkpoint-VM @arguments\n"
        "Get-VMSnapshots -VM $vm\n"
        "Join-Path 'a' 'b' 'c'\n"
        "Write-HvguiResult 'VM' $vm 'extra'\n"
        "Start-Sleep -Milliseconds 500 -Until 3\n"
        "$buffer = New-Object byte[] (1MB)\n"
    )
    assert command_problems("broken", broken) == [
        "broken.ps1 line 3: Remove-VMSnapshot: no parameter -IncludeChildren",
        "broken.ps1 line 6: Checkpoint-VM: no parameter -Snapshot",
        "broken.ps1 line 6: Checkpoint-VM: no parameter -Async",
        "broken.ps1 line 7: Get-VMSnapshots: neither a documented cmdlet nor a common function",
        "broken.ps1 line 8: Join-Path: 3 positional arguments, at most 2",
        "broken.ps1 line 9: Write-HvguiResult: 3 positional arguments, at most 2",
        "broken.ps1 line 10: Start-Sleep: no parameter -Until",
        "broken.ps1 line 11: 1MB: neither a documented cmdlet nor a common function",
    ]


def variable_problems(name: str, text: str) -> list[str]:
    common = ps.scopes(ps.parse(script_text(COMMON)), COMMON)[0]
    shared = set(common.assigned) | ps.AUTOMATIC
    problems = []
    for scope in ps.scopes(ps.parse(text), name):
        own = name == COMMON and scope.name == COMMON
        for variable, node in scope.reads:
            if variable.startswith("env:") or variable in scope.parameters:
                continue
            first = scope.assigned.get(variable)
            if first is not None and first < node.start_byte:
                continue
            if variable in shared and not own:
                continue  # the prelude's, set before any function or script runs
            if variable in ps.AUTOMATIC:
                continue
            said = "read before it is assigned" if first is not None else "never assigned"
            problems.append(f"{name}.ps1 line {ps.line(node)} ({scope.name}): ${variable} "
                            f"{said}")
        for variable in [*scope.parameters, *scope.assigned]:
            if variable in ps.RESERVED:
                problems.append(f"{name}.ps1 ({scope.name}): ${variable} is PowerShell's own")
    return problems


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_variable_read_has_a_value(name: str) -> None:
    assert variable_problems(name, script_text(name)) == []


def test_the_variable_check_finds_a_typo_and_a_reserved_name() -> None:
    text = ("param([string] $VMId)\n$vm = Get-VM -Id $VMid\nWrite-HvguiResult 'VM' $vn\n"
            "$later = $soon\n$soon = 1\n$input = 3\n")
    assert variable_problems("broken", text) == [
        "broken.ps1 line 3 (broken): $vn never assigned",
        "broken.ps1 line 4 (broken): $soon read before it is assigned",
        "broken.ps1 (broken): $input is PowerShell's own",
    ]  # $VMid is $VMId: PowerShell's names ignore case


def cast_problems(name: str, text: str) -> list[str]:
    problems = []
    for key, value in ps.hash_entries(ps.parse(text)):
        where = f"{name}.ps1 line {ps.line(value)}: {key}"
        for output in ps.outputs(value):
            shown = ps.text(output)
            if output.type == "member_access" and output.children[0].type == "variable":
                problems.append(f"{where} = {shown}: a property printed uncast")
            if key in ENUMS and not (output.type == "cast_expression"
                                     and shown.lower().startswith("[string]")):
                problems.append(f"{where} = {shown}: an enum, printed as its number by 5.1")
            if key in DATES and not shown.startswith("ConvertTo-HvguiDate "):
                problems.append(f"{where} = {shown}: a date, printed as \\/Date(ms)\\/ by 5.1")
    return problems


@pytest.mark.parametrize("name", SCRIPTS)
def test_what_the_records_print_is_cast_for_windows_powershell_5_1(name: str) -> None:
    assert cast_problems(name, script_text(name)) == []


def test_dates_are_printed_as_iso_8601_in_utc() -> None:
    tree = ps.parse(script_text(COMMON))
    [date] = [s for s in ps.scopes(tree, COMMON) if s.name == "ConvertTo-HvguiDate"]
    calls = [ps.text(n) for n in ps.walk(date.node) if n.type == "invokation_expression"]
    assert any(call.endswith(".ToUniversalTime().ToString('o')") for call in calls), calls


def test_the_cast_check_finds_an_uncast_enum_date_and_property() -> None:
    text = ("Write-HvguiResult 'VM' @{ State = $vm.State; Status = [string]$vm.Status;\n"
            "  CreationTime = [string]$s.CreationTime\n"
            "  Notes = $(if ($vm.Notes) { $vm.Notes } else { '' }) }\n")
    assert cast_problems("broken", text) == [
        "broken.ps1 line 1: State = $vm.State: a property printed uncast",
        "broken.ps1 line 1: State = $vm.State: an enum, printed as its number by 5.1",
        "broken.ps1 line 2: CreationTime = [string]$s.CreationTime: a date, printed as "
        "\\/Date(ms)\\/ by 5.1",
        "broken.ps1 line 3: Notes = $vm.Notes: a property printed uncast",
    ]


def argument(command: ps.Command, name: str) -> str:
    """The text of `-name value` (quotes stripped), "" when not given."""
    for given in command.arguments:
        if given.parameter and given.parameter.lower() == name.lower() and given.value:
            return ps.text(given.value).strip("'\"")
    return ""


def member_reads(tree: ps.Tree, owners: set[str]) -> list[tuple[str, int]]:
    """`$owner.Member` reads of the variables `owners` (lower-case), with their lines."""
    found = []
    for node in ps.walk(tree.root_node):
        if (node.type == "member_access" and node.children[0].type == "variable"
                and ps.variable_name(node.children[0]) in owners):
            found.append((ps.text(node.children[-1]), ps.line(node)))
    return found


def wmi_problems(name: str, text: str) -> list[str]:
    tree = ps.parse(text)
    problems = []
    for command in ps.commands(tree):
        where = f"{name}.ps1 line {command.line}"
        for parameter in ("ClassName", "Association"):
            named = argument(command, parameter)
            if named and named not in CIM_CLASSES:
                problems.append(f"{where}: {named} is not a documented Hyper-V WMI class")
        if command.name.lower() == "invoke-cimmethod":
            method = argument(command, "MethodName")
            if method not in CIM_METHODS:
                problems.append(f"{where}: {method} is not a documented method")
                continue
            given = next((a.value for a in command.arguments
                          if a.parameter and a.parameter.lower() == "arguments"), None)
            keys = [k for t in ps.walk(given) if t.type == "hash_literal_expression"
                    for k in ps.hashtable_keys(t)] if given is not None else []
            for key in keys:
                if key not in CIM_METHODS[method][1]:
                    problems.append(f"{where}: {method} has no parameter {key}")
    requested = {int(ps.text(n)) for a in ps.walk(tree.root_node)
                 if a.type == "assignment_expression" and ps.text(a).startswith("$requested")
                 for n in ps.walk(a) if n.type == "decimal_integer_literal"}
    for code in sorted(requested - set(SUMMARY_INFORMATION)):
        problems.append(f"{name}.ps1: RequestedInformation {code} is not documented")
    asked = {SUMMARY_INFORMATION[c] for c in requested if c in SUMMARY_INFORMATION}
    for member, line in member_reads(tree, {"summary"}):
        if member not in asked:
            problems.append(f"{name}.ps1 line {line}: $summary.{member} is not requested "
                            "(RequestedInformation) or not a Msvm_SummaryInformation property")
    for member, line in member_reads(tree, {"hyperv", "merge", "job", "live"}):
        if member not in CONCRETE_JOB:
            problems.append(f"{name}.ps1 line {line}: a job's {member} is not a "
                            "Msvm_ConcreteJob property")
    return problems


def test_the_wmi_classes_methods_and_properties_are_documented() -> None:
    """Msvm_* classes, methods, arguments, the summary's requested values and what is read
    of them and of a job (cmdlet_reference.py, with each page)."""
    assert wmi_problems("get_vms", script_text("get_vms")) == []
    # The common functions read the summary passed to them: what get_vms asks for.
    common = script_text("get_vms") + "\n" + script_text(COMMON).replace("$Summary", "$summary")
    assert wmi_problems(COMMON, common) == []
    assert wmi_problems("stop_job", script_text("stop_job")) == []


def test_the_wmi_check_finds_a_wrong_class_method_argument_and_property() -> None:
    text = ("$requested = [uint32[]](0, 107, 999)\n"
            "$s = Get-CimInstance -Namespace 'root\\virtualization\\v2' -ClassName Msvm_VM\n"
            "Invoke-CimMethod -InputObject $s -MethodName GetSummary -Arguments @{ X = 1 }\n"
            "Invoke-CimMethod -InputObject $s -MethodName RequestStateChange "
            "-Arguments @{ State = 4 }\n"
            "$summary.Snapshots; $summary.Uptime; $hyperv.Progress\n")
    assert wmi_problems("broken", text) == [
        "broken.ps1 line 2: Msvm_VM is not a documented Hyper-V WMI class",
        "broken.ps1 line 3: GetSummary is not a documented method",
        "broken.ps1 line 4: RequestStateChange has no parameter State",
        "broken.ps1: RequestedInformation 999 is not documented",
        "broken.ps1 line 5: $summary.Uptime is not requested (RequestedInformation) or not a "
        "Msvm_SummaryInformation property",
        "broken.ps1 line 5: a job's Progress is not a Msvm_ConcreteJob property",
    ]
