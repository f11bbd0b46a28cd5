"""Importing prospects: the one code path behind the API, the upload form and `tune import`.

Import (`import_prospects`) is the one code path behind the three doors: the
API (`POST /api/campaigns/{id}/prospects`, JSON array or CSV body), the upload
form on the campaign page (`run_import_job` with a job from `start_import`)
and `tune import`. Rows are parsed and scored in a worker thread (a CSV from
1 MB is read and validated in a second process, `rows.parallel`, while this
one writes), in batches of `batch_size(db)` valid rows, one write transaction
per batch (`prospects.committing`, `prospects.batch`), so 100,000 rows never
sit in memory as objects and the event loop stays free for tracking. Each
row ends in exactly one of four counts, so `created + updated + duplicates +
rejected` is the number of records read:

- **created**: the row's email is new to the campaign; a contact was added
  (and a prospect, when its company is new: `prospects_created`).
- **updated**: the email is already known (in the database, or earlier in the
  same file) and the row filled in something that was empty: the contact's
  first name, last name or title, or its company's domain, industry,
  employees, revenue, country or notes. Import never overwrites a value Tune
  already has, so re-importing a file, or a file that disagrees with itself,
  changes nothing the second time.
- **duplicates**: the email is already known and the row brings nothing new.
- **rejected**: the row is invalid (`RowError`, with its line and reason); the
  good rows are imported anyway. With `strict=True` any rejected row rejects
  the whole file (422) and nothing is written.

A batch that fails to write is rolled back and the job is marked failed with
the rows written before it; a job left `running` by a process that died is
marked `interrupted` at the next start (`prospects.jobs`). Re-importing the
same file resumes it: rows already written count as duplicates.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import update

from webapp.campaigns.queries import get_campaign
from webapp.core.common import parse_flag
from webapp.core.db import Database
from webapp.core.errors import (
    ServiceUnavailable,
    TuneError,
    UnsupportedMediaType,
    ValidationFailed,
)
from webapp.core.logs import get_logger
from webapp.core.models import ImportJob, utcnow
from webapp.prospects import worker
from webapp.prospects.committing import (
    ImportProgress,
    ImportSummary,
    WriteRest,
    commit_batch,
    finish_job,
)
from webapp.prospects.jobs import RESUME_HINT, start_import
from webapp.prospects.rows.csv import count_records, read_csv, rows_from_text
from webapp.prospects.rows.decode import CsvFormatError, decode_csv
from webapp.prospects.rows.fields import ImportRow, RowError, rows_from_json
from webapp.prospects.rows.parallel import PROCESS_CHARS, rows_in_process
from webapp.prospects.scoring.profile import load_profile

log = get_logger(__name__)

# --- import --------------------------------------------------------------------------------

IMPORT_BATCH = 1000
"""Valid rows per write transaction on SQLite: a batch holds the database's one write lock,
which tracking's event writer waits for (`committing.WriteRest`)."""
POSTGRES_IMPORT_BATCH = 5000
"""Valid rows per write transaction on PostgreSQL, where an import's batch locks nothing
tracking writes: fewer, larger batches cost the importing process about a fifth less CPU
(fewer look-ups, COPYs, statistics checks and commits; docs/benchmarks.md, "CSV import")."""
MAX_COMPANY_KEY = 255

CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
JSON_TYPES = frozenset({"application/json"})

Rows = Iterable[ImportRow | RowError]
RowSource = Rows | Callable[[], Rows]
"""Rows, or a function returning a fresh iterator of them (strict mode reads twice)."""


class ImportStopped(ServiceUnavailable):
    """A batch could not be written: the batches before it are imported, the rest is not."""

    code = "import_stopped"


async def run_import_job(
    db: Database,
    campaign_id: int,
    data: bytes,
    job_id: int,
    *,
    source: str = "upload",
    encoding: str | None = None,
) -> None:
    """Run an upload's import in the background; the outcome is recorded on the job.

    Refusals (not a CSV, an unknown encoding, a batch the database refused)
    are already on the job; anything unexpected marks it failed here.
    """
    try:
        await import_csv(db, campaign_id, data, source=source, job_id=job_id, encoding=encoding)
    except TuneError as error:
        log.info("import_refused", job_id=job_id, reason=error.message)
    except Exception:
        log.exception("import_failed", job_id=job_id)
        async with db.write() as session:
            job = await session.get(ImportJob, job_id)
            if job is not None and job.status == "running":
                job.status = "failed"
                job.errors = [*(job.errors or []), {"line": 0, "reason": "the import failed"}]
                job.finished_at = utcnow()


