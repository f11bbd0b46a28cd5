"""Reading and validating a big CSV in a second process, while the import writes.

Reading, checking and normalising a row is about a third of an import's CPU
time, and in a thread it shares the interpreter lock with the writing side.
`rows_in_process` runs `rows.csv.rows_from_text` in a separate process (a
second core) and hands its rows back a chunk at a time through a pipe, so the
two halves run in parallel. The pipe's buffer bounds how far the reader runs
ahead (a chunk or two), so memory stays flat however long the file is; the
rows are exactly those `rows_from_text` yields, in the same order.

The reader is `python -m webapp.prospects.rows.parallel`, started directly
rather than by multiprocessing, whose `spawn` would import the parent's main
module again (the whole command line, 0.6 s and 70 MB) and whose `fork` is
unsafe in a process with threads: it imports only the row modules (0.1 s,
16 MB) and runs a little nicer than the caller (`NICER_BY`). The text goes to
its stdin; valid rows come back as plain tuples (pickling a plain tuple is several
times cheaper than pickling a class's instances), rejected rows, which are rare, as
they are.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import subprocess
import sys
from collections.abc import Iterator
from typing import IO, Any

from webapp.prospects.rows.fields import ImportRow, RowError

PROCESS_CHARS = 1_000_000
"""Texts from this size (about 10,000 rows) are read in a second process: below it the
process's start (a tenth of a second) is not worth it."""
CHUNK_ROWS = 500
"""Rows per message through the pipe."""
STOP_SECONDS = 5.0
COLLECT_EVERY = 50_000
"""Allocations between two young-generation garbage collections in a process that imports
(700 by default): with the objects of a batch alive, collecting every 700 allocations
was about 15% of an import's CPU time, and import rows hold no reference cycles."""
NICER_BY = 5
"""The reader runs this much nicer than the importing process (nice 15 under the import
child): it is the faster side, and tracking keeps the CPU it would take."""
_ENCODING = ("utf-8", "surrogatepass")
"""The text crosses the pipe unchanged, a lone surrogate included (it is rejected by row)."""

_make_row = ImportRow._make


def collect_less() -> None:
    """Collect garbage less often in a process whose work is an import (the import child, a
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
    process = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    stdin, stdout = _pipes(process)
    try:
        try:
            stdin.write(text.encode(*_ENCODING))
            stdin.close()
        except BrokenPipeError:
            pass  # the reader died: said below
        while True:
            try:
                message = pickle.load(stdout)  # noqa: S301 (our own child, over a pipe)
            except EOFError:
                raise ReaderFailed(
                    f"the process reading the file stopped (exit code {process.wait()})"
                ) from None
            if message is None:
                return
            if isinstance(message, BaseException):
                raise message
            for item in message:
                yield _make_row(item) if type(item) is tuple else item
    finally:
        stdout.close()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pipes(process: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    assert process.stdin is not None and process.stdout is not None
    return process.stdin, process.stdout


def _read(source: IO[bytes], sink: IO[bytes]) -> None:
    """The reading process: chunks of rows, then None (or the error that stopped it).

    `sink` is written with `_send`, which checks how much each write took.
    """
    from webapp.prospects.rows.csv import rows_from_text

    with contextlib.suppress(OSError):
        os.nice(NICER_BY)
    collect_less()
    text = source.read().decode(*_ENCODING)
    chunk: list[Any] = []
    try:
        for item in rows_from_text(text):
            chunk.append(tuple(item) if isinstance(item, ImportRow) else item)
            if len(chunk) >= CHUNK_ROWS:
                _send(sink, pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
                chunk = []
    except Exception as error:  # handed to the import, which reports it as it would in a thread
        try:
            message = pickle.dumps(error, pickle.HIGHEST_PROTOCOL)
        except Exception:  # an error whose details do not pickle
            message = pickle.dumps(RuntimeError(f"{type(error).__name__}: {error}"))
        _send(sink, message)
    else:
        if chunk:
            _send(sink, pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
        _send(sink, pickle.dumps(None))


def _send(sink: IO[bytes], message: bytes) -> None:
    """Write all of `message`, however many writes the pipe takes.

    A write to a pipe may take only part of what it is given (a signal
    arrived while it waited for the importing process to read; a tracer such
    as a sampling profiler stops the process often). Written with
    `pickle.dump` through the buffered stdout, the stream once came out
    20,480 bytes short in the middle of a message under a profiler, and the
    import failed with a UnicodeDecodeError in `pickle.load`. So each message
    is pickled whole and written here, to the unbuffered pipe, until every
    byte is taken.
    """
    view = memoryview(message)
    while view:
        written = sink.write(view)
        if written is None:  # a non-blocking pipe that is full: wait for the reader
            select.select([], [sink], [])
            continue
        view = view[written:]


if __name__ == "__main__":
    try:
        with open(sys.stdout.fileno(), "wb", buffering=0, closefd=False) as out:
            _read(sys.stdin.buffer, out)
    except BrokenPipeError:  # the import stopped reading: nothing to say, nowhere to say it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
