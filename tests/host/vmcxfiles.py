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

import base64
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


CHECKPOINTS = (  # (id, name, parent): "After" is a child of "Before"; Now descends from After
    # (as their disks say: no file names a parent)
    ("6A0B3C1D-2E4F-4A5B-8C6D-7E8F90A1B2C3", "Before", None),
    ("7B1C4D2E-3F50-4B6C-9D7E-8F90A1B2C3D4", "After", "6A0B3C1D-2E4F-4A5B-8C6D-7E8F90A1B2C3"),
)
DISK_GUIDS = ("1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F1", "2A3B4C5D-6E7F-4081-9293-A4B5C6D7E8F9")
WINDOWS_DISKS = r"C:\Users\Public\Documents\Hyper-V\Virtual Hard Disks"


def vmcx_folder_with_checkpoints(corpus_dir: Path, folder: Path) -> Path:
    """`vmcx_folder` with two checkpoints, Before and its child After, each a VMCX in
    `Snapshots` and an AVHDX beside the real disk. The corpus has no checkpoint's VMCX: these
    are the real file's key tree, changed as a checkpoint changes it (its own id, name, time and
    frozen disk; the VM's list of checkpoints and its running disk), written by vmcxwriter.py.
    Needs the extra (the real file is decoded). Nothing of hvgui's is added: no file names a
    parent checkpoint (the key a real 2016+ checkpoint would use is not known), so the tree is
    derived from the disks each checkpoint froze, as for a real 2012 R2 folder."""
    import copy
    import struct
    from datetime import UTC, datetime

    from hvgui.host import keystore
    from hvgui.host.configform import leaf
    from hvgui.host.xmlconfig import to_filetime
    from hvgui.vhdx import create_differencing
    from tests.host.vmcxwriter import write_vmcx

    vmcx_folder(corpus_dir, folder)
    disks = folder / "Virtual Hard Disks"
    chain = [disks / DISK_NAME]
    for guid in DISK_GUIDS:  # Before froze the real disk, After froze the first AVHDX
        child = disks / f"Other Location_{guid}.avhdx"
        create_differencing(child, chain[-1])
        chain.append(child)
    for frozen in chain[:-1]:
        frozen.chmod(0o444)
    real, _ = keystore.load(folder / "Virtual Machines" / f"{VM_ID}.vmcx")
    drive = "_83f8638b-8dca-4152-9eda-2ca8b33039b4_/controller0/drive0/pathname"

    def disk(path: Path) -> str:
        return f"{WINDOWS_DISKS}\\{path.name}"

    vm = copy.deepcopy(real)
    leaf(vm, drive, "string", disk(chain[-1]))
    snapshots = vm.find("global_settings/snapshots")
    assert snapshots is not None
    snapshots.remove(snapshots.find("list"))
    leaf(snapshots, "list/size", "integer", str(len(CHECKPOINTS)))
    for n, (snap_id, _, _) in enumerate(CHECKPOINTS):
        leaf(snapshots, f"list/guid{n}", "string", snap_id)
    write_vmcx(vm, folder / "Virtual Machines" / f"{VM_ID}.vmcx")
    for n, (snap_id, name, _) in enumerate(CHECKPOINTS):
        snap = copy.deepcopy(real)
        leaf(snap, "properties/global_id", "string", snap_id)
        leaf(snap, "properties/name", "string", name)
        taken = to_filetime(datetime(2024, 5, 6 + n, 10, 0, tzinfo=UTC))
        leaf(snap, "properties/creation_time", "bytes",
             base64.b64encode(struct.pack("<Q", taken)).decode("ascii"))
        leaf(snap, drive, "string", disk(chain[n]))
        snap_list = snap.find("global_settings/snapshots/list")
        assert snap_list is not None and snap_list.findtext("size") == "0"  # as the VM's was
        write_vmcx(snap, folder / "Snapshots" / f"{snap_id}.vmcx")
    return folder
