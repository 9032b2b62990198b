# Set-VM with only the settings given (CheckpointType, processors, startup memory, notes,
# checkpoint file location).
param([Parameter(Mandatory = $true)][string] $VMId, [string] $CheckpointType, [int] $ProcessorCount,
      [int64] $MemoryStartupBytes, [string] $Notes, [string] $SnapshotFileLocation)
$vm = Get-VM -Id $VMId
$arguments = @{ VM = $vm }
if ($CheckpointType) { $arguments.CheckpointType = $CheckpointType }
if ($ProcessorCount) { $arguments.ProcessorCount = $ProcessorCount }
if ($MemoryStartupBytes) { $arguments.MemoryStartupBytes = $MemoryStartupBytes }
if ($PSBoundParameters.ContainsKey('Notes')) { $arguments.Notes = $Notes }
if ($SnapshotFileLocation) { $arguments.SnapshotFileLocation = $SnapshotFileLocation }
Set-VM @arguments
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
