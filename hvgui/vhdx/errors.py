"""The VHDX engine's exceptions: every one names the file concerned (its `subject`)."""

from __future__ import annotations

import os

from hvgui.errors import HvError


class VhdxError(HvError):
    """Any problem with a VHDX/AVHDX file; `subject` is the file's path."""


class CorruptFileError(VhdxError):
    """The file's structure is invalid (bad signature or CRC, BAT entry past the end, ...)."""


class UnsupportedError(VhdxError):
    """The file is valid but uses something this engine does not support."""


class ParentNotFoundError(VhdxError):
    """A differencing disk's parent could not be found where its locator points."""

    def __init__(
        self, subject: str | os.PathLike[str], problem: str, locator: dict[str, str]
    ) -> None:
        super().__init__(subject, problem)
        self.locator = dict(locator)


class ParentMismatchError(VhdxError):
    """The parent was found but its DataWriteGuid differs from the child's parent_linkage."""


class ReadOnlyError(VhdxError):
    """A write was attempted on a file opened read-only or marked read-only."""
