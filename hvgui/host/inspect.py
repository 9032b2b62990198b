"""The file inspector's core (no Qt): what a file is, what a checkpoint is made of, what a
checkpoint delete will do, and how checkpoint files grew.

- `identify(path)` names a file's kind from its first bytes (not its extension, except to tell
  the Server 2016+ VMCX/VMRS/VMGS apart, which share one signature).
- `inspect_file(path)` returns JSON-ready facts, delegating the decoding to the engine
  (`dump_vhdx`, `test_vhd`) and to the host's configuration and saved-state readers.
- `checkpoint_files(host, vm, snapshot)` lists a checkpoint's (or Now's) files with a sentence
  on what each is for.
- `delete_preview(host, vm, snapshot)` says which files a delete deletes, merges or keeps.
- `block_map(path)` and `read_path(path, block)` back the block map.
- `space_history(host, vm)` turns the disk event log into size-over-time series.

Nothing here reads a whole file: decoders read headers and tables, XML is capped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hvgui.errors import HvError
from hvgui.host import savedstate
from hvgui.host.checkpoints import chain_parents, resolve_pending, vhd_paths
from hvgui.host.fileio import norm
from hvgui.host.layout import snapshot_state_dir, vm_runtime_dir
from hvgui.host.xmlconfig import ConfigDoc
from hvgui.vhdx import (
    ParentNotFoundError,
    VhdxError,
    VhdxImage,
    dump_vhdx,
    open_disk,
    test_vhd,
)
from hvgui.vhdx.image import DATA, PARENT
from hvgui.vhdx.locator import parent_file_name

if TYPE_CHECKING:
    from hvgui.host import Host

# Kinds identify() can return.
VHDX = "vhdx"
AVHDX = "avhdx"
XML = "xml"
BIN = "bin"
VSV = "vsv"
VMCX = "vmcx"
VMRS = "vmrs"
VMGS = "vmgs"
VHD = "vhd"
UNKNOWN = "unknown"
MISSING = "missing"
PASSTHROUGH = "passthrough"  # a raw file standing for a physical disk (the lab host's choice)

KIND_LABELS = {
    VHDX: "VHDX virtual disk",
    AVHDX: "AVHDX differencing disk",
    XML: "Configuration (XML)",
    BIN: "Saved memory (BIN)",
    VSV: "Saved device state (VSV)",
    VMCX: "Configuration (VMCX, Server 2016+)",
    VMRS: "Runtime state (VMRS, Server 2016+)",
    VMGS: "Guest state (VMGS, Server 2016+)",
    VHD: "VHD virtual disk (legacy)",
    UNKNOWN: "Unknown file",
    PASSTHROUGH: "Pass-through disk (raw)",
    MISSING: "Missing file",
}

_NOT_DECODED = {
    VMCX: "A Windows Server 2016+ VM configuration (VMCX). Server 2016 replaced the XML "
    "configuration with this binary format, which Microsoft does not document: hvgui recognises "
    "it by its signature but does not decode it. The hex view shows its bytes.",
    VMRS: "A Windows Server 2016+ runtime state file (VMRS): memory and device state, which "
    "replaced the BIN and VSV files. The format is not documented: hvgui recognises it by its "
    "signature but does not decode it. The hex view shows its bytes.",
    VMGS: "A Windows Server 2016+ guest state file (VMGS). The format is not documented: "
    "recognised, not decoded. The hex view shows its bytes.",
}
# Server 2016+ binary configuration and state files all start with this signature.
HYPERV_2016_SIGNATURE = b"\x14\x20\x28\x01"
# Bytes of an XML file shown as text at most; the tree and diff use the host's bounded parser.
XML_TEXT_LIMIT = 4 << 20


class InspectError(HvError):
    """A file could not be inspected; the problem is in words."""


# -- identification --


def _head(path: Path, length: int = 512) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(length)


def _looks_like_xml(head: bytes) -> bool:
    for bom, encoding in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            text = head[2:].decode(encoding, errors="ignore")
            return text.lstrip().startswith("<")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head[:2] == b"<\x00":  # UTF-16-LE without BOM
        return True
    return head.lstrip().startswith(b"<")


def identify(path: str | os.PathLike[str]) -> str:
    """The file's kind (one of the module's kind constants), from its content."""
    path = Path(path)
    if not path.exists():
        return MISSING
    head = _head(path)
    suffix = path.suffix.lower()
    if head.startswith(b"vhdxfile"):
        return AVHDX if suffix in (".avhdx", ".avhd") else VHDX
    saved = _saved_state_kind(head)
    if saved is not None:
        return saved
    if head.startswith(HYPERV_2016_SIGNATURE):
        return {".vmrs": VMRS, ".vmgs": VMGS}.get(suffix, VMCX)
    if _looks_like_xml(head):
        return XML
    if _has_vhd_footer(path):
        return VHD
    return UNKNOWN


def _has_vhd_footer(path: Path) -> bool:
    size = path.stat().st_size
    if size < 512:
        return False
    with open(path, "rb") as handle:
        handle.seek(size - 512)
        return handle.read(8) == b"conectix"


def _saved_state_kind(head: bytes) -> str | None:
    """BIN or VSV when the head carries the host's saved-state magic."""
    return {savedstate.BIN_MAGIC: BIN, savedstate.VSV_MAGIC: VSV}.get(head[:8])


