"""The one table every benchmark script prints: each measurement beside its reference, the
ratio, the target and whether it was met (nothing asserts: the table says)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """`ours / reference <= limit` (ratio) or `ours < limit` seconds (or `unit`: "MB")."""

    limit: float
    ratio: bool = False
    unit: str = "s"

    def __str__(self) -> str:
        return f"<= {self.limit:g} x" if self.ratio else f"< {self.limit:g} {self.unit}"


@dataclass
class Row:
    name: str
    ours: float  # seconds
    reference: float | None
    reference_name: str
    target: Target | None  # None: a reference row, measured for the others
    in_process: float | None = None  # the same work without hvctl's start-up, for reference
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.reference is None else self.ours / self.reference

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        if self.target.ratio:
            return None if self.ratio is None else self.ratio <= self.target.limit
        return self.ours < self.target.limit


def print_rows(rows: list[Row]) -> None:
    header = ("benchmark", "hvgui s", "reference", "ref s", "ratio", "target", "met",
              "in-process s", "note")
    table = [
        (
            r.name,
            f"{r.ours:.3f}" if r.target is None or r.target.unit == "s"
            else f"{r.ours:.0f} {r.target.unit}",
            r.reference_name,
            "" if r.reference is None else f"{r.reference:.3f}",
            "" if r.ratio is None else f"{r.ratio:.2f}",
            "(reference)" if r.target is None else str(r.target),
            {None: "", True: "yes", False: "NO"}[r.met],
            "" if r.in_process is None else f"{r.in_process:.3f}",
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)).rstrip())
