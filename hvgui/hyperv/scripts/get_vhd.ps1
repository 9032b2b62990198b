# Get-VHD of a disk and up its ParentPath: the chain, leaf first (at most 128 levels, so a
# chain that loops ends).
param([Parameter(Mandatory = $true)][string] $Path)
$next = $Path
for ($level = 0; $next -and $level -lt 128; $level++) {
    $vhd = Get-VHD -Path $next
    Write-HvguiResult 'VHD' (ConvertTo-HvguiVHD $vhd)
    $next = [string]$vhd.ParentPath
}
