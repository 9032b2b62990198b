# Start/Stop/Save/Suspend/Resume-VM (and Restart-VM -Force, Remove-VMSavedState).
param([Parameter(Mandatory = $true)][string] $VMId,
      [Parameter(Mandatory = $true)]
      [ValidateSet('Start', 'ShutDown', 'TurnOff', 'Save', 'Suspend', 'Resume', 'Reset', 'RemoveSavedState')]
      [string] $Action)
$vm = Get-VM -Id $VMId
switch ($Action) {
    'Start' { Wait-HvguiJob (Start-VM -VM $vm -AsJob) $VMId @() }
    'ShutDown' { Wait-HvguiJob (Stop-VM -VM $vm -Force -AsJob) $VMId @() }
    'TurnOff' { Wait-HvguiJob (Stop-VM -VM $vm -TurnOff -Force -AsJob) $VMId @() }
    'Save' { Wait-HvguiJob (Save-VM -VM $vm -AsJob) $VMId @() }
    'Suspend' { Suspend-VM -VM $vm }
    'Resume' { Resume-VM -VM $vm }
    'Reset' { Restart-VM -VM $vm -Force }
    'RemoveSavedState' { Remove-VMSavedState -VM $vm }
}
Write-HvguiResult 'VM' (ConvertTo-HvguiVM (Get-VM -Id $VMId) $null)
