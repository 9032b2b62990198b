# Remove-VM: the configuration, saved state and checkpoints go; the disks stay.
param([Parameter(Mandatory = $true)][string] $VMId)
$vm = Get-VM -Id $VMId
Remove-VM -VM $vm -Force
Write-HvguiResult 'Done' @{ VMId = [string]$vm.Id }
