"""A big CSV read in a second process gives exactly the rows read in the importing one."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import IO, Any, cast

import pytest

from webapp.prospects.rows import parallel
from webapp.prospects.rows.csv import rows_from_text
from webapp.prospects.rows.fields import ImportRow, RowError
from webapp.prospects.rows.parallel import CHUNK_ROWS, rows_in_process

HEADER = "Company,Website,Email,First Name,Last Name,Title,Employees,Notes\n"


def mixed_csv(rows: int) -> str:
    """Valid rows, rows with warnings, rejected rows, a quoted newline and a broken quote."""
    lines = [HEADER]
    for n in range(rows):
        if n % 97 == 5:
            lines.append(f"Bad {n},bad{n}.example,not-an-email,Ann,Lee,CEO,10,\n")
        elif n % 89 == 7:
            lines.append(f"Warned {n},bad domain!,p{n}@warned{n}.example,Ann,Lee,CEO,lots,\n")
        elif n % 83 == 3:
            lines.append(f'Quoted {n},q{n}.example,p{n}@q{n}.example,Ann,Lee,CEO,5,"two\nlines"\n')
        else:
            lines.append(f"Company {n},c{n}.example,p{n}@c{n}.example,Ann,Lee,VP Sales,{n},\n")
    lines.append('Broken,broken.example,x@broken.example,Ann,Lee,"CEO,1,\n')
    lines.append("Last,last.example,p@last.example,Ann,Lee,CEO,1,\n")
    return "".join(lines)


def test_the_rows_are_those_read_in_process_in_the_same_order() -> None:
    text = mixed_csv(3 * CHUNK_ROWS + 17)
    expected = list(rows_from_text(text))
    got = list(rows_in_process(text))
    assert got == expected
    # Equality of RowError leaves its cells out: the rejected rows' download needs them too.
    assert [row.record for row in got if isinstance(row, RowError)] == [
        row.record for row in expected if isinstance(row, RowError)
    ]
    assert any(isinstance(row, ImportRow) and row.warnings for row in got)
    assert any(isinstance(row, RowError) and "never closed" in row.reason for row in got)


def test_stopping_early_stops_the_reading_process() -> None:
    rows = rows_in_process(mixed_csv(20 * CHUNK_ROWS))
    first = next(rows)
    assert isinstance(first, ImportRow) and first.line == 2
    assert readers() != []
    rows.close()  # as the import does when a batch fails
    assert readers() == []


def readers() -> list[int]:
    """This process's children that are reading processes, alive or not yet reaped."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"webapp.prospects.rows.parallel" in command:
                found.append(int(child))
    return found


class ShortWrites(io.RawIOBase):
    """A pipe that takes at most `most` bytes per write, as one does when a signal
    interrupts a write that was waiting for the reader."""

    def __init__(self, most: int) -> None:
        self.taken = bytearray()
        self.most = most
        self.writes = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        part = bytes(data[: self.most])
        self.taken += part
        self.writes += 1
        return len(part)


def test_every_row_arrives_when_the_pipe_takes_part_of_each_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The reading process's loop, run here: no renicing or collector change for the tests.
    monkeypatch.setattr(parallel.os, "nice", lambda _: 0)
    monkeypatch.setattr(parallel, "collect_less", lambda: None)
    lines = [HEADER]
    for n in range(2 * CHUNK_ROWS + 3):
        lines.append(f"Zoë Müller {n},z{n}.example,p{n}@z{n}.example,Zoë,Šťastný,北京 CEO,{n},\n")
    text = "".join(lines)
    sink = ShortWrites(most=4093)  # an odd size: parts end inside multi-byte characters
    parallel._read(io.BytesIO(text.encode()), cast(IO[bytes], sink))

    stream = io.BytesIO(bytes(sink.taken))
    got: list[Any] = []
    while (message := pickle.load(stream)) is not None:  # noqa: S301 (made just above)
        got.extend(ImportRow._make(item) if type(item) is tuple else item for item in message)
    assert sink.writes > 3 * len(got) // CHUNK_ROWS  # most messages took several writes
    assert got == list(rows_from_text(text))
    assert got[-1].first_name == "Zoë" and got[-1].title == "北京 CEO"
