"""Prospects and their contacts: import, analysis into tiers, listing by tier and look-up.

Import (`import_prospects`) is the one code path behind the three doors: the
API (`POST /api/campaigns/{id}/prospects`, JSON array or CSV body), the upload
form on the campaign page (`import_csv` with a job from `start_import`) and
`tune import`. Rows are written in batches of `IMPORT_BATCH` valid rows, one
write transaction per batch, with Core multi-row INSERTs and executemany
UPDATEs (no ORM object per row), so 100,000 rows never sit in memory as
objects. Each row ends in exactly one of four counts, so
`created + updated + duplicates + rejected` is the number of records read:

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

Rows of the same company (`company_key`: normalised domain, else the lowercased
name) become one prospect. A known email stays with the prospect it was first
imported under; its row's company facts are only used when the row names that
same company. Every prospect the batch touched is re-scored from all of its
contacts (old and new) in the same transaction, and each contact's seniority
is stored whenever its title is written.

A CSV is checked for structure (every record readable) before anything is
written, so a broken file (an unclosed quote at line N) is rejected whole with
its line number instead of being half-imported.

Analysis (`analyse_campaign`) re-scores a whole campaign after its profile
changed, in keyset batches. It never touches `hot`: a reply makes a prospect
hot (the event writer sets it) and it stays hot, shown first in its tier,
whatever its score.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Table,
    Text,
    bindparam,
    func,
    insert,
    literal,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from webapp.core import metrics
from webapp.core.common import TIERS, parse_flag
from webapp.core.db import Database
from webapp.core.errors import NotFound, UnsupportedMediaType, ValidationFailed
from webapp.core.models import Campaign, Contact, ImportJob, Prospect, utcnow
from webapp.prospects.rows.parse import (
    CsvFormatError,
    ImportRow,
    RowError,
    decode_csv,
    iter_csv_records,
    rows_from_csv,
    rows_from_json,
)
from webapp.prospects.scoring.score import (
    Profile,
    ProspectFacts,
    load_profile,
    score_prospect,
    seniority,
)
from webapp.web.pagination import PageRequest


def parse_tier(raw: object) -> int:
    try:
        tier = int(str(raw))
    except ValueError:
        tier = 0
    if tier not in TIERS:
        raise ValidationFailed("tier must be 1, 2 or 3", field="tier")
    return tier


TIER_ORDER = (Prospect.hot.desc(), Prospect.score.desc(), Prospect.id.desc())
"""Hot prospects first, then by score, newest id last."""


def after_in_tier_order(after: list[Any]) -> ColumnElement[bool]:
    """Rows after the keyset cursor `[hot, score, id]` in `TIER_ORDER`.

    A row-value comparison, so the index on (campaign_id, tier, hot, score, id)
    is entered at the cursor instead of walked from the start.
    """
    hot = literal(bool(after[0]), Boolean())
    return tuple_(Prospect.hot, Prospect.score, Prospect.id) < tuple_(
        hot, int(after[1]), int(after[2])
    )


async def prospects_in_tier(
    session: AsyncSession, campaign_id: int, tier: int, page: PageRequest
) -> tuple[list[Prospect], list[Any] | None]:
    """Hot prospects first, then by score, newest id last; keyset on (hot, score, id)."""
    query = (
        select(Prospect)
        .where(Prospect.campaign_id == campaign_id, Prospect.tier == tier)
        .options(selectinload(Prospect.contacts))
        .order_by(*TIER_ORDER)
        .limit(page.limit + 1)
    )
    if page.after is not None:
        query = query.where(after_in_tier_order(page.after))
    return tier_page(list(await session.scalars(query)), page.limit)


def tier_page(rows: list[Prospect], limit: int) -> tuple[list[Prospect], list[Any] | None]:
    """The first `limit` of `limit + 1` rows fetched, and the cursor after them if more."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], [last.hot, last.score, last.id]


