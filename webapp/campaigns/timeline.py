"""Event timelines (a prospect's, a campaign's latest) and email previews, read straight
from the events, contents and links tables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import Contact, Content, Event, Link, Prospect, ProspectOutcome
from webapp.outbound.tokens import TokenSigner

PROSPECT_EVENTS = 200
LATEST_EVENTS = 12

KIND_LABELS = {
    "open": "Opened",
    "click": "Clicked",
    "reply": "Replied",
    "unsubscribe": "Unsubscribed",
    "bounce": "Bounced",
    "auto_reply": "Auto-reply",
    "complaint": "Spam complaint",
    "meeting": "Meeting booked",
    "not_interested": "Not interested",
    "wrong_person": "Wrong person",
    "note": "Note",
    "replied": "Marked replied",
}


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    occurred_at: datetime
    contact_email: str
    prospect_id: int
    prospect_name: str
    url: str | None
    flagged: bool
    flag_reason: str | None
    unique_hit: bool
    source: str
    tier: int
    note: str | None = None
    """The rep's note, for an outcome a rep recorded."""
    event_id: int | None = None
    """The stored event (None for an outcome): what a rep's verdict names."""

    @property
    def judgeable(self) -> bool:
        """An open or click a rep may mark human or machine."""
        return (
            self.event_id is not None
            and self.kind in ("open", "click")
            and self.source != "inferred"
        )

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind.title())


def _entry(row: Any) -> TimelineEntry:
    kind, at, email, pid, name, url, flagged, reason, unique, source, tier, event_id = row
    return TimelineEntry(
        kind, at, email, pid, name, url, flagged, reason, unique, source, tier, event_id=event_id
    )


def _query(limit: int):  # type: ignore[no-untyped-def]
    return (
        select(
            Event.kind,
            Event.occurred_at,
            Contact.email,
            Prospect.id,
            Prospect.name,
            Link.url,
            Event.flagged,
            Event.flag_reason,
            Event.unique_hit,
            Event.source,
            Event.tier,
            Event.id,
        )
        .join(Contact, Contact.id == Event.contact_id)
        .join(Prospect, Prospect.id == Event.prospect_id)
        .outerjoin(Link, Link.id == Event.link_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    )


async def prospect_timeline(
    session: AsyncSession, prospect_id: int, limit: int = PROSPECT_EVENTS
) -> list[TimelineEntry]:
    """A prospect's events and the outcomes reps recorded, newest first, machine opens and
    bot clicks included (flagged)."""
    rows = await session.execute(_query(limit).where(Event.prospect_id == prospect_id))
    entries = [_entry(row) for row in rows]
    outcomes = await session.execute(
        select(ProspectOutcome, Contact.email, Prospect.name, Prospect.tier)
        .join(Prospect, Prospect.id == ProspectOutcome.prospect_id)
        .outerjoin(Contact, Contact.id == ProspectOutcome.contact_id)
        .where(ProspectOutcome.prospect_id == prospect_id)
        .order_by(ProspectOutcome.created_at.desc(), ProspectOutcome.id.desc())
        .limit(limit)
    )
    for outcome, email, name, tier in outcomes:
        if outcome.outcome == "replied" and not outcome.note:
            continue  # its reply event (source "rep") is on the timeline already
        entries.append(
            TimelineEntry(
                outcome.outcome,
                outcome.created_at,
                email or "",
                prospect_id,
                name,
                None,
                False,
                None,
                False,
                "rep",
                tier,
                outcome.note,
            )
        )
    entries.sort(key=lambda entry: entry.occurred_at, reverse=True)
    return entries[:limit]


async def latest_activity(
    session: AsyncSession, campaign_id: int, limit: int = LATEST_EVENTS
) -> list[TimelineEntry]:
    """The campaign's most recent events (the index on campaign, time serves it)."""
    rows = await session.execute(_query(limit).where(Event.campaign_id == campaign_id))
    return [_entry(row) for row in rows]


async def contents_of_prospect(session: AsyncSession, prospect_id: int) -> dict[int, list[Content]]:
    """The emails written for each contact of the prospect, in step order:
    {contact_id: [step 1, step 2, ...]}."""
    rows = await session.scalars(
        select(Content)
        .where(Content.prospect_id == prospect_id)
        .order_by(Content.contact_id, Content.step)
    )
    found: dict[int, list[Content]] = {}
    for row in rows:
        found.setdefault(row.contact_id, []).append(row)
    return found


_PIXEL = re.compile(r"<img\b[^>]*?/t/o/[A-Za-z0-9_-]+\.gif[^>]*>", re.IGNORECASE)
_CLICK = re.compile(r"""(href\s*=\s*["'])([^"']*/t/c/([A-Za-z0-9_-]+))(["'])""", re.IGNORECASE)
_UNSUBSCRIBE = re.compile(r"""(href\s*=\s*["'])[^"']*/t/u/[A-Za-z0-9_-]+(["'])""", re.IGNORECASE)


def preview_html(html: str, links: list[Link], signer: TokenSigner) -> str:
    """The stored email made safe to look at: no tracking pixel (viewing it must not count
    as an open), tracked links pointing back at their original URLs (a click in the
    preview must not count either), and the unsubscribe link inert."""
    originals = {link.position: link.url for link in links}

    def untrack(match: re.Match[str]) -> str:
        parsed = signer.read_click(match.group(3))
        url = originals.get(parsed[1]) if parsed else None
        return f"{match.group(1)}{_attr(url or '#')}{match.group(4)}"

    html = _PIXEL.sub("", html)
    html = _CLICK.sub(untrack, html)
    return _UNSUBSCRIBE.sub(lambda m: f"{m.group(1)}#{m.group(2)}", html)


def _attr(url: str) -> str:
    return url.replace("&", "&amp;").replace('"', "&quot;").replace("'", "&#39;")
