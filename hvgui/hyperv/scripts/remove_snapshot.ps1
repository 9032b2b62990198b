# Remove-VMSnapshot [-IncludeAllChildSnapshots] -AsJob ("Deleting Checkpoint", JobType 72);
# the disks' merge (JobType 50) goes on after the cmdlet returns: "Merge in progress (NN%)"
# is reported until the merge job ends.
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $SnapshotId,
      [bool] $IncludeAllChildSnapshots)
$vm = Get-VM -Id $VMId
$snapshot = Get-HvguiSnapshot $vm $SnapshotId
$job = Remove-VMSnapshot -VMSnapshot $snapshot -IncludeAllChildSnapshots:$IncludeAllChildSnapshots -Confirm:$false -AsJob
Wait-HvguiJob $job $VMId @(72, 50)
Wait-HvguiMerge $VMId
Write-HvguiResult 'Done' @{ VMId = [string]$vm.Id; SnapshotId = $SnapshotId }
