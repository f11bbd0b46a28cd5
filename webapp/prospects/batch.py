"""Writing one batch of import rows: merge into known prospects and contacts, then score.

Rows are written with Core multi-row INSERTs and executemany UPDATEs (no ORM
object per row). Each row ends in exactly one of the counts described in
`prospects.importer`. Rows of the same company (`company_key`: normalised
domain, else the lowercased name) become one prospect. A known email stays
with the prospect it was first imported under; its row's company facts are
only used when the row names that same company. Every prospect the batch
touched is re-scored from all of its contacts (old and new) in the same
transaction, and each contact's seniority is stored whenever its title is
written.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import Contact, Prospect, utcnow
from webapp.prospects.bulk import insert_rows, one_of
from webapp.prospects.rows.fields import ImportRow
from webapp.prospects.scoring.profile import Profile
from webapp.prospects.scoring.reasons import Reason
from webapp.prospects.scoring.score import ProspectFacts, score_prospect
from webapp.prospects.scoring.seniority import seniority

LOOKUP_CHUNK = 500
"""Values per `IN (...)` list, well under every backend's parameter limit."""
BATCH_LOOKUP = 5000
"""Values per look-up of a batch's keys and emails (`bulk.one_of`: one parameter)."""
PROSPECT_FACTS = ("domain", "industry", "employees", "revenue", "country", "notes")
CONTACT_FACTS = ("first_name", "last_name", "title")

_prospect_facts = attrgetter(*PROSPECT_FACTS)
_contact_facts = attrgetter(*CONTACT_FACTS)
_prospect_values = itemgetter("name", *PROSPECT_FACTS)
_contact_values = itemgetter(*CONTACT_FACTS)

prospects_table = cast(Table, Prospect.__table__)
contacts_table = cast(Table, Contact.__table__)


@dataclass
class BatchOutcome:
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    prospects_created: int = 0
    tiers: Counter[int] = field(default_factory=Counter)


def chunks(values: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[Any]]:
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


@dataclass
class _Plan:
    """What one batch writes, decided off the event loop."""

    outcome: BatchOutcome
    new_prospects: list[_ProspectState]
    new_contacts: list[_ContactState]
    new_scores: dict[str, tuple[int, int, str]]
    """Scores of the new prospects by key (reasons as stored JSON text): all their contacts
    are in this batch."""
    rescore: set[int]
    """Existing prospects to re-score from the database once the batch is written."""


async def merge_batch(
    session: AsyncSession, campaign_id: int, profile: Profile, rows: list[ImportRow]
) -> BatchOutcome:
    """Merge one batch into the campaign (see the module docstring for the counts)."""
    if not rows:
        return BatchOutcome()
    prospects = await _known_prospects(session, campaign_id, sorted({r.company_key for r in rows}))
    contacts = await _known_contacts(session, campaign_id, sorted({r.email for r in rows}))
    # Merging and scoring are CPU work: a worker thread does them, not the event loop.
    plan = await asyncio.to_thread(_plan_batch, profile, rows, prospects, contacts)
    outcome = plan.outcome
    await _insert_prospects(session, campaign_id, profile, plan.new_prospects, plan.new_scores)
    outcome.prospects_created = len(plan.new_prospects)
    await _insert_contacts(session, campaign_id, plan.new_contacts, prospects)
    await _update_known(session, prospects.values(), contacts.values())
    plan.rescore.update(
        state.id for state in prospects.values() if state.touched and state.id is not None
    )
    plan.rescore.difference_update(state.id for state in plan.new_prospects)
    scores = await _score_prospects(session, profile, sorted(plan.rescore))
    await store_scores(session, profile, scores)
    outcome.tiers.update(tier for _, tier, _ in scores.values())
    outcome.tiers.update(tier for _, tier, _ in plan.new_scores.values())
    return outcome


