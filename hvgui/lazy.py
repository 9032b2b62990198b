"""Package names loaded on first use (PEP 562), so that importing a package stays cheap.

A package lists each public name with the submodule that defines it and sets
`__getattr__, __dir__ = lazy_names(__name__, homes)`; `from pkg import name` then imports only
that submodule, and a command pays only for the modules it calls into (hvctl's start-up).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's `__getattr__` and `__dir__` for names defined in `package.<homes[name]>`."""

    def get(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def names() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(homes))

    return get, names
