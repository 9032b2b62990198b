# Restore-VMSnapshot -AsJob ("Applying Checkpoint (NN%)", JobType 71); Take Checkpoint and
# Apply runs Checkpoint-VM first (JobType 70).
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $SnapshotId,
      [bool] $TakeCheckpointFirst)
$vm = Get-VM -Id $VMId
$snapshot = Get-HvguiSnapshot $vm $SnapshotId
if ($TakeCheckpointFirst) {
    Wait-HvguiJob (Checkpoint-VM -VM $vm -AsJob) $VMId @(70)
}
Wait-HvguiJob (Restore-VMSnapshot -VMSnapshot $snapshot -Confirm:$false -AsJob) $VMId @(71)
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