async def get_prospect(session: AsyncSession, prospect_id: int) -> Prospect:
    prospect = await session.scalar(
        select(Prospect).where(Prospect.id == prospect_id).options(selectinload(Prospect.contacts))
    )
    if prospect is None:
        raise NotFound(f"prospect {prospect_id} does not exist")
    return prospect


# --- import --------------------------------------------------------------------------------

IMPORT_BATCH = 1000
"""Valid rows per write transaction."""
LOOKUP_CHUNK = 500
"""Values per `IN (...)` list, well under every backend's parameter limit."""
ERRORS_KEPT = 100
"""Rejected rows reported with their line and reason; the count is always exact."""
BATCH_ATTEMPTS = 3
"""A batch that lost a race with a concurrent import of the same campaign is retried."""
MAX_COMPANY_KEY = 255

CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
JSON_TYPES = frozenset({"application/json"})

PROSPECT_FACTS = ("domain", "industry", "employees", "revenue", "country", "notes")
CONTACT_FACTS = ("first_name", "last_name", "title")

Rows = Iterable[ImportRow | RowError]
RowSource = Rows | Callable[[], Rows]
"""Rows, or a function returning a fresh iterator of them (strict mode reads twice)."""

_prospects = cast(Table, Prospect.__table__)
_contacts = cast(Table, Contact.__table__)


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

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append({"line": error.line, "reason": error.reason})

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
            "prospects_created": self.prospects_created,
            "import_id": self.import_id,
        }


@dataclass
class _BatchOutcome:
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    prospects_created: int = 0
    tiers: Counter[int] = field(default_factory=Counter)


async def start_import(session: AsyncSession, campaign_id: int, source: str) -> ImportJob:
    """Record a new import of `source` (a file name, "api", "cli: x.csv") as running.

    Pass the job's id to `import_prospects`/`import_csv` as `job_id`: they keep
    `rows_seen` and the counts up to date after every batch (so a page can poll
    `get_import`), then set `status` to "finished" (or "failed", with the reason
    as an error of line 0) and fill `errors` and `finished_at`.
    """
    await _campaign(session, campaign_id)
    job = ImportJob(campaign_id=campaign_id, source=source[:200], status="running", errors=[])
    session.add(job)
    await session.flush()
    return job


async def get_import(session: AsyncSession, job_id: int) -> ImportJob:
    """An import job with its progress and report; NotFound when there is none."""
    job = await session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"import {job_id} does not exist")
    return job


async def find_import(
    session: AsyncSession, campaign_id: int, job_id: int | None = None
) -> ImportJob | None:
    """The campaign's import `job_id`, or its latest import when no id is given."""
    query = select(ImportJob).where(ImportJob.campaign_id == campaign_id)
    if job_id is not None:
        query = query.where(ImportJob.id == job_id)
    return await session.scalar(query.order_by(ImportJob.id.desc()).limit(1))


async def fail_import(session: AsyncSession, job_id: int, reason: str) -> None:
    """Mark a job that is still running as failed, with `reason` as an error of line 0."""
    job = await session.get(ImportJob, job_id)
    if job is not None and job.status == "running":
        job.status = "failed"
        job.errors = [*(job.errors or []), {"line": 0, "reason": reason}]
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
) -> ImportSummary:
    """Import validated rows into a campaign and score every prospect they touch.

    `rows` is an iterable of `ImportRow | RowError`, or a function returning a
    fresh one (strict mode reads the rows twice: a plain iterable is then kept
    in memory). Without `job_id` a job is recorded (`start_import`). Raises
    NotFound for an unknown campaign and, in strict mode, ValidationFailed
    (422, with `rejected` and the first 100 `errors`) when any row is bad,
    having written no prospect or contact. `total` (the number of records,
    when known) is handed to `progress`.
    """
    async with db.read() as session:
        profile = load_profile((await _campaign(session, campaign_id)).industry.profile)
    fresh = _fresh_rows(rows, reusable=strict)
    if strict:
        await _check_strictly(db, campaign_id, fresh(), job_id)
    if job_id is None:
        async with db.write() as session:
            job_id = (await start_import(session, campaign_id, source)).id
    summary = ImportSummary(import_id=job_id)
    try:
        batch: list[ImportRow] = []
        for item in fresh():
            summary.rows_seen += 1
            if isinstance(item, RowError):
                summary.reject(item)
                continue
            if len(item.company_key) > MAX_COMPANY_KEY:  # casefolding can lengthen a name
                item = replace(item, company_key=item.company_key[:MAX_COMPANY_KEY])
            batch.append(item)
            if len(batch) >= IMPORT_BATCH:
                await _commit_batch(db, campaign_id, profile, batch, summary, job_id)
                batch = []
                if progress:
                    progress(summary.progress(total))
        await _commit_batch(db, campaign_id, profile, batch, summary, job_id)
    except Exception as error:
        reason = error.message if isinstance(error, CsvFormatError) else "the import failed"
        await _finish_job(db, job_id, summary, "failed", reason)
        raise
    await _finish_job(db, job_id, summary, "finished")
    if progress:
        progress(summary.progress(total))
    return summary


