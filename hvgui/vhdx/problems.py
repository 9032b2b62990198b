"""What a decoder found wrong in a file, and the two ways of using it.

Every on-disk structure has one decoder, which reports each problem it finds to a `Problems`
sink and decodes what it still can. Opening a disk uses a strict sink: the first error stops
the decoding (`Malformed` or `Unsupported`, turned into an error naming the file). Get-VHD,
Test-VHD and the inspector use a collecting sink: every problem is kept, and the decoders go on
with what is left, so a damaged file is described rather than refused.
"""

from __future__ import annotations

from typing import NamedTuple


class Malformed(Exception):
    """A structure is invalid; the message says which and why."""


class Unsupported(Exception):
    """A structure is valid but uses a feature this engine does not support."""


class Problem(NamedTuple):
    """Something wrong in one file: severity "error" | "warning" | "info", a stable code and
    a sentence for a person. An error makes the engine refuse the file; `unsupported` says
    the file is valid but uses what the engine does not support."""

    severity: str
    code: str
    message: str
    unsupported: bool = False


class Problems:
    """The sink decoders report to. Strict: an error raises at once, the rest is ignored."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.found: list[Problem] = []

    def error(self, code: str, message: str, *, unsupported: bool = False) -> None:
        if self.strict:
            raise (Unsupported if unsupported else Malformed)(message)
        self.found.append(Problem("error", code, message, unsupported))

    def warning(self, code: str, message: str) -> None:
        if not self.strict:
            self.found.append(Problem("warning", code, message))

    def info(self, code: str, message: str) -> None:
        if not self.strict:
            self.found.append(Problem("info", code, message))

    def has_error(self, *codes: str) -> bool:
        """Whether an error (one of `codes`, when given) was found."""
        return any(p.severity == "error" and (not codes or p.code in codes) for p in self.found)


class Tally:
    """Problems of one kind found in many entries (of a BAT): strict, the first one raises;
    collecting, one problem names the first entry and how many there are in all."""

    def __init__(self, problems: Problems, severity: str, code: str) -> None:
        self.problems = problems
        self.severity = severity
        self.code = code
        self.first = ""
        self.count = 0

    def hit(self, message: str) -> None:
        if self.count == 0:
            if self.problems.strict and self.severity == "error":
                self.problems.error(self.code, message)
            self.first = message
        self.count += 1

    def report(self) -> None:
        """Add the collected problem (once the whole table has been looked at)."""
        if self.count:
            more = f" ({self.count} entries in all)" if self.count > 1 else ""
            report = self.problems.error if self.severity == "error" else self.problems.warning
            report(self.code, self.first + more)