def _plan_batch(
    profile: Profile,
    rows: list[ImportRow],
    prospects: dict[str, _ProspectState],
    contacts: dict[str, _ContactState],
) -> _Plan:
    outcome = BatchOutcome()
    new_prospects: list[_ProspectState] = []
    new_contacts: list[_ContactState] = []
    rescore: set[int] = set()
    for row in rows:
        contact = contacts.get(row.email)
        if contact is None:
            prospect = prospects.get(row.company_key)
            if prospect is None:
                values = dict(zip(PROSPECT_FACTS, _prospect_facts(row), strict=True))
                values["name"] = row.company
                prospect = _ProspectState(row.company_key, values)
                prospects[row.company_key] = prospect
                new_prospects.append(prospect)
            else:
                _fill_prospect(prospect, row)
            prospect.touched = True
            values = dict(zip(CONTACT_FACTS, _contact_facts(row), strict=True))
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
    # A new prospect's contacts are all new and all in this batch, in the order their
    # ids will be given: score it now, exactly as `_score_prospects` would once stored.
    people: dict[str, tuple[list[str | None], list[str]]] = {
        state.key: ([], []) for state in new_prospects
    }
    for contact in new_contacts:
        found = people.get(contact.key)
        if found is not None:
            found[0].append(contact.values["title"])
            found[1].append(contact.email)
    new_scores: dict[str, tuple[int, int, str]] = {}
    for state in new_prospects:
        result = score_prospect(profile, _facts(state.values, *people[state.key]))
        new_scores[state.key] = (result.score, result.tier, _reasons_text(result.reasons))
    return _Plan(outcome, new_prospects, new_contacts, new_scores, rescore)


async def _known_prospects(
    session: AsyncSession, campaign_id: int, keys: list[str]
) -> dict[str, _ProspectState]:
    found: dict[str, _ProspectState] = {}
    columns = [prospects_table.c[name] for name in ("name", *PROSPECT_FACTS)]
    dialect = await _dialect(session)
    for chunk in chunks(keys, BATCH_LOOKUP):
        result = await session.execute(
            select(prospects_table.c.id, prospects_table.c.company_key, *columns).where(
                prospects_table.c.campaign_id == campaign_id,
                one_of(prospects_table.c.company_key, chunk, dialect),
            )
        )
        for row in result.mappings().all():
            values = {name: row[name] for name in ("name", *PROSPECT_FACTS)}
            found[row["company_key"]] = _ProspectState(row["company_key"], values, id=row["id"])
    return found


async def _known_contacts(
    session: AsyncSession, campaign_id: int, emails: list[str]
) -> dict[str, _ContactState]:
    found: dict[str, _ContactState] = {}
    dialect = await _dialect(session)
    for chunk in chunks(emails, BATCH_LOOKUP):
        result = await session.execute(
            select(
                contacts_table.c.id,
                contacts_table.c.email,
                contacts_table.c.prospect_id,
                prospects_table.c.company_key,
                *(contacts_table.c[name] for name in CONTACT_FACTS),
            )
            .join(prospects_table, prospects_table.c.id == contacts_table.c.prospect_id)
            .where(
                contacts_table.c.campaign_id == campaign_id,
                one_of(contacts_table.c.email, chunk, dialect),
            )
        )
        for row in result.mappings().all():
            values = {name: row[name] for name in CONTACT_FACTS}
            found[row["email"]] = _ContactState(
                row["email"], row["company_key"], values, row["id"], row["prospect_id"]
            )
    return found


async def _dialect(session: AsyncSession) -> str:
    """The session's database: from its engine, without a hop to the connection's greenlet."""
    return session.get_bind().dialect.name


async def _insert_prospects(
    session: AsyncSession,
    campaign_id: int,
    profile: Profile,
    states: list[_ProspectState],
    scores: Mapping[str, tuple[int, int, str]],
) -> None:
    if not states:
        return
    now = utcnow()
    # One bulk insert answering each new id with its key (SQLite's RETURNING, in no
    # particular order: a guaranteed order would make SQLite insert row by row); after
    # PostgreSQL's COPY, the ids are looked up by key.
    answered = await insert_rows(
        session,
        prospects_table,
        ("company_key", "name", *PROSPECT_FACTS, "score", "tier", "score_reasons"),
        [(state.key, *_prospect_values(state.values), *scores[state.key]) for state in states],
        {
            "campaign_id": campaign_id,
            "profile_version": profile.version,
            "hot": False,
            "created_at": now,
            "updated_at": now,
        },
        prepared=("score_reasons",),
        returning=("company_key", "id"),
    )
    by_key = {state.key: state for state in states}
    if answered is not None:
        for key, new_id in answered:
            by_key[key].id = new_id
        return
    dialect = await _dialect(session)
    for chunk in chunks(list(by_key), BATCH_LOOKUP):
        result = await session.execute(
            select(prospects_table.c.company_key, prospects_table.c.id).where(
                prospects_table.c.campaign_id == campaign_id,
                one_of(prospects_table.c.company_key, chunk, dialect),
            )
        )
        for key, new_id in result.all():
            by_key[key].id = new_id


