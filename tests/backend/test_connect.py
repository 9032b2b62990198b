"""Opening a host through hvgui.connect, and the lab's own clients refused on other backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui.backend import Capabilities, Capability, HostError
from hvgui.connect import lab_host, new_lab_host, open_backend
from hvgui.host import Host

MiB = 1 << 20


class NoGuestHost(Host):
    """A lab host declaring, as a real Hyper-V host does, that it has no simulated guest."""

    capabilities = Capabilities({Capability.GUEST: "a real host's guest is its own"})


def test_open_backend_opens_a_lab_folder_and_nothing_else(tmp_path: Path) -> None:
    made = new_lab_host(tmp_path / "lab")
    assert made.location == str(tmp_path / "lab") and made.display_name == "lab"
    again = open_backend(made.location)
    assert again.location == made.location and again.list_vms() == []
    with pytest.raises(HostError, match="already a lab host"):
        new_lab_host(tmp_path / "lab")
    with pytest.raises(HostError):  # a mistyped folder never becomes a host
        open_backend(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


def test_lab_host_is_the_lab_and_refuses_others_with_their_reason(tmp_path: Path) -> None:
    host = open_backend(tmp_path / "lab", create=True)
    assert lab_host(host) is host
    other = NoGuestHost.open(tmp_path / "lab", create=False)
    with pytest.raises(HostError, match="a real host's guest is its own") as refused:
        lab_host(other)
    assert refused.value.subject == other.location
    with pytest.raises(HostError, match="only a folder can be adopted"):
        lab_host(other, "only a folder can be adopted")  # the caller's words, when it has them