async def import_prospects(
    db: Database,
    campaign_id: int,
    rows: RowSource,
    *,
    strict: bool = False,
    source: str = "api",
    progress: Callable[[ImportProgress], None] | None = None,
    job_id: int | None = None,
    total: int | None = None,
    columns: list[str] | None = None,
) -> ImportSummary:
    """Import validated rows into a campaign and score every prospect they touch.

    `rows` is an iterable of `ImportRow | RowError`, or a function returning a
    fresh one (strict mode reads the rows twice: a plain iterable is then kept
    in memory); it is read in a worker thread, a batch at a time, so parsing
    never holds up the event loop. Without `job_id` a job is recorded
    (`start_import`). Raises NotFound for an unknown campaign; in strict mode,
    ValidationFailed (422, with `rejected` and the first 100 `errors`) when
    any row is bad, having written no prospect or contact; ImportStopped (503,
    with the counts so far) when the database refuses a batch, whose rows are
    rolled back. `total` (the number of records, when known) is handed to
    `progress` and kept on the job for the page's progress bar; `columns` (a
    CSV's header) is kept for the rejected rows' download (`prospects.rejects`):
    every rejected row is stored with its cells, in the transaction of the
    batch it came with. A row with a bad optional value is imported with that
    value blank and counted in `warned`.
    """
    async with db.read() as session:
        profile = load_profile((await get_campaign(session, campaign_id)).industry.profile)
    fresh = _fresh_rows(rows, reusable=strict)
    if strict:
        await _check_strictly(db, campaign_id, fresh(), job_id)
    async with db.write() as session:
        if job_id is None:
            job_id = (await start_import(session, campaign_id, source)).id
        await session.execute(
            update(ImportJob).where(ImportJob.id == job_id).values(total=total, columns=columns)
        )
    summary = ImportSummary(import_id=job_id)
    items = iter(fresh())
    batch: list[ImportRow] = []
    rejects: list[RowError] = []
    rest = WriteRest(db.is_sqlite)
    size = batch_size(db)
    # The next rows are parsed in a thread while the current batch is written.
    ahead = asyncio.ensure_future(asyncio.to_thread(_take, items, size))
    try:
        while chunk := await ahead:
            ahead = asyncio.ensure_future(asyncio.to_thread(_take, items, size))
            summary.rows_seen += len(chunk)
            for item in chunk:
                if isinstance(item, RowError):
                    summary.reject(item)
                    rejects.append(item)
                elif len(item.company_key) > MAX_COMPANY_KEY or item.warnings:
                    batch.append(_checked(item, summary))
                else:
                    batch.append(item)
            while len(batch) >= size or len(rejects) >= size:
                await commit_batch(
                    db, campaign_id, profile, batch[:size], rejects, summary, job_id, rest
                )
                batch, rejects = batch[size:], []
                if progress:
                    progress(summary.progress(total))
        await commit_batch(db, campaign_id, profile, batch, rejects, summary, job_id, rest)
    except CsvFormatError as error:
        await asyncio.gather(ahead, return_exceptions=True)
        _close(items)
        await finish_job(db, job_id, summary, "failed", error.message)
        raise
    except Exception as error:
        await asyncio.gather(ahead, return_exceptions=True)
        _close(items)
        log.exception("import_stopped", job_id=job_id)
        line = batch[0].line if batch else summary.rows_seen
        message = (
            f"the import stopped at line {line}: the database refused a batch "
            f"({type(error).__name__}); the {summary.created + summary.updated} rows before "
            f"it are imported, nothing after; {RESUME_HINT}"
        )
        await finish_job(db, job_id, summary, "failed", message)
        raise ImportStopped(message, **summary.as_json()) from None
    await finish_job(db, job_id, summary, "finished")
    if progress:
        progress(summary.progress(total))
    return summary


def batch_size(db: Database) -> int:
    """Valid rows per write transaction on this database."""
    return IMPORT_BATCH if db.is_sqlite else POSTGRES_IMPORT_BATCH


def _checked(item: ImportRow, summary: ImportSummary) -> ImportRow:
    """A row with an overlong key (casefolding can lengthen a name) or warnings: the rare case."""
    if len(item.company_key) > MAX_COMPANY_KEY:
        item = item._replace(company_key=item.company_key[:MAX_COMPANY_KEY])
    if item.warnings:
        summary.warn(item)
    return item


def _close(items: Iterator[ImportRow | RowError]) -> None:
    """Stop reading (a reading process, `rows.parallel`, stops with its rows)."""
    close = getattr(items, "close", None)
    if close is not None:
        close()


def _take(items: Iterator[ImportRow | RowError], count: int) -> list[ImportRow | RowError]:
    """The next `count` rows (fewer at the end): parsing happens here, in a worker thread."""
    return list(islice(items, max(count, 1)))


