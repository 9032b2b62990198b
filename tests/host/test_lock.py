"""Two processes on one host: one mutates at a time, readers are never blocked, a busy VM
says what it is busy with, and another process's operation shows in the Status column."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hvgui.host import Host, HostError, VMBusyError, lock

from .hosthelpers import make_vm

WORKER = Path(__file__).with_name("lock_worker.py")


def hold(host: Host, vm: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(host.root), vm],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    proc.communicate("", timeout=30)
    assert proc.returncode == 0


def test_another_process_busy_with_the_vm(host: Host) -> None:
    make_vm(host, running=True)
    proc = hold(host, "web01")
    try:
        with pytest.raises(VMBusyError, match="web01: VM is busy: Guest I/O"):
            host.checkpoint_vm("web01")
        assert host.get_vm("web01").state == "Running"  # reading works meanwhile
        assert host.list_snapshots("web01") == []
    finally:
        release(proc)
    host.checkpoint_vm("web01")  # free again


def test_second_process_waits_for_the_host_lock(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_vm(host, "web01", running=True)
    make_vm(host, "db01")
    proc = hold(host, "web01")
    monkeypatch.setattr(lock, "LOCK_WAIT_SECONDS", 0.3)
    try:
        started = time.monotonic()
        with pytest.raises(HostError, match="another program is changing this host"):
            host.checkpoint_vm("db01")  # another VM, but the host is being changed elsewhere
        assert time.monotonic() - started >= 0.3
        monkeypatch.setattr(lock, "LOCK_WAIT_SECONDS", 30)
        done = threading.Event()
        worker = threading.Thread(target=lambda: (host.checkpoint_vm("db01"), done.set()))
        worker.start()
        time.sleep(0.3)
        assert not done.is_set()  # waiting for the other process
    finally:
        release(proc)
    worker.join(30)
    assert done.is_set()


def test_status_of_an_operation_in_another_process(host: Host) -> None:
    make_vm(host)
    vm_id = host.get_vm("web01").id
    code = (
        "import sys, time\n"
        "from hvgui.host import Host\n"
        "h = Host.open(sys.argv[1])\n"
        "with h.operation('web01', 'Checkpoint', 'Creating Checkpoint', None, None) as op:\n"
        "    op.progress(0.37, 'Creating Checkpoint')\n"
        "    print('ready', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(host.root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        revision = host.revision()
        assert host.get_vm(vm_id).status == "Creating Checkpoint (37%)"
        assert [v.status for v in host.list_vms()] == ["Creating Checkpoint (37%)"]
    finally:
        proc.communicate("", timeout=30)
    assert host.get_vm(vm_id).status == ""
    assert host.revision() != revision


def test_status_of_a_killed_process_is_ignored(host: Host) -> None:
    make_vm(host)
    vm_id = host.get_vm("web01").id
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host.layout.status_file(vm_id).write_text(
        json.dumps({"pid": int(dead.stdout), "operation": "Creating Checkpoint", "percent": 5})
    )
    assert host.get_vm("web01").status == ""
    host.checkpoint_vm("web01")  # not busy
