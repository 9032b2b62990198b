"""A VM's runtime files and the small rules operations share (memory, device state, drive
slots, state requirements)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from hvgui.backend.model import FibreChannelAdapter, HardDrive
from hvgui.host import states
from hvgui.host.errors import HostError, InvalidStateError
from hvgui.host.layout import vm_runtime_dir
from hvgui.host.savedstate import DeviceState, read_vsv
from hvgui.host.xmlconfig import DRIVE_NONE, DRIVE_PASSTHROUGH, DRIVE_VHD, ConfigDoc, from_filetime
from hvgui.progress import Progress

MIN_MEMORY = 32 << 20
MAX_MEMORY = 1 << 40
MAX_PROCESSORS = 64
MAX_CHECKPOINTS = 50  # Hyper-V 2012 R2's limit per VM
MAX_UPTIME = 100 * 365 * 86400  # seconds: a saved uptime beyond this is damage


def phase(progress: Progress | None, phase: str) -> Progress | None:
    if progress is None:
        return None
    outer = progress

    def inner(fraction: float, _text: str) -> None:
        outer(fraction, phase)

    return inner


def hard_drives(doc: ConfigDoc) -> list[HardDrive]:
    return [
        HardDrive(
            d.controller_type,
            d.controller_number,
            d.controller_location,
            Path(d.path),
            d.kind == DRIVE_PASSTHROUGH,
        )
        for d in doc.drives()
        if d.kind in (DRIVE_VHD, DRIVE_PASSTHROUGH) and d.path
    ]


def fibre_channel(doc: ConfigDoc) -> list[FibreChannelAdapter]:
    return [
        FibreChannelAdapter(p.instance_id, p.san_name, p.wwnn, p.wwpn) for p in doc.fibre_channel()
    ]


def runtime_bin(doc: ConfigDoc) -> Path:
    return vm_runtime_dir(doc.path, doc.id) / f"{doc.id}.bin"


def runtime_vsv(doc: ConfigDoc) -> Path:
    return vm_runtime_dir(doc.path, doc.id) / f"{doc.id}.vsv"


def files_in(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []


def saved_uptime(vsv: Path) -> int:
    try:
        value = read_vsv(vsv).devices.get("uptime_seconds", 0)
    except HostError:
        return 0
    plausible = isinstance(value, int) and 0 <= value <= MAX_UPTIME  # a date must hold it
    return int(value) if plausible else 0


def device_state(doc: ConfigDoc, state: str) -> DeviceState:
    """A believable processor and device state for the VSV file of `doc` in `state`."""
    now = datetime.now(UTC)
    uptime = 0
    if doc.last_powered_on:
        uptime = max(0, int((now - from_filetime(doc.last_powered_on)).total_seconds()))
    seed = hashlib.sha256(f"{doc.id}:{uptime}".encode()).digest()
    processors = []
    for cpu in range(doc.processor_count):
        word = int.from_bytes(seed[cpu % 4 * 8 : cpu % 4 * 8 + 8], "little")
        processors.append(
            {
                "rip": 0xFFFFF80000000000 | (word & 0xFFFFFFF0),
                "rsp": 0xFFFFD00000000000 | ((word >> 16) & 0xFFFFFF00),
                "rflags": 0x246,
                "cr0": 0x80050033,
                "cr3": (word >> 8) & 0xFFFFF000,
                "cr4": 0x001506F8,
                "efer": 0xD01,
                "tsc": uptime * 2_600_000_000 + cpu,
            }
        )
    devices = {
        "state": state,
        "uptime_seconds": uptime,
        "memory_bytes": doc.memory_mb << 20,
        "drives": [
            {
                "controller": f"{d.controller_type} {d.controller_number}:{d.controller_location}",
                "type": d.kind,
                "path": d.path,
            }
            for d in doc.drives()
            if d.kind != DRIVE_NONE
        ],
        "fibre_channel": [p.san_name for p in doc.fibre_channel()],
        "integration_services": {
            "heartbeat": "OK",
            "shutdown": "OK",
            "time_sync": "OK",
            "kvp_exchange": "OK",
            "vss": "OK",
        },
    }
    return DeviceState(processors, devices)


def check_memory(subject: str, value: int) -> None:
    if not MIN_MEMORY <= value <= MAX_MEMORY or value % (1 << 20):
        raise HostError(
            subject, "startup memory must be a whole number of MB between 32 MB and 1 TB"
        )


def require_off(doc: ConfigDoc, what: str) -> None:
    if doc.state != states.OFF:
        raise InvalidStateError(
            doc.name, f"cannot {what} while the VM is {doc.state}: turn it off first"
        )


def free_slot(
    doc: ConfigDoc, ctype: str | None, number: int | None, location: int | None
) -> tuple[str, int, int]:
    used = {
        (d.controller_type, d.controller_number, d.controller_location)
        for d in doc.drives()
        if d.kind != DRIVE_NONE
    }
    if ctype is None:
        ctype = "IDE" if doc.generation == 1 and doc.state == states.OFF else "SCSI"
    ctype = ctype.upper()
    if ctype not in ("IDE", "SCSI"):
        raise HostError(doc.name, f"controller type must be IDE or SCSI, not {ctype}")
    if ctype == "IDE":
        if doc.generation == 2:
            raise HostError(doc.name, "generation 2 VMs have no IDE controller")
        if doc.state != states.OFF:
            raise InvalidStateError(doc.name, "IDE drives can only be added while the VM is off")
        slots = [(n, loc) for n in (0, 1) for loc in (0, 1)]
    else:
        if doc.scsi_controller_count() == 0:
            doc.add_scsi_controller()
        slots = [(n, loc) for n in range(doc.scsi_controller_count()) for loc in range(64)]
    if number is not None:
        slots = [s for s in slots if s[0] == number]
    if location is not None:
        slots = [s for s in slots if s[1] == location]
    for n, loc in slots:
        if (ctype, n, loc) not in used:
            return ctype, n, loc
    raise HostError(doc.name, f"no free {ctype} slot for another drive")
