# Checkpoint-VM -AsJob, reporting "Creating Checkpoint (NN%)" (JobType 70) until it ends.
param([Parameter(Mandatory = $true)][string] $VMId, [string] $SnapshotName)
$vm = Get-VM -Id $VMId
$before = @(Get-VMSnapshot -VM $vm | ForEach-Object { [string]$_.Id })
$arguments = @{ VM = $vm; AsJob = $true }
if ($SnapshotName) { $arguments.SnapshotName = $SnapshotName }
Wait-HvguiJob (Checkpoint-VM @arguments) $VMId @(70)
$new = @(Get-VMSnapshot -VM $vm | Where-Object { $before -notcontains [string]$_.Id } |
         Sort-Object CreationTime) | Select-Object -Last 1
Write-HvguiResult 'Snapshot' (ConvertTo-HvguiSnapshot $new)
