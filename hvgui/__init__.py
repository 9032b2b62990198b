"""hvgui: Hyper-V Manager's checkpoint workflow, a real VHDX engine and a lab host."""

__version__ = "0.1.0"
