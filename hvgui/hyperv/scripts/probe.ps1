# Who and where we are: the host answers, has the Hyper-V module, and lets this user manage it.
$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object Security.Principal.WindowsPrincipal $identity
$module = Get-Module -ListAvailable -Name Hyper-V | Select-Object -First 1
# Hyper-V's own answer to this user: Get-VM lists nothing to a user it refuses, Get-VMHost
# fails (PermissionDenied), as it does when the management service is not there.
$refused = $null
if ($null -ne $module) {
    try { $null = Get-VMHost } catch { $refused = $_ }
}
Write-HvguiResult 'Host' @{
    ComputerName = [string]$env:COMPUTERNAME
    OSVersion = [string][Environment]::OSVersion.Version
    PSVersion = [string]$PSVersionTable.PSVersion
    HyperVModule = ($null -ne $module)
    UserName = [string]$identity.Name
    # S-1-5-32-544 Administrators, S-1-5-32-578 Hyper-V Administrators
    IsAdministrator = $principal.IsInRole([Security.Principal.SecurityIdentifier]'S-1-5-32-544')
    IsHyperVAdministrator = $principal.IsInRole([Security.Principal.SecurityIdentifier]'S-1-5-32-578')
    HyperVError = $(if ($null -ne $refused) {
        @{ FullyQualifiedErrorId = [string]$refused.FullyQualifiedErrorId
           Category = [string]$refused.CategoryInfo.Category
           ExceptionType = [string]$refused.Exception.GetType().FullName
           Message = [string]$refused.Exception.Message }
    } else { $null })
}
