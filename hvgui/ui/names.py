"""Name rules shared by checkpoint and VM renames (Hyper-V: 1-100 characters, not blank)."""

from __future__ import annotations

MAX_NAME = 100


def name_problem(name: str) -> str | None:
    """Why `name` is refused, in words, or None when it is acceptable."""
    if not name.strip():
        return "The name cannot be blank."
    if len(name) > MAX_NAME:
        return f"The name is {len(name)} characters long; the limit is {MAX_NAME}."
    return None
