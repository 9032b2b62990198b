# Export-VM -AsJob ("Exporting (NN%)", JobType 62): the VM as it is now, into a folder on the
# host; the files it wrote are listed for "What happened".
param([Parameter(Mandatory = $true)][string] $VMId, [Parameter(Mandatory = $true)][string] $Path)
$vm = Get-VM -Id $VMId
Wait-HvguiJob (Export-VM -VM $vm -Path $Path -AsJob) $VMId @(62)
Write-HvguiFiles (Join-Path $Path $vm.Name)
Write-HvguiResult 'Done' @{ VMId = [string]$vm.Id; Path = $Path }
