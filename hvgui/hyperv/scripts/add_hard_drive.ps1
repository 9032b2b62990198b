# Add-VMHardDiskDrive: a virtual disk file, or a physical disk (pass-through: its number).
param([Parameter(Mandatory = $true)][string] $VMId, [string] $Path, [int] $DiskNumber = -1,
      [string] $ControllerType, [int] $ControllerNumber = -1, [int] $ControllerLocation = -1)
$vm = Get-VM -Id $VMId
$arguments = @{ VM = $vm }
if ($DiskNumber -ge 0) { $arguments.DiskNumber = $DiskNumber } else { $arguments.Path = $Path }
if ($ControllerType) { $arguments.ControllerType = $ControllerType }
if ($ControllerNumber -ge 0) { $arguments.ControllerNumber = $ControllerNumber }
if ($ControllerLocation -ge 0) { $arguments.ControllerLocation = $ControllerLocation }
Add-VMHardDiskDrive @arguments
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
