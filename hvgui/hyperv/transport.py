"""How a HyperVHost reaches a host: `run(script, parameters)` yields the script's records.

`script` names one of the operation scripts shipped in `hvgui/hyperv/scripts/` (`get_vms`,
`checkpoint_vm`, ...); `parameters` are its PowerShell parameters, JSON values only. The remote
and local transports send `invocation(script, parameters)` to PowerShell; the lab transport
answers the same contract from a lab host. Records come as the host prints them, so progress
reaches the Status column while the operation runs.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Protocol

from hvgui.hyperv.records import Record

Scalar = str | int | float | bool | None
Parameter = Scalar | Sequence[Scalar]
Parameters = Mapping[str, Parameter]

COMMON = "_common"
_NAME = re.compile(r"^_?[a-z][a-z_]*$")


class Transport(Protocol):
    """One connection to one Hyper-V host. `run` may be called from several threads at once
    (a refresh while an operation runs: each call is its own pipeline)."""

    @property
    def computer_name(self) -> str:
        """The host as the user named it (the left tree's item, errors' subject)."""
        ...

    @property
    def location(self) -> str:
        """How the host is reached again: a computer name, or a lab host's folder."""
        ...

    def run(self, script: str, parameters: Parameters) -> Iterator[Record]:
        """The script's records as they come; raises HvError (connection) on failure."""
        ...

    def stop(self) -> None:
        """Stop every running script of this transport (their `finally` blocks still run)."""
        ...

    def close(self) -> None:
        """Release the connection; a closed transport runs nothing."""
        ...


def script_names() -> list[str]:
    """The operation scripts the package ships (without `.ps1`), the common prelude left out."""
    folder = resources.files("hvgui.hyperv") / "scripts"
    return sorted(
        entry.name.removesuffix(".ps1")
        for entry in folder.iterdir()
        if entry.name.endswith(".ps1") and not entry.name.startswith("_")
    )


@cache
def script_text(name: str) -> str:
    """The text of one shipped script (`name` without `.ps1`)."""
    if not _NAME.match(name):
        raise ValueError(f"not a script name: {name!r}")
    return (resources.files("hvgui.hyperv") / "scripts" / f"{name}.ps1").read_text("utf-8")


def invocation(script: str, parameters: Parameters) -> str:
    """The PowerShell text that runs `script` with `parameters`: the common functions, then the
    operation's script block splatted with the parameters; a terminating error becomes an
    error record. The parameters travel as base64 of
    their JSON, so no name a user typed (quotes, PowerShell's curly quotes, `$`) is ever parsed
    as code."""
    payload = base64.b64encode(json.dumps(dict(parameters)).encode()).decode("ascii")
    return (
        f"{script_text(COMMON)}\n"
        "try {\n"
        f"    $HvguiParameters = Get-HvguiParameters '{payload}'\n"
        f"    & {{\n{script_text(script)}\n    }} @HvguiParameters\n"
        "} catch { Write-HvguiError $_ }\n"
    )


def one_line(text: str) -> str:
    """`text` as one line for `powershell.exe -Command -`, which reads standard input line by
    line as if typed (a multi-line block would wait for a blank line)."""
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return (
        "& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString("
        f"[Convert]::FromBase64String('{payload}'))))"
    )


def declared_parameters(script: str) -> dict[str, bool]:
    """The parameters a script's `param(...)` block declares, each with whether it is
    mandatory: what PowerShell binds, so the lab transport refuses what a host would."""
    source = script_text(script)
    start = re.search(r"^param\(", source, re.MULTILINE)
    if start is None:
        return {}
    depth, end = 0, start.end() - 1
    for end in range(start.end() - 1, len(source)):
        depth += {"(": 1, ")": -1}.get(source[end], 0)
        if depth == 0:
            break
    block = source[start.end():end]
    declared: dict[str, bool] = {}
    before = 0
    for match in re.finditer(r"\$(\w+)", block):
        name = match.group(1)
        if name.lower() in ("true", "false", "null"):
            continue
        declared[name] = "Mandatory = $true" in block[before:match.start()]
        before = match.end()
    return declared
