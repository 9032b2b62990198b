"""A FAT file-system driver and the MBR partition the simulated guest keeps it in (no Qt)."""
