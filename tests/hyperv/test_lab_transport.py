"""The lab transport answers the scripts' contract as a real host would: the script's own
parameters only, progress while the operation runs, the merge after Remove-VMSnapshot's job,
PowerShell-shaped error records."""

from __future__ import annotations

from hvgui.host import Host
from hvgui.hyperv.records import Record
from tests.hyperv.lab_transport import LabTransport


def records(transport: LabTransport, script: str, **parameters: object) -> list[Record]:
    return list(transport.run(script, parameters))  # type: ignore[arg-type]


def results(found: list[Record], kind: str) -> list[dict[str, object]]:
    return [r.data["Object"] for r in found if r.kind == "result" and r.data["Kind"] == kind]


def test_get_vms_prints_get_vm_shaped_records(transport: LabTransport, vm_id: str) -> None:
    [vm] = results(records(transport, "get_vms"), "VM")
    assert vm["Id"] == vm_id and vm["Name"] == "web01" and vm["State"] == "Off"
    for name in ("CPUUsage", "MemoryAssigned", "Uptime", "Status", "Path",
                 "ConfigurationLocation", "SnapshotFileLocation", "ParentSnapshotId",
                 "CheckpointType", "ProcessorCount", "MemoryStartup", "Generation", "Version",
                 "HardDrives", "ConfigurationFile", "SnapshotCount", "RunningJobs"):
        assert name in vm, name


def test_checkpoint_reports_job_70_progress_then_the_new_checkpoint(
    transport: LabTransport, vm_id: str
) -> None:
    found = records(transport, "checkpoint_vm", VMId=vm_id, SnapshotName="before patch")
    progress = [r.data for r in found if r.kind == "progress"]
    assert progress and {p["JobType"] for p in progress} == {70}
    assert {p["Phase"] for p in progress} == {"Creating Checkpoint"}
    percents = [p["PercentComplete"] for p in progress]
    assert percents == sorted(percents)
    assert all(p["Cancellable"] and p["VMId"] == vm_id for p in progress)
    assert found[-1].kind == "result"
    [snap] = results(found, "Snapshot")
    assert snap["Name"] == "before patch" and snap["VMId"] == vm_id


def test_the_merge_job_outlives_remove_vmsnapshot(lab: Host, transport: LabTransport,
                                                  vm_id: str) -> None:
    first = lab.checkpoint_vm(vm_id).snapshot
    lab.checkpoint_vm(vm_id)
    assert first is not None
    found = records(transport, "remove_snapshot", VMId=vm_id, SnapshotId=first.id)
    jobs = [(r.data["JobType"], r.data["PercentComplete"]) for r in found
            if r.kind == "progress"]
    merging = [i for i, (job, _) in enumerate(jobs) if job == 50]
    assert merging, jobs
    # Remove-VMSnapshot's own job (72) ends before the merge (50) is reported, and the merge
    # is reported to its end before the result: Hyper-V Manager's "Merge in progress (NN%)".
    assert jobs[merging[0] - 1] == (72, 100)
    assert all(job == 50 for job, _ in jobs[merging[0]:])
    assert found[-1].kind == "result" and found[-1].data["Kind"] == "Done"
    assert not any(s.id == first.id for s in lab.list_snapshots(vm_id))


def test_an_error_is_a_powershell_error_record(transport: LabTransport, vm_id: str) -> None:
    [error] = records(transport, "set_vm_state", VMId=vm_id, Action="Suspend")
    assert error.kind == "error"
    assert error.data["FullyQualifiedErrorId"].startswith("InvalidState,")
    assert error.data["Category"] == "InvalidOperation"
    assert "not running" in error.data["Message"]


def test_parameters_are_bound_like_powershell(transport: LabTransport, vm_id: str) -> None:
    [unknown] = records(transport, "get_vms", Name="web01")
    assert unknown.kind == "error" and "no parameter 'Name'" in unknown.data["Message"]
    [missing] = records(transport, "rename_snapshot", VMId=vm_id, NewName="x")
    assert missing.kind == "error" and "'SnapshotId'" in missing.data["Message"]


def test_a_file_is_read_in_chunks_at_their_offsets(lab: Host, transport: LabTransport,
                                                   vm_id: str) -> None:
    import base64

    config = lab.get_vm(vm_id).config_path
    found = records(transport, "read_file", Path=str(config), Offset=10, Length=100)
    [info] = results(found, "FileInfo")
    assert info["Length"] == config.stat().st_size
    [chunk] = results(found, "Chunk")
    assert chunk["Offset"] == 10
    assert base64.b64decode(str(chunk["Data"])) == config.read_bytes()[10:110]


def test_stop_job_cancels_a_running_checkpoint(lab: Host, transport: LabTransport,
                                               vm_id: str) -> None:
    running = transport.run("checkpoint_vm", {"VMId": vm_id})
    first = next(running)
    assert first.kind == "progress"
    [answer] = results(records(transport, "stop_job", JobId=first.data["JobId"]), "Job")
    assert answer == {"JobId": first.data["JobId"], "Found": True, "Cancellable": True}
    rest = list(running)
    assert rest[-1].kind == "error" and rest[-1].data["Category"] == "OperationStopped"
    assert lab.list_snapshots(vm_id) == []


def test_with_windows_paths_it_names_files_as_the_windows_host_does(
    lab: Host, vm_id: str
) -> None:
    """`windows_paths`: every path out is the host's Windows path, every Windows path in is
    mapped back to the lab's file; a path the host cannot have is refused as Hyper-V does."""
    from hvgui.host.winpaths import read_names

    root = read_names(lab.root).root
    transport = LabTransport(lab, "hv01", windows_paths=True)
    try:
        [vm] = results(records(transport, "get_vms"), "VM")
        drive = vm["HardDrives"][0]["Path"]  # type: ignore[index]
        for path in (vm["Path"], vm["ConfigurationFile"], vm["SnapshotFileLocation"], drive):
            assert str(path).startswith(root + "\\") or path == root, path
            assert "/" not in str(path)
        assert drive == root + "\\Virtual Hard Disks\\web01.vhdx"
        [vhd] = results(records(transport, "get_vhd", Path=drive), "VHD")
        assert vhd["Path"] == drive and vhd["VhdFormat"] == "VHDX"
        found = records(transport, "read_file", Path=drive, Offset=0, Length=8)
        assert results(found, "Chunk")[0]["Data"] == "dmhkeGZpbGU="  # "vhdxfile"
        [refused] = [r for r in records(transport, "get_vhd", Path=str(lab.root / "x.vhdx"))
                     if r.kind == "error"]
        assert refused.data["Category"] == "ObjectNotFound"
        assert f"below {root}" in str(refused.data["Message"])
        [missing] = [r for r in records(transport, "get_vhd", Path=root + "\\nosuch.vhdx")
                     if r.kind == "error"]
        assert missing.data["TargetObject"] == root + "\\nosuch.vhdx"
        assert str(lab.root) not in str(missing.data)
    finally:
        transport.close()
