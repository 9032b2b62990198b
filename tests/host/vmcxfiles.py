"""A folder copied off a Windows Server 2016+ host, built from the real files of the corpus
(`../shared/corpus/hyperv`, written by Hyper-V itself): nothing in it is made up.

```
<folder>/Virtual Machines/<VM_ID>.vmcx      the corpus's test.vmcx (VM "Other Location")
<folder>/Virtual Machines/<VM_ID>.VMRS      the corpus's test.VMRS, as its runtime state
<folder>/Virtual Hard Disks/Other Location.vhdx   the corpus's fixed.vhdx, under the name the
                                            configuration gives its IDE 0:0 disk
<folder>/Snapshots/                         empty: the corpus has one VMCX, no checkpoint's
```

The file is named by the VM's own id, its `properties/global_id` (test_vmcx_folder.py checks
the constant against the decoded file). The corpus does not say whose the VMRS is: it holds no
id, only a version and metrics, so it stands for this VM's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

VM_ID = "282874FC-59D6-4F30-BC04-5FDD909C82E0"
VM_NAME = "Other Location"
DISK_NAME = "Other Location.vhdx"
REAL_DISK = r"C:\Users\Public\Documents\Hyper-V\Virtual Hard Disks\Other Location.vhdx"


def vmcx_folder(corpus_dir: Path, folder: Path, *, disk: bool = True) -> Path:
    """The 2016+ layout in `folder` (made), from the gunzipped corpus in `corpus_dir`."""
    machines = folder / "Virtual Machines"
    machines.mkdir(parents=True)
    (folder / "Snapshots").mkdir()
    (folder / "Virtual Hard Disks").mkdir()
    shutil.copy(corpus_dir / "test.vmcx", machines / f"{VM_ID}.vmcx")
    shutil.copy(corpus_dir / "test.VMRS", machines / f"{VM_ID}.VMRS")
    if disk:
        shutil.copy(corpus_dir / "fixed.vhdx", folder / "Virtual Hard Disks" / DISK_NAME)
    return folder
