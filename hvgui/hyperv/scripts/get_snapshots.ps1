# Get-VMSnapshot of one VM; the client builds the tree from ParentSnapshotId.
param([Parameter(Mandatory = $true)][string] $VMId)
$vm = Get-VM -Id $VMId
foreach ($snapshot in @(Get-VMSnapshot -VM $vm)) {
    Write-HvguiResult 'Snapshot' (ConvertTo-HvguiSnapshot $snapshot)
}
