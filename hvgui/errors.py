"""The one exception family of hvgui's core: every error names its subject and the problem."""

from __future__ import annotations

import os


class HvError(Exception):
    """An error a person can read: `<subject>: <problem>`.

    `subject` is usually a file path (a disk, a configuration, a host directory) or a VM name.
    The CLI prints `hvctl: error: <subject>: <problem>`; the GUI shows the same sentence.
    """

    def __init__(self, subject: str | os.PathLike[str], problem: str) -> None:
        self.subject = os.fspath(subject)
        self.problem = problem
        super().__init__(f"{self.subject}: {problem}")
