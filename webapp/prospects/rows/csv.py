"""Reading a prospect CSV: delimiter, header, and one record per line.

A file that is not a readable prospect CSV at all raises `CsvFormatError`
when `rows_from_csv` is called, before any row is read. A record that cannot
be read (an unterminated quoted field) is a `RowError` with the line it
starts on, and reading goes on after it.
"""

from __future__ import annotations

import csv
import io
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from webapp.prospects.rows.decode import CsvFormatError, decode_csv
from webapp.prospects.rows.fields import (
    ImportRow,
    RowError,
    expected_columns,
    header_field,
    shorten,
)
from webapp.prospects.rows.quick import normalise_record

if TYPE_CHECKING:
    from _csv import Reader

DELIMITERS = (",", ";", "\t", "|")
HEADER_SAMPLE_CHARS = 65_536
SNIFF_SAMPLE_CHARS = 2_048

_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


Record = tuple[int, dict[str, str]] | RowError
"""(line where the record starts, {canonical field: trimmed value}), or an unreadable record."""


def iter_csv_records(text: str) -> Iterator[Record]:
    """Yield one `Record` per record of the text, after its header.

    The header is read and checked at once (CsvFormatError when no column is
    recognised or there is no email column); the records stream from the text
    line by line. A quoted field that is never closed would swallow the rest
    of the file into one field: that record's first line becomes a RowError
    and reading starts again on the line after it.
    """
    _, records = read_csv(text)
    return (record if isinstance(record, RowError) else record[:2] for record in records)


RawRecord = tuple[int, dict[str, str], list[str]] | RowError
"""A `Record` with the row's cells as they were in the file."""


def read_csv(text: str) -> tuple[list[str], Iterator[RawRecord]]:
    """The header, and the records with their cells (`iter_csv_records` explains the rest)."""
    delimiter = _detect_delimiter(text)
    feed = _LineFeed(_lines(text))
    reader = _reader(feed, delimiter)
    header = _first_record(reader)
    if header is None:
        raise CsvFormatError(f"the file has no header row; expected {expected_columns()}")
    columns = [(index, header_field(name)) for index, name in enumerate(header)]
    fields = [(index, field) for index, field in columns if field is not None]
    if not fields:
        raise CsvFormatError(
            f"no recognised column in the header {shorten(', '.join(header))!r}; "
            f"expected {expected_columns()}"
        )
    if not any(field == "email" for _, field in fields):
        raise CsvFormatError(f"the header has no email column; expected {expected_columns()}")
    return header, _records(feed, reader, delimiter, fields)


