# Add-VMFibreChannelHba (the VM must be off).
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $SanName)
$vm = Get-VM -Id $VMId
Add-VMFibreChannelHba -VM $vm -SanName $SanName
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
