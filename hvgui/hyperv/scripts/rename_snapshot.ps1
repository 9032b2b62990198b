# Rename-VMSnapshot: quick, no job.
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $SnapshotId,
      [Parameter(Mandatory = $true)][string] $NewName)
$vm = Get-VM -Id $VMId
$snapshot = Get-HvguiSnapshot $vm $SnapshotId
Rename-VMSnapshot -VMSnapshot $snapshot -NewName $NewName
Write-HvguiResult 'Snapshot' (ConvertTo-HvguiSnapshot (Get-HvguiSnapshot $vm $SnapshotId))
