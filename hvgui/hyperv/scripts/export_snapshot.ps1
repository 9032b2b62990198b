# Export-VMSnapshot -AsJob ("Exporting (NN%)", JobType 62) into a folder on the host; the
# files it wrote are listed for "What happened".
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $SnapshotId,
      [Parameter(Mandatory = $true)][string] $Path)
$vm = Get-VM -Id $VMId
$snapshot = Get-HvguiSnapshot $vm $SnapshotId
Wait-HvguiJob (Export-VMSnapshot -VMSnapshot $snapshot -Path $Path -AsJob) $VMId @(62)
Write-HvguiFiles (Join-Path $Path $vm.Name)
Write-HvguiResult 'Done' @{ VMId = [string]$vm.Id; SnapshotId = $SnapshotId; Path = $Path }
