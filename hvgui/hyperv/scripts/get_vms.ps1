# Get-VM (every VM, or one) with GetSummaryInformation's state, memory, uptime, operational
# status and running jobs, asked for all VMs in one call.
param([string] $VMId)
$vms = @(if ($VMId) { Get-VM -Id $VMId } else { Get-VM })
$service = Get-CimInstance -Namespace $HvguiNamespace -ClassName Msvm_VirtualSystemManagementService
# 0 Name, 100 EnabledState, 101 ProcessorLoad, 103 MemoryUsage, 105 Uptime, 107 Snapshots,
# 108 AsynchronousTasks, 110 OperationalStatus, 111 StatusDescriptions
$requested = [uint32[]](0, 100, 101, 103, 105, 107, 108, 110, 111)
$summaries = @{}
try {
    # No settings data given: every VM's summary, in one call.
    $answer = Invoke-CimMethod -InputObject $service -MethodName GetSummaryInformation -Arguments @{
        RequestedInformation = $requested }
    foreach ($summary in @($answer.SummaryInformation)) { $summaries[[string]$summary.Name] = $summary }
} catch {
    # Without the summary the VMs are still listed (Get-VM's own State and Status).
}
foreach ($vm in $vms) {
    Write-HvguiResult 'VM' (ConvertTo-HvguiVM $vm $summaries[[string]$vm.Id])
}