# -- file facts --


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True)
class FileFacts:
    """One file of a checkpoint, as the inspector's file list shows it."""
    path: Path
    kind: str
    role: str  # a sentence: what this file is for
    exists: bool
    size: int = 0  # logical size (the file's length)
    size_on_disk: int = 0  # blocks actually allocated (sparse files take less)
    virtual_size: int | None = None  # disks: the size the guest sees
    read_only: bool = False
    modified: datetime | None = None
    accessed: datetime | None = None
    changed: datetime | None = None  # inode change: the closest Linux has to a creation time
    drive: str | None = None  # "SCSI 0:0" for a disk of that drive's chain
    depth: int | None = None  # in that chain: 0 = the checkpoint's own disk, rising to the base
    problem: str | None = None  # why this file could not be read, in words

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        out["label"] = self.label
        for key in ("modified", "accessed", "changed"):
            value = getattr(self, key)
            out[key] = value.isoformat() if value else None
        return out


def file_facts(
    path: str | os.PathLike[str],
    role: str = "",
    *,
    kind: str | None = None,
    virtual_size: int | None = None,
    drive: str | None = None,
    depth: int | None = None,
    problem: str | None = None,
) -> FileFacts:
    """Stat `path` (no content read except the kind check when `kind` is not given)."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError:
        return FileFacts(path, MISSING, role, False, drive=drive, depth=depth,
                         problem=problem or "the file does not exist")
    try:
        kind = kind or identify(path)
    except OSError as exc:
        kind, problem = UNKNOWN, problem or f"cannot read it: {exc.strerror or exc}"
    return FileFacts(
        path=path,
        kind=kind,
        role=role,
        exists=True,
        size=info.st_size,
        size_on_disk=getattr(info, "st_blocks", 0) * 512 or info.st_size,
        virtual_size=virtual_size,
        read_only=not (info.st_mode & stat.S_IWUSR),
        modified=_time(info.st_mtime),
        accessed=_time(info.st_atime),
        changed=_time(info.st_ctime),
        drive=drive,
        depth=depth,
        problem=problem,
    )


# -- inspect one file --


@dataclass(frozen=True)
class SettingChange:
    """A configuration setting that differs between two XML files (None = absent there)."""
    path: str
    left: str | None
    right: str | None


def read_text_capped(path: Path, limit: int = XML_TEXT_LIMIT) -> tuple[str, bool]:
    """The file's text (BOM-detected, at most `limit` bytes) and whether it was cut."""
    with open(path, "rb") as handle:
        raw = handle.read(limit + 1)
    truncated = len(raw) > limit
    raw = raw[:limit]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or raw[:2] == b"<\x00":
        encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-16-le"
        if len(raw) % 2:
            raw = raw[:-1]
    else:
        encoding = "utf-8-sig"
    return raw.decode(encoding, errors="replace"), truncated


