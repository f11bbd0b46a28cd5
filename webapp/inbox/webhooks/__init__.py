"""Bounces and complaints told by the sending provider's webhook: SES, SendGrid, Postmark, Mailgun.

Each provider module verifies a request the way the provider documents
(`verify_and_read`), and turns its payload into `ProviderEvent`s; a request that
fails verification raises `WebhookRejected` before anything is read from it.
`record_provider_events` gives each event the same outcome the mailbox path gives
a bounce or complaint, once per provider event id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core import metrics
from webapp.core.models import utcnow
from webapp.inbox.matching import report_target
from webapp.inbox.message import Failure
from webapp.inbox.outcomes import Handled, claim, record_complaint, record_failure

PROVIDERS = ("ses", "sendgrid", "postmark", "mailgun")


class WebhookRejected(Exception):
    """The request is not from the provider (bad or missing signature or credentials)."""


class WebhookNotConfigured(Exception):
    """Tune has no secret for this provider, so it cannot check its requests."""


class WebhookInvalid(Exception):
    """A verified request whose payload Tune cannot read."""


@dataclass(frozen=True)
class ProviderEvent:
    """One bounce or complaint about one recipient, as a provider reported it."""

    provider: str
    event_id: str
    kind: Literal["bounce", "complaint"]
    email: str
    hard: bool = True
    status: str = ""
    message_ids: tuple[str, ...] = ()
    occurred_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Request:
    """What a provider module needs of an HTTP request."""

    headers: Mapping[str, str]
    body: bytes
    url: str


def iso_time(value: object) -> datetime:
    """A provider's ISO 8601 time (`2026-11-24T10:00:00Z`); now when it sent none or garbage."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return utcnow()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch_time(value: object) -> datetime:
    """A provider's Unix time in seconds; now when it sent none or garbage."""
    try:
        return datetime.fromtimestamp(float(str(value)), UTC)
    except (TypeError, ValueError, OverflowError):
        return utcnow()


def angle(message_id: str | None) -> tuple[str, ...]:
    """A Message-ID as Tune stores it: `<local@domain>` (providers often drop the brackets)."""
    value = (message_id or "").strip()
    if not value or "@" not in value:
        return ()
    return (value if value.startswith("<") else f"<{value}>",)


async def record_provider_events(
    session: AsyncSession, events: Sequence[ProviderEvent], now: datetime | None = None
) -> list[Handled]:
    """Record each event like the mailbox path would; an event id seen before changes nothing."""
    now = now or utcnow()
    results = []
    for event in events:
        if not await claim(session, event.provider, event.event_id, event.kind):
            handled = Handled("duplicate")
        else:
            sent = await report_target(session, event.message_ids, event.email, now)
            if sent is None:
                handled = Handled("unmatched")
            elif event.kind == "complaint":
                handled = await record_complaint(session, sent, event.provider, event.occurred_at)
            else:
                failure = Failure(
                    event.email.lower(),
                    event.hard,
                    event.status or ("5.0.0" if event.hard else "4.0.0"),
                )
                handled = await record_failure(
                    session, sent, failure, event.provider, event.occurred_at
                )
        metrics.INBOX_MESSAGES.labels(handled.outcome).inc()
        results.append(handled)
    return results
