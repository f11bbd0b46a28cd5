"""The outbox: one delivery row per event and endpoint, written with the event.

Tracking events: the event writer's batch transaction (tracking/store.py) calls
`write_outbox` with the facts of what it stored, as one more executemany. Only
event types some active endpoint wants produce rows, and the insert re-checks
that the endpoint is still there and active, so a change made by another
process between cache reloads cannot fail the batch. Other events (a failed
send, a reply read from the inbox) call `enqueue` in their own transaction.

The JSON body is composed when the dispatcher first leases the row (`compose`):
it reads the campaign, prospect, contact and link then, and keeps the bytes so
every retry sends the same thing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import (
    Campaign,
    Contact,
    Content,
    Link,
    Prospect,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from webapp.core.text import excerpt
from webapp.webhooks.endpoints import ACTIVE_ROUTES, SUBSCRIPTIONS, Routes, wanted

DETAIL_MAX = 2000


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """What happened, in ids: enough to compose the delivery later."""

    event_type: str
    occurred_at: datetime
    campaign_id: int | None = None
    prospect_id: int | None = None
    contact_id: int | None = None
    content_id: int | None = None
    link_id: int | None = None
    flag_reason: str | None = None
    detail: str | None = None
    due_at: datetime | None = None
    """Not delivered before this (a click or open waits until its classification settles)."""


class Driver(Protocol):
    """The plain-SQL helper of tracking/store.py (`Statements`), as the outbox uses it."""

    sqlite: bool

    def time(self, moment: datetime | None) -> Any: ...

    def fetch(self, statement: str, params: Sequence[Any]) -> list[Any]: ...

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None: ...


COLUMNS = (
    ("endpoint_id", "INTEGER"),
    ("message_id", "VARCHAR"),
    ("event_type", "VARCHAR"),
    ("order_key", "BIGINT"),
    ("campaign_id", "BIGINT"),
    ("prospect_id", "BIGINT"),
    ("contact_id", "BIGINT"),
    ("content_id", "BIGINT"),
    ("link_id", "BIGINT"),
    ("flag_reason", "VARCHAR"),
    ("detail", "TEXT"),
    ("occurred_at", "TIMESTAMPTZ"),
    ("next_attempt_at", "TIMESTAMPTZ"),
    ("created_at", "TIMESTAMPTZ"),
)


def _insert_statement(sqlite: bool) -> str:
    # INSERT ... SELECT so that a row is only written for an endpoint that still exists
    # and is active; PostgreSQL needs the parameter types spelled out there.
    values = ", ".join("?" if sqlite else f"CAST(? AS {kind})" for _, kind in COLUMNS)
    names = ", ".join(name for name, _ in COLUMNS)
    return (
        f"INSERT INTO webhook_deliveries ({names}, status, attempts) "  # noqa: S608 (constants)
        f"SELECT {values}, 'pending', 0 WHERE EXISTS "
        "(SELECT 1 FROM webhook_endpoints WHERE id = ? AND active = ?)"
    )


OUTBOX_INSERT = {True: _insert_statement(True), False: _insert_statement(False)}


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def _row(
    endpoint_id: int, event: OutboxEvent, now: datetime, time: Callable[[Any], Any]
) -> tuple[Any, ...]:
    return (
        endpoint_id,
        new_message_id(),
        event.event_type,
        event.contact_id or 0,
        event.campaign_id,
        event.prospect_id,
        event.contact_id,
        event.content_id,
        event.link_id,
        event.flag_reason,
        event.detail[:DETAIL_MAX] if event.detail else None,
        time(event.occurred_at),
        time(now if event.due_at is None or event.due_at < now else event.due_at),
        time(now),
        endpoint_id,
        True,
    )


def routes_here(db: Driver) -> Routes:
    """The subscription routes, reloaded on the caller's connection when stale."""
    return SUBSCRIPTIONS.routes(lambda: db.fetch(ACTIVE_ROUTES, (True,)))


OUTBOX_DROP = (
    "DELETE FROM webhook_deliveries WHERE status = 'pending' AND content_id = ? "
    "AND event_type = ? AND occurred_at = ? AND flag_reason IS NULL"
)
"""Undelivered rows of a hit re-flagged before it settled (never sent, so never retracted)."""


def write_outbox(db: Driver, events: Iterable[OutboxEvent], routes: Routes) -> int:
    """Outbox rows for `events` in the caller's transaction; returns how many were planned."""
    now = utcnow()
    rows = [
        _row(endpoint_id, event, now, db.time)
        for event in events
        for endpoint_id in wanted(routes, event.event_type, event.flag_reason is not None)
    ]
    db.many(OUTBOX_INSERT[db.sqlite], rows)
    return len(rows)


