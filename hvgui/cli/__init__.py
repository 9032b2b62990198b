"""hvctl: a command line mirroring the Hyper-V PowerShell cmdlets."""
