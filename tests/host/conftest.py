"""Fixtures for the lab host tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui.host import Host


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host.open(tmp_path / "host")