async def import_csv(
    db: Database,
    campaign_id: int,
    data: bytes,
    *,
    strict: bool = False,
    source: str = "upload",
    progress: Callable[[ImportProgress], None] | None = None,
    job_id: int | None = None,
) -> ImportSummary:
    """Import an uploaded CSV (the page's upload form and `tune import`).

    Raises CsvFormatError (415) when the bytes are not a readable prospect CSV,
    including a record broken mid-file, before anything is written; with
    `job_id`, the job is marked failed with that reason first.
    """
    try:
        total = sum(1 for _ in iter_csv_records(decode_csv(data)))
    except CsvFormatError as error:
        if job_id is not None:
            await _finish_job(db, job_id, ImportSummary(import_id=job_id), "failed", error.message)
        raise
    return await import_prospects(
        db,
        campaign_id,
        lambda: rows_from_csv(data),
        strict=strict,
        source=source,
        progress=progress,
        job_id=job_id,
        total=total,
    )


async def import_upload(
    db: Database,
    campaign_id: int,
    data: bytes,
    mimetype: str,
    *,
    strict: bool = False,
    source: str = "api",
) -> ImportSummary:
    """The API door: a JSON array of row objects, or a CSV body, by content type."""
    if mimetype in JSON_TYPES:
        if not data.strip():
            raise ValidationFailed(
                "the body is empty; send a JSON array of prospects", field="rows"
            )
        try:
            items = json.loads(data)
        except (ValueError, RecursionError):
            raise ValidationFailed("the request body is not valid JSON", field="rows") from None
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
        return await import_csv(db, campaign_id, data, strict=strict, source=source)
    raise UnsupportedMediaType(
        f"send prospects as Content-Type: application/json (an array of objects) or text/csv, "
        f"not {mimetype or 'no content type'}"
    )


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
    check = ImportSummary(import_id=job_id)
    try:
        for item in rows:
            check.rows_seen += 1
            if isinstance(item, RowError):
                check.reject(item)
    except CsvFormatError as error:
        if job_id is not None:
            await _finish_job(db, job_id, check, "failed", error.message)
        raise
    if check.rejected:
        if job_id is not None:
            await _finish_job(db, job_id, check, "failed")
        raise ValidationFailed(
            f"rejected {check.rejected} of {check.rows_seen} rows; strict mode: nothing was "
            "imported",
            field="rows",
            rejected=check.rejected,
            errors=check.errors,
        )


async def _campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return campaign


async def _finish_job(
    db: Database, job_id: int, summary: ImportSummary, status: str, reason: str | None = None
) -> None:
    errors = list(summary.errors)
    if reason is not None:
        errors.append({"line": 0, "reason": reason})
    async with db.write() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(**_job_counts(summary), status=status, errors=errors, finished_at=utcnow())
        )


def _job_counts(summary: ImportSummary, outcome: _BatchOutcome | None = None) -> dict[str, int]:
    outcome = outcome or _BatchOutcome()
    return {
        "rows_seen": summary.rows_seen,
        "created": summary.created + outcome.created,
        "updated": summary.updated + outcome.updated,
        "duplicates": summary.duplicates + outcome.duplicates,
        "rejected": summary.rejected,
    }


