# hvgui's common functions, prepended to every operation script (Windows PowerShell 5.1 and
# PowerShell 7). Each record is ONE line of compressed JSON on the output stream. Values that
# Windows PowerShell 5.1 would print badly are cast first: enums [string] (5.1 prints their
# numbers), dates .ToString('o') (5.1 prints "\/Date(ms)\/"), GUIDs [string], TimeSpans [string].
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }

$HvguiNamespace = 'root\virtualization\v2'
# Msvm_ConcreteJob.JobState: 2 New, 3 Starting, 4 Running, 5 Suspended, 6 Shutting Down,
# 7 Completed, 8 Terminated, 9 Killed, 10 Exception, 11 Service
$HvguiJobRunning = @(2, 3, 4, 5, 6)
$HvguiPhases = @{ 70 = 'Creating Checkpoint'; 71 = 'Applying Checkpoint'; 72 = 'Deleting Checkpoint';
                  50 = 'Merge in progress'; 62 = 'Exporting'; 63 = 'Moving Storage' }

function Get-HvguiParameters([string] $Payload) {
    $table = @{}
    $json = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($Payload))
    $object = ConvertFrom-Json $json
    if ($null -ne $object) {
        foreach ($property in $object.PSObject.Properties) { $table[$property.Name] = $property.Value }
    }
    $table
}

function Write-HvguiRecord([hashtable] $Record) {
    ConvertTo-Json -InputObject $Record -Compress -Depth 8
}

function Write-HvguiResult([string] $Kind, $Object) {
    Write-HvguiRecord @{ Record = 'result'; Kind = $Kind; Object = $Object }
}

function Write-HvguiProgress([string] $Phase, [int] $Percent, [int] $JobType, [string] $VMId,
                             [string] $JobId, [bool] $Cancellable) {
    Write-HvguiRecord @{ Record = 'progress'; Phase = $Phase; PercentComplete = $Percent;
                         JobType = $JobType; VMId = $VMId; JobId = $JobId; Cancellable = $Cancellable }
}

function Write-HvguiError($ErrorRecord) {
    $exception = $ErrorRecord.Exception
    Write-HvguiRecord @{
        Record = 'error'
        FullyQualifiedErrorId = [string]$ErrorRecord.FullyQualifiedErrorId
        Category = [string]$ErrorRecord.CategoryInfo.Category
        Reason = [string]$ErrorRecord.CategoryInfo.Reason
        ExceptionType = [string]$exception.GetType().FullName
        Message = [string]$exception.Message
        TargetObject = [string]$ErrorRecord.TargetObject
    }
}

function ConvertTo-HvguiDate($Date) {
    if ($null -eq $Date) { return $null }
    ([datetime]$Date).ToUniversalTime().ToString('o')
}

