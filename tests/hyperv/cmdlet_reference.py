"""The cmdlets the shipped scripts may run, with the parameters Microsoft documents for them.

Taken from Microsoft's cmdlet reference, the page named with each cmdlet (its platyPS source:
github.com/MicrosoftDocs/windows-powershell-docs docset/winserver2016-ps/Hyper-V, commit
f113d6bd, for the Hyper-V module as Windows Server 2016, the oldest host hvgui supports, ships
it; github.com/MicrosoftDocs/PowerShell-Docs reference/5.1, commit 27138b21, for Windows
PowerShell 5.1's own cmdlets). Each entry: the page, how many positional arguments the
cmdlet's widest parameter set takes, and its parameters and their aliases, a switch (no
argument) written with a leading "-". The common parameters are every cmdlet's:
https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_commonparameters?view=powershell-5.1
"""

from __future__ import annotations

from dataclasses import dataclass

COMMON = frozenset(
    name.lower() for name in (
        "Debug", "db", "ErrorAction", "ea", "ErrorVariable", "ev", "InformationAction", "infa",
        "InformationVariable", "iv", "OutBuffer", "ob", "OutVariable", "ov", "PipelineVariable",
        "pv", "Verbose", "vb", "WarningAction", "wa", "WarningVariable", "wv",
    )
)


@dataclass(frozen=True)
class Cmdlet:
    page: str
    positional: int  # arguments the widest parameter set binds by position
    names: str  # "Name -Switch Alias ...": what -Name may follow the cmdlet

    @property
    def parameters(self) -> frozenset[str]:
        return frozenset(name.lstrip("-").lower() for name in self.names.split()) | COMMON

    @property
    def switches(self) -> frozenset[str]:
        return frozenset(name[1:].lower() for name in self.names.split() if name[0] == "-")