async def _commit_batch(
    db: Database,
    campaign_id: int,
    profile: Profile,
    rows: list[ImportRow],
    summary: ImportSummary,
    job_id: int,
) -> None:
    """Write one batch and the job's progress in one transaction; count it once committed."""
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            async with db.write() as session:
                outcome = await _import_batch(session, campaign_id, profile, rows)
                await session.execute(
                    update(ImportJob)
                    .where(ImportJob.id == job_id)
                    .values(**_job_counts(summary, outcome))
                )
            break
        except IntegrityError:
            # A concurrent import of this campaign inserted the same company or
            # email first (PostgreSQL); the retry finds it and merges instead.
            if attempt == BATCH_ATTEMPTS:
                raise
    summary.created += outcome.created
    summary.updated += outcome.updated
    summary.duplicates += outcome.duplicates
    summary.prospects_created += outcome.prospects_created
    for tier, count in outcome.tiers.items():
        metrics.PROSPECTS_ANALYSED.labels(tier=str(tier)).inc(count)


def _chunks(values: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(slots=True)
class _ProspectState:
    key: str
    values: dict[str, Any]
    id: int | None = None
    changed: bool = False
    """An existing prospect gained facts: store them."""
    touched: bool = False
    """Re-score it: new, gained facts or gained a contact."""


@dataclass(slots=True)
class _ContactState:
    email: str
    key: str
    values: dict[str, Any]
    id: int | None = None
    prospect_id: int | None = None
    changed: bool = False
    """An existing contact gained fields: store them."""


def _fill(values: dict[str, Any], row: ImportRow, names: tuple[str, ...]) -> bool:
    """Fill the empty fields of `values` from the row; True when something was filled."""
    filled = False
    for name in names:
        new = getattr(row, name)
        if new is not None and values.get(name) is None:
            values[name] = new
            filled = True
    return filled


def _fill_prospect(prospect: _ProspectState, row: ImportRow) -> bool:
    if not _fill(prospect.values, row, PROSPECT_FACTS):
        return False
    prospect.touched = True
    prospect.changed = prospect.id is not None
    return True


async def _import_batch(
    session: AsyncSession, campaign_id: int, profile: Profile, rows: list[ImportRow]
) -> _BatchOutcome:
    """Merge one batch into the campaign (see the module docstring for the counts)."""
    outcome = _BatchOutcome()
    if not rows:
        return outcome
    prospects = await _known_prospects(session, campaign_id, sorted({r.company_key for r in rows}))
    contacts = await _known_contacts(session, campaign_id, sorted({r.email for r in rows}))
    new_prospects: list[_ProspectState] = []
    new_contacts: list[_ContactState] = []
    rescore: set[int] = set()
    for row in rows:
        contact = contacts.get(row.email)
        if contact is None:
            prospect = prospects.get(row.company_key)
            if prospect is None:
                values = {name: getattr(row, name) for name in PROSPECT_FACTS}
                prospect = _ProspectState(row.company_key, {"name": row.company, **values})
                prospects[row.company_key] = prospect
                new_prospects.append(prospect)
            else:
                _fill_prospect(prospect, row)
            prospect.touched = True
            values = {name: getattr(row, name) for name in CONTACT_FACTS}
            contact = _ContactState(row.email, row.company_key, values)
            contacts[row.email] = contact
            new_contacts.append(contact)
            outcome.created += 1
            continue
        gained = _fill(contact.values, row, CONTACT_FACTS)
        if gained and contact.id is not None:
            contact.changed = True
            rescore.add(contact.prospect_id)  # type: ignore[arg-type]
        if contact.key == row.company_key and _fill_prospect(prospects[row.company_key], row):
            gained = True
        if gained:
            outcome.updated += 1
        else:
            outcome.duplicates += 1

    await _insert_prospects(session, campaign_id, new_prospects)
    outcome.prospects_created = len(new_prospects)
    await _insert_contacts(session, campaign_id, new_contacts, prospects)
    await _update_known(session, prospects.values(), contacts.values())
    rescore.update(state.id for state in prospects.values() if state.touched)  # type: ignore[misc]
    scores = await _score_prospects(session, profile, sorted(rescore))
    await _store_scores(session, profile, scores)
    outcome.tiers.update(tier for _, tier, _ in scores.values())
    return outcome


async def _known_prospects(
    session: AsyncSession, campaign_id: int, keys: list[str]
) -> dict[str, _ProspectState]:
    found: dict[str, _ProspectState] = {}
    columns = [_prospects.c[name] for name in ("name", *PROSPECT_FACTS)]
    for chunk in _chunks(keys):
        result = await session.execute(
            select(_prospects.c.id, _prospects.c.company_key, *columns).where(
                _prospects.c.campaign_id == campaign_id, _prospects.c.company_key.in_(chunk)
            )
        )
        for row in result.mappings():
            values = {name: row[name] for name in ("name", *PROSPECT_FACTS)}
            found[row["company_key"]] = _ProspectState(row["company_key"], values, id=row["id"])
    return found


async def _known_contacts(
    session: AsyncSession, campaign_id: int, emails: list[str]
) -> dict[str, _ContactState]:
    found: dict[str, _ContactState] = {}
    for chunk in _chunks(emails):
        result = await session.execute(
            select(
                _contacts.c.id,
                _contacts.c.email,
                _contacts.c.prospect_id,
                _prospects.c.company_key,
                *(_contacts.c[name] for name in CONTACT_FACTS),
            )
            .join(_prospects, _prospects.c.id == _contacts.c.prospect_id)
            .where(_contacts.c.campaign_id == campaign_id, _contacts.c.email.in_(chunk))
        )
        for row in result.mappings():
            values = {name: row[name] for name in CONTACT_FACTS}
            found[row["email"]] = _ContactState(
                row["email"], row["company_key"], values, row["id"], row["prospect_id"]
            )
    return found


async def _insert_prospects(
    session: AsyncSession, campaign_id: int, states: list[_ProspectState]
) -> None:
    if not states:
        return
    now = utcnow()
    # One multi-row INSERT, then the ids by key: RETURNING with a guaranteed order
    # would make SQLite insert row by row.
    await session.execute(
        insert(_prospects),
        [
            {
                "campaign_id": campaign_id,
                "company_key": state.key,
                **state.values,
                "tier": 3,
                "score": 0,
                "score_reasons": [],
                "profile_version": 0,
                "hot": False,
                "created_at": now,
                "updated_at": now,
            }
            for state in states
        ],
    )
    by_key = {state.key: state for state in states}
    for chunk in _chunks(list(by_key)):
        result = await session.execute(
            select(_prospects.c.company_key, _prospects.c.id).where(
                _prospects.c.campaign_id == campaign_id, _prospects.c.company_key.in_(chunk)
            )
        )
        for key, new_id in result:
            by_key[key].id = new_id


async def _insert_contacts(
    session: AsyncSession,
    campaign_id: int,
    states: list[_ContactState],
    prospects: Mapping[str, _ProspectState],
) -> None:
    if not states:
        return
    now = utcnow()
    await session.execute(
        insert(_contacts),
        [
            {
                "campaign_id": campaign_id,
                "prospect_id": prospects[state.key].id,
                "email": state.email,
                **state.values,
                "seniority": seniority(state.values["title"]).value,
                "created_at": now,
            }
            for state in states
        ],
    )


async def _update_known(
    session: AsyncSession,
    prospects: Iterable[_ProspectState],
    contacts: Iterable[_ContactState],
) -> None:
    """Store what existing prospects and contacts gained from this batch."""
    changed = [state for state in prospects if state.changed and state.id is not None]
    if changed:
        await session.execute(
            update(_prospects)
            .where(_prospects.c.id == bindparam("_id"))
            .values({name: bindparam(f"_{name}") for name in PROSPECT_FACTS}),
            [
                {"_id": state.id, **{f"_{name}": state.values[name] for name in PROSPECT_FACTS}}
                for state in changed
            ],
        )
    gained = [state for state in contacts if state.changed]
    if gained:
        await session.execute(
            update(_contacts)
            .where(_contacts.c.id == bindparam("_id"))
            .values(
                {name: bindparam(f"_{name}") for name in (*CONTACT_FACTS, "seniority")},
            ),
            [
                {
                    "_id": state.id,
                    **{f"_{name}": state.values[name] for name in CONTACT_FACTS},
                    "_seniority": seniority(state.values["title"]).value,
                }
                for state in gained
            ],
        )


ScoreRow = tuple[int, int, list[dict[str, Any]]]
"""score, tier, reasons as stored."""


async def _score_prospects(
    session: AsyncSession, profile: Profile, prospect_ids: list[int]
) -> dict[int, ScoreRow]:
    """Score prospects from their stored facts and the titles and emails of all their contacts."""
    scores: dict[int, ScoreRow] = {}
    columns = [_prospects.c[name] for name in ("name", *PROSPECT_FACTS)]
    for chunk in _chunks(prospect_ids):
        facts = {
            row["id"]: row
            for row in (
                await session.execute(
                    select(_prospects.c.id, *columns).where(_prospects.c.id.in_(chunk))
                )
            ).mappings()
        }
        titles: dict[int, list[str | None]] = {prospect_id: [] for prospect_id in facts}
        emails: dict[int, list[str]] = {prospect_id: [] for prospect_id in facts}
        result = await session.execute(
            select(_contacts.c.prospect_id, _contacts.c.title, _contacts.c.email)
            .where(_contacts.c.prospect_id.in_(chunk))
            .order_by(_contacts.c.id)
        )
        for prospect_id, title, email in result:
            titles[prospect_id].append(title)
            emails[prospect_id].append(email)
        for prospect_id, values in facts.items():
            scores[prospect_id] = _score(profile, values, titles[prospect_id], emails[prospect_id])
    return scores


def _score(
    profile: Profile, values: Mapping[Any, Any], titles: list[str | None], emails: list[str]
) -> ScoreRow:
    result = score_prospect(
        profile,
        ProspectFacts(
            company=values["name"],
            domain=values["domain"],
            employees=values["employees"],
            revenue=values["revenue"],
            country=values["country"],
            industry=values["industry"],
            notes=values["notes"],
            contact_titles=tuple(titles),
            contact_emails=tuple(emails),
        ),
    )
    return result.score, result.tier, result.as_json()


async def _store_scores(
    session: AsyncSession, profile: Profile, scores: Mapping[int, ScoreRow]
) -> None:
    if not scores:
        return
    await session.execute(
        update(_prospects)
        .where(_prospects.c.id == bindparam("_id"))
        .values(
            score=bindparam("_score"),
            tier=bindparam("_tier"),
            score_reasons=bindparam("_reasons"),
            profile_version=profile.version,
        ),
        [
            {"_id": prospect_id, "_score": score, "_tier": tier, "_reasons": reasons}
            for prospect_id, (score, tier, reasons) in scores.items()
        ],
    )


# --- analysis --------------------------------------------------------------------------------

ANALYSE_BATCH = 2000
"""Prospects re-scored per write transaction."""


@dataclass
class AnalyseSummary:
    """The outcome of re-scoring a campaign: prospects per tier, and how many changed."""

    campaign_id: int
    profile: str
    profile_version: int
    analysed: int = 0
    changed: int = 0
    tiers: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})
    seconds: float = 0.0
    last_key: str = field(default="", repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "profile": self.profile,
            "profile_version": self.profile_version,
            "analysed": self.analysed,
            "changed": self.changed,
            "tiers": {str(tier): count for tier, count in sorted(self.tiers.items())},
            "seconds": round(self.seconds, 3),
        }


