# The files of one VM, for "What happened" (before and after each operation): its
# configuration and saved state, its checkpoints' files, and the disks beside its drives.
# Paths are joined here, on the host, as the host's own paths.
param([Parameter(Mandatory = $true)][string] $VMId)
$vm = Get-VM -Id $VMId
$id = $vm.Id.ToString().ToUpper()
$items = @()
$configuration = Join-Path $vm.ConfigurationLocation 'Virtual Machines'
if (Test-Path -LiteralPath $configuration) {
    $items += @(Get-ChildItem -LiteralPath $configuration -File -Filter "$id*" -ErrorAction SilentlyContinue)
    $runtime = Join-Path $configuration $id
    if (Test-Path -LiteralPath $runtime) { $items += @(Get-ChildItem -LiteralPath $runtime -File -ErrorAction SilentlyContinue) }
}
$snapshots = Join-Path $vm.SnapshotFileLocation 'Snapshots'
if (Test-Path -LiteralPath $snapshots) {
    $items += @(Get-ChildItem -LiteralPath $snapshots -File -Recurse -Depth 1 -ErrorAction SilentlyContinue)
}
$folders = @($vm.HardDrives | Where-Object { $_.Path } | ForEach-Object { Split-Path -Parent $_.Path } | Sort-Object -Unique)
foreach ($folder in $folders) {
    $items += @(Get-ChildItem -LiteralPath $folder -File -ErrorAction SilentlyContinue |
                Where-Object { $_.Extension -in @('.vhd', '.vhdx', '.avhd', '.avhdx') })
}
foreach ($item in $items) {
    $file = ConvertTo-HvguiFile $item
    if ($item.Extension -in @('.vhd', '.vhdx', '.avhd', '.avhdx')) {
        # Get-VHD's parent ('' for a base disk): a merge then says which AVHDX went into
        # which parent. A disk Get-VHD cannot open is listed without it.
        $vhd = Get-VHD -Path $item.FullName -ErrorAction SilentlyContinue
        if ($vhd) { $file.ParentPath = [string]$vhd.ParentPath }
    }
    Write-HvguiResult 'File' $file
}
