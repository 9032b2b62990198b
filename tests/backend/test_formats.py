"""The PowerShell lines hvgui shows must be ones a person can paste into PowerShell."""

from __future__ import annotations

import pytest

from hvgui.backend.formats import ps_quote


@pytest.mark.parametrize(
    ("name", "literal"),
    [
        ("web01", "'web01'"),
        ("O'Brien's VM", "'O''Brien''s VM'"),
        # PowerShell also ends a single-quoted string at a typographic quote: a name holding
        # one would otherwise close the literal and run the rest as a command.
        ("web\u2019; Remove-VM *; \u2018", "'web\u2019\u2019; Remove-VM *; \u2018\u2018'"),
        ("a\u201ab\u201bc", "'a\u201a\u201ab\u201b\u201bc'"),
    ],
)
def test_ps_quote_escapes_every_quote_powershell_ends_a_string_at(name: str, literal: str) -> None:
    assert ps_quote(name) == literal
