"""The phases an operation reports (Hyper-V Manager's Status column words) and the one
format of a VM's Status while an operation runs: "Creating Checkpoint (37%)"."""

from __future__ import annotations

from enum import StrEnum

from hvgui.progress import MERGE_PHASE


class Phase(StrEnum):
    CREATE = "Creating Checkpoint"
    APPLY = "Applying Checkpoint"
    DELETE = "Deleting Checkpoint"
    MERGE = MERGE_PHASE  # the VHDX engine (below every backend) reports it too
    EXPORT = "Exporting"
    MOVE = "Moving Storage"


def status_text(phase: str, percent: int) -> str:
    """A VM's Status during an operation: its phase and how far it is, in whole percent."""
    return f"{phase} ({percent}%)"
