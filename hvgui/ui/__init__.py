"""hvgui's Qt user interface: the main window (Hyper-V Manager's layout) and its parts.

Layers: widgets -> Qt adapters (models, workers) -> a HostBackend (hvgui.backend, no Qt),
opened through hvgui.connect. Nothing here does I/O on the GUI thread except the cheap
`revision()` / `chain_stamp()` poll.
"""
