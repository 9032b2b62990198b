"""Two exports into one destination at once, of two VMs whose names give one folder name
(`web:01` and `web?01` are both `web_01` on disk): each works in a folder of its own, so
neither removes nor publishes the other's half-made files; the second to finish is refused."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hvgui.host import Host
from hvgui.vhdx import open_disk

from .hosthelpers import MiB, write_disk


def test_two_exports_to_one_folder_at_once_never_mix(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    for name, mark, where in (("web:01", b"AAAA", None), ("web?01", b"BBBB", "second")):
        host.new_vm(name, memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB,
                    path=host.root / where if where else None)
        write_disk(host.get_vm(name).hard_drives[0].path, 0, mark * (2 * MiB))
    out = tmp_path / "out"
    b_working, a_done = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def export_b() -> None:
        calls: list[float] = []

        def hold(fraction: float, _phase: str) -> None:
            calls.append(fraction)
            if len(calls) == 2:  # its copy begun: files of its own in the folder
                b_working.set()
                a_done.wait(60)

        try:
            outcome["b"] = host.export_vm("web?01", out, progress=hold)
        except Exception as exc:  # checked below
            outcome["b"] = exc

    other = threading.Thread(target=export_b)

    def start_b(_fraction: float, _phase: str) -> None:
        if not other.is_alive() and "b" not in outcome:
            other.start()
            assert b_working.wait(60)

    try:
        outcome["a"] = host.export_vm("web:01", out, progress=start_b)
    except Exception as exc:  # checked below
        outcome["a"] = exc
    finally:
        a_done.set()
        other.join(60)
    assert sorted(p.name for p in out.iterdir()) == ["web_01"]  # nothing half-made left
    vm = Host.open(out / "web_01", create=False).list_vms()[0]
    with open_disk(vm.hard_drives[0].path) as disk:
        assert (vm.name, disk.read(0, 4)) == ("web:01", b"AAAA")  # the first one's, whole
    assert not isinstance(outcome["a"], Exception), outcome
    assert str(outcome["b"]) == f"{out / 'web_01'}: already exists; choose another destination"


def test_a_killed_exports_leftover_is_removed_and_a_running_ones_kept(tmp_path: Path) -> None:
    host = Host.open(tmp_path / "host")
    host.new_vm("web01", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=8 * MiB)
    out = tmp_path / "out"
    dead = out / f".web01.{2**22 + 17}.140737.export-partial"  # above any pid_max
    running = out / f".web01.{os.getpid()}.1.export-partial"
    for work in (dead, running):
        (work / "Virtual Hard Disks").mkdir(parents=True)
    host.export_vm("web01", out)
    assert sorted(p.name for p in out.iterdir()) == [running.name, "web01"]
