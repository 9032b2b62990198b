# Move-VMStorage -DestinationStoragePath -AsJob: configuration, checkpoints, saved state and
# every disk (the base and all its AVHDX together) move under the destination on the host.
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $Path)
$vm = Get-VM -Id $VMId
Wait-HvguiJob (Move-VMStorage -VM $vm -DestinationStoragePath $Path -AsJob) $VMId @(63)
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
