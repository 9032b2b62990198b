# Remove-VMHardDiskDrive: the drive is detached; its file stays where it is.
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $ControllerType,
      [Parameter(Mandatory = $true)][int] $ControllerNumber, [Parameter(Mandatory = $true)][int] $ControllerLocation)
$vm = Get-VM -Id $VMId
$drive = Get-VMHardDiskDrive -VM $vm -ControllerType $ControllerType -ControllerNumber $ControllerNumber -ControllerLocation $ControllerLocation
if ($null -eq $drive) {
    Write-Error -Category ObjectNotFound -ErrorId 'HvguiDriveNotFound' -TargetObject $vm.Name `
        -Message "No drive at $ControllerType $ControllerNumber`:$ControllerLocation."
}
Remove-VMHardDiskDrive -VMHardDiskDrive $drive
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