async def import_csv(
    db: Database,
    campaign_id: int,
    data: bytes,
    *,
    strict: bool = False,
    source: str = "upload",
    progress: Callable[[ImportProgress], None] | None = None,
    job_id: int | None = None,
    encoding: str | None = None,
    offload: bool = True,
) -> ImportSummary:
    """Import an uploaded CSV (the page's upload form, the API and `tune import`).

    `encoding` is the one the uploader named (else it is detected). Raises
    CsvFormatError (415) when the bytes are not a readable prospect CSV, before
    anything is written; with `job_id`, the job is marked failed with that
    reason first. A big upload without a `progress` callback is imported in
    the child process (`prospects.worker`) unless `offload` is False.
    """
    if offload and progress is None and len(data) >= worker.CHILD_PROCESS_BYTES:
        summary: ImportSummary = await worker.import_csv_in_child(
            db.config,
            campaign_id,
            data,
            strict=strict,
            source=source,
            job_id=job_id,
            encoding=encoding,
        )
        return summary
    try:
        text = await asyncio.to_thread(decode_csv, data, encoding)
        columns, total = await asyncio.to_thread(_count, text)
    except (CsvFormatError, ValidationFailed) as error:
        if job_id is not None:
            await finish_job(db, job_id, ImportSummary(import_id=job_id), "failed", error.message)
        raise
    return await import_prospects(
        db,
        campaign_id,
        lambda: rows_in_process(text) if len(text) >= PROCESS_CHARS else rows_from_text(text),
        strict=strict,
        source=source,
        progress=progress,
        job_id=job_id,
        total=total,
        columns=columns,
    )


def _count(text: str) -> tuple[list[str], int]:
    """The header (a file without a readable one is refused here, at once) and the count."""
    return read_csv(text)[0], count_records(text)


async def import_upload(
    db: Database,
    campaign_id: int,
    data: bytes,
    mimetype: str,
    *,
    strict: bool = False,
    source: str = "api",
    encoding: str | None = None,
) -> ImportSummary:
    """The API door: a JSON array of row objects, or a CSV body, by content type."""
    if mimetype in JSON_TYPES:
        if not data.strip():
            raise ValidationFailed(
                "the body is empty; send a JSON array of prospects", field="rows"
            )
        items = await asyncio.to_thread(_json_body, data)
        rows_from_json(items)  # a body that is not an array is refused at once
        return await import_prospects(
            db,
            campaign_id,
            lambda: rows_from_json(items),
            strict=strict,
            source=source,
            total=len(items),
        )
    if mimetype in CSV_TYPES:
        return await import_csv(
            db, campaign_id, data, strict=strict, source=source, encoding=encoding
        )
    raise UnsupportedMediaType(
        f"send prospects as Content-Type: application/json (an array of objects) or text/csv, "
        f"not {mimetype or 'no content type'}"
    )


def _json_body(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise ValidationFailed("the request body is not valid JSON", field="rows") from None


def strict_flag(raw: str | None) -> bool:
    """`?strict=1` (or true/yes/on); absent or 0/false/no/off is False; anything else is 422."""
    value = parse_flag((raw or "").strip() or "0")
    if value is not None:
        return value
    raise ValidationFailed("strict must be 1 or 0", field="strict")


def too_large_message(limit: int) -> str:
    return (
        f"the upload is larger than the {limit / 1024 / 1024:g} MB limit; split the file, "
        "or raise MAX_UPLOAD_BYTES"
    )


def _fresh_rows(rows: RowSource, *, reusable: bool) -> Callable[[], Rows]:
    if callable(rows):
        return rows
    if reusable:
        kept = list(rows)
        return lambda: kept
    once = iter(rows)
    return lambda: once


async def _check_strictly(db: Database, campaign_id: int, rows: Rows, job_id: int | None) -> None:
    """Strict mode's first pass: any bad row rejects the file before anything is written."""
    try:
        check = await asyncio.to_thread(_read_all, rows, job_id)
    except CsvFormatError as error:
        if job_id is not None:
            await finish_job(db, job_id, ImportSummary(import_id=job_id), "failed", error.message)
        raise
    if check.rejected:
        if job_id is not None:
            await finish_job(db, job_id, check, "failed")
        raise ValidationFailed(
            f"rejected {check.rejected} of {check.rows_seen} rows; strict mode: nothing was "
            "imported",
            field="rows",
            rejected=check.rejected,
            errors=check.errors,
        )


def _read_all(rows: Rows, job_id: int | None) -> ImportSummary:
    check = ImportSummary(import_id=job_id)
    for item in rows:
        check.rows_seen += 1
        if isinstance(item, RowError):
            check.reject(item)
    return check
