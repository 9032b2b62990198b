"""Fixtures for the real Hyper-V backend's tests: a lab host behind the lab transport, local
servers standing in for hosts that fail (`serve`)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hvgui.host import Host
from tests.host.hosthelpers import make_vm
from tests.hyperv.failing_hosts import Server
from tests.hyperv.lab_transport import LabTransport


@pytest.fixture
def lab(tmp_path: Path) -> Host:
    return Host.open(tmp_path / "host")


@pytest.fixture
def transport(lab: Host) -> Iterator[LabTransport]:
    transport = LabTransport(lab, "hv01")
    yield transport
    transport.close()


@pytest.fixture
def vm_id(lab: Host) -> str:
    return make_vm(lab, "web01")


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], Server]]:
    servers: list[Server] = []

    def start(answer: Callable[[socket.socket], None]) -> Server:
        servers.append(Server(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
