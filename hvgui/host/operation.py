"""One operation in progress: its documents, transaction, events and warnings.
`HostCore.operation()` (context.py) makes the Operation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hvgui.backend.formats import human_size
from hvgui.backend.model import DiskEvent
from hvgui.backend.phases import Phase
from hvgui.host import journal
from hvgui.host.checkpoints import snapshot_docs
from hvgui.host.errors import HostError
from hvgui.host.fileio import file_size
from hvgui.host.layout import snapshot_config_path
from hvgui.host.xmlconfig import ConfigDoc
from hvgui.progress import CancelToken, Progress

if TYPE_CHECKING:
    pass

PHASE_CREATE, PHASE_APPLY, PHASE_DELETE, PHASE_MERGE, PHASE_EXPORT, PHASE_MOVE = (
    Phase.CREATE, Phase.APPLY, Phase.DELETE, Phase.MERGE, Phase.EXPORT, Phase.MOVE
)
STATUS_INTERVAL = 0.1  # seconds between two status-file updates of one operation


@dataclass
class Operation:
    """One operation in progress: its VM documents, transaction, events and warnings."""

    operation: str  # "Checkpoint", "Apply", ...
    vm_id: str
    vm_name: str
    doc: ConfigDoc
    progress: Progress | None
    cancel: CancelToken | None
    root: Path  # the host's folder (configurations store paths relative to it)
    new_transaction: Callable[[], journal.Transaction]
    events: list[DiskEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _tx: journal.Transaction | None = None
    _snaps: dict[str, ConfigDoc] | None = None
    dirty: list[ConfigDoc] = field(default_factory=list)
    after: list[journal.Action] = field(default_factory=list)  # run after the renames
    resumed: bool = False  # an interrupted operation of this kind was just finished (a retry)

    @property
    def tx(self) -> journal.Transaction:
        """The open transaction (a new one once the last was committed or rolled back)."""
        if self._tx is None or self._tx.done:
            self._tx = self.new_transaction()
        return self._tx

    def rollback_unfinished(self) -> None:
        """Roll back a transaction prepared but not committed (the operation ended early)."""
        if self._tx is not None and not self._tx.done:
            self._tx.rollback()

    @property
    def snaps(self) -> dict[str, ConfigDoc]:
        """The VM's checkpoint configurations, read under the lock on first use."""
        if self._snaps is None:
            self._snaps = snapshot_docs(self.doc)
        return self._snaps

    def add_snapshot(self, snap_id: str, sdoc: ConfigDoc) -> None:
        """A checkpoint this operation made: `snaps` includes it from now on."""
        if self._snaps is not None:
            self._snaps[snap_id] = sdoc

    def snapshot(self, snap_id: str, name: str) -> ConfigDoc:
        """Checkpoint `snap_id`'s configuration as read under the lock: another window or
        process may have deleted it since it was looked up (a refusal, not damage)."""
        if snap_id not in self.doc.snapshot_ids:
            raise HostError(name, "the checkpoint no longer exists (deleted meanwhile)")
        if snap_id not in self.snaps:
            raise HostError(snapshot_config_path(self.doc.snapshot_data_root, snap_id),
                            "the checkpoint's configuration file is missing")
        return self.snaps[snap_id]

    def mark(self, doc: ConfigDoc) -> None:
        if doc not in self.dirty:
            self.dirty.append(doc)

    def event(self, action: str, path: Path, size: int | None = None, detail: str = "") -> None:
        length = file_size(path) if path.suffix.lower() == ".bin" else None
        if length is not None and size is not None and length != size:
            # "Size" is a file's length everywhere; what a sparse BIN really stores is said
            # in words (its length is the VM's memory, as on Hyper-V).
            stored = f"{human_size(size)} of it stored"
            detail, size = (f"{detail}; {stored}" if detail else stored), length
        self.events.append(
            DiskEvent(datetime.now(UTC), self.operation, self.vm_id, action, path, size, detail)
        )

    def commit(
        self,
        before: list[journal.Action] | None = None,
        after: list[journal.Action] | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Stage every changed document, then run: `before`, the renames, `after`."""
        staged, modified = [], []
        for doc in self.dirty:
            data = doc.to_bytes(self.root)
            staged.append(self.tx.stage(doc.path, data))
            if doc.path.exists() and not any(e.path == doc.path for e in self.events):
                # An existing configuration rewritten (the VM's own XML, at every checkpoint
                # or setting): a file the operation touched like any other.
                modified.append((doc.path, len(data)))
        actions = [*(before or []), *staged, *(after or []), *self.after]
        self.events.extend(self.tx.commit(actions, progress=progress))
        for path, size in modified:
            self.event("modified", path, size, "configuration rewritten")
        self.dirty.clear()
        self.after.clear()
