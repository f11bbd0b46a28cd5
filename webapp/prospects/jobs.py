"""Import jobs: the record of each import, its owner process, and interrupted ones.

Every import has a job row (`ImportJob`) with its progress and report, so a
page can poll it and the API can show it. The job records the process running
it; at startup, jobs left `running` by a process that died are marked
`interrupted` (`mark_interrupted`), and importing the same file again resumes
them.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core.db import Database
from webapp.core.errors import NotFound
from webapp.core.logs import get_logger
from webapp.core.models import ImportJob, utcnow

log = get_logger(__name__)


async def start_import(session: AsyncSession, campaign_id: int, source: str) -> ImportJob:
    """Record a new import of `source` (a file name, "api", "cli: x.csv") as running.

    Pass the job's id to `import_prospects`/`import_csv` as `job_id`: they keep
    `rows_seen` and the counts up to date after every batch (so a page can poll
    `get_import`), then set `status` to "finished" (or "failed", with the reason
    as an error of line 0) and fill `errors` and `finished_at`. The job records
    this process as its owner, so that `mark_interrupted` can tell it died.
    """
    await get_campaign(session, campaign_id)
    job = ImportJob(
        campaign_id=campaign_id,
        source=source[:200],
        status="running",
        errors=[],
        owner=process_identity(),
    )
    session.add(job)
    await session.flush()
    return job


async def get_import(session: AsyncSession, job_id: int) -> ImportJob:
    """An import job with its progress and report; NotFound when there is none."""
    job = await session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"import {job_id} does not exist")
    return job


async def latest_import(
    session: AsyncSession, campaign_id: int, raw_id: str | None = None
) -> ImportJob | None:
    """The campaign's import `raw_id` when it names one of them, else its latest import."""
    query = select(ImportJob).where(ImportJob.campaign_id == campaign_id)
    if raw_id and raw_id.isdigit():
        query = query.where(ImportJob.id == int(raw_id))
    return await session.scalar(query.order_by(ImportJob.id.desc()).limit(1))


def import_json(job: ImportJob) -> dict[str, Any]:
    """An import job as the API shows it; an interrupted one says how to resume."""
    body: dict[str, Any] = {
        "id": job.id,
        "campaign_id": job.campaign_id,
        "source": job.source,
        "status": job.status,
        "rows_seen": job.rows_seen,
        "created": job.created,
        "updated": job.updated,
        "duplicates": job.duplicates,
        "rejected": job.rejected,
        "errors": job.errors,
        "warned": job.warned or 0,
        "warnings": job.warnings or [],
        "total": job.total,
        "percent": progress_percent(job),
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.status in {"interrupted", "failed"}:
        body["resume"] = RESUME_HINT
    return body


def progress_percent(job: ImportJob) -> int | None:
    """How far an import is, 0–100: 100 once finished, None while the total is unknown."""
    if job.status == "finished":
        return 100
    if not job.total:
        return None
    percent = min(100, job.rows_seen * 100 // job.total)
    return min(99, percent) if job.status == "running" else percent


RESUME_HINT = (
    "import the same file again to resume: rows already imported are recognised by their "
    "email and counted as duplicates, so nothing is imported twice"
)


def process_identity(pid: int | None = None) -> str | None:
    """ "host:pid:start time" of a live process (this one by default); None when it is gone.

    The start time (from /proc) tells a reused process id from the one that
    started the import; where /proc is missing, the id alone is used.
    """
    pid = os.getpid() if pid is None else pid
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        started = stat.rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        if not Path("/proc/self").exists():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except PermissionError:
                pass
            started = "?"
        else:
            return None
    return f"{socket.gethostname()}:{pid}:{started}"


def _owner_is_gone(owner: str | None) -> bool:
    """True when the process that ran an import is known to be dead."""
    if not owner:
        return True  # recorded before imports had owners
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return False  # another machine's import: only that machine can tell
    pid = rest.partition(":")[0]
    return not pid.isdigit() or process_identity(int(pid)) != owner


async def mark_interrupted(db: Database) -> int:
    """Mark imports left `running` by a process that died as `interrupted`; returns how many.

    Called where Tune starts (each server worker, `tune import`). Their
    progress (`rows_seen` and the counts of committed batches) is kept; the
    page and the API offer to resume by importing the same file again.
    """
    async with db.read() as session:
        running = (
            await session.execute(
                select(ImportJob.id, ImportJob.owner).where(ImportJob.status == "running")
            )
        ).all()
    dead = [job_id for job_id, owner in running if _owner_is_gone(owner)]
    if dead:
        async with db.write() as session:
            await session.execute(
                update(ImportJob)
                .where(ImportJob.id.in_(dead), ImportJob.status == "running")
                .values(status="interrupted", finished_at=utcnow())
            )
    for job_id in dead:
        log.warning("import_interrupted", job_id=job_id)
    return len(dead)
