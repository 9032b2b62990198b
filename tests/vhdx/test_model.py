"""Random writes and reads checked against a bytearray model (Hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvgui.vhdx import (
    MiB,
    create_differencing,
    create_dynamic,
    create_fixed,
    open_disk,
    set_read_only,
)

SIZE = 9 * MiB + 4096 * 3  # a short last block

_op = st.tuples(
    st.booleans(),  # write (True) or read
    st.integers(0, SIZE - 1),
    st.integers(1, 3 * MiB // 2),
    st.integers(0, 255),
)


def _run(
    kind: str, ops: list[tuple[bool, int, int, int]], reopen_every: int, sector: int = 512
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "disk.vhdx"
        model = bytearray(SIZE)
        if kind == "fixed":
            create_fixed(path, SIZE, block_size=1 * MiB)
        elif kind == "dynamic":
            create_dynamic(path, SIZE, block_size=1 * MiB)
        else:
            base = folder / "base.vhdx"
            create_dynamic(base, SIZE, block_size=2 * MiB, logical_sector_size=sector)
            with open_disk(base, writable=True) as disk:
                for i in range(0, SIZE, 3 * MiB):
                    chunk = bytes([(i // MiB) % 250 + 1]) * min(MiB + 777, SIZE - i)
                    disk.write(i, chunk)
                    model[i : i + len(chunk)] = chunk
            set_read_only(base, True)
            path = folder / "child.avhdx"
            create_differencing(path, base, block_size=1 * MiB)
        disk = open_disk(path, writable=True)
        try:
            for n, (is_write, offset, length, value) in enumerate(ops):
                length = min(length, SIZE - offset)
                if is_write:
                    data = bytes([value]) * length
                    disk.write(offset, data)
                    model[offset : offset + length] = data
                else:
                    assert disk.read(offset, length) == bytes(model[offset : offset + length])
                if reopen_every and n % reopen_every == reopen_every - 1:
                    disk.close()
                    disk = open_disk(path, writable=True)
            disk.close()
            with open_disk(path) as check:
                assert check.read(0, SIZE) == bytes(model)
                served = sum(n for s in check.block_sources() for _, n in s.sources)
                assert served == SIZE
        finally:
            disk.close()


_settings = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(ops=st.lists(_op, max_size=16), reopen_every=st.integers(0, 4))
def test_fixed_disk_behaves_like_a_bytearray(
    ops: list[tuple[bool, int, int, int]], reopen_every: int
) -> None:
    _run("fixed", ops, reopen_every)


@_settings
@given(ops=st.lists(_op, max_size=16), reopen_every=st.integers(0, 4))
def test_dynamic_disk_behaves_like_a_bytearray(
    ops: list[tuple[bool, int, int, int]], reopen_every: int
) -> None:
    _run("dynamic", ops, reopen_every)


@_settings
@given(ops=st.lists(_op, max_size=16), reopen_every=st.integers(0, 4))
def test_differencing_disk_behaves_like_a_bytearray(
    ops: list[tuple[bool, int, int, int]], reopen_every: int
) -> None:
    _run("differencing", ops, reopen_every)


@_settings
@given(ops=st.lists(_op, max_size=16), reopen_every=st.integers(0, 4))
def test_differencing_disk_with_4096_byte_sectors_behaves_like_a_bytearray(
    ops: list[tuple[bool, int, int, int]], reopen_every: int
) -> None:
    _run("differencing", ops, reopen_every, sector=4096)