CMDLETS: dict[str, Cmdlet] = {
    "Add-VMFibreChannelHba": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/add-vmfibrechannelhba?view=windowsserver2016-ps",
        2,
        "CimSession ComputerName -Confirm -cf Credential -GenerateWwn -Passthru SanName VM "
        "VMName -WhatIf -wi WorldWideNodeNameSetA Wwnn1 WorldWideNodeNameSetB Wwnn2 "
        "WorldWidePortNameSetA Wwpn1 WorldWidePortNameSetB Wwpn2",
    ),
    "Add-VMHardDiskDrive": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/add-vmharddiskdrive?view=windowsserver2016-ps",
        5,
        "-AllowUnverifiedPaths CimSession ComputerName PSComputerName -Confirm -cf "
        "ControllerLocation ControllerNumber ControllerType Credential DiskNumber Number "
        "MaximumIOPS MinimumIOPS OverrideCacheAttributes -Passthru Path QoSPolicy QoSPolicyID "
        "ResourcePoolName -SupportPersistentReservations -ShareVirtualDisk VM "
        "VMDriveController VMName -WhatIf -wi",
    ),
    "Checkpoint-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/checkpoint-vm?view=windowsserver2016-ps",
        2,
        "-AsJob CimSession ComputerName -Confirm -cf Credential Name VMName -Passthru "
        "SnapshotName CheckpointName VM -WhatIf -wi",
    ),
    "ConvertFrom-Json": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/convertfrom-json?view=powershell-5.1",
        1,
        "InputObject",
    ),
    "ConvertTo-Json": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/convertto-json?view=powershell-5.1",
        1,
        "-Compress Depth InputObject",
    ),
    "Export-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/export-vm?view=windowsserver2016-ps",
        2,
        "-AsJob CaptureLiveState CimSession ComputerName -Confirm -cf Credential Name VMName "
        "-Passthru Path VM -WhatIf -wi",
    ),
    "Export-VMSnapshot": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/export-vmsnapshot?view=windowsserver2016-ps",
        3,
        "-AsJob CimSession ComputerName -Confirm -cf Credential Name -Passthru Path VM VMName "
        "VMSnapshot VMCheckpoint -WhatIf -wi",
    ),
    "ForEach-Object": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/foreach-object?view=powershell-5.1",
        1,
        "ArgumentList Args Begin -Confirm -cf End InputObject MemberName Process "
        "RemainingScripts -WhatIf -wi",
    ),
    "Get-ChildItem": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.management/get-childitem?view=powershell-5.1",
        2,
        "Attributes -CodeSigningCert Depth -Directory -ad -d DnsName -DocumentEncryptionCert "
        "Eku Exclude ExpiringInDays -File -af Filter -FollowSymlink -Force -Hidden -ah -h "
        "Include LiteralPath PSPath -Name Path -ReadOnly -ar -Recurse -s "
        "-SSLServerAuthentication -System -as -UseTransaction -usetx",
    ),
    "Get-CimAssociatedInstance": Cmdlet(
        "https://learn.microsoft.com/powershell/module/cimcmdlets/get-cimassociatedinstance?view=powershell-5.1",
        2,
        "Association CimSession ComputerName CN ServerName InputObject CimInstance -KeyOnly "
        "Namespace OperationTimeoutSec OT ResourceUri ResultClassName",
    ),
    "Get-CimInstance": Cmdlet(
        "https://learn.microsoft.com/powershell/module/cimcmdlets/get-ciminstance?view=powershell-5.1",
        1,
        "CimSession ClassName ComputerName CN ServerName Filter InputObject CimInstance "
        "-KeyOnly Namespace OperationTimeoutSec OT Property SelectProperties Query "
        "QueryDialect ResourceUri -Shallow",
    ),
    "Get-Module": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/get-module?view=powershell-5.1",
        1,
        "-All CimNamespace CimResourceUri CimSession FullyQualifiedName -ListAvailable Name "
        "PSEdition PSSession -Refresh",
    ),
    "Get-VHD": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/get-vhd?view=windowsserver2016-ps",
        1,
        "CimSession ComputerName Credential DiskNumber Number Path FullName VMId Id",
    ),
    "Get-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/get-vm?view=windowsserver2016-ps",
        1,
        "CimSession ClusterObject ComputerName Credential Id Name VMName",
    ),
    "Get-VMFibreChannelHba": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/get-vmfibrechannelhba?view=windowsserver2016-ps",
        1,
        "CimSession ComputerName Credential VM VMName",
    ),
    "Get-VMHardDiskDrive": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/get-vmharddiskdrive?view=windowsserver2016-ps",
        1,
        "CimSession ComputerName ControllerLocation ControllerNumber ControllerType "
        "Credential VM VMDriveController VMName VMSnapshot VMCheckpoint",
    ),
    "Get-VMHost": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/get-vmhost?view=windowsserver2016-ps",
        2,
        "CimSession ComputerName Credential",
    ),
    "Get-VMSnapshot": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/get-vmsnapshot?view=windowsserver2016-ps",
        2,
        "ChildOf CimSession ComputerName Credential Id Name ParentOf SnapshotType "
        "VMRecoveryCheckpoint VM VMName",
    ),
    "Invoke-CimMethod": Cmdlet(
        "https://learn.microsoft.com/powershell/module/cimcmdlets/invoke-cimmethod?view=powershell-5.1",
        3,
        "Arguments CimClass CimSession ClassName Class ComputerName CN ServerName -Confirm "
        "-cf InputObject CimInstance MethodName Name Namespace OperationTimeoutSec OT Query "
        "QueryDialect ResourceUri -WhatIf -wi",
    ),
    "Join-Path": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.management/join-path?view=powershell-5.1",
        2,
        "ChildPath Credential Path PSPath -Resolve -UseTransaction -usetx",
    ),
    "Move-VMStorage": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/move-vmstorage?view=windowsserver2016-ps",
        2,
        "-AllowUnverifiedPaths -AsJob CimSession ComputerName -Confirm -cf Credential "
        "DestinationStoragePath Name VMName -RemoveSourceUnmanagedVhds ResourcePoolName "
        "-RetainVhdCopiesOnSource SmartPagingFilePath SnapshotFilePath CheckpointFileLocation "
        "SnapshotFileLocation VM Vhds VirtualMachinePath -WhatIf -wi",
    ),
    "New-Object": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/new-object?view=powershell-5.1",
        2,
        "ArgumentList Args ComObject Property -Strict TypeName",
    ),
    "New-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/new-vm?view=windowsserver2016-ps",
        3,
        "-AsJob BootDevice CimSession ComputerName -Confirm -cf Credential -Experimental "
        "-Force Generation MemoryStartupBytes Name VMName NewVHDPath NewVHDSizeBytes -NoVHD "
        "Path -Prerelease SwitchName VHDPath Version -WhatIf -wi",
    ),
    "Out-Null": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/out-null?view=powershell-5.1",
        0,
        "InputObject",
    ),
    "Receive-Job": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/receive-job?view=powershell-5.1",
        2,
        "-AutoRemoveJob ComputerName Cn -Force Id InstanceId Job -Keep Location Name "
        "-NoRecurse Session -Wait -WriteEvents -WriteJobInResults",
    ),
    "Remove-Job": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/remove-job?view=powershell-5.1",
        1,
        "Command -Confirm -cf Filter -Force -F Id InstanceId Job Name State -WhatIf -wi",
    ),
    "Remove-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/remove-vm?view=windowsserver2016-ps",
        1,
        "-AsJob CimSession ComputerName -Confirm -cf Credential -Force Name VMName -Passthru "
        "VM -WhatIf -wi",
    ),
    "Remove-VMFibreChannelHba": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/remove-vmfibrechannelhba?view=windowsserver2016-ps",
        5,
        "CimSession ComputerName -Confirm -cf Credential -Passthru VMFibreChannelHba VMName "
        "-WhatIf -wi WorldWideNodeNameSetA Wwnn1 WorldWideNodeNameSetB Wwnn2 "
        "WorldWidePortNameSetA Wwpn1 WorldWidePortNameSetB Wwpn2",
    ),
    "Remove-VMHardDiskDrive": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/remove-vmharddiskdrive?view=windowsserver2016-ps",
        4,
        "CimSession ComputerName -Confirm -cf ControllerLocation ControllerNumber "
        "ControllerType Credential -Passthru VMHardDiskDrive VMName -WhatIf -wi",
    ),
    "Remove-VMSavedState": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/remove-vmsavedstate?view=windowsserver2016-ps",
        1,
        "CimSession ComputerName -Confirm -cf Credential VM VMName VMSnapshot VMCheckpoint "
        "-WhatIf -wi",
    ),
    "Remove-VMSnapshot": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/remove-vmsnapshot?view=windowsserver2016-ps",
        2,
        "-AsJob CimSession ComputerName -Confirm -cf Credential -IncludeAllChildSnapshots "
        "-IncludeAllChildCheckpoints Name -Passthru VM VMName VMSnapshot VMCheckpoint -WhatIf "
        "-wi",
    ),
    "Rename-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/rename-vm?view=windowsserver2016-ps",
        2,
        "CimSession ComputerName -Confirm -cf Credential Name VMName NewName -Passthru VM "
        "-WhatIf -wi",
    ),
    "Rename-VMSnapshot": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/rename-vmsnapshot?view=windowsserver2016-ps",
        3,
        "CimSession ComputerName -Confirm -cf Credential Name NewName -Passthru VM VMName "
        "VMSnapshot VMCheckpoint -WhatIf -wi",
    ),
    "Restart-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/restart-vm?view=windowsserver2016-ps",
        1,
        "-AsJob CimSession ComputerName -Confirm -cf Credential Delay For -Force Name VMName "
        "-Passthru Timeout TimeoutSec VM -Wait -WhatIf -wi",
    ),
    "Restore-VMSnapshot": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/restore-vmsnapshot?view=windowsserver2016-ps",
        2,
        "-AsJob CimSession ComputerName -Confirm -cf Credential Name -Passthru VM VMName "
        "VMSnapshot VMCheckpoint -WhatIf -wi",
    ),
    "Resume-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/resume-vm?view=windowsserver2016-ps",
        1,
        "-AsJob CimSession ComputerName -Confirm -cf Credential Name VMName -Passthru VM "
        "-WhatIf -wi",
    ),
    "Save-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/save-vm?view=windowsserver2016-ps",
        1,
        "-AsJob CimSession ComputerName -Confirm -cf Credential Name VMName -Passthru VM "
        "-WhatIf -wi",
    ),
    "Select-Object": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/select-object?view=powershell-5.1",
        1,
        "ExcludeProperty ExpandProperty First Index InputObject Last Property Skip SkipLast "
        "-Unique -Wait",
    ),
    "Set-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/set-vm?view=windowsserver2016-ps",
        1,
        "-AllowUnverifiedPaths AutomaticCheckpointsEnabled AutomaticCriticalErrorAction "
        "AutomaticCriticalErrorActionTimeout AutomaticStartAction AutomaticStartDelay "
        "AutomaticStopAction CheckpointType CimSession ComputerName -Confirm -cf Credential "
        "-DynamicMemory GuestControlledCacheTypes HighMemoryMappedIoSpace LockOnDisconnect "
        "LowMemoryMappedIoSpace MemoryMaximumBytes MemoryMinimumBytes MemoryStartupBytes Name "
        "VMName NewVMName Notes -Passthru ProcessorCount SmartPagingFilePath "
        "SnapshotFileLocation -StaticMemory VM -WhatIf -wi",
    ),
    "Sort-Object": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/sort-object?view=powershell-5.1",
        1,
        "-CaseSensitive Culture -Descending InputObject Property -Unique",
    ),
    "Split-Path": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.management/split-path?view=powershell-5.1",
        2,
        "Credential -IsAbsolute -Leaf LiteralPath PSPath -NoQualifier -Parent Path -Qualifier "
        "-Resolve -UseTransaction -usetx",
    ),
    "Start-Sleep": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/start-sleep?view=powershell-5.1",
        1,
        "Milliseconds Seconds",
    ),
    "Start-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/start-vm?view=windowsserver2016-ps",
        1,
        "-AsJob CimSession ComputerName -Confirm -cf Credential Name VMName -Passthru VM "
        "-WhatIf -wi",
    ),
    "Stop-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/stop-vm?view=windowsserver2016-ps",
        1,
        "-AsJob CimSession ComputerName -Confirm -cf Credential -Force Name VMName -Passthru "
        "-Save -TurnOff VM -WhatIf -wi",
    ),
    "Suspend-VM": Cmdlet(
        "https://learn.microsoft.com/powershell/module/hyper-v/suspend-vm?view=windowsserver2016-ps",
        1,
        "-AsJob CimSession ComputerName -Confirm -cf Credential Name VMName -Passthru VM "
        "-WhatIf -wi",
    ),
    "Test-Path": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.management/test-path?view=powershell-5.1",
        1,
        "Credential Exclude Filter Include -IsValid LiteralPath PSPath NewerThan OlderThan "
        "Path PathType Type -UseTransaction -usetx",
    ),
    "Where-Object": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/where-object?view=powershell-5.1",
        2,
        "-CContains -CEQ -CGE -CGT -CIn -CLE -CLT -CLike -CMatch -CNE -CNotContains -CNotIn "
        "-CNotLike -CNotMatch -Contains -IContains -EQ -IEQ FilterScript -GE -IGE -GT -IGT "
        "-In -IIn InputObject -Is -IsNot -LE -ILE -LT -ILT -Like -ILike -Match -IMatch -NE "
        "-INE -NotContains -INotContains -NotIn -INotIn -NotLike -INotLike -NotMatch "
        "-INotMatch Property Value",
    ),
    "Write-Error": Cmdlet(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/write-error?view=powershell-5.1",
        1,
        "Category CategoryActivity Activity CategoryReason Reason CategoryTargetName "
        "TargetName CategoryTargetType TargetType ErrorId ErrorRecord Exception Message Msg "
        "RecommendedAction TargetObject",
    ),
}