function Get-HvguiSnapshot($VM, [string] $SnapshotId) {
    $found = Get-VMSnapshot -VM $VM | Where-Object { [string]$_.Id -eq $SnapshotId }
    if ($null -eq $found) {
        Write-Error -Category ObjectNotFound -ErrorId 'HvguiSnapshotNotFound' -TargetObject $SnapshotId `
            -Message "The virtual machine '$($VM.Name)' has no checkpoint with Id $SnapshotId."
    }
    $found
}

function Get-HvguiComputerSystem([string] $VMId) {
    Get-CimInstance -Namespace $HvguiNamespace -ClassName Msvm_ComputerSystem -Filter "Name='$([guid]$VMId)'"
}

# The VM's Hyper-V jobs (Msvm_ConcreteJob) of the given types that are still running.
function Get-HvguiJobs([string] $VMId, [int[]] $JobTypes) {
    $system = Get-HvguiComputerSystem $VMId
    if ($null -eq $system) { return @() }
    # Any CIM_ConcreteJob kind (Msvm_ConcreteJob, Msvm_StorageJob for merges...): by its fields.
    @(Get-CimAssociatedInstance -InputObject $system -Association Msvm_AffectedJobElement -ErrorAction SilentlyContinue |
        Where-Object { $null -ne $_.JobType -and $null -ne $_.JobState -and
                       $JobTypes -contains [int]$_.JobType -and
                       $HvguiJobRunning -contains [int]$_.JobState })
}

function Stop-HvguiJob($Job) {
    # RequestStateChange 4 = Terminate; only where Hyper-V says the job can be cancelled. The
    # job is fetched again by its InstanceID: a copy seen through an association may not
    # carry the path a method call needs.
    if ($null -eq $Job -or -not $Job.Cancellable) { return }
    $live = Get-CimInstance -Namespace $HvguiNamespace -ClassName CIM_ConcreteJob -Filter "InstanceID='$($Job.InstanceID)'" -ErrorAction SilentlyContinue |
            Select-Object -First 1
    if ($null -ne $live) {
        Invoke-CimMethod -InputObject $live -MethodName RequestStateChange -Arguments @{ RequestedState = [uint16]4 } | Out-Null
    }
}

# Wait for a cmdlet started with -AsJob, every ~0.5 s reporting the VM's Msvm_ConcreteJob of
# one of `JobTypes` as progress records (this function's only output: the cmdlet's own output
# is dropped, so callers never pipe it away); a stopped pipeline (cancel) terminates the job
# where it can.
function Wait-HvguiJob($PSJob, [string] $VMId, [int[]] $JobTypes) {
    $hyperv = $null
    $finished = $false
    try {
        while ($PSJob.State -in @('NotStarted', 'Running')) {
            $hyperv = @(Get-HvguiJobs $VMId $JobTypes) | Select-Object -First 1
            if ($null -ne $hyperv) {
                Write-HvguiProgress $HvguiPhases[[int]$hyperv.JobType] ([int]$hyperv.PercentComplete) ([int]$hyperv.JobType) $VMId ([string]$hyperv.InstanceID) ([bool]$hyperv.Cancellable)
            }
            Start-Sleep -Milliseconds 500
        }
        $finished = $true
        $null = Receive-Job $PSJob -ErrorAction Stop
    } finally {
        if (-not $finished) { Stop-HvguiJob $hyperv }
        Remove-Job $PSJob -Force -ErrorAction SilentlyContinue
    }
}

# After Remove-VMSnapshot has returned, Hyper-V goes on merging the disks (JobType 50):
# report "Merge in progress (NN%)" until no merge job of the VM runs any more.
function Wait-HvguiMerge([string] $VMId) {
    while ($true) {
        $merge = @(Get-HvguiJobs $VMId @(50)) | Select-Object -First 1
        if ($null -eq $merge) { break }
        Write-HvguiProgress $HvguiPhases[50] ([int]$merge.PercentComplete) 50 $VMId ([string]$merge.InstanceID) ([bool]$merge.Cancellable)
        Start-Sleep -Milliseconds 500
    }
}

function ConvertTo-HvguiDrive($Drive) {
    @{
        ControllerType = [string]$Drive.ControllerType
        ControllerNumber = [int]$Drive.ControllerNumber
        ControllerLocation = [int]$Drive.ControllerLocation
        Path = [string]$Drive.Path
        PassThrough = ($null -ne $Drive.DiskNumber)
    }
}

# Get-VM's documented properties, cast for JSON, plus what GetSummaryInformation adds.
function ConvertTo-HvguiVM($VM, $Summary) {
    $configuration = Join-Path $VM.ConfigurationLocation "Virtual Machines\$($VM.Id.ToString().ToUpper()).vmcx"
    if (-not (Test-Path -LiteralPath $configuration)) { $configuration = [IO.Path]::ChangeExtension($configuration, '.xml') }
    $jobs = @()
    if ($null -ne $Summary) {
        $jobs = @($Summary.AsynchronousTasks | Where-Object { $null -ne $_ } | ForEach-Object {
            @{ JobType = [int]$_.JobType; PercentComplete = [int]$_.PercentComplete; JobState = [int]$_.JobState;
               InstanceID = [string]$_.InstanceID; Cancellable = [bool]$_.Cancellable } })
    }
    @{
        Name = [string]$VM.Name
        Id = [string]$VM.Id
        State = [string]$VM.State
        CPUUsage = [int]$VM.CPUUsage
        MemoryAssigned = [int64]$VM.MemoryAssigned
        Uptime = [string]$VM.Uptime
        Status = [string]$VM.Status
        Path = [string]$VM.Path
        ConfigurationLocation = [string]$VM.ConfigurationLocation
        SnapshotFileLocation = [string]$VM.SnapshotFileLocation
        ParentSnapshotId = $(if ($VM.ParentSnapshotId) { [string]$VM.ParentSnapshotId } else { $null })
        ParentSnapshotName = [string]$VM.ParentSnapshotName
        CheckpointType = [string]$VM.CheckpointType
        ProcessorCount = [int]$VM.ProcessorCount
        MemoryStartup = [int64]$VM.MemoryStartup
        Generation = [int]$VM.Generation
        Version = [string]$VM.Version
        Notes = [string]$VM.Notes
        HardDrives = @($VM.HardDrives | ForEach-Object { ConvertTo-HvguiDrive $_ })
        FibreChannelHostBusAdapters = @(Get-VMFibreChannelHba -VM $VM -ErrorAction SilentlyContinue | ForEach-Object {
            @{ Id = [string]$_.Id; SanName = [string]$_.SanName
               WorldWideNodeNameSetA = [string]$_.WorldWideNodeNameSetA
               WorldWidePortNameSetA = [string]$_.WorldWidePortNameSetA } })
        ConfigurationFile = [string]$configuration
        # From the summary when there is one (Get-VM of every VM: no call per VM).
        SnapshotCount = $(if ($null -ne $Summary) { @($Summary.Snapshots | Where-Object { $null -ne $_ }).Count }
                          else { @(Get-VMSnapshot -VM $VM -ErrorAction SilentlyContinue).Count })
        OperationalStatus = @($(if ($null -ne $Summary) { $Summary.OperationalStatus } else { @() }) | ForEach-Object { [int]$_ })
        RunningJobs = $jobs
    }
}

# Get-VMSnapshot's documented properties, cast for JSON, plus the checkpoint's own files.
function ConvertTo-HvguiSnapshot($Snapshot) {
    $id = $Snapshot.Id.ToString().ToUpper()
    $folder = Join-Path $Snapshot.Path 'Snapshots'
    $configuration = Join-Path $folder "$id.vmcx"
    if (-not (Test-Path -LiteralPath $configuration)) { $configuration = Join-Path $folder "$id.xml" }
    $state = Join-Path $folder "$id.vmrs"
    $bin = Join-Path $folder "$id\$id.bin"
    $vsv = Join-Path $folder "$id\$id.vsv"
    @{
        Name = [string]$Snapshot.Name
        Id = [string]$Snapshot.Id
        VMName = [string]$Snapshot.VMName
        VMId = [string]$Snapshot.VMId
        SnapshotType = [string]$Snapshot.SnapshotType
        CreationTime = ConvertTo-HvguiDate $Snapshot.CreationTime
        ParentSnapshotId = $(if ($Snapshot.ParentSnapshotId) { [string]$Snapshot.ParentSnapshotId } else { $null })
        ParentSnapshotName = [string]$Snapshot.ParentSnapshotName
        Path = [string]$Snapshot.Path
        State = [string]$Snapshot.State
        ProcessorCount = [int]$Snapshot.ProcessorCount
        MemoryStartup = [int64]$Snapshot.MemoryStartup
        Notes = [string]$Snapshot.Notes
        HardDrives = @($Snapshot.HardDrives | ForEach-Object { ConvertTo-HvguiDrive $_ })
        ConfigurationFile = [string]$configuration
        MemoryFile = $(if (Test-Path -LiteralPath $bin) { $bin } elseif (Test-Path -LiteralPath $state) { $state } else { $null })
        StateFile = $(if (Test-Path -LiteralPath $vsv) { $vsv } else { $null })
    }
}

function ConvertTo-HvguiFile($Item) {
    @{
        Path = [string]$Item.FullName
        Length = [int64]$Item.Length
        LastWriteTime = ConvertTo-HvguiDate $Item.LastWriteTimeUtc
        IsReadOnly = [bool]$Item.IsReadOnly
    }
}

# Every file below a folder (an export's), as File records.
function Write-HvguiFiles([string] $Folder) {
    if (-not (Test-Path -LiteralPath $Folder)) { return }
    Get-ChildItem -LiteralPath $Folder -File -Recurse -ErrorAction SilentlyContinue |
        ForEach-Object { Write-HvguiResult 'File' (ConvertTo-HvguiFile $_) }
}

# Get-VHD's documented properties, cast for JSON (VhdFormat/VhdType are enums).
function ConvertTo-HvguiVHD($Vhd) {
    @{
        Path = [string]$Vhd.Path
        VhdFormat = [string]$Vhd.VhdFormat
        VhdType = [string]$Vhd.VhdType
        FileSize = [int64]$Vhd.FileSize
        Size = [int64]$Vhd.Size
        MinimumSize = $(if ($null -ne $Vhd.MinimumSize) { [int64]$Vhd.MinimumSize } else { $null })
        LogicalSectorSize = [int]$Vhd.LogicalSectorSize
        PhysicalSectorSize = [int]$Vhd.PhysicalSectorSize
        BlockSize = [int64]$Vhd.BlockSize
        ParentPath = [string]$Vhd.ParentPath
        DiskIdentifier = [string]$Vhd.DiskIdentifier
        FragmentationPercentage = $(if ($null -ne $Vhd.FragmentationPercentage) { [int]$Vhd.FragmentationPercentage } else { $null })
        Alignment = [int]$Vhd.Alignment
        Attached = [bool]$Vhd.Attached
    }
}
