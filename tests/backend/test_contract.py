"""What every HostBackend must do (hvgui/backend/protocol.py), run against each backend.

A backend joins by appending an opener to BACKENDS: a function that makes a new, empty host
for the test in a folder it may use (the Hyper-V backend: over a lab transport), and says
where on that host the tests may put files (a `Site`: the paths are the host's own, a Windows
path on a real host, never built from `backend.location`). Everything here goes through the
Protocol only, as the window and hvctl do.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath, PureWindowsPath

import pytest

from hvgui.backend import (
    SOUND,
    VM,
    Capability,
    HostBackend,
    HostError,
    HostKind,
    InvalidStateError,
    NotFoundError,
    OperationResult,
)
from hvgui.connect import open_backend
from hvgui.progress import Cancelled, CancelToken
from hvgui.vhdx import create_dynamic

MiB = 1 << 20


@dataclass(frozen=True)
class Site:
    """Where on the host a test may put files: moved storage and a new disk in `folder`,
    exports in `exports` (a lab host exports out of its folder too)."""

    host_folder: PurePath | None  # None: the tests needing it skip, saying `missing`
    export_folder: PurePath | None
    local: bool  # the host's files are this machine's: a test may make, damage and look at them
    missing: str = ""

    @property
    def folder(self) -> PurePath:
        if self.host_folder is None:
            pytest.skip(self.missing)
        return self.host_folder

    @property
    def exports(self) -> PurePath:
        if self.export_folder is None:
            pytest.skip(self.missing)
        return self.export_folder

    def exists(self, path: PurePath) -> bool | None:
        """Whether the host has `path` (None: this machine cannot tell)."""
        return Path(path).exists() if self.local else None


Opener = Callable[[Path], tuple[HostBackend, Site]]


def _lab(folder: Path) -> tuple[HostBackend, Site]:
    return open_backend(folder, create=True), Site(folder, folder.parent, local=True)


def _lab_isolated(folder: Path) -> tuple[HostBackend, Site]:
    """The lab host as the window opens it: each operation in a child process."""
    return open_backend(folder, create=True, isolated=True), Site(folder, folder.parent,
                                                                  local=True)


def _hyperv_over_lab(folder: Path) -> tuple[HostBackend, Site]:
    """The real Hyper-V backend, its scripts answered by a lab host (the tests' LabTransport)."""
    from hvgui.host import Host
    from hvgui.hyperv.connect import open_backend as open_hyperv
    from tests.hyperv.lab_transport import LabTransport

    transport = LabTransport(Host.open(folder, create=True), "hv01")
    return open_hyperv(transport), Site(folder, folder.parent, local=True)


def _hyperv_over_lab_windows(folder: Path) -> tuple[HostBackend, Site]:
    """As above, the lab transport answering with the Windows paths a real host gives
    (`C:\\ProgramData\\...`) and taking them back: nothing may open or join them here."""
    from hvgui.host import Host
    from hvgui.host.winpaths import read_names
    from hvgui.hyperv.connect import open_backend as open_hyperv
    from tests.hyperv.lab_transport import LabTransport

    transport = LabTransport(Host.open(folder, create=True), "hv01", windows_paths=True)
    root = PureWindowsPath(read_names(folder).root)
    return open_hyperv(transport), Site(root, root / "Exports", local=False)


LIVE = ("HVGUI_TEST_HYPERV_HOST", "HVGUI_TEST_HYPERV_USER", "HVGUI_TEST_HYPERV_PASSWORD")
# The VMs the tests make: removed from a live host before each test, so use a host kept for
# testing (HVGUI_TEST_HYPERV_PORT: WinRM's port, 5985 for HTTP).
TEST_VMS = ("web01", "web02", "db01")
# A folder on that host the tests may write into (a Windows path such as D:\\hvgui-tests): each
# test uses a new subfolder of it. Unset, the tests that need one skip.
LIVE_FOLDER = "HVGUI_TEST_HYPERV_FOLDER"


def _hyperv_live(folder: Path) -> tuple[HostBackend, Site]:
    """A real Hyper-V host named by HVGUI_TEST_HYPERV_HOST/USER/PASSWORD."""
    from hvgui.connect import connect_to_server
    from hvgui.hyperv.settings import HTTP_PORT, ConnectionSettings

    port = int(os.environ.get("HVGUI_TEST_HYPERV_PORT") or 0) or None
    backend = connect_to_server(ConnectionSettings(
        os.environ["HVGUI_TEST_HYPERV_HOST"], user=os.environ["HVGUI_TEST_HYPERV_USER"],
        password=os.environ["HVGUI_TEST_HYPERV_PASSWORD"], port=port,
        use_https=port != HTTP_PORT,
        check_certificate=os.environ.get("HVGUI_TEST_HYPERV_CHECK_CERTIFICATE") != "0",
    ))
    for vm in backend.list_vms():
        if vm.name in TEST_VMS:
            if vm.state != "Off":
                backend.stop_vm(vm.id, turn_off=True)
            backend.remove_vm(vm.id)
    where = os.environ.get(LIVE_FOLDER)
    mine = PureWindowsPath(where, f"hvgui-test-{uuid.uuid4().hex[:12]}") if where else None
    return backend, Site(
        mine, mine, local=False,
        missing=f"no folder on the Hyper-V host to write into: set {LIVE_FOLDER}",
    )


BACKENDS: list[object] = [
    pytest.param(_lab, id="lab"),
    pytest.param(_lab_isolated, id="lab-isolated"),
    pytest.param(_hyperv_over_lab, id="hyperv-lab"),
    pytest.param(_hyperv_over_lab_windows, id="hyperv-lab-windows"),
    pytest.param(_hyperv_live, id="hyperv-live", marks=pytest.mark.skipif(
        not all(os.environ.get(name) for name in LIVE),
        reason="no real Hyper-V host: set HVGUI_TEST_HYPERV_HOST, HVGUI_TEST_HYPERV_USER and "
        "HVGUI_TEST_HYPERV_PASSWORD to run the contract suite against one")),
]


# What the lab host in child processes is held to: each kind of operation, its progress,
# cancel and errors once (every operation costs a process start: the whole suite would take
# 25 s more for the same code run the same way in the child).
ISOLATED_SUBSET = {
    "test_checkpoint_appears_with_its_result", "test_apply_and_revert_return_to_the_checkpoint",
    "test_delete_merges_and_delete_subtree_removes_children", "test_export_checkpoint_and_vm",
    "test_move_storage_moves_every_file", "test_a_refused_operation_changes_nothing",
    "test_cancel_leaves_the_host_as_before", "test_errors_are_host_errors_with_readable_text",
    "test_events_say_what_operations_did",
}


@pytest.fixture(params=BACKENDS)
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[HostBackend, Site]:
    opener: Opener = request.param
    if opener is _lab_isolated and request.function.__name__ not in ISOLATED_SUBSET:
        pytest.skip("run on the in-process lab host; the isolated one runs ISOLATED_SUBSET")
    return opener(tmp_path / "host")


@pytest.fixture
def backend(opened: tuple[HostBackend, Site]) -> Iterator[HostBackend]:
    yield opened[0]


@pytest.fixture
def site(opened: tuple[HostBackend, Site]) -> Site:
    return opened[1]


@pytest.fixture
def vm(backend: HostBackend) -> VM:
    backend.new_vm("web01", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=16 * MiB)
    return backend.get_vm("web01")


class Progress:
    """A progress callback that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction: float, phase: str) -> None:
        self.calls.append((fraction, phase))

    def check(self) -> None:
        assert self.calls, "the operation never reported progress"
        assert all(0.0 <= f <= 1.0 for f, _ in self.calls), self.calls
        assert self.calls[-1][0] == 1.0, "the last report is not 100%"


def _under(folder: PurePath, path: PurePath) -> bool:
    """Whether the host's `path` names a file in `folder` (spelled with `..` or not), both as
    `folder`'s kind of path (a Windows path on a real host, compared as Windows does)."""
    flavour = ntpath if isinstance(folder, PureWindowsPath) else posixpath
    return folder in type(folder)(flavour.normpath(str(path))).parents


def _changed(backend: HostBackend, before: str) -> None:
    assert backend.revision() != before, "the revision did not change after an operation"


# ---------------------------------------------------------------------- the host itself
def test_a_new_host_is_empty_and_names_itself(backend: HostBackend) -> None:
    assert backend.list_vms() == []
    assert backend.display_name and backend.location
    assert backend.read_only == ""
    assert isinstance(backend.revision(), str)
    assert backend.recovered == []
    # What it is, said by the host itself: a lab host stands for a Windows host's folder.
    lab = backend.capabilities.has(Capability.GUEST)
    assert backend.kind is (HostKind.LAB if lab else HostKind.HYPERV)
    assert (backend.windows_root == "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V") is lab


def test_every_missing_capability_says_why(backend: HostBackend) -> None:
    caps = backend.capabilities
    for capability in Capability:
        assert caps.has(capability) == (caps.reason(capability) == "")
        if not caps.has(capability):
            assert caps.reason(capability).strip(), f"{capability}: no reason given"


# ---------------------------------------------------------------------- reading
def test_a_new_vm_is_listed_and_found_by_name_or_id(backend: HostBackend) -> None:
    before = backend.revision()
    progress = Progress()
    result = backend.new_vm("web01", memory_startup_bytes=64 * MiB,
                            new_vhd_size_bytes=16 * MiB, progress=progress)
    _changed(backend, before)
    progress.check()
    [vm] = backend.list_vms()
    assert (vm.name, vm.state, vm.memory_startup) == ("web01", "Off", 64 * MiB)
    assert result.vm_id == vm.id and result.powershell
    assert backend.get_vm(vm.id) == backend.get_vm("web01")
    assert len(vm.hard_drives) == 1
    assert backend.list_snapshots(vm.id) == []


def test_unknown_names_raise_not_found(backend: HostBackend, vm: VM) -> None:
    with pytest.raises(NotFoundError, match="nosuch"):
        backend.get_vm("nosuch")
    with pytest.raises(NotFoundError, match="nosuch"):
        backend.get_snapshot(vm.id, "nosuch")
    with pytest.raises(NotFoundError):
        backend.list_snapshots("nosuch")
    with pytest.raises(NotFoundError):
        backend.checkpoint_vm("nosuch")


def test_a_sound_vm_has_sound_chains(backend: HostBackend, vm: VM) -> None:
    if not backend.capabilities.has(Capability.CHAIN_HEALTH):
        pytest.skip(backend.capabilities.reason(Capability.CHAIN_HEALTH))
    assert backend.drive_health(vm.hard_drives) == SOUND
    files = backend.chain_files(vm.hard_drives)
    assert files[0] == vm.hard_drives[0].path
    stamp = backend.chain_stamp(files)
    assert backend.chain_stamp(files) == stamp
    if backend.capabilities.has(Capability.LOCAL_FILES):  # else revision() covers it
        backend.checkpoint_vm(vm.id)
        assert backend.chain_stamp(files) != stamp  # the frozen disk became read-only


def test_local_files_are_under_the_hosts_folder(backend: HostBackend, vm: VM) -> None:
    if not backend.capabilities.has(Capability.LOCAL_FILES):
        pytest.skip(backend.capabilities.reason(Capability.LOCAL_FILES))
    folder = Path(backend.location)
    assert folder.is_dir()
    assert _under(folder, vm.config_path) and vm.config_path.is_file()
    assert all(_under(folder, d.path) and d.path.is_file() for d in vm.hard_drives)


# ---------------------------------------------------------------------- checkpoints
def _checkpoint(backend: HostBackend, vm: VM, name: str) -> OperationResult:
    result = backend.checkpoint_vm(vm.id, snapshot_name=name)
    assert result.snapshot is not None and result.snapshot.name == name
    return result


def test_checkpoint_appears_with_its_result(backend: HostBackend, vm: VM) -> None:
    before = backend.revision()
    progress = Progress()
    result = backend.checkpoint_vm(vm.id, snapshot_name="before update", progress=progress)
    _changed(backend, before)
    progress.check()
    snap = result.snapshot
    assert snap is not None and snap.name == "before update" and snap.vm_id == vm.id
    assert backend.list_snapshots(vm.id) == [snap]
    assert backend.get_snapshot(vm.id, "before update") == snap
    now = backend.get_vm(vm.id)
    assert (now.parent_snapshot_id, now.parent_snapshot_name) == (snap.id, "before update")
    assert now.hard_drives[0].path != vm.hard_drives[0].path  # Now writes a new AVHDX
    assert snap.hard_drives[0].path == vm.hard_drives[0].path  # the disk it froze


def test_checkpoints_form_a_tree_in_order(backend: HostBackend, vm: VM) -> None:
    first = _checkpoint(backend, vm, "one").snapshot
    second = _checkpoint(backend, vm, "two").snapshot
    assert first is not None and second is not None
    backend.restore_snapshot(vm.id, first.id)
    third = _checkpoint(backend, vm, "three").snapshot
    assert third is not None
    snaps = backend.list_snapshots(vm.id)
    assert [s.name for s in snaps] == ["one", "two", "three"]
    assert snaps[1].parent_snapshot_id == snaps[2].parent_snapshot_id == first.id


def test_apply_and_revert_return_to_the_checkpoint(backend: HostBackend, vm: VM) -> None:
    one = _checkpoint(backend, vm, "one").snapshot
    two = _checkpoint(backend, vm, "two").snapshot
    assert one is not None and two is not None
    before = backend.revision()
    progress = Progress()
    backend.restore_snapshot(vm.id, "one", progress=progress)
    _changed(backend, before)
    progress.check()
    assert backend.get_vm(vm.id).parent_snapshot_id == one.id
    result = backend.restore_snapshot(vm.id, two.id, take_checkpoint_first=True)
    assert backend.get_vm(vm.id).parent_snapshot_id == two.id
    assert len(backend.list_snapshots(vm.id)) == 3  # the checkpoint taken first
    assert result.vm_id == vm.id
    backend.start_vm(vm.id)
    backend.revert_vm(vm.id)
    now = backend.get_vm(vm.id)
    assert now.parent_snapshot_id == two.id and now.state == "Off"  # taken while Off


def test_rename_checkpoint(backend: HostBackend, vm: VM) -> None:
    snap = _checkpoint(backend, vm, "one").snapshot
    assert snap is not None
    before = backend.revision()
    backend.rename_snapshot(vm.id, snap.id, "renamed")
    _changed(backend, before)
    assert backend.get_snapshot(vm.id, snap.id).name == "renamed"
    assert backend.get_vm(vm.id).parent_snapshot_name == "renamed"


def test_delete_merges_and_delete_subtree_removes_children(
    backend: HostBackend, vm: VM
) -> None:
    one = _checkpoint(backend, vm, "one").snapshot
    _checkpoint(backend, vm, "two")
    _checkpoint(backend, vm, "three")
    assert one is not None
    before = backend.revision()
    progress = Progress()
    backend.remove_snapshot(vm.id, "two", progress=progress)
    _changed(backend, before)
    progress.check()
    snaps = backend.list_snapshots(vm.id)
    assert [s.name for s in snaps] == ["one", "three"]
    assert snaps[1].parent_snapshot_id == one.id  # the child takes the deleted one's place
    backend.remove_snapshot(vm.id, one.id, include_children=True)
    assert backend.list_snapshots(vm.id) == []
    now = backend.get_vm(vm.id)
    assert now.parent_snapshot_id is None and now.snapshot_count == 0


def test_export_checkpoint_and_vm(backend: HostBackend, vm: VM, site: Site) -> None:
    export = site.exports / "export"
    snap = _checkpoint(backend, vm, "one").snapshot
    assert snap is not None
    progress = Progress()
    result = backend.export_snapshot(vm.id, snap.id, str(export), progress=progress)
    progress.check()
    assert result.events and all(
        _under(export, e.path) for e in result.events if e.action == "created"
    )
    assert backend.list_snapshots(vm.id) == [snap]  # the source is untouched
    result = backend.export_vm(vm.id, str(site.exports / "export-now"))
    assert any(_under(site.exports / "export-now", e.path) for e in result.events)


def test_move_storage_moves_every_file(backend: HostBackend, vm: VM, site: Site) -> None:
    where = site.folder / "moved"
    _checkpoint(backend, vm, "one")
    progress = Progress()
    backend.move_storage(vm.id, str(where), progress=progress)
    progress.check()
    now = backend.get_vm(vm.id)
    assert _under(where, now.config_path)
    assert all(_under(where, d.path) for d in now.hard_drives)
    [snap] = backend.list_snapshots(vm.id)
    assert _under(where, snap.config_path)


# ---------------------------------------------------------------------- VMs
def test_state_changes_follow_hyper_v(backend: HostBackend, vm: VM) -> None:
    steps: list[tuple[Callable[..., OperationResult], dict[str, bool], str]] = [
        (backend.start_vm, {}, "Running"),
        (backend.suspend_vm, {}, "Paused"),
        (backend.resume_vm, {}, "Running"),
        (backend.save_vm, {}, "Saved"),
        (backend.start_vm, {}, "Running"),
        (backend.reset_vm, {}, "Running"),
        (backend.stop_vm, {"turn_off": True}, "Off"),
        (backend.start_vm, {}, "Running"),
        (backend.stop_vm, {}, "Off"),
        (backend.start_vm, {}, "Running"),
        (backend.save_vm, {}, "Saved"),
        (backend.remove_saved_state, {}, "Off"),
    ]
    for method, options, state in steps:
        before = backend.revision()
        method(vm.id, **options)
        _changed(backend, before)
        assert backend.get_vm(vm.id).state == state, method.__name__


def test_a_refused_operation_changes_nothing(backend: HostBackend, vm: VM) -> None:
    before = backend.revision()
    with pytest.raises(InvalidStateError):
        backend.suspend_vm(vm.id)  # Off: nothing to pause
    assert backend.get_vm(vm.id).state == "Off"
    assert backend.revision() == before


def test_settings_change_the_vm(backend: HostBackend, vm: VM) -> None:
    backend.set_vm(vm.id, processor_count=2, memory_startup_bytes=128 * MiB,
                   checkpoint_type="Standard", notes="web server")
    now = backend.get_vm(vm.id)
    assert (now.processor_count, now.memory_startup, now.checkpoint_type, now.notes) == (
        2, 128 * MiB, "Standard", "web server")


def test_new_rename_and_remove_vm(backend: HostBackend, vm: VM) -> None:
    backend.rename_vm(vm.id, "web02")
    assert backend.get_vm(vm.id).name == "web02"
    backend.new_vm("db01", memory_startup_bytes=64 * MiB)
    assert [v.name for v in backend.list_vms()] == ["db01", "web02"]
    before = backend.revision()
    backend.remove_vm("db01")
    _changed(backend, before)
    assert [v.name for v in backend.list_vms()] == ["web02"]


def _new_disk(backend: HostBackend, site: Site) -> PurePath:
    """A disk no VM uses: made here where the host's files are local, else made by the host
    for another VM and detached from it (the Protocol has no New-VHD)."""
    if site.local:
        data = Path(site.folder) / "data.vhdx"
        create_dynamic(data, 8 * MiB)
        return data
    site.folder  # noqa: B018 (skips the test where the host offers no folder)
    backend.new_vm("db01", memory_startup_bytes=64 * MiB, new_vhd_size_bytes=8 * MiB)
    [drive] = backend.get_vm("db01").hard_drives
    backend.remove_hard_drive("db01", drive.controller_type, drive.controller_number,
                              drive.controller_location)
    return type(site.folder)(str(drive.path))


def test_drives_attach_and_detach(backend: HostBackend, vm: VM, site: Site) -> None:
    data = _new_disk(backend, site)
    backend.add_hard_drive(vm.id, str(data))
    drives = backend.get_vm(vm.id).hard_drives
    [added] = [d for d in drives if type(data)(str(d.path)) == data]
    backend.remove_hard_drive(vm.id, added.controller_type, added.controller_number,
                              added.controller_location)
    assert backend.get_vm(vm.id).hard_drives == vm.hard_drives
    assert site.exists(data) in (True, None)  # detached, never deleted


def test_fibre_channel_adapters_attach_and_detach(backend: HostBackend, vm: VM) -> None:
    backend.add_fibre_channel(vm.id, san_name="SAN01")
    [adapter] = backend.get_vm(vm.id).fibre_channel
    assert adapter.san_name == "SAN01" and adapter.id
    backend.start_vm(vm.id)
    with pytest.raises(InvalidStateError):  # only while the VM is off
        backend.remove_fibre_channel(vm.id, adapter.id)
    backend.stop_vm(vm.id, turn_off=True)
    backend.remove_fibre_channel(vm.id, "SAN01")
    assert backend.get_vm(vm.id).fibre_channel == []


# ---------------------------------------------------------------------- cancel, errors
Call = Callable[[HostBackend, VM, Site, Callable[[float, str], None] | None, CancelToken], object]
CANCELLABLE: list[tuple[Capability, Call]] = [
    (Capability.CANCEL_CHECKPOINT,
     lambda b, vm, _s, p, c: b.checkpoint_vm(vm.id, progress=p, cancel=c)),
    (Capability.CANCEL_APPLY,
     lambda b, vm, _s, p, c: b.restore_snapshot(vm.id, "one", progress=p, cancel=c)),
    (Capability.CANCEL_DELETE,
     lambda b, vm, _s, p, c: b.remove_snapshot(vm.id, "one", progress=p, cancel=c)),
    (Capability.CANCEL_EXPORT,
     lambda b, vm, s, p, c: b.export_snapshot(vm.id, "one", str(s.exports / "export"),
                                              progress=p, cancel=c)),
    (Capability.CANCEL_MOVE,
     lambda b, vm, s, p, c: b.move_storage(vm.id, str(s.folder / "moved"), progress=p,
                                           cancel=c)),
]


@pytest.mark.parametrize("under_way", [False, True], ids=["before", "while-running"])
@pytest.mark.parametrize(("capability", "call"), CANCELLABLE, ids=[c for c, _ in CANCELLABLE])
def test_cancel_leaves_the_host_as_before(
    backend: HostBackend,
    vm: VM,
    site: Site,
    capability: Capability,
    call: Call,
    under_way: bool,
) -> None:
    """Cancelled before it starts, or at its first progress report once it is under way."""
    if not backend.capabilities.has(capability):
        pytest.skip(backend.capabilities.reason(capability))
    site.folder, site.exports  # noqa: B018 (skip here, before the host changes, without them)
    _checkpoint(backend, vm, "one")
    vm_before, snaps_before = backend.get_vm(vm.id), backend.list_snapshots(vm.id)
    cancel = CancelToken()
    if not under_way:
        cancel.cancel()

    def cancel_when_told(fraction: float, phase: str) -> None:
        cancel.cancel()

    with pytest.raises(Cancelled):
        call(backend, vm, site, cancel_when_told, cancel)
    assert backend.list_snapshots(vm.id) == snaps_before
    after = backend.get_vm(vm.id)
    assert (after.hard_drives, after.config_path, after.parent_snapshot_id, after.status) == (
        vm_before.hard_drives, vm_before.config_path, vm_before.parent_snapshot_id, "")
    assert not site.exists(site.exports / "export")


def test_what_a_backend_cannot_do_is_refused_with_its_reason(
    backend: HostBackend, vm: VM
) -> None:
    caps = backend.capabilities
    calls: list[tuple[Capability, Callable[[], object]]] = [
        (Capability.CHECK_HOST, backend.check),
        (Capability.OUTSIDE_FOLDERS, lambda: backend.allow_outside_folders([])),
        (Capability.INSPECT_FILES, lambda: backend.local_copy(vm.config_path)),
    ]
    for capability, call in calls:
        if caps.has(capability):
            call()  # it works
            continue
        with pytest.raises(HostError) as refused:
            call()
        assert caps.reason(capability) in str(refused.value), capability


def test_errors_are_host_errors_with_readable_text(backend: HostBackend, vm: VM) -> None:
    with pytest.raises(HostError) as caught:
        backend.restore_snapshot(vm.id, "nosuch")
    assert str(caught.value).startswith("nosuch: ")
    backend.start_vm(vm.id)
    with pytest.raises(InvalidStateError) as refused:
        backend.remove_vm(vm.id)
    assert refused.value.subject and refused.value.problem


def test_unreadable_vm_is_reported_not_fatal(backend: HostBackend, vm: VM, site: Site) -> None:
    if not site.local:
        pytest.skip("damaging a VM's configuration needs the host's files on this machine")
    backend.new_vm("db01", memory_startup_bytes=64 * MiB)
    Path(backend.get_vm("db01").config_path).write_bytes(b"<not xml")
    errors: list[HostError] = []
    assert [v.name for v in backend.list_vms(errors=errors)] == ["web01"]
    [error] = errors
    assert "db01" in error.subject or error.subject.endswith((".xml", ".vmcx"))
    with pytest.raises(HostError):
        backend.list_vms()


# ---------------------------------------------------------------------- events, files
def test_events_say_what_operations_did(backend: HostBackend, vm: VM) -> None:
    """This program's operations at least (a host with an event log: every program's)."""
    size = backend.events_size()
    result = _checkpoint(backend, vm, "one")
    assert backend.events_size() > size
    events = backend.events(vm.id)
    assert events[-len(result.events):] == result.events
    assert {e.vm_id for e in events} == {vm.id}
    assert any(e.action == "created" for e in result.events)
    backend.new_vm("db01", memory_startup_bytes=64 * MiB)
    assert len(backend.events()) > len(events)


def test_the_event_log_holds_what_other_programs_did(backend: HostBackend, vm: VM) -> None:
    if not backend.capabilities.has(Capability.EVENT_LOG):
        pytest.skip(backend.capabilities.reason(Capability.EVENT_LOG))
    result = _checkpoint(backend, vm, "one")
    again = open_backend(backend.location)  # another program opening the same host
    assert again.events(vm.id)[-len(result.events):] == result.events


def test_a_checkpoints_files_can_be_read(backend: HostBackend, vm: VM) -> None:
    if not backend.capabilities.has(Capability.INSPECT_FILES):
        pytest.skip(backend.capabilities.reason(Capability.INSPECT_FILES))
    snap = _checkpoint(backend, vm, "one").snapshot
    assert snap is not None
    files = backend.inspect_files(vm.id, snap.id)
    assert files[0] == snap.config_path and vm.hard_drives[0].path in files
    now = backend.inspect_files(vm.id, None)
    now_vm = backend.get_vm(vm.id)
    assert now[0] == now_vm.config_path
    assert now_vm.hard_drives[0].path in now and vm.hard_drives[0].path in now  # chain
    for path in files:
        local = backend.local_copy(path)
        assert local.stat().st_size > 0, path


def test_check_finds_nothing_on_a_sound_host(backend: HostBackend, vm: VM, site: Site) -> None:
    if not backend.capabilities.has(Capability.CHECK_HOST):
        pytest.skip(backend.capabilities.reason(Capability.CHECK_HOST))
    if not site.local:
        pytest.skip("breaking a chain needs the host's files on this machine")
    _checkpoint(backend, vm, "one")
    assert backend.check() == []
    Path(backend.get_vm(vm.id).hard_drives[0].path).unlink()  # Now's AVHDX: the chain breaks
    assert backend.check()
