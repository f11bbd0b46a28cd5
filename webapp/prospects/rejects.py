"""The CSV files Tune hands out about imports: a sample to start from, and the rows an
import rejected, to fix and upload again.

Every row an import rejects is stored with its cells as they were in the file
(`ImportReject`), in the transaction of the batch it came with. The download
(`rejects_csv`) has the file's own columns, then the line it was on and why it
was rejected: fixed in a spreadsheet, it imports as it is, since Tune ignores
the two extra columns. Every cell is neutralised against spreadsheet formulas,
like Tune's other exports.

The sample (`sample_csv`) uses the column names the importer reads, with rows
that show what it accepts: amounts written by hand, a full name in one column,
a contact without a website.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.cells import safe_cell
from webapp.core.db import Database
from webapp.core.models import ImportJob, ImportReject
from webapp.prospects.rows.fields import RowError

REASON_CHARS = 500
PAGE = 1000
EXTRA_COLUMNS = ("Line", "Rejected because")

SAMPLE_ROWS: tuple[tuple[str, ...], ...] = (
    ("company", "website", "email", "first_name", "last_name", "title", "employees",
     "revenue", "country", "industry", "notes"),
    ("Aria Resort & Casino", "aria.com", "ann.lee@aria.com", "Ann", "Lee",
     "VP Marketing", "8,000", "$1.5B", "US", "Casino resort", "Met at G2E"),
    ("Aria Resort & Casino", "aria.com", "raj.patel@aria.com", "Raj", "Patel",
     "Director of Player Development", "8,000", "$1.5B", "US", "Casino resort", ""),
    ("Crown Melbourne", "https://www.crownmelbourne.com.au/", "mia.chen@crownmelbourne.com.au",
     "Mia", "Chen", "Chief Marketing Officer", "11k", "AUD 2bn", "AU", "", ""),
    ("Lucky Star Card Room", "", "dan.ortiz@gmail.com", "Dan", "Ortiz", "General Manager",
     "51-200", "", "Canada", "Card room", "Free-mail address: the company name is its key"),
)  # fmt: skip
"""The sample's header and rows."""


def sample_csv() -> bytes:
    """A prospect CSV that imports as it is: one row per contact, the columns Tune reads."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(SAMPLE_ROWS)
    return buffer.getvalue().encode("utf-8")


async def store_rejects(session: AsyncSession, job_id: int, rejects: Sequence[RowError]) -> None:
    """Keep the rows an import rejected (in the caller's transaction)."""
    if not rejects:
        return
    await session.execute(
        insert(ImportReject),
        [
            {
                "job_id": job_id,
                "line": reject.line,
                "reason": reject.reason[:REASON_CHARS],
                "record": list(reject.record) if reject.record is not None else None,
            }
            for reject in rejects
        ],
    )


def rejects_filename(job: ImportJob) -> str:
    stem = job.source.rsplit("/", 1)[-1].removesuffix(".csv").removesuffix(".CSV")
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in stem)
    return f"{safe or 'import'}-rejected.csv"


async def rejects_csv(db: Database, job: ImportJob) -> AsyncIterator[bytes]:
    """The rejected rows of an import as CSV: its columns, then the line and the reason.

    Streamed a page at a time, so a file of 100,000 bad rows never sits in memory.
    """
    columns = list(job.columns or [])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in [*columns, *EXTRA_COLUMNS]])
    after = 0
    while True:
        async with db.read() as session:
            page = (
                await session.execute(
                    select(
                        ImportReject.id, ImportReject.line, ImportReject.reason, ImportReject.record
                    )
                    .where(ImportReject.job_id == job.id, ImportReject.id > after)
                    .order_by(ImportReject.id)
                    .limit(PAGE)
                )
            ).all()
        for _, line, reason, record in page:
            cells = list(record or [])
            if columns:  # a row longer than the header loses the cells no column names
                cells = (cells + [""] * len(columns))[: len(columns)]
            writer.writerow([safe_cell(cell) for cell in [*cells, line, reason]])
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        if len(page) < PAGE:
            return
        after = page[-1][0]
