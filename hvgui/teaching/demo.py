"""The demo lab: a host built through the host's real operations, ready for teaching.

| VM         | state   | what it shows                                                          |
|------------|---------|------------------------------------------------------------------------|
| Web01      | Running | a chain of three checkpoints, files changing between them, a note     |
| Lab-Client | Off     | a branched tree: an earlier checkpoint applied, then checkpointed again |
| SAN-Server | Saved   | a pass-through disk and a virtual Fibre Channel adapter                 |
| Archive01  | Running | its checkpoint file location moved to `Checkpoint Store`                |

Disks are small dynamic VHDX (2 GiB virtual) with a few KiB of guest files each, so the lab
builds in seconds and takes little space.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hvgui.guest.guest import Guest
from hvgui.host.errors import HostError
from hvgui.host.host import Host
from hvgui.progress import CancelToken, Progress, check, report

GiB = 1 << 30
MiB = 1 << 20
DEMO_DISK_SIZE = 2 * GiB
DEMO_MEMORY = 512 * MiB
CHECKPOINT_STORE = "Checkpoint Store"
PASS_THROUGH_DISK = "Physical Disks/PhysicalDrive2.raw"
PASS_THROUGH_SIZE = 64 * MiB
WEB01, CLIENT, SAN, ARCHIVE = "Web01", "Lab-Client", "SAN-Server", "Archive01"


def _web01(host: Host) -> None:
    host.new_vm(WEB01, memory_startup_bytes=DEMO_MEMORY, new_vhd_size_bytes=DEMO_DISK_SIZE)
    host.start_vm(WEB01)
    guest = Guest(host, WEB01)
    guest.write_file("/inetpub/wwwroot/index.html", b"<h1>Web01 - version 1</h1>\r\n")
    guest.write_file("/README.TXT", b"Web01: the intranet site. Do not edit files by hand.\r\n")
    # A note in memory before each checkpoint, so each BIN holds something applying brings back.
    guest.set_note("Baseline: site v1 is live.")
    host.checkpoint_vm(WEB01, snapshot_name="Baseline")
    guest = Guest(host, WEB01)
    guest.write_file("/inetpub/wwwroot/index.html", b"<h1>Web01 - version 2</h1>\r\n")
    guest.write_file("/inetpub/wwwroot/news.html", b"<p>New this week: checkpoints.</p>\r\n")
    guest.set_note("To do: tell the team about news.html.")
    host.checkpoint_vm(WEB01, snapshot_name="Site update")
    guest = Guest(host, WEB01)
    guest.remove_file("/README.TXT")
    guest.write_file("/logs/access.log", b"10.0.0.7 GET /index.html 200\r\n" * 20)
    guest.set_note("Logs rotated; README.TXT removed on purpose.")
    host.checkpoint_vm(WEB01, snapshot_name="Logs rotated")
    guest = Guest(host, WEB01)
    guest.write_file(
        "/inetpub/wwwroot/index.html", b"<h1>Web01 - version 3 (not checkpointed)</h1>\r\n"
    )
    guest.set_note("Unsaved draft: renew the TLS certificate before Friday.")


def _lab_client(host: Host) -> None:
    host.new_vm(CLIENT, memory_startup_bytes=DEMO_MEMORY, new_vhd_size_bytes=DEMO_DISK_SIZE)
    host.start_vm(CLIENT)
    Guest(host, CLIENT).write_file("/Users/student/homework.txt", b"Exercise 1: draft\r\n")
    host.checkpoint_vm(CLIENT, snapshot_name="Clean install")
    Guest(host, CLIENT).write_file("/Program Files/App/app.ini", b"[app]\r\nversion=1\r\n")
    host.checkpoint_vm(CLIENT, snapshot_name="App v1 installed")
    host.restore_snapshot(CLIENT, "Clean install")  # back to before the install, still running
    Guest(host, CLIENT).write_file("/Program Files/App/app.ini", b"[app]\r\nversion=2\r\n")
    host.checkpoint_vm(CLIENT, snapshot_name="App v2 installed")
    host.stop_vm(CLIENT, turn_off=True)


def _san_server(host: Host) -> None:
    host.new_vm(SAN, memory_startup_bytes=DEMO_MEMORY, new_vhd_size_bytes=DEMO_DISK_SIZE)
    raw = host.root / PASS_THROUGH_DISK
    raw.parent.mkdir(parents=True, exist_ok=True)
    with open(raw, "wb") as f:  # the "physical" disk a pass-through drive stands for
        f.truncate(PASS_THROUGH_SIZE)
        f.write(b"SAN LUN 2: data written before any checkpoint\n")
    host.add_hard_drive(SAN, raw, pass_through=True)
    host.add_fibre_channel(SAN, san_name="Production SAN")
    host.start_vm(SAN)
    Guest(host, SAN).write_file("/Data/config.txt", b"LUN=2\r\nmultipath=on\r\n")
    host.checkpoint_vm(SAN, snapshot_name="Before SAN change")
    host.save_vm(SAN)


def _archive01(host: Host) -> None:
    host.new_vm(ARCHIVE, memory_startup_bytes=DEMO_MEMORY, new_vhd_size_bytes=DEMO_DISK_SIZE)
    store = host.root / CHECKPOINT_STORE
    store.mkdir(exist_ok=True)
    host.set_vm(ARCHIVE, snapshot_file_location=store)
    host.start_vm(ARCHIVE)
    Guest(host, ARCHIVE).write_file("/Archive/2026-10.txt", b"October's records\r\n")
    host.checkpoint_vm(ARCHIVE, snapshot_name="Month end")
    Guest(host, ARCHIVE).write_file("/Archive/2026-11.txt", b"November's records\r\n")


_STEPS: list[tuple[str, Callable[[Host], None]]] = [
    (WEB01, _web01),
    (CLIENT, _lab_client),
    (SAN, _san_server),
    (ARCHIVE, _archive01),
]


def build_demo_host(
    root: Path, *, progress: Progress | None = None, cancel: CancelToken | None = None
) -> Host:
    """Build the demo lab in `root` (empty or missing) through the host's operations."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        host = Host.open(root, create=False)
        if host.list_vms():
            raise HostError(root, "the demo lab needs an empty folder: this host already has VMs")
    host = Host.open(root)
    for i, (name, step) in enumerate(_STEPS):
        check(cancel)
        report(progress, i / len(_STEPS), f"Creating {name}")
        step(host)
    report(progress, 1.0, "Demo lab ready")
    return host
