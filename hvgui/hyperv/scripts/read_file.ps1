# A range of a file on the host, as 1 MiB base64 chunks at their offsets. Opened for reading
# with ReadWrite sharing, so a file Hyper-V holds open (a running VM's AVHDX) can be read.
param([Parameter(Mandatory = $true)][string] $Path, [int64] $Offset = 0, [int64] $Length = -1)
$stream = [IO.File]::Open($Path, 'Open', 'Read', 'ReadWrite')
try {
    $size = $stream.Length
    $end = $(if ($Length -lt 0) { $size } else { [Math]::Min($size, $Offset + $Length) })
    $buffer = New-Object byte[] (1mb)
    $position = [Math]::Min($Offset, $size)
    [void]$stream.Seek($position, 'Begin')
    $readOnly = [bool](New-Object IO.FileInfo $Path).IsReadOnly  # a parent disk's, say
    Write-HvguiResult 'FileInfo' @{ Path = $Path; Length = [int64]$size; IsReadOnly = $readOnly }
    while ($position -lt $end) {
        $count = $stream.Read($buffer, 0, [int][Math]::Min($buffer.Length, $end - $position))
        if ($count -le 0) { break }
        Write-HvguiResult 'Chunk' @{ Offset = [int64]$position; Data = [Convert]::ToBase64String($buffer, 0, $count) }
        $position += $count
    }
} finally {
    $stream.Dispose()
}