async def analyse_campaign(
    db: Database,
    campaign_id: int,
    *,
    profile: Profile | None = None,
    progress: Callable[[int], None] | None = None,
) -> AnalyseSummary:
    """Re-score every prospect of a campaign (after its profile changed), keeping `hot`.

    `profile` overrides the campaign's industry profile (tests, what-if runs).
    Only prospects whose score, tier, reasons or profile version change are
    written; contacts whose stored seniority is stale are corrected too.
    `progress` gets the number of prospects analysed in each batch.
    """
    started = time.perf_counter()
    async with db.read() as session:
        campaign = await _campaign(session, campaign_id)
        profile = profile or load_profile(campaign.industry.profile)
    summary = AnalyseSummary(campaign_id, profile.slug, profile.version)
    after = ""
    while True:
        async with db.write() as session:
            rows = await _analyse_batch(session, campaign_id, profile, after, summary)
        if rows == 0:
            break
        after = summary.last_key
        if progress:
            progress(rows)
    summary.seconds = time.perf_counter() - started
    return summary


async def _analyse_batch(
    session: AsyncSession, campaign_id: int, profile: Profile, after: str, summary: AnalyseSummary
) -> int:
    """Re-score the next `ANALYSE_BATCH` prospects after company key `after`; returns how many.

    Keyset on (campaign_id, company_key), the unique index, so every batch is an
    index range on SQLite and PostgreSQL alike; contacts are read by prospect id.
    """
    facts = [_prospects.c[name] for name in ("name", *PROSPECT_FACTS)]
    # The stored reasons as their JSON text where the driver gives text (SQLite): comparing
    # text is cheaper than decoding every row.
    reasons_text = type_coerce(_prospects.c.score_reasons, Text).label("reasons_text")
    stored = [_prospects.c[name] for name in ("score", "tier", "profile_version")]
    rows = (
        await session.execute(
            select(_prospects.c.id, _prospects.c.company_key, *facts, *stored, reasons_text)
            .where(_prospects.c.campaign_id == campaign_id, _prospects.c.company_key > after)
            .order_by(_prospects.c.company_key)
            .limit(ANALYSE_BATCH)
        )
    ).all()
    if not rows:
        return 0
    summary.last_key = rows[-1].company_key
    titles: dict[int, list[str | None]] = {row.id: [] for row in rows}
    emails: dict[int, list[str]] = {row.id: [] for row in rows}
    stale: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(titles)):
        contacts = await session.execute(
            select(
                _contacts.c.id,
                _contacts.c.prospect_id,
                _contacts.c.title,
                _contacts.c.email,
                _contacts.c.seniority,
            )
            .where(_contacts.c.prospect_id.in_(chunk))
            .order_by(_contacts.c.id)
        )
        for contact_id, prospect_id, title, email, level in contacts:
            titles[prospect_id].append(title)
            emails[prospect_id].append(email)
            fresh = seniority(title).value
            if level != fresh:
                stale.append({"_id": contact_id, "_seniority": fresh})
    scores: dict[int, ScoreRow] = {}
    for row in rows:
        score, tier, reasons = _score(profile, row._mapping, titles[row.id], emails[row.id])
        summary.tiers[tier] += 1
        same = (score, tier, profile.version) == (row.score, row.tier, row.profile_version)
        if same:
            was = row.reasons_text
            same = was == (json.dumps(reasons) if isinstance(was, str) else reasons)
        if not same:
            scores[row.id] = (score, tier, reasons)
    await _store_scores(session, profile, scores)
    if stale:
        await session.execute(
            update(_contacts)
            .where(_contacts.c.id == bindparam("_id"))
            .values(seniority=bindparam("_seniority")),
            stale,
        )
    summary.analysed += len(rows)
    summary.changed += len(scores)
    for _, tier, _ in scores.values():
        metrics.PROSPECTS_ANALYSED.labels(tier=str(tier)).inc()
    return len(rows)


async def prospect_count(session: AsyncSession, campaign_id: int) -> int:
    """How many prospects a campaign has."""
    count = await session.scalar(
        select(func.count()).select_from(Prospect).where(Prospect.campaign_id == campaign_id)
    )
    return count or 0
