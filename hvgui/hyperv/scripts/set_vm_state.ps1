# Start/Stop/Save/Suspend/Resume-VM (and Restart-VM -Force, Remove-VMSavedState).
param([Parameter(Mandatory = $true)][string] $VMId,
      [Parameter(Mandatory = $true)]
      [ValidateSet('Start', 'ShutDown', 'TurnOff', 'Save', 'Suspend', 'Resume', 'Reset', 'RemoveSavedState')]
      [string] $Action)
$vm = Get-VM -Id $VMId
switch ($Action) {
    'Start' { Wait-HvguiJob (Start-VM -VM $vm -AsJob) $VMId @() | Out-Null }
    'ShutDown' { Wait-HvguiJob (Stop-VM -VM $vm -Force -AsJob) $VMId @() | Out-Null }
    'TurnOff' { Wait-HvguiJob (Stop-VM -VM $vm -TurnOff -Force -AsJob) $VMId @() | Out-Null }
    'Save' { Wait-HvguiJob (Save-VM -VM $vm -AsJob) $VMId @() | Out-Null }
    'Suspend' { Suspend-VM -VM $vm }
    'Resume' { Resume-VM -VM $vm }
    'Reset' { Restart-VM -VM $vm -Force }
    'RemoveSavedState' { Remove-VMSavedState -VM $vm }
}
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
