"""Committing an import: each batch's rows, its rejected rows and the job's counts in one
transaction, and the counts an import reports (`ImportSummary`).

`prospects.importer` reads and validates the rows and hands them over a batch
at a time; here a batch is merged (`prospects.batch`, whose new rows go to the
database through `prospects.bulk`), retried when it lost a race with a
concurrent import of the same campaign, counted once committed, and followed
by a rest so that tracking keeps its speed during an import. The job row
(`ImportJob`) carries the counts after every batch, for the progress bar.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

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
"""After each batch the import pauses for this share of the batch's write time (see
`commit_batch`): tracking keeps its speed during an import (docs/benchmarks.md)."""
STATISTICS_FROM = 1000
"""On PostgreSQL the planner's statistics are refreshed when the rows written reach 1,000,
then 2,000, 4,000, ... (`bulk.refresh_statistics`)."""


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


async def commit_batch(
    db: Database,
    campaign_id: int,
    profile: Profile,
    rows: list[ImportRow],
    rejects: list[RowError],
    summary: ImportSummary,
    job_id: int,
) -> None:
    """Write one batch, the rows rejected since the last one and the job's progress in one
    transaction; count it once committed.

    Then rest for `WRITE_REST` of the time the transaction took: while it ran
    it held the database's write lock (SQLite) and a connection, and tracking's
    event writer needs them too.
    """
    began = time.monotonic()
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            async with db.write() as session:
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
    if _doubled(summary.created + summary.updated, outcome.created + outcome.updated):
        async with db.write() as session:
            await refresh_statistics(session, [prospects_table, contacts_table])
    summary.created += outcome.created
    summary.updated += outcome.updated
    summary.duplicates += outcome.duplicates
    summary.prospects_created += outcome.prospects_created
    for tier, count in outcome.tiers.items():
        metrics.PROSPECTS_ANALYSED.labels(tier=str(tier)).inc(count)
    if rows:
        await asyncio.sleep((time.monotonic() - began) * WRITE_REST)
