"""hvgui's Qt user interface: the main window (Hyper-V Manager's layout) and its parts.

Layers: widgets -> Qt adapters (models, workers) -> hvgui.host (no Qt). Nothing here does
file I/O on the GUI thread except the cheap `Host.revision()` poll.
"""
