"""Crash safety: every mutation is a transaction with a journal in `.hvgui/journal/`.

A transaction has two halves:

1. Prepare: every new file (a new AVHDX, a checkpoint's XML, BIN copies, `*.hvnew` staged
   configurations) is recorded in the journal BEFORE it is created. Killed here, the operation
   rolls back: everything recorded is deleted and the host is as before.
2. Commit: the journal is rewritten with `committed: true` and an ordered list of idempotent
   actions (rename a staged configuration over the real one, make a disk read-only, merge a
   disk, delete a file). Killed here, the operation rolls forward: the actions run again.

Power cuts (durable.py): the journal is durable before any file it lists is created; every
created file is durable before the commit record; the commit record is durable before the
first action; every action is durable before the journal goes.

Past the commit point an operation only goes forward: an error there (a full disk, an I/O
error) leaves the committed journal in place and raises UnfinishedError; undoing half of the
actions would leave e.g. a listed checkpoint whose disk already holds later data. An error in
a rollback likewise leaves the journal for the next attempt.

`Host.open` finishes every journal it finds (when no other process holds the host lock), and
an operation on a VM first finishes the VM's journals left by an earlier error (`recover`
with `vm_id`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hvgui import durable, vhdx
from hvgui.backend.formats import human_size
from hvgui.backend.model import DiskEvent
from hvgui.errors import HvError
from hvgui.host.boundary import ALLOW_COMMAND, Boundary, shared_file
from hvgui.host.errors import HostError, UnfinishedError
from hvgui.host.fileio import file_size, norm, parse_json, read_bounded
from hvgui.progress import MERGE_PHASE, CancelToken, Progress, report, scaled

Action = dict[str, Any]
MAX_JOURNAL_BYTES = 16 << 20
COMPLETED = "completed after an interruption"  # a journal lists a few hundred paths at most

# The kill tests' fault hook (tests/host/crash_worker.py): called with "commit" just before the
# commit record is written, with each action's op before it runs and with "done" after the
# last one, so that a test can kill the process at a known point inside the commit.
action_hook: Callable[[str], None] | None = None


def replace(src: Path, dst: Path) -> Action:
    return {"op": "replace", "src": str(src), "dst": str(dst)}


def delete(path: Path) -> Action:
    return {"op": "delete", "path": str(path)}


def read_only(path: Path, value: bool) -> Action:
    return {"op": "read_only", "path": str(path), "value": value}


def merge(child: Path, destination: Path) -> Action:
    return {"op": "merge", "child": str(child), "dest": str(destination)}


class Transaction:
    def __init__(self, journal_dir: Path, operation: str, vm_id: str, boundary: Boundary) -> None:
        self.file = journal_dir / f"{uuid.uuid4()}.json"
        self.boundary = boundary
        self.record: dict[str, Any] = {
            "operation": operation,
            "vm_id": vm_id,
            "pid": os.getpid(),
            "committed": False,
            "created": [],
            "actions": [],
            "root": str(boundary.root),  # a copy of the host finishes it on its own files
        }
        self.done = False  # the journal file is written on the first record: nothing before
        self._written: set[str] = set()  # created by write_new: durable already, never rewritten

    def _save(self) -> None:
        durable.replace_file(self.file, json.dumps(self.record, indent=1).encode())

    def created(self, *paths: Path) -> None:
        """Record `paths` as created by this transaction (call BEFORE creating them)."""
        fresh = [p for p in paths if str(p) not in self.record["created"]]
        self._vet([str(p) for p in fresh], [])
        for path in fresh:
            if os.path.lexists(path):
                raise HostError(path, "already exists; refusing to overwrite it")
        if fresh:
            self.record["created"].extend(str(p) for p in fresh)
            self._save()  # on disk before the files exist: a power cut leaves no strays

    def write_new(self, path: Path, data: bytes) -> None:
        self.created(path)
        durable.create_file(path, data)
        self._written.add(str(path))

    def stage(self, path: Path, data: bytes) -> Action:
        """Write `data` beside `path` as `<name>.hvnew`; the returned action puts it in place."""
        tmp = path.with_name(path.name + ".hvnew")
        if os.path.lexists(tmp):
            durable.remove(tmp)  # a leftover of an operation rolled back long ago
        self.write_new(tmp, data)
        return replace(tmp, path)

    def commit(
        self,
        actions: list[Action],
        *,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> list[DiskEvent]:
        self._vet([], actions)
        for name in self.record["created"]:  # data before the record that makes it visible
            if name not in self._written and os.path.lexists(name):
                durable.sync_tree(Path(name))
        if action_hook is not None:
            action_hook("commit")
        self.record["committed"] = True
        self.record["actions"] = actions
        try:
            self._save()
        except BaseException:
            if not _committed_on_disk(self.file):
                self.record["committed"] = False
                raise  # before the commit point: the caller rolls back
        try:
            events = run_actions(self.record, progress=progress)
        except (OSError, HvError) as exc:
            self.done = True  # the journal stays: it is finished forward, never undone
            raise UnfinishedError(str(self.record["operation"]), _reason(exc)) from exc
        except BaseException:
            self.done = True  # Ctrl+C, or a progress callback that raised: as after a kill
            raise
        self.finish()
        return events

    def _vet(self, created: list[str], actions: list[Action]) -> None:
        """Refuse, before anything happens, what recovery would refuse to run: a journal
        this host writes is always one it will accept, so no path outside the host is
        ever created, changed or deleted by an operation."""
        why = journal_problem({"created": created, "actions": actions}, self.boundary)
        if why:
            raise HostError(
                str(self.record["operation"]),
                f"refused, nothing changed: {why}; a lab may change only its own folder "
                f"(`{ALLOW_COMMAND}` lets this host reach a folder you name)",
            )

    def rollback(self) -> None:
        """Delete what the transaction created. If that fails too, the journal stays and the
        next open (or the VM's next operation) rolls back again."""
        failed = False
        for name in reversed(self.record["created"]):  # a recorded path may not exist yet
            try:
                durable.remove(Path(name))
            except OSError:
                failed = True
        self.done = True
        if not failed:
            self.finish()

    def finish(self) -> None:
        self.done = True
        # A journal that cannot be removed runs again later: its actions are idempotent.
        with contextlib.suppress(OSError):
            durable.remove(self.file)


def _committed_on_disk(path: Path) -> bool:
    """Whether the journal on disk says committed (a failed save may have landed anyway)."""
    try:
        record = parse_json(read_bounded(path, MAX_JOURNAL_BYTES))
    except (OSError, ValueError, HostError):
        return False
    return isinstance(record, dict) and record.get("committed") is True


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(
            exc.strerror or exc)
    return str(exc)


def run_actions(record: dict[str, Any], *, progress: Progress | None = None) -> list[DiskEvent]:
    """Run a committed journal's actions; each is idempotent, so running twice is harmless."""
    actions: list[Action] = record["actions"]
    merges = [a for a in actions if a["op"] == "merge"]
    events: list[DiskEvent] = []
    done_merges = 0
    for action in actions:
        op = action["op"]
        if action_hook is not None:
            action_hook(op)
        if op == "replace":
            src, dst = Path(action["src"]), Path(action["dst"])
            if os.path.lexists(src):
                durable.make_folders(dst.parent)
                durable.rename(src, dst)
        elif op == "delete":
            durable.remove(Path(action["path"]))
        elif op == "read_only":
            path = Path(action["path"])
            if path.exists():
                vhdx.set_read_only(path, bool(action["value"]))
        elif op == "merge":
            child, dest = Path(action["child"]), Path(action["dest"])
            step = scaled(progress, done_merges / len(merges), (done_merges + 1) / len(merges))
            if child.exists():
                events.append(_merge(record, child, dest, step))
            done_merges += 1
        else:
            raise HostError(str(action), "unknown journal action")
    if action_hook is not None:
        action_hook("done")
    report(progress, 1.0, MERGE_PHASE if merges else "")
    return events


def _merge(record: dict[str, Any], child: Path, dest: Path, progress: Progress | None) -> DiskEvent:
    vhdx.set_read_only(dest, False)
    size = file_size(child)
    result = vhdx.merge_vhd(child, dest, progress=progress)
    return DiskEvent(
        time=datetime.now(UTC),
        operation=str(record["operation"]),
        vm_id=str(record["vm_id"]),
        action="merged",
        path=child,
        size=size,
        detail=(f"merged into {dest.name}: its {human_size(result.bytes_moved)} were folded "
                f"into {child.name}, which took its name" if result.streamed
                else f"merged into {dest.name}, {human_size(result.bytes_moved)} moved"),
    )


# A journal found on disk is input like any other file: a crafted one must not be able to
# delete or overwrite files the host never made. Recovery acts only on the kinds of path the
# host's operations record: disks, configurations, saved state, staged files, GUID folders.
_PATH_KEYS = {
    "replace": ("src", "dst"),
    "delete": ("path",),
    "read_only": ("path",),
    "merge": ("child", "dest"),
}
_DISK_SUFFIXES = (".vhdx", ".avhdx", ".vhd", ".avhd")  # disks may be anywhere, any stem
_GUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_GUID_NAME = re.compile(f"^{_GUID}$")
_GUID_FILE = re.compile(f"^{_GUID}\\.(xml|location|bin|vsv)(\\.hvnew)?$", re.IGNORECASE)


def _foreign_path(value: object, boundary: Boundary) -> str | None:
    """Why `value` is not a path a host operation could have journaled, or None if it is."""
    if not isinstance(value, str) or not value:
        return f"{value!r} is not a path"
    path = Path(value)
    if not path.is_absolute():
        return f"{value}: not an absolute path"
    outside = boundary.problem(path)  # links followed: a link inside may lead out
    if outside:
        return f"{value}: {outside}"
    if _GUID_NAME.match(path.name):
        return None  # a VM's or a checkpoint's saved-state folder
    in_state_folder = bool(_GUID_NAME.match(path.parent.name))  # a move takes all it holds
    name = path.name.lower()
    own = name.endswith(_DISK_SUFFIXES) or bool(_GUID_FILE.match(name))
    if not (own or in_state_folder):
        return f"{value}: not a file the lab host creates"
    if path.is_dir() and not path.is_symlink():
        return f"{value}: a folder where the host only writes files"
    return None


def rebased(record: object, root: Path) -> object:
    """A journal copied with its host (`cp -a lab lab2` while an operation was interrupted)
    names the original's files: move every path under the root it records to `root`, so the
    copy finishes the operation on its own files. (It can only pull paths into the host.)"""
    old = record.get("root") if isinstance(record, dict) else None
    if not isinstance(record, dict) or not isinstance(old, str) or old == str(root):
        return record
    prefix = old.rstrip(os.sep) + os.sep

    def move(value: object) -> object:
        if isinstance(value, str) and (value == old or value.startswith(prefix)):
            return str(root) + value[len(old):]
        return value

    out = dict(record, root=str(root))
    if isinstance(record.get("created"), list):
        out["created"] = [move(v) for v in record["created"]]
    if isinstance(record.get("actions"), list):
        out["actions"] = [
            {k: move(v) if k in _PATH_KEYS.get(str(a.get("op")), ()) else v for k, v in a.items()}
            if isinstance(a, dict) else a
            for a in record["actions"]
        ]
    return out


def journal_problem(record: object, boundary: Boundary) -> str | None:
    """Why a journal read from disk cannot be trusted, or None when recovery may run it:
    only the actions our operations write, only on the kinds of file they create, and only
    inside the host folder (or a folder the user allowed)."""
    if not isinstance(record, dict) or not isinstance(record.get("created"), list):
        return "not a journal"
    actions = record.get("actions", [])
    if not isinstance(actions, list):
        return "its actions are not a list"
    paths: list[object] = list(record["created"])
    for action in actions:
        if not isinstance(action, dict) or action.get("op") not in _PATH_KEYS:
            return f"unknown action {action!r}"
        if action["op"] == "read_only" and not isinstance(action.get("value"), bool):
            return f"a read-only action without a true/false value: {action!r}"
        paths += [action.get(key) for key in _PATH_KEYS[action["op"]]]
    for value in paths:
        why = _foreign_path(value, boundary)
        if why:
            return why
    # Changed in place: not a file another name shares (but a streamed merge cut after its
    # rename leaves the destination with the merged disk's name and its marker too: ours).
    merged_into = [(a.get("dest"), a.get("child")) for a in actions if a["op"] == "merge"]
    for action in actions:
        if action["op"] not in ("merge", "read_only"):
            continue
        target = action.get("dest") if action["op"] == "merge" else action.get("path")
        own = [name for dest, child in merged_into if dest == target and isinstance(child, str)
               for name in (child, vhdx.stream_marker(target))]
        shared = shared_file(target, own)
        if shared:
            return f"{target}: {shared}"
    return None


def pending_journals(journal_dir: Path) -> list[Path]:
    try:
        return sorted(p for p in journal_dir.iterdir() if p.suffix == ".json")
    except FileNotFoundError:
        return []


def waiting(journal_dir: Path) -> dict[str, str]:
    """VM id -> operation, for every journal on disk: operations running now, or stopped by
    an error and waiting to be finished (at the next open or the VM's next operation)."""
    out: dict[str, str] = {}
    for path in pending_journals(journal_dir):
        try:
            record = parse_json(read_bounded(path, MAX_JOURNAL_BYTES))
        except (OSError, ValueError, HostError):
            continue
        if isinstance(record, dict) and isinstance(record.get("vm_id"), str):
            out[record["vm_id"]] = str(record.get("operation") or "an operation")
    return out


def in_flight_paths(journal_dir: Path) -> dict[str, set[Path]]:
    """VM id -> every file its journals name (being created, replaced, merged, deleted):
    while the VM's operation runs (or waits to be finished), the host check leaves them be."""
    out: dict[str, set[Path]] = {}
    for path in pending_journals(journal_dir):
        try:
            record = parse_json(read_bounded(path, MAX_JOURNAL_BYTES))
        except (OSError, ValueError, HostError):
            continue
        if not isinstance(record, dict) or not isinstance(record.get("vm_id"), str):
            continue
        values = list(record.get("created") or [])
        for action in record.get("actions") or []:
            if isinstance(action, dict):
                values += [action.get(key) for key in _PATH_KEYS.get(str(action.get("op")), ())]
                if action.get("op") == "merge" and isinstance(action.get("dest"), str):
                    # a cut stream's marker and third name are the merge's too
                    values += [str(p) for p in vhdx.stream_names(action["dest"])]
        out.setdefault(record["vm_id"], set()).update(
            norm(v) for v in values if isinstance(v, str) and v
        )
    return out


def recover(
    journal_dir: Path,
    boundary: Boundary,
    on_events: Callable[[list[DiskEvent]], None],
    progress: Progress | None = None,
    vm_id: str | None = None,
    pid: int | None = None,
) -> list[str]:
    """Finish every journal (or only `vm_id`'s, or only those process `pid` wrote and left
    when it ended): roll committed ones forward, others back. Returns what was done; a
    journal that fails again stays for the next attempt."""
    done: list[str] = []
    for path in pending_journals(journal_dir):
        record: Any = None
        try:
            data = read_bounded(path, MAX_JOURNAL_BYTES)
            record = parse_json(data) if len(data) <= MAX_JOURNAL_BYTES else None
            record = rebased(record, boundary.root)
            problem = journal_problem(record, boundary)
        except (OSError, ValueError, HostError):
            problem = "unreadable"
        if vm_id is not None and (not isinstance(record, dict) or record.get("vm_id") != vm_id):
            continue  # another VM's: its operation may be running in another thread
        if pid is not None and (not isinstance(record, dict) or record.get("pid") != pid):
            continue  # another process's or thread's: it may be running
        if problem or not isinstance(record, dict):
            durable.rename(path, path.with_suffix(".damaged"))
            done.append(f"{path.name}: journal set aside, nothing done ({problem})")
            continue
        try:
            if record.get("committed"):
                on_events(run_actions(record, progress=progress))
                done.append(f"{record.get('operation')}: {COMPLETED}")
            else:
                for name in reversed(record["created"]):
                    durable.remove(Path(name))
                done.append(f"{record.get('operation')}: rolled back after an interruption")
        except (OSError, HvError) as exc:
            if vm_id is not None:  # the VM's next operation: refused until this one is done
                raise UnfinishedError(str(record.get("operation")), _reason(exc)) from exc
            done.append(
                f"{record.get('operation')}: could not be finished yet ({_reason(exc)}); "
                "it will be when the host is next opened"
            )
            continue
        durable.remove(path)
    return done
