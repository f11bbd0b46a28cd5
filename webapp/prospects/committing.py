"""Committing an import: each batch's rows, its rejected rows and the job's counts in one
transaction, and the counts an import reports (`ImportSummary`).

`prospects.importer` reads and validates the rows and hands them over a batch
at a time; here a batch is merged (`prospects.batch`, whose new rows go to the
database through `prospects.bulk`), retried when it lost a race with a
concurrent import of the same campaign, counted once committed, and followed
by a rest so that tracking keeps its speed during an import (`WriteRest`).
The job row (`ImportJob`) carries the counts after every batch, for the
progress bar.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core import metrics
from webapp.core.db import Database
from webapp.core.models import ImportJob, utcnow
from webapp.prospects.batch import BatchOutcome, contacts_table, merge_batch, prospects_table
from webapp.prospects.bulk import refresh_statistics
from webapp.prospects.rejects import store_rejects
from webapp.prospects.rows.fields import ImportRow, RowError
from webapp.prospects.scoring.profile import Profile

ERRORS_KEPT = 100
"""Rejected rows reported with their line and reason; the count is always exact."""
BATCH_ATTEMPTS = 3
"""A batch that lost a race with a concurrent import of the same campaign is retried."""
WRITE_REST = 0.5
"""On SQLite, while another connection writes, the import pauses after each batch for this
share of the batch's write time (`WriteRest`): tracking keeps its speed during an import
(docs/benchmarks.md)."""
QUIET_REST = 0.1
"""The pause's share while no other connection has written for `POLITE_SECONDS`."""
POLITE_SECONDS = 2.0
"""How long the full pause lasts after another connection's commit was last seen."""
STATISTICS_FROM = 1000
"""On PostgreSQL the planner's statistics are refreshed when the rows written reach 1,000,
then 2,000, 4,000, ... (`bulk.refresh_statistics`)."""
IMPORT_LOOKUPS = {
    prospects_table: ("campaign_id", "company_key"),
    contacts_table: ("campaign_id", "email", "prospect_id"),
}
"""The columns a batch's look-ups filter by: those whose statistics the refresh keeps fresh."""


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """Where an import stands, after each committed batch."""

    rows_seen: int
    total: int | None
    created: int
    updated: int
    duplicates: int
    rejected: int


@dataclass
class ImportSummary:
    """The report of one import; the five counts are exact, `errors` keeps the first 100."""

    import_id: int | None = None
    rows_seen: int = 0
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    prospects_created: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warned: int = 0
    """Rows imported with a bad optional value left blank; `warnings` keeps the first 100."""
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append({"line": error.line, "reason": error.reason})

    def warn(self, row: ImportRow) -> None:
        self.warned += 1
        if len(self.warnings) < ERRORS_KEPT:
            self.warnings.append({"line": row.line, "reason": "; ".join(row.warnings)})

    def progress(self, total: int | None) -> ImportProgress:
        return ImportProgress(
            self.rows_seen, total, self.created, self.updated, self.duplicates, self.rejected
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": self.errors,
            "warned": self.warned,
            "warnings": self.warnings,
            "prospects_created": self.prospects_created,
            "import_id": self.import_id,
        }


async def finish_job(
    db: Database, job_id: int, summary: ImportSummary, status: str, reason: str | None = None
) -> None:
    errors = list(summary.errors)
    if reason is not None:
        errors.append({"line": 0, "reason": reason})
    async with db.write() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(
                **job_counts(summary),
                status=status,
                errors=errors,
                warnings=summary.warnings,
                finished_at=utcnow(),
            )
        )


def job_counts(summary: ImportSummary, outcome: BatchOutcome | None = None) -> dict[str, int]:
    outcome = outcome or BatchOutcome()
    return {
        "rows_seen": summary.rows_seen,
        "created": summary.created + outcome.created,
        "updated": summary.updated + outcome.updated,
        "duplicates": summary.duplicates + outcome.duplicates,
        "rejected": summary.rejected,
        "warned": summary.warned,
    }


def _doubled(before: int, added: int) -> bool:
    """True when this batch took the rows written past the next power of two from 1,000."""
    mark = STATISTICS_FROM
    while mark <= before:
        mark *= 2
    return before + added >= mark


