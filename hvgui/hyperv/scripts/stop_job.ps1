# Cancel a running Hyper-V job (RequestStateChange Terminate), where it is cancellable.
param([Parameter(Mandatory = $true)][string] $JobId)
$job = Get-CimInstance -Namespace $HvguiNamespace -ClassName CIM_ConcreteJob |
       Where-Object { $_.InstanceID -eq $JobId } | Select-Object -First 1
$cancellable = ($null -ne $job -and [bool]$job.Cancellable)
if ($cancellable) { Stop-HvguiJob $job }
Write-HvguiResult 'Job' @{ JobId = $JobId; Found = ($null -ne $job); Cancellable = $cancellable }