async def _insert_contacts(
    session: AsyncSession,
    campaign_id: int,
    states: list[_ContactState],
    prospects: Mapping[str, _ProspectState],
) -> None:
    if not states:
        return
    await insert_rows(
        session,
        contacts_table,
        ("prospect_id", "email", *CONTACT_FACTS, "seniority"),
        [
            (
                prospects[state.key].id,
                state.email,
                *_contact_values(values := state.values),
                _seniority_value(values["title"]),
            )
            for state in states
        ],
        {"campaign_id": campaign_id, "soft_bounces": 0, "created_at": utcnow()},
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
            update(prospects_table)
            .where(prospects_table.c.id == bindparam("_id"))
            .values({name: bindparam(f"_{name}") for name in PROSPECT_FACTS}),
            [
                {"_id": state.id, **{f"_{name}": state.values[name] for name in PROSPECT_FACTS}}
                for state in changed
            ],
        )
    gained = [state for state in contacts if state.changed]
    if gained:
        await session.execute(
            update(contacts_table)
            .where(contacts_table.c.id == bindparam("_id"))
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
    pending: list[ScoreInput] = []
    columns = [prospects_table.c[name] for name in ("name", *PROSPECT_FACTS)]
    for chunk in chunks(prospect_ids):
        facts = {
            row["id"]: row
            for row in (
                await session.execute(
                    select(prospects_table.c.id, *columns).where(prospects_table.c.id.in_(chunk))
                )
            ).mappings()
        }
        titles: dict[int, list[str | None]] = {prospect_id: [] for prospect_id in facts}
        emails: dict[int, list[str]] = {prospect_id: [] for prospect_id in facts}
        result = await session.execute(
            select(contacts_table.c.prospect_id, contacts_table.c.title, contacts_table.c.email)
            .where(contacts_table.c.prospect_id.in_(chunk))
            .order_by(contacts_table.c.id)
        )
        for prospect_id, title, email in result.all():
            titles[prospect_id].append(title)
            emails[prospect_id].append(email)
        pending.extend(
            (prospect_id, values, titles[prospect_id], emails[prospect_id])
            for prospect_id, values in facts.items()
        )
    scored = await score_rows(profile, pending)
    return {prospect_id: row for (prospect_id, *_), row in zip(pending, scored, strict=True)}


ScoreInput = tuple[int, Mapping[Any, Any], list[str | None], list[str]]
"""A prospect's id, stored facts, and its contacts' titles and emails."""


async def score_rows(profile: Profile, pending: Sequence[ScoreInput]) -> list[ScoreRow]:
    """Score many prospects in a worker thread: scoring is CPU work the event loop must not do."""
    if not pending:
        return []
    return await asyncio.to_thread(
        lambda: [score_row(profile, *facts) for _, *facts in pending]  # type: ignore[arg-type]
    )


def score_row(
    profile: Profile, values: Mapping[Any, Any], titles: list[str | None], emails: list[str]
) -> ScoreRow:
    result = score_prospect(profile, _facts(values, titles, emails))
    return result.score, result.tier, result.as_json()


def _facts(values: Mapping[Any, Any], titles: list[str | None], emails: list[str]) -> ProspectFacts:
    return ProspectFacts(
        company=values["name"],
        domain=values["domain"],
        employees=values["employees"],
        revenue=values["revenue"],
        country=values["country"],
        industry=values["industry"],
        notes=values["notes"],
        contact_titles=tuple(titles),
        contact_emails=tuple(emails),
    )


@lru_cache(maxsize=4096)
def _seniority_value(title: str | None) -> str:
    """The seniority stored with a contact, as plain text (an enum member's `.value` is a
    property: slower than the cache, as imports repeat the same few hundred titles)."""
    return seniority(title).value


@lru_cache(maxsize=4096)
def _reasons_text(reasons: tuple[Reason, ...]) -> str:
    """`Score.as_json()` as the JSON column stores it; cached, as prospects share reasons."""
    return json.dumps([{"points": reason.points, "label": reason.label} for reason in reasons])


async def store_scores(
    session: AsyncSession, profile: Profile, scores: Mapping[int, ScoreRow]
) -> None:
    if not scores:
        return
    await session.execute(
        update(prospects_table)
        .where(prospects_table.c.id == bindparam("_id"))
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