class WriteRest:
    """How long an import pauses after each batch on SQLite, so that other writers get in.

    A batch's transaction holds SQLite's one write lock from its `BEGIN
    IMMEDIATE` to its commit. Tracking's event writer, whose pixel answers
    wait for its commit, asks for the lock every millisecond meanwhile
    (`sqlitedirect.begin_promptly`) and gets in during the pause; other writers sleep
    in SQLite's busy handler and retry after 1, 2, 5, 10, 15, 20, 25 ... up
    to 100 ms, about half a batch's time after waiting through one, so they
    mostly get in too. The pause's length is also the share of the time the
    import leaves to tracking. A pause nobody uses is lost time, though, so
    its length follows `PRAGMA data_version`, which changes on a connection
    when another
    connection has committed: while some other connection wrote within the
    last `POLITE_SECONDS`, the pause is `WRITE_REST` of the batch's time; else
    `QUIET_REST`, short but not nothing, so that a writer that starts waiting
    still gets in within a few batches, after which the import turns polite.

    PostgreSQL has no database-wide write lock (tracking's writer waits for
    no import, as an import's rows are not its rows), and the import runs on
    connections of its own: no pause there.
    """

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self._version: tuple[int, int] | None = None
        """(the connection's identity, its data_version) at the start of the last batch."""
        self._polite_until = 0.0

    async def observe(self, session: AsyncSession) -> None:
        """At the start of a batch's transaction: has another connection committed since
        the last batch began?"""
        if not self.sqlite:
            return
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        version = (id(raw.dbapi_connection), (await session.execute(_DATA_VERSION)).scalar_one())
        if self._version is not None and version != self._version:
            # Another connection committed, or this batch runs on another pooled
            # connection (whose count is not comparable): be polite either way.
            self._polite_until = time.monotonic() + POLITE_SECONDS
        self._version = version

    def seconds(self, held: float) -> float:
        """The pause after a batch whose transaction took `held` seconds."""
        if not self.sqlite:
            return 0.0
        polite = self._version is None or time.monotonic() < self._polite_until
        return held * (WRITE_REST if polite else QUIET_REST)


_DATA_VERSION = text("PRAGMA data_version")


async def commit_batch(
    db: Database,
    campaign_id: int,
    profile: Profile,
    rows: list[ImportRow],
    rejects: list[RowError],
    summary: ImportSummary,
    job_id: int,
    rest: WriteRest | None = None,
) -> None:
    """Write one batch, the rows rejected since the last one and the job's progress in one
    transaction; count it once committed.

    Then rest for a share of the time the transaction took (`WriteRest`):
    while it ran it held SQLite's write lock, and tracking's event writer
    needs it too. (Each batch's commit waits for the disk, on PostgreSQL too:
    the progress bar shows its counts as stored.)
    """
    rest = rest or WriteRest(db.is_sqlite)
    began = time.monotonic()
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            async with db.write() as session:
                await rest.observe(session)
                outcome = await merge_batch(session, campaign_id, profile, rows)
                await store_rejects(session, job_id, rejects)
                await session.execute(
                    update(ImportJob)
                    .where(ImportJob.id == job_id)
                    .values(**job_counts(summary, outcome))
                )
            break
        except IntegrityError:
            # A concurrent import of this campaign inserted the same company or
            # email first (PostgreSQL); the retry finds it and merges instead.
            if attempt == BATCH_ATTEMPTS:
                raise
    # PostgreSQL only: on SQLite it would be a write transaction doing nothing.
    if not db.is_sqlite and _doubled(
        summary.created + summary.updated, outcome.created + outcome.updated
    ):
        async with db.write() as session:
            await refresh_statistics(session, IMPORT_LOOKUPS)
    summary.created += outcome.created
    summary.updated += outcome.updated
    summary.duplicates += outcome.duplicates
    summary.prospects_created += outcome.prospects_created
    for tier, count in outcome.tiers.items():
        metrics.PROSPECTS_ANALYSED.labels(tier=str(tier)).inc(count)
    if rows and (pause := rest.seconds(time.monotonic() - began)):
        await asyncio.sleep(pause)
