"""Chain health: a broken chain (missing or changed parent, a locator pointing at another disk)
is named in words, and the host refuses what Hyper-V refuses on it (checkpoint, start, apply),
with the reason, changing nothing; a writable parent is a warning only."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgui import vhdx
from hvgui.guest.guest import Guest
from hvgui.host import Host, InvalidStateError
from hvgui.host.chain_health import ChainHealth

MiB = 1 << 20


@pytest.fixture
def host(tmp_path: Path) -> Host:
    host = Host.open(tmp_path / "host")
    host.new_vm("Alpha", memory_startup_bytes=256 * MiB, new_vhd_size_bytes=64 * MiB)
    host.start_vm("Alpha")
    Guest(host, "Alpha").write_file("/a.txt", b"one")
    host.checkpoint_vm("Alpha", snapshot_name="Base")
    Guest(host, "Alpha").write_file("/a.txt", b"two")
    host.checkpoint_vm("Alpha", snapshot_name="Second")
    return host


def _files(host: Host) -> set[Path]:
    return {p for p in host.root.rglob("*") if p.is_file() and "journal" not in p.parts}


def _health(host: Host) -> tuple[str, str, bool]:
    verdict = host.chain_health.of_drives(host.get_vm("Alpha").hard_drives)
    return verdict.short, verdict.text, verdict.broken


def test_a_missing_base_is_named_and_checkpoint_start_and_apply_are_refused(host: Host) -> None:
    assert _health(host) == ("", "", False)
    base = host.get_snapshot("Alpha", "Base").hard_drives[0].path
    vhdx.set_read_only(base, False)
    base.unlink()
    short, text, broken = _health(host)
    assert broken and short == "Chain broken: parent missing"
    assert "needs its parent Alpha.vhdx, which is missing" in text
    before = _files(host)
    with pytest.raises(InvalidStateError, match=r"cannot checkpoint Alpha: its disk chain is "
                                                 r"broken.*Alpha\.vhdx, which is missing"):
        host.checkpoint_vm("Alpha")
    assert _files(host) == before  # no AVHDX added onto the broken chain
    with pytest.raises(InvalidStateError, match="cannot apply checkpoint 'Second'"):
        host.restore_snapshot("Alpha", "Second")
    host.stop_vm("Alpha", turn_off=True)  # turning it off is still allowed
    with pytest.raises(InvalidStateError, match="cannot start Alpha: its disk chain is broken"):
        host.start_vm("Alpha")
    assert host.get_vm("Alpha").state == "Off"


def test_a_changed_parent_or_a_locator_to_another_disk_breaks_the_chain(host: Host) -> None:
    second = host.get_snapshot("Alpha", "Second").hard_drives[0].path
    vhdx.set_read_only(second, False)
    with vhdx.open_disk(second, writable=True) as disk:
        disk.write(0, b"edited by hand")
    short, text, broken = _health(host)
    assert broken and short == "Chain broken: parent changed"
    assert second.name in text
    with pytest.raises(InvalidStateError, match="disk chain is broken"):
        host.checkpoint_vm("Alpha")


def test_a_locator_pointing_at_another_disk_is_a_break(host: Host, tmp_path: Path) -> None:
    base = host.get_snapshot("Alpha", "Base").hard_drives[0].path
    vhdx.set_read_only(base, False)
    base.unlink()
    vhdx.create_dynamic(base, 64 * MiB)  # a different disk under the expected name
    vhdx.set_read_only(base, True)
    short, _text, broken = _health(host)
    assert broken and short == "Chain broken: parent changed"


def test_a_writable_parent_is_a_warning_not_a_refusal(host: Host) -> None:
    base = host.get_snapshot("Alpha", "Base").hard_drives[0].path
    vhdx.set_read_only(base, False)
    short, text, broken = _health(host)
    assert not broken and short == "Warning: parent not read-only"
    assert "Alpha.vhdx, a parent disk, is not read-only" in text
    host.checkpoint_vm("Alpha", snapshot_name="Still allowed")
    vhdx.set_read_only(base, True)  # fixed: the next look sees it (the stat changed)
    assert _health(host)[0] == ""


def test_the_check_walks_a_chain_again_only_when_one_of_its_files_changed(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hvgui.host.chain_health as module

    walks: list[Path] = []
    real = module.walk_chain

    def counting(path: Path) -> list[vhdx.ChainLink]:
        walks.append(Path(path))
        return real(path)

    monkeypatch.setattr(module, "walk_chain", counting)
    health = ChainHealth()
    drives = host.get_vm("Alpha").hard_drives
    for _ in range(3):
        assert health.of_drives(drives).sound
    assert len(walks) == 1  # unchanged files: the verdict is reused
    Guest(host, "Alpha").write_file("/b.txt", b"the running AVHDX changes")
    assert health.of_drives(drives).sound
    assert len(walks) == 2


def test_a_break_seen_half_way_through_a_merge_is_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process merges: the walk reads the child's old locator, then the old parent is
    deleted before the stat stamp is taken. That half-merge view must not stick (it refused
    Apply with 'parent missing' on a sound chain until the child changed again)."""
    from hvgui.backend.model import HardDrive
    from hvgui.host import chain_health
    from hvgui.vhdx.walk import walk_chain

    base, middle, leaf = tmp_path / "base.vhdx", tmp_path / "mid.avhdx", tmp_path / "leaf.avhdx"
    vhdx.create_dynamic(base, 64 * MiB)
    vhdx.create_differencing(middle, base)
    vhdx.create_differencing(leaf, middle)
    for parent in (base, middle):
        vhdx.set_read_only(parent, True)
    middle.rename(tmp_path / "away")
    half_way = walk_chain(leaf)  # what a walk sees between the merge's last two steps
    (tmp_path / "away").rename(middle)
    assert half_way[1].code and not walk_chain(leaf)[1].code
    vhdx.merge_vhd(middle, base, children=[leaf])  # re-points leaf at base, deletes middle
    vhdx.set_read_only(base, True)
    assert [link.path for link in walk_chain(leaf)] == [leaf, base]

    walks = [half_way]
    monkeypatch.setattr(chain_health, "walk_chain",
                        lambda path: walks.pop() if walks else walk_chain(path))
    drives = [HardDrive("SCSI", 0, 0, leaf, False)]
    health = ChainHealth()
    assert health.of_drives(drives).sound
    assert health.of_drives(drives).sound  # and nothing stale was kept for the next refresh