def inspect_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the inspector knows about one file, JSON-ready.

    Keys: path, kind, label, decoded (bool), file (sizes, read-only, times), and per kind:
    `vhdx` (the engine's dump) + `findings` (Test-VHD over the chain); `xml` (summary);
    `saved_state` (decoded header and sections); `note` for formats shown but not decoded.
    A file that cannot be decoded gets `error`: the problem in words (never an exception,
    except for a file that does not exist).
    """
    path = Path(path)
    facts = file_facts(path)
    if not facts.exists:
        raise InspectError(path, "the file does not exist")
    out: dict[str, Any] = {
        "path": str(path),
        "kind": facts.kind,
        "label": facts.label,
        "decoded": False,
        "file": {
            "size": facts.size,
            "size_on_disk": facts.size_on_disk,
            "read_only": facts.read_only,
            "modified": facts.modified.isoformat() if facts.modified else None,
            "accessed": facts.accessed.isoformat() if facts.accessed else None,
            "changed": facts.changed.isoformat() if facts.changed else None,
        },
        "error": facts.problem,
    }
    try:
        if facts.kind in (VHDX, AVHDX):
            out.update(_inspect_vhdx(path))
        elif facts.kind == XML:
            out.update(_inspect_xml(path))
        elif facts.kind in (BIN, VSV):
            out.update(_inspect_saved_state(path))
        elif facts.kind in (VMCX, VMRS, VMGS):
            out["note"] = _NOT_DECODED[facts.kind]
        elif facts.kind == VHD:
            out["note"] = "A legacy VHD disk (conectix footer): recognised, not decoded."
        else:
            out["note"] = "Not a file type hvgui knows: shown in hex only."
    except HvError as exc:
        out["error"] = exc.problem
    except (OSError, ValueError) as exc:
        out["error"] = f"cannot read it: {getattr(exc, 'strerror', None) or exc}"
    return out


def _inspect_vhdx(path: Path) -> dict[str, Any]:
    dump = dump_vhdx(path)
    result: dict[str, Any] = {"decoded": True, "vhdx": dump}
    try:
        findings = [
            {
                "severity": f.severity,
                "code": f.code,
                "message": f.message,
                "path": str(f.path),
            }
            for f in test_vhd(path)
        ]
    except HvError as exc:
        findings = [{"severity": "error", "code": type(exc).__name__, "message": exc.problem,
                     "path": exc.subject}]
    result["findings"] = findings
    return result


def _inspect_xml(path: Path) -> dict[str, Any]:
    doc = ConfigDoc.load(path)
    summary: dict[str, Any] = {
        "kind": "checkpoint configuration" if doc.is_snapshot else "VM configuration",
        "name": doc.name,
        "id": doc.id,
        "generation": doc.generation,
        "version": doc.version,
        "created": doc.creation_time.isoformat(),
        "memory_startup_mb": doc.memory_mb,
        "processor_count": doc.processor_count,
        "checkpoint_type": doc.checkpoint_type,
    }
    if doc.is_snapshot:
        summary["checkpoint"] = {
            "vm_id": doc.snapshot_vm_id,
            "type": doc.snapshot_type,
            "parent_checkpoint_id": doc.snapshot_parent_id,
            "created": doc.snapshot_creation_time.isoformat(),
            "vm_state_when_taken": doc.snapshot_vm_state,
        }
    else:
        summary["parent_checkpoint_id"] = doc.parent_snapshot_id
        summary["checkpoints"] = doc.snapshot_ids
        summary["merge_pending"] = doc.merge_pending
    summary["drives"] = [
        {"slot": f"{d.controller_type} {d.controller_number}:{d.controller_location}",
         "type": d.kind, "path": d.path}
        for d in doc.drives()
    ]
    return {"decoded": True, "xml": summary}


# The BIN's touched-memory runs listed at most (the count is always given).
MAX_RUNS_LISTED = 256


def _inspect_saved_state(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        magic = handle.read(8)
    if magic == savedstate.BIN_MAGIC:
        return {"decoded": True, "saved_state": _describe_bin(path)}
    return {"decoded": True, "saved_state": _describe_vsv(path)}


def _describe_bin(path: Path) -> dict[str, Any]:
    with savedstate.BinFile(path) as memory:
        info = memory.info()
        runs: list[dict[str, int | str]] = []
        count = 0
        for first, length in memory.touched_runs():
            count += 1
            if len(runs) < MAX_RUNS_LISTED:
                runs.append({
                    "name": f"memory {first * info.chunk_size:#x}",
                    "guest_address": first * info.chunk_size,
                    "length": length * info.chunk_size,
                    "offset": info.data_offset + first * info.chunk_size,
                })
    bitmap_length = (info.chunk_count + 7) // 8
    return {
        "format": "hvgui BIN (saved memory), version 1",
        "header": {
            "offset": 0,
            "magic": savedstate.BIN_MAGIC.decode(),
            "memory_size": info.memory_size,
            "chunk_size": info.chunk_size,
            "chunk_count": info.chunk_count,
            "touched_chunks": info.touched_chunks,
            "touched_bytes": info.touched_bytes,
            "data_offset": info.data_offset,
            "crc_ok": True,
        },
        "sections": [
            {"name": "chunk bitmap", "offset": savedstate.BIN_HEADER_SIZE,
             "length": bitmap_length,
             "meaning": "one bit per 1 MiB chunk of guest memory: 1 = saved in this file"},
            {"name": "memory data", "offset": info.data_offset,
             "length": info.chunk_count * info.chunk_size,
             "meaning": "chunk n at data_offset + n MiB; untouched chunks are holes"},
        ],
        "touched_runs": {"count": count, "listed": runs},
    }


def _describe_vsv(path: Path) -> dict[str, Any]:
    state = savedstate.read_vsv(path)  # validates magic, CRCs and layout
    with open(path, "rb") as handle:
        raw = handle.read(savedstate.MAX_VSV_BYTES)
    header = savedstate._VSV_HEADER.unpack_from(raw)
    sections = []
    for number in range(header[3]):
        kind, _, offset, length, crc, _ = savedstate._VSV_SECTION.unpack_from(
            raw, savedstate._VSV_HEADER_SIZE + number * savedstate._VSV_SECTION.size)
        sections.append({"name": savedstate.SECTION_NAMES.get(kind, f"type {kind}"),
                         "type": kind, "offset": offset, "length": length,
                         "crc32c": f"{crc:#010x}", "crc_ok": True})
    return {
        "format": f"hvgui VSV (device state), version {header[1]}",
        "header": {"offset": 0, "magic": savedstate.VSV_MAGIC.decode(),
                   "section_count": header[3], "file_length": header[5], "crc_ok": True},
        "sections": sections,
        "processors": [
            {"name": f"vCPU {n}", **{k: f"{v:#018x}" for k, v in registers.items()}}
            for n, registers in enumerate(state.processors)
        ],
        "devices": state.devices,
        "guest_bytes": len(state.guest),
    }


# -- XML settings and their diff ---------------------------------------------------------------


def load_xml_tree(path: str | os.PathLike[str]) -> Any:
    """The parsed configuration (an lxml element), through the host's hardened parser."""
    return ConfigDoc.load(Path(path)).root


def xml_settings(path: str | os.PathLike[str]) -> dict[str, str]:
    """Every leaf setting of a configuration file: `settings/memory/bank/size` -> `"1024"`."""
    root = load_xml_tree(path)
    out: dict[str, str] = {}

    def walk(element: Any, prefix: str) -> None:
        children = [c for c in element if isinstance(c.tag, str)]
        if not children:
            out[prefix] = (element.text or "").strip()
            return
        counts: dict[str, int] = {}
        for child in children:
            name = str(child.tag)
            counts[name] = counts.get(name, 0) + 1
            key = f"{prefix}/{name}" if counts[name] == 1 else f"{prefix}/{name}[{counts[name]}]"
            walk(child, key.lstrip("/"))

    walk(root, "")
    return out


def settings_diff(
    left: str | os.PathLike[str], right: str | os.PathLike[str]
) -> list[SettingChange]:
    """Settings that differ between two configuration files, in path order."""
    a, b = xml_settings(left), xml_settings(right)
    return [
        SettingChange(key, a.get(key), b.get(key))
        for key in sorted(a.keys() | b.keys())
        if a.get(key) != b.get(key)
    ]


# -- the block map --


@dataclass(frozen=True)
class MapBlock:
    """One block of a map built from a single file (its parent missing): same shape as the
    engine's BlockSource."""

    index: int
    offset: int
    length: int
    sources: list[tuple[int, int]]


@dataclass(frozen=True)
class BlockMap:
    """Which file of the chain serves each block, as seen from `chain[0]`.

    When the chain cannot be opened because a parent is missing, the map is built from the
    file alone: `chain[1]` is then a placeholder named after the missing parent and
    `missing_parent` says so in words."""

    chain: list[Path]
    block_size: int
    size: int
    blocks: Sequence[Any]  # the engine's BlockSource objects (or MapBlock)
    missing_parent: str | None = None
    # Per chain file: the BAT state (0-7) of its block covering each leaf block; -1 where the
    # file could not be read (a missing parent). Empty when not computed.
    states: list[Any] = field(default_factory=list)

    def state_names(self, block: int) -> list[tuple[Path, str]]:
        """(file, BAT state name) down the chain for leaf block `block`."""
        return [(file, STATE_NAMES.get(int(states[block]), "unreadable"))
                for file, states in zip(self.chain, self.states, strict=False)]


def block_map(path: str | os.PathLike[str]) -> BlockMap:
    """The engine's block sources for the chain ending at `path` (opened read-only)."""
    try:
        with open_disk(Path(path)) as disk:
            blocks = BlockMap(list(disk.chain), disk.block_size, disk.size,
                              disk.block_sources())
    except ParentNotFoundError as exc:
        blocks = _single_file_map(Path(path), exc.problem, exc.locator)
    return replace(blocks, states=_bat_states(blocks))


def _bat_states(blocks: BlockMap) -> list[Any]:
    """For each chain file, its BAT state at every leaf block (numpy int8 arrays)."""


    count = len(blocks.blocks)
    leaf_offsets = np.arange(count, dtype=np.int64) * blocks.block_size
    out = []
    for level, file in enumerate(blocks.chain):
        states = np.full(count, -1, dtype=np.int8)
        if level == 0 or blocks.missing_parent is None:
            try:
                with VhdxImage.open(file) as image:
                    per_block = np.zeros(image.geometry.payload_blocks, dtype=np.int8)
                    numbers, values, _ = image.bat.payload_states()
                    per_block[numbers] = values
                    if image.block_size >= blocks.block_size:
                        index = leaf_offsets // image.block_size
                        inside = index < len(per_block)
                        states[inside] = per_block[index[inside]]
                    else:  # several of this file's blocks per leaf block
                        ratio = blocks.block_size // image.block_size
                        padded = np.zeros(count * ratio, dtype=np.int8)
                        padded[: min(len(per_block), len(padded))] = per_block[: len(padded)]
                        grid = padded.reshape(count, ratio)
                        low, high = grid.min(axis=1), grid.max(axis=1)
                        states[:] = np.where(low == high, high, MIXED_STATE)
            except VhdxError:
                pass
        out.append(states)
    return out


def _single_file_map(path: Path, problem: str, locator: dict[str, str]) -> BlockMap:
    with VhdxImage.open(path) as image:
        size, bs = image.virtual_size, image.block_size
        blocks: list[MapBlock] = []
        for index in range((size + bs - 1) // bs):
            offset = index * bs
            length = min(bs, size - offset)
            counts: dict[int, int] = {}
            for run in image.map_range(offset, length):
                source = 0 if run.kind == DATA else 1 if run.kind == PARENT else -1
                counts[source] = counts.get(source, 0) + run.length
            order = sorted(counts, key=lambda k: (k < 0, k))
            blocks.append(MapBlock(index, offset, length, [(k, counts[k]) for k in order]))
    parent_name = parent_file_name(locator) or "parent"
    placeholder = Path(f"{parent_name} (missing)")
    return BlockMap([path, placeholder], bs, size, blocks, missing_parent=problem)


# A leaf block covering several smaller blocks of a parent in different states.
MIXED_STATE = 8
STATE_NAMES = {0: "NOT_PRESENT", 1: "UNDEFINED", 2: "ZERO", 3: "UNMAPPED", 6: "FULLY_PRESENT",
               7: "PARTIALLY_PRESENT", MIXED_STATE: "MIXED (its smaller blocks differ)"}


@dataclass(frozen=True)
class ReadStep:
    """One file visited when reading a block: its BAT state there and what it provides."""
    path: Path
    states: list[str]  # BAT state of this file's block(s) covering the range
    data: int  # bytes read from this file
    zeros: int  # bytes this file says read as zeros
    passed_on: int  # bytes left for the parent
    file_offsets: list[int]  # where in this file the data bytes start (first few runs)
    note: str


def read_path(blocks: BlockMap, block: int) -> list[ReadStep]:
    """The files a read of `block` visits, leaf first: each file's BAT state for the range and
    how many bytes it serves, returns as zeros, or passes on to its parent."""

    source = blocks.blocks[block]
    pending = [(source.offset, source.length)]
    steps: list[ReadStep] = []
    for level, file in enumerate(blocks.chain):
        if not pending:
            break
        left = sum(n for _, n in pending)
        if level > 0 and blocks.missing_parent is not None:
            note = f"missing: the last {left:,} bytes of this block cannot be read"
            steps.append(ReadStep(file, [], 0, 0, 0, [], note))
            break
        try:
            image = VhdxImage.open(file)
        except VhdxError as exc:
            steps.append(ReadStep(file, [], 0, 0, left, [], f"cannot be read: {exc.problem}"))
            break
        with image:
            bs = image.block_size
            states = sorted({
                STATE_NAMES.get(image.bat.payload_entry(b) & 7, "?")
                for start, n in pending
                for b in range(start // bs, (start + n - 1) // bs + 1)
                if start < image.virtual_size
            })
            data = zeros = 0
            offsets: list[int] = []
            next_pending: list[tuple[int, int]] = []
            for start, n in pending:
                for run in image.map_range(start, n):
                    if run.kind == DATA:
                        data += run.length
                        if len(offsets) < 4:
                            offsets.append(run.file_offset)
                    elif run.kind == PARENT:
                        next_pending.append((run.offset, run.length))
                    else:
                        zeros += run.length
        passed = sum(n for _, n in next_pending)
        if data and not passed:
            note = "serves the rest of the block"
        elif data:
            note = "serves some sectors (its sector bitmap marks them); the rest is read below"
        elif zeros and not passed:
            note = "the block reads as zeros here"
        elif any(state in ("FULLY_PRESENT", "PARTIALLY_PRESENT") for state in states):
            note = "holds none of the sectors still needed: they go on to its parent"
        else:
            note = "holds nothing of this block: the read goes on to its parent"
        steps.append(ReadStep(file, states, data, zeros, passed, offsets, note))
        pending = next_pending
    return steps


# -- a checkpoint's files --


def _drive_name(drive: Any) -> str:
    return f"{drive.controller_type} {drive.controller_number}:{drive.controller_location}"


def _disk_role(depth: int, last: int, now: bool) -> str:
    if depth == 0 and last == 0:
        return ("The virtual disk itself: no checkpoint has frozen it, every write goes here."
                if now else "The base disk, frozen (read-only) by this checkpoint: it holds the "
                "disk as it was then; the AVHDX created with the checkpoint holds every change "
                "since.")
    if depth == 0:
        if now:
            return ("The running disk: every write the VM makes since its last checkpoint "
                    "goes into this differencing file.")
        return ("The checkpoint's frozen disk: read-only since the checkpoint was taken; it "
                "holds the blocks changed between the previous checkpoint and this one.")
    if depth == last:
        return ("The base disk: read-only while checkpoints exist; every AVHDX above reads "
                "through it. Without it, no checkpoint can be read (checkpoints are not backups).")
    return ("An earlier checkpoint's frozen disk: part of this chain, read when the files "
            "above do not hold a block.")


def _chain_of(path: Path) -> tuple[list[Path], int | None, str | None]:
    """The chain from `path` to its base, the virtual size, and a problem if it breaks."""
    try:
        with open_disk(path) as disk:
            return list(disk.chain), disk.size, None
    except ParentNotFoundError as exc:
        return [path], None, f"its parent is missing: {exc.problem}"
    except VhdxError as exc:
        return [path], None, exc.problem
    except OSError as exc:
        return [path], None, f"cannot read it: {exc.strerror or exc}"


def _disk_files(drives: Iterable[Any], *, now: bool) -> list[FileFacts]:
    out: list[FileFacts] = []
    for drive in drives:
        name = _drive_name(drive)
        if getattr(drive, "pass_through", False):
            out.append(file_facts(
                drive.path,
                "A pass-through disk: not captured by checkpoints (only whether it is attached).",
                kind=PASSTHROUGH, drive=name, depth=0,
            ))
            continue
        chain, virtual, problem = _chain_of(Path(drive.path))
        for depth, file in enumerate(chain):
            out.append(file_facts(
                file, _disk_role(depth, len(chain) - 1, now), virtual_size=virtual,
                drive=name, depth=depth, problem=problem if depth == len(chain) - 1 else None,
            ))
    return out


def checkpoint_files(host: Host, vm: str, snapshot: str | None) -> list[FileFacts]:
    """A checkpoint's files (or Now's, for `snapshot=None`): configuration, saved state, and
    for each virtual disk its chain from the checkpoint's disk down to the base."""
    if snapshot is None:
        machine = host.get_vm(vm)
        files = [file_facts(
            machine.config_path,
            "The VM's configuration now: settings changed while checkpoints exist go here.",
        )]
        for state_path, role in _vm_saved_state(machine.config_path, machine.id):
            files.append(file_facts(state_path, role))
        return files + _disk_files(machine.hard_drives, now=True)
    snap = host.get_snapshot(vm, snapshot)
    files = [file_facts(
        snap.config_path,
        "The checkpoint's configuration: the VM's settings as they were, its parent checkpoint "
        "and its type. A copy; later changes never touch it.",
    )]
    if snap.bin_path is not None:
        files.append(file_facts(
            snap.bin_path, "The guest's memory at the checkpoint, written sparsely: only "
            "touched pages take space. Applying the checkpoint loads it back."))
    if snap.vsv_path is not None:
        files.append(file_facts(
            snap.vsv_path, "Processor and device state at the checkpoint, so applying it "
            "resumes the VM exactly where it was."))
    return files + _disk_files(snap.hard_drives, now=False)


_KIND_ROLES = {
    XML: "A configuration file (Windows Server 2012 R2 format).",
    BIN: "Saved memory of a VM or checkpoint (hvgui's documented BIN format).",
    VSV: "Saved processor and device state (hvgui's documented VSV format).",
    VMCX: "A Server 2016+ VM configuration: recognised, not decoded.",
    VMRS: "A Server 2016+ runtime state file (memory and devices): recognised, not decoded.",
    VMGS: "A Server 2016+ guest state file: recognised, not decoded.",
}


def files_of(path: str | os.PathLike[str]) -> list[FileFacts]:
    """The file list for inspecting one file: the file itself, and for a disk its chain."""
    path = Path(path)
    facts = file_facts(path)
    if facts.kind not in (VHDX, AVHDX):
        return [replace(facts, role=_KIND_ROLES.get(facts.kind, facts.label))]
    chain, virtual, problem = _chain_of(path)
    out = []
    for depth, file in enumerate(chain):
        if len(chain) == 1:
            role = ("A differencing disk whose chain cannot be opened: it cannot be read on "
                    "its own." if problem else "A virtual disk with no parent.")
        elif depth == 0:
            role = "The disk inspected: reads fall through to the files below it."
        elif depth == len(chain) - 1:
            role = "The base disk of the chain."
        else:
            role = "A parent in the chain."
        out.append(file_facts(file, role, virtual_size=virtual, depth=depth,
                              problem=problem if depth == len(chain) - 1 else None))
    return out


def _vm_saved_state(config_path: Path, vm_id: str) -> list[tuple[Path, str]]:
    """The VM's own BIN/VSV (`Virtual Machines/<VMID>/`): runtime memory, or saved state."""
    folder = vm_runtime_dir(config_path, vm_id)
    roles = {
        ".bin": "The VM's memory (runtime memory while it runs, saved memory when Saved).",
        ".vsv": "The VM's saved processor and device state (present while it is Saved).",
    }
    if not folder.is_dir():
        return []
    return [(p, roles[p.suffix.lower()]) for p in sorted(folder.iterdir())
            if p.suffix.lower() in roles]


# -- delete preview --

DELETE = "delete"
MERGE = "merge"
KEEP = "keep"


@dataclass(frozen=True)
class PlannedFile:
    """What a checkpoint delete does to one file."""
    path: Path
    action: str  # DELETE | MERGE | KEEP
    reason: str
    into: Path | None = None  # MERGE: the file it is folded into
    size: int = 0  # current size on disk
    bytes_moved: int = 0  # MERGE: data copied into `into`
    growth: int = 0  # MERGE: how much `into` may grow (new blocks it must allocate)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        out["into"] = str(self.into) if self.into else None
        return out


@dataclass(frozen=True)
class DeletePreview:
    """Everything a "Delete Checkpoint" will do, computed without changing anything."""
    vm: str
    snapshot: str
    files: list[PlannedFile]
    bytes_moved: int
    free_space_needed: int
    free_space_available: int
    warnings: list[str] = field(default_factory=list)

    @property
    def enough_space(self) -> bool:
        return self.free_space_available >= self.free_space_needed

    def summary(self) -> str:
        deleted = sum(1 for f in self.files if f.action == DELETE)
        merged = sum(1 for f in self.files if f.action == MERGE)
        kept = sum(1 for f in self.files if f.action == KEEP)
        parts = [f"{deleted} file{'s' if deleted != 1 else ''} deleted"]
        if merged:
            parts.append(f"{merged} merged")
        if kept:
            parts.append(f"{kept} kept")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "VMName": self.vm,
            "Snapshot": self.snapshot,
            "Files": [f.to_json() for f in self.files],
            "BytesMoved": self.bytes_moved,
            "FreeSpaceNeeded": self.free_space_needed,
            "FreeSpaceAvailable": self.free_space_available,
            "EnoughSpace": self.enough_space,
            "Warnings": list(self.warnings),
        }


def own_bytes(path: Path) -> int:
    """Bytes of virtual disk data `path` itself holds (what merging it moves)."""
    with open_disk(path) as disk:
        return sum(n for block in disk.block_sources() for i, n in block.sources if i == 0)


def merge_growth(child: Path, parent: Path) -> int:
    """At most how many bytes `parent` grows when `child` is merged into it: one block of the
    parent's size for each of its blocks that the child writes to and the parent lacks."""

    with open_disk(child) as c_disk, open_disk(parent) as p_disk:
        if p_disk.disk_type == "Fixed":
            return 0
        parent_has = {
            block.index for block in p_disk.block_sources()
            if any(i == 0 and n for i, n in block.sources)
        }
        needed: set[int] = set()
        for block in c_disk.block_sources():
            if any(i == 0 and n for i, n in block.sources):
                first = block.offset // p_disk.block_size
                last = (block.offset + block.length - 1) // p_disk.block_size
                needed.update(range(first, last + 1))
        return len(needed - parent_has) * p_disk.block_size


def delete_preview(
    host: Host, vm: str, snapshot: str, *, include_children: bool = False
) -> DeletePreview:
    """What deleting `snapshot` (and its subtree with `include_children`) will do, planned by
    the host's own delete rules (`checkpoints.resolve_pending`) on copies of the configuration
    documents: nothing is written. Configuration and saved state are deleted; each frozen disk
    nothing references any more is merged with its single child, deleted when no disk depends
    on it, or kept (merge pending) while several do."""

    machine = host.get_vm(vm)
    target = host.get_snapshot(vm, snapshot)
    vm_doc = ConfigDoc.load(machine.config_path)
    docs = {s.id: ConfigDoc.load(s.config_path) for s in host.list_snapshots(machine.id)}
    doomed = [target.id]
    if include_children:
        frontier = [target.id]
        while frontier:
            parent = frontier.pop()
            kids = [i for i, d in docs.items() if d.snapshot_parent_id == parent]
            doomed += kids
            frontier += kids
    leaves = [*vhd_paths(vm_doc), *(p for d in docs.values() for p in vhd_paths(d)),
              *(norm(p) for p in vm_doc.pending_merges)]
    parents = chain_parents(leaves)
    pending = [norm(p) for p in vm_doc.pending_merges]
    files: list[PlannedFile] = []
    for snap_id in doomed:
        sdoc = docs.pop(snap_id)
        for disk in vhd_paths(sdoc):
            if disk not in pending:
                pending.append(disk)
        files.append(PlannedFile(sdoc.path, DELETE, f"configuration of checkpoint “{sdoc.name}”",
                                 size=_size_on_disk(sdoc.path)))
        state_dir = snapshot_state_dir(vm_doc.snapshot_data_root, snap_id)
        if state_dir.is_dir():
            for state in sorted(state_dir.iterdir()):
                what = {".bin": "saved memory", ".vsv": "saved device state"}.get(
                    state.suffix.lower(), "saved state")
                files.append(PlannedFile(state, DELETE, f"{what} of “{sdoc.name}”",
                                         size=_size_on_disk(state)))
    plan = resolve_pending(vm_doc, list(docs.values()), parents, pending)
    moved = needed = 0
    for child, destination in plan.merged:
        moved_here = own_bytes(child)
        growth = merge_growth(child, destination)
        files.append(PlannedFile(
            child, MERGE, f"the only disk depending on {destination.name}: its blocks are folded "
            "into it, then the file is deleted", into=destination, size=_size_on_disk(child),
            bytes_moved=moved_here, growth=growth))
        moved += moved_here
        needed += growth
    for destination in dict.fromkeys(d for _, d in plan.merged):
        files.append(PlannedFile(destination, KEEP, "receives the merged blocks and takes the "
                                 "place of the disk merged into it",
                                 size=_size_on_disk(destination)))
    for disk, size in plan.deleted:
        files.append(PlannedFile(disk, DELETE, "no disk depends on it any more", size=size or 0))
    for disk in pending:
        kids = [c.name for c, p in parents.items() if p == disk]
        why = (f"{len(kids)} disks depend on it ({', '.join(kids)}): kept and marked merge "
               "pending until only one does")
        files.append(PlannedFile(disk, KEEP, why, size=_size_on_disk(disk)))
    warnings = []
    if pending:
        warnings.append(f"{len(pending)} disk(s) will be kept until they can be merged: several "
                        "checkpoints or the running VM depend on them.")
    where = plan.merged[0][1] if plan.merged else machine.config_path
    return DeletePreview(machine.name, target.name if not include_children
                         else f"{target.name} and its subtree", files, moved, needed,
                         _free_space(where), warnings)


def _size_on_disk(path: Path) -> int:
    try:
        info = path.stat()
    except OSError:
        return 0
    return getattr(info, "st_blocks", 0) * 512 or info.st_size


def _free_space(path: str | os.PathLike[str]) -> int:
    directory = Path(path).parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    usage = os.statvfs(directory)
    return usage.f_bavail * usage.f_frsize


# -- space over time --


@dataclass(frozen=True)
class SizeSeries:
    path: Path
    points: list[tuple[datetime, int]]  # (time, size), oldest first; 0 once merged or deleted


def space_history(events: Iterable[Any]) -> tuple[list[SizeSeries], list[tuple[datetime, int]]]:
    """Each checkpoint file's size after each event that touched it, and their running total.

    Only checkpoint files count: every AVHDX (each exists because of a checkpoint), and the
    BIN/VSV of checkpoints (in a Snapshots folder). Base disks and the VM's own memory file are
    the VM's, not its checkpoints'.
    """
    sizes: dict[Path, list[tuple[datetime, int]]] = {}
    current: dict[Path, int] = {}
    total: list[tuple[datetime, int]] = []
    for event in events:
        path = Path(event.path)
        suffix = path.suffix.lower()
        if suffix in (".bin", ".vsv"):
            if "Snapshots" not in path.parts:
                continue
        elif suffix not in (".avhdx", ".avhd"):
            continue
        if event.action in ("deleted", "merged"):
            size = 0
        elif event.size is not None:
            size = int(event.size)
        else:
            continue
        sizes.setdefault(path, []).append((event.time, size))
        current[path] = size
        total.append((event.time, sum(current.values())))
    series = [SizeSeries(p, pts) for p, pts in sizes.items() if p.suffix.lower() != ".bin"
              or any(s for _, s in pts)]
    return series, total
