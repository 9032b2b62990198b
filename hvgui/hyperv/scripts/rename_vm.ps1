# Rename-VM.
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $NewName)
$vm = Get-VM -Id $VMId
Rename-VM -VM $vm -NewName $NewName
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
