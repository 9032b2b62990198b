# New-VM, with a new dynamic VHDX in the host's default disk folder when a size is given.
param([Parameter(Mandatory = $true)][string] $Name, [int64] $MemoryStartupBytes = 1gb,
      [int64] $NewVHDSizeBytes, [int] $Generation = 2, [string] $Path)
$arguments = @{ Name = $Name; MemoryStartupBytes = $MemoryStartupBytes; Generation = $Generation }
if ($Path) { $arguments.Path = $Path }
if ($NewVHDSizeBytes) {
    $arguments.NewVHDPath = Join-Path (Get-VMHost).VirtualHardDiskPath "$Name.vhdx"
    $arguments.NewVHDSizeBytes = $NewVHDSizeBytes
}
$vm = New-VM @arguments
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $vm.Id) $null)
