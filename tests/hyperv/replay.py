"""Recorded output of a Windows host (tests/hyperv/recorded/*.jsonl), replayed by a
transport: the scripts' records as a real host printed them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hvgui.hyperv.records import Record, parse_line
from hvgui.hyperv.transport import Parameters

RECORDED = Path(__file__).parent / "recorded"


def lines(name: str) -> list[Record]:
    found = [parse_line(name, raw) for raw in (RECORDED / name).read_bytes().splitlines()]
    return [r for r in found if r is not None]


class Replay:
    """A transport answering each script with its recorded output (a Windows host's)."""

    def __init__(self, answers: dict[str, str], computer_name: str = "HV01") -> None:
        self.answers = answers
        self.asked: list[tuple[str, dict[str, object]]] = []
        self.computer_name = self.location = computer_name

    def run(self, script: str, parameters: Parameters) -> Iterator[Record]:
        self.asked.append((script, dict(parameters)))
        name = self.answers.get(script)
        return iter(lines(name) if name else [])

    def stop(self) -> None: ...

    def close(self) -> None: ...
