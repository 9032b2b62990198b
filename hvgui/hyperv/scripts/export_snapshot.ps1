# Export-VMSnapshot -AsJob ("Exporting (NN%)", JobType 62) into a folder on the host.
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $SnapshotId,
      [Parameter(Mandatory = $true)][string] $Path)
$vm = Get-VM -Id $VMId
$snapshot = Get-HvguiSnapshot $vm $SnapshotId
Wait-HvguiJob (Export-VMSnapshot -VMSnapshot $snapshot -Path $Path -AsJob) $VMId @(62) | Out-Null
Write-HvguiResult 'Done' @{ VMId = [string]$vm.Id; SnapshotId = $SnapshotId; Path = $Path }
