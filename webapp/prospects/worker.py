"""Big imports run in a child process, so that tracking keeps its speed meanwhile.

Parsing, scoring and writing 100,000 rows is seconds of Python. In a thread
of the server it would still hold the interpreter lock most of the time, and
every pixel request would wait for it; in a child process it competes only
for the CPU, and at a lower priority (nice 10) it gives way to the server. The
child has its own database connections and reports progress on the import's
job row, like any import; it reads the file with a process of its own
(`rows.parallel`), at the same priority. Small uploads (under `CHILD_PROCESS_BYTES`) are not
worth a process hop and run in the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.errors import TuneError
from webapp.prospects.rows.parallel import collect_less

CHILD_PROCESS_BYTES = 1_000_000
"""Uploads from this size (about 10,000 rows) are imported in the child process."""
CHILD_NICENESS = 10

_pool: ProcessPoolExecutor | None = None


@dataclass(frozen=True)
class _Refusal:
    """A TuneError raised in the child, as plain values (its keyword details do not pickle)."""

    kind: type[TuneError]
    message: str
    field: str | None
    details: dict[str, Any]


async def import_csv_in_child(config: Config, campaign_id: int, data: bytes, **options: Any) -> Any:
    """`importer.import_csv` in the child process; its errors are raised here as they were."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_lower_priority,
        )
    loop = asyncio.get_running_loop()
    outcome = await loop.run_in_executor(_pool, _run, config, campaign_id, data, options)
    if isinstance(outcome, _Refusal):
        raise outcome.kind(outcome.message, field=outcome.field, **outcome.details)
    return outcome


def shutdown() -> None:
    """Stop the child process (at server shutdown); an import it runs is interrupted."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _lower_priority() -> None:
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICENESS)
    collect_less()


def _run(config: Config, campaign_id: int, data: bytes, options: dict[str, Any]) -> Any:
    from webapp.prospects.importer import import_csv

    async def work() -> Any:
        db = Database(config)
        try:
            return await import_csv(db, campaign_id, data, offload=False, **options)
        finally:
            await db.dispose()

    try:
        return asyncio.run(work())
    except TuneError as error:
        return _Refusal(type(error), error.message, error.field, error.details)
