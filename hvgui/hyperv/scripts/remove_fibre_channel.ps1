# Remove-VMFibreChannelHba: the adapter named by its SAN name or its Id (the VM must be off).
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $Adapter)
$vm = Get-VM -Id $VMId
$hba = @(Get-VMFibreChannelHba -VM $vm | Where-Object { $_.SanName -eq $Adapter -or [string]$_.Id -eq $Adapter }) | Select-Object -First 1
if ($null -eq $hba) {
    Write-Error -Category ObjectNotFound -ErrorId 'HvguiAdapterNotFound' -TargetObject $Adapter `
        -Message "The virtual machine '$($vm.Name)' has no Fibre Channel adapter '$Adapter'."
}
Remove-VMFibreChannelHba -VMFibreChannelHba $hba
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
