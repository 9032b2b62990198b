"""How hvgui's core says what is wrong: the one exception family (every error names its
subject and the problem) and the one finding type of every check."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple


class HvError(Exception):
    """An error a person can read: `<subject>: <problem>`.

    `subject` is usually a file path (a disk, a configuration, a host directory) or a VM name.
    The CLI prints `hvctl: error: <subject>: <problem>`; the GUI shows the same sentence.
    """

    def __init__(self, subject: str | os.PathLike[str], problem: str) -> None:
        self.subject = os.fspath(subject)
        self.problem = problem
        super().__init__(f"{self.subject}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable whatever a subclass's __init__ takes (an operation run in a child process
        # raises it in the window: hvgui/host/isolated.py): rebuilt from its state, not re-run.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(kind: type[HvError], args: tuple[Any, ...], state: dict[str, Any]) -> HvError:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(state)
    return error


class Finding(NamedTuple):
    """One problem a check found, not raised: Test-VHD's over a disk chain, the host check's
    over a host (which names the VM concerned). A decoder's `vhdx.problems.Problem` becomes
    one once the file it was found in is named. (Immutable; a NamedTuple rather than a
    dataclass because every hvctl command imports this module: dataclasses costs ~10 ms.)"""

    severity: str  # "error" | "warning" | "info"
    path: Path  # the file it is in
    message: str  # a sentence for a person
    code: str  # stable, for programs
    vm: str | None = None

    @property
    def is_problem(self) -> bool:
        """An error or a warning; "info" is a note (what hvgui cannot do with sound files)."""
        return self.severity != "info"

    def to_json(self) -> dict[str, Any]:
        return {
            "Severity": self.severity,
            "Path": str(self.path),
            "Message": self.message,
            "Code": self.code,
            "VMName": self.vm,
        }
