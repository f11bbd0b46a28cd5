"""Re-scoring a whole campaign after its profile changed (`analyse_campaign`).

In keyset batches of `ANALYSE_BATCH` prospects. It never touches `hot`: a
reply makes a prospect hot (the event writer sets it) and it stays hot, shown
first in its tier, whatever its score.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, bindparam, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core import metrics
from webapp.core.db import Database
from webapp.prospects.batch import (
    PROSPECT_FACTS,
    ScoreRow,
    chunks,
    contacts_table,
    prospects_table,
    score_rows,
    store_scores,
)
from webapp.prospects.scoring.profile import Profile, load_profile
from webapp.prospects.scoring.seniority import seniority

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
        campaign = await get_campaign(session, campaign_id)
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
    facts = [prospects_table.c[name] for name in ("name", *PROSPECT_FACTS)]
    # The stored reasons as their JSON text where the driver gives text (SQLite): comparing
    # text is cheaper than decoding every row.
    reasons_text = type_coerce(prospects_table.c.score_reasons, Text).label("reasons_text")
    stored = [prospects_table.c[name] for name in ("score", "tier", "profile_version")]
    rows = (
        await session.execute(
            select(
                prospects_table.c.id, prospects_table.c.company_key, *facts, *stored, reasons_text
            )
            .where(
                prospects_table.c.campaign_id == campaign_id, prospects_table.c.company_key > after
            )
            .order_by(prospects_table.c.company_key)
            .limit(ANALYSE_BATCH)
        )
    ).all()
    if not rows:
        return 0
    summary.last_key = rows[-1].company_key
    titles: dict[int, list[str | None]] = {row.id: [] for row in rows}
    emails: dict[int, list[str]] = {row.id: [] for row in rows}
    stale: list[dict[str, Any]] = []
    for chunk in chunks(sorted(titles)):
        contacts = await session.execute(
            select(
                contacts_table.c.id,
                contacts_table.c.prospect_id,
                contacts_table.c.title,
                contacts_table.c.email,
                contacts_table.c.seniority,
            )
            .where(contacts_table.c.prospect_id.in_(chunk))
            .order_by(contacts_table.c.id)
        )
        for contact_id, prospect_id, title, email, level in contacts:
            titles[prospect_id].append(title)
            emails[prospect_id].append(email)
            fresh = seniority(title).value
            if level != fresh:
                stale.append({"_id": contact_id, "_seniority": fresh})
    scores: dict[int, ScoreRow] = {}
    scored = await score_rows(
        profile, [(row.id, row._mapping, titles[row.id], emails[row.id]) for row in rows]
    )
    for row, (score, tier, reasons) in zip(rows, scored, strict=True):
        summary.tiers[tier] += 1
        same = (score, tier, profile.version) == (row.score, row.tier, row.profile_version)
        if same:
            was = row.reasons_text
            same = was == (json.dumps(reasons) if isinstance(was, str) else reasons)
        if not same:
            scores[row.id] = (score, tier, reasons)
    await store_scores(session, profile, scores)
    if stale:
        await session.execute(
            update(contacts_table)
            .where(contacts_table.c.id == bindparam("_id"))
            .values(seniority=bindparam("_seniority")),
            stale,
        )
    summary.analysed += len(rows)
    summary.changed += len(scores)
    for _, tier, _ in scores.values():
        metrics.PROSPECTS_ANALYSED.labels(tier=str(tier)).inc()
    return len(rows)
