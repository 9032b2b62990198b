"""What a file is: its kind from its first bytes, and the stat facts the file list shows."""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

from hvgui.errors import HvError
from hvgui.host import savedstate
from hvgui.host.xmlconfig import detect_encoding

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
    codec, _, mark = detect_encoding(head[:4])
    if codec is None:
        return False
    text = head[mark:].decode(codec, errors="ignore")
    return text.lstrip().startswith("<")


def identify(path: str | os.PathLike[str]) -> str:
    """The file's kind (one of the module's kind constants), from its content."""
    path = Path(path)
    if not path.exists():
        return MISSING
    if not path.is_file():  # a directory, FIFO or device has no content to recognise
        return UNKNOWN
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
    # A remote host's file: its path there (`path` is then the local copy the inspector reads).
    origin: PurePath | None = None

    @property
    def host_path(self) -> PurePath:
        """The file as its host names it."""
        return self.origin if self.origin is not None else self.path

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        out["origin"] = None if self.origin is None else str(self.origin)
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
    if not stat.S_ISREG(info.st_mode):
        # a directory, FIFO or device: never opened (reading a FIFO would wait forever)
        if kind is None:
            what = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO or device"
            kind, problem = UNKNOWN, problem or f"it is {what}, not a regular file"
    else:
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