# The WMI side (root\virtualization\v2), from Microsoft's Hyper-V WMI reference: each class
# the scripts name, each method they call with its documented parameters, and what they read.
WMI = "https://learn.microsoft.com/windows/win32/hyperv_v2/"
CIM_CLASSES: dict[str, str] = {
    "Msvm_ComputerSystem": WMI + "msvm-computersystem",
    "Msvm_VirtualSystemManagementService": WMI + "msvm-virtualsystemmanagementservice",
    # Abstract: an instance query returns its subclasses' instances (Msvm_ConcreteJob...).
    "CIM_ConcreteJob": WMI + "cim-concretejob",
    "Msvm_AffectedJobElement": WMI + "msvm-affectedjobelement",
}
CIM_METHODS: dict[str, tuple[str, frozenset[str]]] = {
    "GetSummaryInformation": (WMI + "getsummaryinformation-msvm-virtualsystemmanagementservice",
                              frozenset({"SettingData", "RequestedInformation"})),
    "RequestStateChange": (WMI + "requeststatechange-msvm-concretejob",
                           frozenset({"RequestedState", "TimeoutPeriod"})),
}
# GetSummaryInformation's RequestedInformation values and the Msvm_SummaryInformation
# property each fills (WMI + "msvm-summaryinformation").
SUMMARY_INFORMATION: dict[int, str] = {
    0: "Name", 1: "ElementName", 2: "CreationTime", 3: "Notes", 4: "NumberOfProcessors",
    100: "EnabledState", 101: "ProcessorLoad", 102: "ProcessorLoadHistory", 103: "MemoryUsage",
    104: "Heartbeat", 105: "UpTime", 106: "GuestOperatingSystem", 107: "Snapshots",
    108: "AsynchronousTasks", 109: "HealthState", 110: "OperationalStatus",
    111: "StatusDescriptions",
}
# What the scripts read of a Hyper-V job (WMI + "msvm-concretejob").
CONCRETE_JOB = frozenset({"InstanceID", "JobType", "JobState", "PercentComplete", "Cancellable",
                          "Name", "ElementName", "Description", "ErrorCode", "ErrorDescription"})
