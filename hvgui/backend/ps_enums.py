"""Hyper-V's PowerShell enums as Windows PowerShell 5.1 prints them: their numbers.

`hvctl --json-ps51` writes these numbers, and the real Hyper-V backend (hvgui.hyperv.parse)
reads them back from a host whose script printed an enum uncast: one table for both.
"""

from __future__ import annotations

# Microsoft.HyperV.PowerShell.VMState (the DMTF EnabledState values Hyper-V uses).
VM_STATE = {
    "Other": 1, "Running": 2, "Off": 3, "Stopping": 4, "Saved": 6, "Paused": 9, "Starting": 10,
    "Reset": 11, "Saving": 32773, "Pausing": 32776, "Resuming": 32777, "FastSaved": 32779,
    "FastSaving": 32780, "ForceShutdown": 32781, "ForceReboot": 32782, "Hibernated": 32783,
    "ComponentServicing": 32784, "RunningCritical": 32785, "OffCritical": 32786,
    "StoppingCritical": 32787, "SavedCritical": 32788, "PausedCritical": 32789,
    "StartingCritical": 32790, "ResetCritical": 32791, "SavingCritical": 32792,
    "PausingCritical": 32793, "ResumingCritical": 32794, "FastSavedCritical": 32795,
    "FastSavingCritical": 32796,
    "Paused-Critical": 32789,  # the lab host's spelling of PausedCritical
}
# Microsoft.HyperV.PowerShell.SnapshotType: it has no Production member; a production
# checkpoint is a Standard snapshot there.
SNAPSHOT_TYPE = {
    "Standard": 0, "Recovery": 1, "Planned": 2, "Missing": 5, "Replica": 6,
    "AppConsistentReplica": 7, "SyncedReplica": 8, "Production": 0,
}
# Microsoft.HyperV.PowerShell.CheckpointType (Msvm_VirtualSystemSettingData.UserSnapshotType).
CHECKPOINT_TYPE = {"Disabled": 2, "Production": 3, "ProductionOnly": 4, "Standard": 5}
CONTROLLER_TYPE = {"IDE": 0, "SCSI": 1, "PMEM": 2}  # Microsoft.HyperV.PowerShell.ControllerType
VHD_FORMAT = {"Unknown": 0, "VHD": 2, "VHDX": 3, "VHDSet": 4}  # Microsoft.Vhd.PowerShell.VhdFormat
VHD_TYPE = {"Unknown": 0, "Fixed": 2, "Dynamic": 3, "Differencing": 4}  # ...VhdType

ENUMS: dict[str, dict[str, int]] = {
    "State": VM_STATE,  # a VM's and a checkpoint's (VMSnapshot.State is a VMState too)
    "SnapshotType": SNAPSHOT_TYPE,
    "CheckpointType": CHECKPOINT_TYPE,
    "ControllerType": CONTROLLER_TYPE,
    "VhdFormat": VHD_FORMAT,
    "VhdType": VHD_TYPE,
}
