"""Engagement exports: per contact, per link, and the raw event stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field
from quart import Response
from quart_schema import validate_querystring, validate_response

from webapp.campaigns import engagement, feed
from webapp.campaigns.queries import get_campaign
from webapp.core.errors import ValidationFailed
from webapp.web.api.exports import attachment
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Id, Page, PageQuery, Shape, Text, Timestamp, streams
from webapp.web.pagination import CONTENT_KEY, EVENT_KEY, EVENT_TX_KEY, KeyShape, PageRequest
from webapp.web.services import services


class LinkClicks(Shape):
    url: str
    clicks: int
    """Human clicks."""


class Opens(Shape):
    human: int
    machine: int
    """Privacy proxies and prefetches."""


class Clicks(Shape):
    human: int
    bot: int
    """Link scanners."""
    by_link: list[LinkClicks]


class SequencePlace(Shape):
    """Where the contact stands in the campaign's sequence."""

    step: int
    """The last step written for it (1 = the first email)."""
    status: str
    """active, paused, stopped or finished."""
    stop_reason: str | None
    """Why it stopped: replied, colleague_replied, unsubscribed, bounced, complained,
    send_failed, stopped_by_rep, not_interested or wrong_person."""
    paused_until: Timestamp | None
    next_send_at: Timestamp | None


class Engagement(Shape):
    """One contact emailed in the campaign, over every email of its sequence."""

    contact_id: int
    email: str
    first_name: str | None
    last_name: str | None
    company: str
    prospect_id: int
    content_id: int
    """Its first email (step 1): the key the pages continue after."""
    tier: int
    score: int
    send_status: str
    """Of the first email."""
    sent_at: Timestamp | None
    """When the first email was delivered."""
    emails_sent: int
    """Emails of the sequence delivered to it so far."""
    first_open_at: Timestamp | None
    """First human open (or the open a human click proves)."""
    last_open_at: Timestamp | None
    opens: Opens
    clicks: Clicks
    replied_at: Timestamp | None
    reply_classification: str | None
    """positive, neutral or negative: the inbox's reading of its latest reply (the rep's
    label when corrected); none for a reply reported by the API."""
    outcome: str | None
    """The latest outcome a rep recorded: replied, meeting, not_interested, wrong_person."""
    outcome_at: Timestamp | None
    unsubscribed_at: Timestamp | None
    bounced: bool
    sequence: SequencePlace | None
    """None when the contact is not enrolled."""


class UrlClicks(Shape):
    human: int
    bot: int


class LinkStats(Shape):
    url: str
    clicks: UrlClicks
    unique_clickers: int
    """Contacts who clicked it at least once (humans)."""


class EventRecord(Shape):
    id: int
    kind: str
    occurred_at: Timestamp
    campaign_id: int
    prospect_id: int
    contact_id: int
    content_id: int | None
    link_id: int | None
    tier: int
    flagged: bool
    """A machine open or a bot click."""
    flag_reason: str | None
    unique_hit: bool
    """The first human open, click or reply of the email."""
    source: str


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class EventQuery(PageQuery):
    campaign_id: Id | None = None
    kind: Annotated[Text, Field(max_length=16)] | None = None
    """open, click, reply, unsubscribe, bounce, ..."""
    since: Annotated[datetime | None, AfterValidator(_utc)] = None
    """ISO 8601; UTC when no offset is given."""

    def page(self, key: KeyShape = EVENT_TX_KEY) -> PageRequest:
        """The page asked for; its cursor `[txid, id]` (PostgreSQL), or `[id]` (SQLite's,
        and PostgreSQL's from before migration 0024)."""
        try:
            return super().page(key)
        except ValidationFailed:
            return super().page(EVENT_KEY)


@blueprint.get("/campaigns/<int:campaign_id>/engagement")
@validate_querystring(PageQuery)
@validate_response(Page[Engagement])
async def campaign_engagement(campaign_id: int, query_args: PageQuery) -> Page[Engagement]:
    """One row per contact emailed: opens, clicks per link, reply and its reading, outcome,
    unsubscribe, bounce, and its place in the sequence."""
    request = query_args.page(CONTENT_KEY)
    after = int(request.after[0]) if request.after else None
    async with services().db.read() as session:
        rows, next_id = await engagement.engagement_page(session, campaign_id, request.limit, after)
    items = [Engagement.model_validate(row) for row in rows]
    return Page[Engagement].of(items, [next_id] if next_id else None)


@blueprint.get("/campaigns/<int:campaign_id>/engagement.csv")
@streams("text/csv")
async def campaign_engagement_csv(campaign_id: int) -> Response:
    """The engagement rows as CSV, streamed; cells are safe from spreadsheet formulas."""
    tune = services()
    async with tune.db.read() as session:
        await get_campaign(session, campaign_id)
    body = engagement.export_engagement_csv(tune.db, campaign_id)
    return attachment(body, "text/csv", f"campaign-{campaign_id}-engagement.csv")


@blueprint.get("/campaigns/<int:campaign_id>/links")
@validate_response(Page[LinkStats])
async def campaign_links(campaign_id: int) -> Page[LinkStats]:
    """Each tracked URL: human and bot clicks and unique human clickers, most clicked first."""
    async with services().db.read() as session:
        rows = await engagement.link_stats(session, campaign_id)
    return Page[LinkStats].of([LinkStats.model_validate(row) for row in rows], None)


@blueprint.get("/events")
@validate_querystring(EventQuery)
@validate_response(Page[EventRecord])
async def list_events(query_args: EventQuery) -> Page[EventRecord]:
    """The raw events with flags and reasons, keyset-paged; a page never skips an event
    stored later (campaigns/feed.py)."""
    request = query_args.page()
    async with services().db.read() as session:
        events, next_key = await feed.event_page(
            session,
            request.limit,
            after=request.after,
            campaign_id=query_args.campaign_id,
            kind=query_args.kind,
            since=query_args.since,
        )
        items = [EventRecord.model_validate(event) for event in events]
    return Page[EventRecord].of(items, next_key)
