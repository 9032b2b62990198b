# The files under some folders (two levels: Snapshots\<Id>\<Id>.bin), for "What happened".
param([Parameter(Mandatory = $true)][string[]] $Folders)
foreach ($folder in $Folders) {
    if (-not (Test-Path -LiteralPath $folder -PathType Container)) { continue }
    Get-ChildItem -LiteralPath $folder -File -Recurse -Depth 2 -ErrorAction SilentlyContinue | ForEach-Object {
        Write-HvguiResult 'File' @{
            Path = [string]$_.FullName
            Length = [int64]$_.Length
            LastWriteTime = ConvertTo-HvguiDate $_.LastWriteTimeUtc
            IsReadOnly = [bool]$_.IsReadOnly
        }
    }
}
