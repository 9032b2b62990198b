"""A host's records are hostile input: whatever JSON a script's line holds, parsing it into
the model gives the model or one RecordError naming the field, never another exception."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hvgui.hyperv import parse
from hvgui.hyperv.changes import file_from_record
from hvgui.hyperv.records import RecordError, parse_line

FIELDS = ["Name", "Id", "VMId", "State", "CPUUsage", "MemoryAssigned", "Uptime", "Status",
          "Path", "ParentSnapshotId", "CheckpointType", "SnapshotType", "CreationTime",
          "HardDrives", "ControllerType", "ControllerNumber", "RunningJobs", "JobType",
          "PercentComplete", "JobState", "VhdFormat", "VhdType", "FileSize", "Size",
          "LastWriteTime", "Length", "ProcessorCount", "Generation", "SnapshotCount", "ParentPath"]
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from(["", "2", "Running", "/Date(99999999999999999)/", "-1.00:00:00",
                              "9999999999.23:59:59", "{00000000-0000-0000-0000-000000000000}",
                              "3C7B2F0E-5B1D-4F7E-9A57-2B0C6D1E8F10", "9999-12-31T23:59:59Z"])
           | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
                      max_leaves=12)
# A valid record with some fields replaced, so a reader gets past its first field.
GUID = "3C7B2F0E-5B1D-4F7E-9A57-2B0C6D1E8F10"
VALID = {"Id": GUID, "VMId": GUID,
         "State": "Off", "CreationTime": "2026-11-25T13:05:09Z", "VhdType": "Dynamic",
         "VhdFormat": "VHDX", "ControllerType": "SCSI", "LastWriteTime": "2026-11-25T13:05:09Z"}
records = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6).map(
    lambda changed: {**VALID, **changed})
READERS = [parse.vm_from_record, parse.snapshot_from_record, parse.vhd_from_record,
           parse.hard_drive, file_from_record]


@settings(max_examples=250, deadline=None)
@given(records)
@example({**VALID, "State": "\u00b9"})  # a digit to str.isdigit, not to int()
def test_any_record_is_the_model_or_one_record_error(obj: dict[str, Any]) -> None:
    for reader in READERS:
        try:
            reader(obj)
        except RecordError as exc:
            assert str(exc)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | records.map(lambda o: json.dumps(o).encode()))
def test_any_line_is_a_record_nothing_or_one_record_error(line: bytes) -> None:
    try:
        parse_line("get_vms", line)
    except RecordError as exc:
        assert str(exc).startswith("get_vms: ")
