"""The delete preview of a host whose files are not on this computer: planned from the model
(hvgui/inspect/model_deletes.py), it names the same files as the lab host's own preview."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from hvgui.backend import Capability, HostBackend
from hvgui.backend.formats import human_size
from hvgui.host import Host
from hvgui.hyperv.connect import open_backend as open_hyperv
from hvgui.inspect import DELETE, KEEP, MERGE, DeletePreview, delete_preview
from hvgui.inspect.model_deletes import GetsVhdChains
from hvgui.ui.inspector.delete_preview import DeletePreviewDialog, DeletePreviewWidget
from tests.hyperv.lab_transport import LabTransport

MiB = 1 << 20
Plan = list[tuple[str, str, str | None]]


def _remote(lab: Host) -> HostBackend:
    """The Hyper-V backend over the lab's own folder: it has no local files, so no config
    file of the lab is read for its preview."""
    backend = open_hyperv(LabTransport(lab, "hv01"))
    assert not backend.capabilities.has(Capability.LOCAL_FILES)
    return backend


def _plan(preview: DeletePreview) -> Plan:
    return sorted((str(f.path), f.action, str(f.into) if f.into else None) for f in preview.files)


@pytest.mark.parametrize("tree", ["lab", "branched"])
def test_every_delete_is_planned_as_the_lab_plans_it(
    tree: str, request: pytest.FixtureRequest
) -> None:
    """Each checkpoint, alone and with its subtree, then again after each real delete (which
    leaves disks merge-pending in the branched tree), compared file by file."""
    lab: Host = request.getfixturevalue(tree)
    remote = _remote(lab)
    seen: set[str] = set()
    while snaps := lab.list_snapshots("Lab"):
        for snap in snaps:
            for children in (False, True):
                ours = delete_preview(remote, "Lab", snap.name, include_children=children)
                theirs = delete_preview(lab, "Lab", snap.name, include_children=children)
                assert _plan(ours) == _plan(theirs), (snap.name, children)
                assert (ours.snapshot, ours.warnings) == (theirs.snapshot, theirs.warnings)
                seen |= {f.action for f in ours.files}
        lab.remove_snapshot("Lab", snaps[0].name)
    assert seen == {DELETE, MERGE, KEEP}


def test_merged_bytes_are_the_merged_files_sizes_from_get_vhd(lab: Host) -> None:
    preview = delete_preview(_remote(lab), "Lab", "Two")
    [merged] = [f for f in preview.files if f.action == MERGE]
    now_disk = lab.get_vm("Lab").hard_drives[0].path
    assert merged.path == now_disk and merged.checkpoint == "Now"
    assert merged.into == lab.get_snapshot("Lab", "Two").hard_drives[0].path
    assert merged.size == merged.bytes_moved == now_disk.stat().st_size
    assert preview.bytes_moved == merged.bytes_moved >= MiB  # Now wrote 1 MiB since Two
    assert not preview.measured and preview.enough_space
    assert preview.to_json()["FreeSpaceAvailable"] is None
    assert preview.to_json()["BytesMoved"] == merged.bytes_moved


def test_a_checkpoints_configuration_and_saved_state_have_their_sizes(lab: Host) -> None:
    """From the host's listing of the VM's files (vm_files.ps1), as a real host lists them:
    what the delete frees is shown, not 0."""
    preview = delete_preview(_remote(lab), "Lab", "Two")
    snap = lab.get_snapshot("Lab", "Two")
    own = [p for p in (snap.config_path, snap.bin_path, snap.vsv_path) if p is not None]
    assert len(own) == 3  # taken while running: its saved memory and device state too
    shown = {f.path: f.size for f in preview.files if f.path in own}
    assert shown == {p: p.stat().st_size for p in own}
    assert all(shown.values())
    assert all(f.action == DELETE and f.checkpoint == "Two" for f in preview.files
               if f.path in own)


class _ChainsOnly:
    """A backend giving chains through the Protocol only (`chain_files`), no Get-VHD sizes."""

    def __init__(self, inner: HostBackend) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        if name == "get_vhd_chain":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_chains_from_the_protocol_alone_plan_the_same_files(branched: Host) -> None:
    backend: HostBackend = _ChainsOnly(_remote(branched))  # type: ignore[assignment]
    assert not isinstance(backend, GetsVhdChains)
    for snap in ("One", "Two", "Three"):
        ours = delete_preview(backend, "Lab", snap)
        assert _plan(ours) == _plan(delete_preview(branched, "Lab", snap)), snap
        assert ours.bytes_moved == 0 and not ours.measured  # no sizes: none claimed


def test_a_disk_with_two_children_is_kept_with_the_reason(branched: Host) -> None:
    preview = delete_preview(_remote(branched), "Lab", "One")
    frozen = branched.get_snapshot("Lab", "One").hard_drives[0].path
    [kept] = [f for f in preview.files if f.path == frozen]
    assert kept.action == KEEP and "2 disks depend on it" in kept.reason
    assert preview.warnings and not any(f.action == MERGE for f in preview.files)


def test_the_dialog_shows_a_real_hosts_preview_without_a_warning(
    qtbot: QtBot, lab: Host, tmp_path: Path
) -> None:
    remote = _remote(lab)
    dialog = DeletePreviewDialog(None, compute=lambda: delete_preview(remote, "Lab", "Two"))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: isinstance(dialog.view, DeletePreviewWidget), timeout=10000)
    widget = dialog.view
    assert isinstance(widget, DeletePreviewWidget)
    assert widget.space.level == "ok" and "Hyper-V checks it" in widget.space.text()
    moved = human_size(widget.preview.bytes_moved)
    assert f"Up to {moved} of disk data will be merged" in widget.summary.text()
    assert widget.model.rowCount() == len(widget.preview.files) == 5
    dialog.grab().save(str(tmp_path / "remote-delete-preview.png"))
    dialog.reject()


def test_a_real_hosts_windows_paths_show_their_file_names(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    from hvgui.inspect import PlannedFile
    from hvgui.ui.inspector.file_models import PlannedFilesModel

    folder = "D:\\Hyper-V\\web01\\Virtual Hard Disks\\"
    model = PlannedFilesModel([PlannedFile(Path(folder + "web01_9C2F.avhdx"), MERGE, "why",
                                           into=Path(folder + "web01.vhdx"))])
    qtmodeltester.check(model)
    assert [model.index(0, c).data() for c in (2, 3)] == ["web01_9C2F.avhdx", "web01.vhdx"]
