"""The file inspector's core (no Qt): what a file is, what a checkpoint is made of, what a
checkpoint delete will do, and how checkpoint files grew.

- `identify(path)` names a file's kind from its first bytes (not its extension, except to tell
  the Server 2016+ VMCX/VMRS/VMGS apart, which share one signature)          [facts]
- `inspect_file(path)` returns JSON-ready facts, delegating the decoding to the engine
  (`dump_vhdx`, `test_vhd`) and to the host's configuration and saved-state readers [decode]
- `checkpoint_files(host, vm, snapshot)` lists a checkpoint's (or Now's) files with a sentence
  on what each is for; `files_of(path)` does the same for one file and its chain   [chains]
- `delete_preview(host, vm, snapshot)` says which files a delete deletes, merges or keeps
                                                                                   [deletes]
- `block_map(path)` and `read_path(blocks, block)` back the block map              [blocks]
- `space_history(events)` turns the disk event log into size-over-time series      [space]

Nothing here reads a whole file: decoders read headers and tables, XML is capped.
"""

from hvgui.inspect.blocks import (
    MIXED_STATE,
    STATE_NAMES,
    BlockMap,
    ReadStep,
    block_map,
    read_path,
)
from hvgui.inspect.chains import checkpoint_files, files_of
from hvgui.inspect.decode import (
    SettingChange,
    configurations_near,
    inspect_file,
    load_xml_tree,
    read_text_capped,
    settings_diff,
    xml_settings,
)
from hvgui.inspect.deletes import (
    DELETE,
    KEEP,
    MERGE,
    DeletePreview,
    PlannedFile,
    delete_preview,
    merge_growth,
    own_bytes,
)
from hvgui.inspect.facts import (
    AVHDX,
    BIN,
    KIND_LABELS,
    MISSING,
    PASSTHROUGH,
    UNKNOWN,
    VHD,
    VHDX,
    VMCX,
    VMGS,
    VMRS,
    VSV,
    XML,
    XML_TEXT_LIMIT,
    FileFacts,
    InspectError,
    file_facts,
    identify,
)
from hvgui.inspect.space import SizeSeries, space_history

__all__ = [
    "AVHDX", "BIN", "DELETE", "KEEP", "KIND_LABELS", "MERGE", "MISSING", "MIXED_STATE",
    "PASSTHROUGH", "STATE_NAMES", "UNKNOWN", "VHD", "VHDX", "VMCX", "VMGS", "VMRS", "VSV", "XML",
    "XML_TEXT_LIMIT", "BlockMap", "DeletePreview", "FileFacts", "InspectError",
    "PlannedFile", "ReadStep", "SettingChange", "SizeSeries", "block_map", "checkpoint_files",
    "configurations_near", "delete_preview", "file_facts", "files_of", "identify",
    "inspect_file", "load_xml_tree", "merge_growth", "own_bytes", "read_path",
    "read_text_capped", "settings_diff", "space_history", "xml_settings",
]
