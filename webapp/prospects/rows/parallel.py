"""Reading and validating a big CSV in a second process, while the import writes.

Reading, checking and normalising a row is about a third of an import's CPU
time, and in a thread it shares the interpreter lock with the writing side.
`rows_in_process` runs `rows.csv.rows_from_text` in a separate process (a
second core) and hands its rows back a chunk at a time through a pipe, so the
two halves run in parallel. The pipe's buffer bounds how far the reader runs
ahead (a chunk or two), so memory stays flat however long the file is; the
rows are exactly those `rows_from_text` yields, in the same order.

Valid rows cross the pipe as plain tuples (pickling a tuple is several times
cheaper than pickling a dataclass); rejected rows, which are rare, as they are.
The reader starts with `spawn` (a fresh interpreter: forking a process whose
threads hold locks is unsafe) and inherits the caller's priority.
"""

from __future__ import annotations

import gc
import multiprocessing
import operator
from collections.abc import Iterator
from dataclasses import fields
from multiprocessing.connection import Connection

from webapp.prospects.rows.fields import ImportRow, RowError

PROCESS_CHARS = 1_000_000
"""Texts from this size (about 10,000 rows) are read in a second process: below it the
process's start (a fraction of a second) is not worth it."""
CHUNK_ROWS = 500
"""Rows per message through the pipe."""
STOP_SECONDS = 5.0
COLLECT_EVERY = 50_000
"""Allocations between two young-generation garbage collections in a process that imports
(700 by default): with the objects of a batch alive, collecting every 700 allocations
was about 15% of an import's CPU time, and import rows hold no reference cycles."""

_ROW_FIELDS = tuple(field.name for field in fields(ImportRow))
_row_values = operator.attrgetter(*_ROW_FIELDS)


def collect_less() -> None:
    """Collect garbage less often in a process whose work is an import (this child, a
    reading process, `tune import`): what is loaded at start is never scanned again."""
    gc.freeze()
    gc.set_threshold(COLLECT_EVERY, 20, 100)


class ReaderFailed(RuntimeError):
    """The reading process died without saying why (killed, out of memory)."""


def rows_in_process(text: str) -> Iterator[ImportRow | RowError]:
    """`rows_from_text(text)`, read and validated in a second process.

    The header must already have been checked (`rows.csv.read_csv`): an error
    the reader raises (CsvFormatError among them) is raised here, where the
    rows are consumed. Closing the iterator (or dropping it) stops the reader.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_read, args=(sender, text), daemon=True)
    process.start()
    sender.close()
    try:
        while True:
            try:
                message = receiver.recv()
            except EOFError:
                raise ReaderFailed(
                    f"the process reading the file stopped (exit code {process.exitcode})"
                ) from None
            if message is None:
                return
            if isinstance(message, BaseException):
                raise message
            for item in message:
                yield ImportRow(*item) if type(item) is tuple else item
    finally:
        receiver.close()
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def _read(sender: Connection, text: str) -> None:
    """The reading process: chunks of rows, then None (or the error that stopped it)."""
    from webapp.prospects.rows.csv import rows_from_text

    collect_less()
    try:
        chunk: list[tuple[object, ...] | RowError] = []
        for item in rows_from_text(text):
            chunk.append(_row_values(item) if isinstance(item, ImportRow) else item)
            if len(chunk) >= CHUNK_ROWS:
                sender.send(chunk)
                chunk = []
        if chunk:
            sender.send(chunk)
        sender.send(None)
    except (BrokenPipeError, EOFError):
        return  # the import stopped reading
    except Exception as error:  # handed to the import, which reports it as it would in a thread
        try:
            sender.send(error)
        except (BrokenPipeError, EOFError):
            return
        except Exception:  # an error whose details do not pickle
            sender.send(RuntimeError(f"{type(error).__name__}: {error}"))
    finally:
        sender.close()