async def enqueue(session: AsyncSession, events: Sequence[OutboxEvent]) -> int:
    """Outbox rows for events recorded through the ORM, in the session's transaction."""
    routes = await SUBSCRIPTIONS.routes_async(session)
    planned = [
        (endpoint_id, event)
        for event in events
        for endpoint_id in wanted(routes, event.event_type, event.flag_reason is not None)
    ]
    if not planned:
        return 0
    live = set(
        await session.scalars(
            select(WebhookEndpoint.id).where(
                WebhookEndpoint.id.in_({endpoint_id for endpoint_id, _ in planned}),
                WebhookEndpoint.active.is_(True),
            )
        )
    )
    now = utcnow()
    rows = [
        {
            "endpoint_id": endpoint_id,
            "message_id": new_message_id(),
            "event_type": event.event_type,
            "order_key": event.contact_id or 0,
            "campaign_id": event.campaign_id,
            "prospect_id": event.prospect_id,
            "contact_id": event.contact_id,
            "content_id": event.content_id,
            "link_id": event.link_id,
            "flag_reason": event.flag_reason,
            "detail": event.detail[:DETAIL_MAX] if event.detail else None,
            "occurred_at": event.occurred_at,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint_id, event in planned
        if endpoint_id in live
    ]
    if rows:
        await session.execute(insert(WebhookDelivery), rows)
    return len(rows)


async def content_event(
    session: AsyncSession,
    event_type: str,
    content_id: int,
    occurred_at: datetime,
    detail: str | None = None,
) -> int:
    """Outbox rows for an event about one email (a failed send, a stopped sequence, ...).

    Reads the email's campaign, prospect and contact only when an endpoint wants the type.
    """
    if event_type not in await SUBSCRIPTIONS.routes_async(session):
        return 0
    ids = (
        await session.execute(
            select(Content.campaign_id, Content.prospect_id, Content.contact_id).where(
                Content.id == content_id
            )
        )
    ).first()
    if ids is None:
        return 0
    campaign_id, prospect_id, contact_id = ids
    return await enqueue(
        session,
        [
            OutboxEvent(
                event_type,
                occurred_at,
                campaign_id=campaign_id,
                prospect_id=prospect_id,
                contact_id=contact_id,
                content_id=content_id,
                detail=detail,
            )
        ],
    )


async def compose(session: AsyncSession, delivery: WebhookDelivery) -> bytes:
    """The JSON body of a delivery: the event with what a CRM needs about its contact."""
    campaign = await session.get(Campaign, delivery.campaign_id) if delivery.campaign_id else None
    prospect = await session.get(Prospect, delivery.prospect_id) if delivery.prospect_id else None
    contact = await session.get(Contact, delivery.contact_id) if delivery.contact_id else None
    link = await session.get(Link, delivery.link_id) if delivery.link_id else None
    data: dict[str, Any] = {
        "campaign": {"id": campaign.id, "name": campaign.name} if campaign else None,
        "prospect": {
            "id": prospect.id,
            "company": prospect.name,
            "domain": prospect.domain,
            "tier": prospect.tier,
            "score": prospect.score,
            "hot": prospect.hot,
        }
        if prospect
        else None,
        "contact": {
            "id": contact.id,
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "title": contact.title,
        }
        if contact
        else None,
        "content_id": delivery.content_id,
        "flagged": delivery.flag_reason is not None,
        "flag_reason": delivery.flag_reason,
    }
    if delivery.event_type == "click":
        data["link"] = {"id": link.id, "url": link.url} if link else None
    if delivery.detail is not None:
        fields = _structured(delivery.detail)
        if fields is not None:
            data.update(fields)
        else:
            data["detail" if delivery.event_type not in REPLY_TYPES else "reply_excerpt"] = (
                delivery.detail
            )
    body = {
        "id": delivery.message_id,
        "type": delivery.event_type,
        "timestamp": delivery.occurred_at.isoformat(),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


REPLY_TYPES = frozenset({"reply", "auto_reply"})


def event_detail(**fields: Any) -> str:
    """An event's own fields (a reply's excerpt and classification, an outcome and its
    note, why a sequence stopped) as the outbox stores them: a JSON object whose keys
    join the delivery's `data`. Long text is cut to fit `DETAIL_MAX`."""
    cut = {
        key: excerpt(value) if isinstance(value, str) and key.endswith("excerpt") else value
        for key, value in fields.items()
    }
    if isinstance(cut.get("note"), str):
        cut["note"] = cut["note"][: DETAIL_MAX // 2]
    return json.dumps(cut, separators=(",", ":"), ensure_ascii=False)


def _structured(detail: str) -> dict[str, Any] | None:
    if not detail.startswith("{"):
        return None
    try:
        found = json.loads(detail)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    reserved = {"campaign", "prospect", "contact", "content_id", "flagged", "flag_reason", "link"}
    return {key: value for key, value in found.items() if key not in reserved}