class _LineFeed:
    """The lines csv.reader reads, remembering those of the record being read so that
    reading can start again after a broken record's first line."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.source = lines
        self.pending: deque[str] = deque()
        self.taken: list[str] = []
        self.exhausted = False

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self.pending:
            line = self.pending.popleft()
        else:
            try:
                line = next(self.source)
            except StopIteration:
                self.exhausted = True
                raise
        self.taken.append(line)
        return line

    def give_back_after_first(self) -> None:
        """Read the lines of the current record again, except its first."""
        self.pending.extendleft(reversed(self.taken[1:]))
        self.exhausted = False


def _reader(feed: _LineFeed, delimiter: str) -> Reader:
    return csv.reader(feed, delimiter=delimiter, skipinitialspace=True, strict=False)


def _records(
    feed: _LineFeed, reader: Reader, delimiter: str, fields: list[tuple[int, str]]
) -> Iterator[RawRecord]:
    offset = 0  # lines read by earlier readers, when reading started again
    while True:
        feed.taken.clear()
        start = offset + reader.line_num + 1
        problem = None
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # a field over csv.field_size_limit()
            problem = f"unreadable CSV ({error}); is a quote on this line never closed?"
        else:
            if feed.exhausted and len(feed.taken) > 1 and _unterminated(feed.taken, delimiter):
                problem = f"a quoted field opened on line {start} is never closed"
        if problem is not None:
            yield RowError(start, problem)
            feed.give_back_after_first()
            offset, reader = start, _reader(feed, delimiter)
            continue
        if not any(value.strip() for value in row):
            continue
        record: dict[str, str] = {}
        for index, field in fields:
            if not record.get(field):  # the first non-empty column of a field wins
                record[field] = row[index].strip() if index < len(row) else ""
        yield start, record, row


def count_records(text: str) -> int:
    """How many records follow the header, for progress: the csv module alone, no checks.

    About ten times cheaper than reading the records; blank records are not
    counted. A quote that is never closed makes it lower than the records
    `iter_csv_records` yields, so a progress bar must not pass 100%.
    """
    delimiter = _detect_delimiter(text)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    try:
        records = sum(map(any, reader))  # the loop runs in C: no Python code per record
    except csv.Error:
        # Count again up to the record the csv module cannot read.
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
        records = 0
        try:
            for row in reader:
                records += any(row)
        except csv.Error:
            pass
    return max(records - 1, 0)


def _unterminated(lines: list[str], delimiter: str) -> bool:
    """True when a record of several lines ends inside a quoted field."""
    try:
        for _ in csv.reader(lines, delimiter=delimiter, skipinitialspace=True, strict=True):
            pass
    except csv.Error as error:
        return "unexpected end of data" in str(error)
    return False


def _first_record(reader: Reader) -> list[str] | None:
    try:
        for row in reader:
            if any(value.strip() for value in row):
                return row
    except csv.Error as error:
        raise CsvFormatError(f"the header is not readable CSV ({error})") from None
    return None


def _lines(text: str) -> Iterator[str]:
    """Lines with their endings, lazily: the csv module needs them that way for quoted newlines."""
    for match in _LINE.finditer(text):
        yield match.group()


def _detect_delimiter(text: str) -> str:
    """The delimiter that splits the header into the most recognised columns.

    csv.Sniffer alone is wrong on one-column files and is fooled by quotes in
    the data, so it only breaks a tie between candidates (then comma wins). It
    sees a small sample: its regexes take quadratic time on hostile input.
    """
    header_sample = text[:HEADER_SAMPLE_CHARS]

    def recognised(delimiter: str) -> int:
        reader = csv.reader(_lines(header_sample), delimiter=delimiter, skipinitialspace=True)
        try:
            header = _first_record(reader) or []
        except CsvFormatError:
            header = []
        return sum(1 for name in header if header_field(name) is not None)

    counts = {delimiter: recognised(delimiter) for delimiter in DELIMITERS}
    best = max(counts.values())
    tied = [delimiter for delimiter in DELIMITERS if counts[delimiter] == best]
    if len(tied) == 1:
        return tied[0]
    sample = text[:SNIFF_SAMPLE_CHARS]
    if len(text) > SNIFF_SAMPLE_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(tied)).delimiter
    except csv.Error:
        sniffed = ","
    return sniffed if sniffed in tied else tied[0]


def rows_from_csv(data: bytes, encoding: str | None = None) -> Iterator[ImportRow | RowError]:
    """Validated rows of an uploaded CSV; raises CsvFormatError at once if it is not one.

    `encoding` is the one the uploader named, if any (`decode_csv`).
    """
    return rows_from_text(decode_csv(data, encoding))


def rows_from_text(text: str) -> Iterator[ImportRow | RowError]:
    """Validated rows of a decoded CSV (`rows_from_csv` after `decode_csv`).

    A rejected row carries its cells (`RowError.record`), for the rejected
    rows' download.
    """
    return _validated(read_csv(text)[1])


def _validated(records: Iterator[RawRecord]) -> Iterator[ImportRow | RowError]:
    for record in records:
        if isinstance(record, RowError):
            yield record
            continue
        line, values, cells = record
        row = normalise_record(line, values)
        yield row if isinstance(row, ImportRow) else replace(row, record=tuple(cells))
