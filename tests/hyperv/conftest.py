"""Fixtures for the real Hyper-V backend's tests: a lab host behind the lab transport."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hvgui.host import Host
from hvgui.lab_transport import LabTransport
from tests.host.hosthelpers import make_vm


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
