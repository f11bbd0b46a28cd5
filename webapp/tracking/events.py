"""What a tracked event is: the kinds, who asked, and what became of it.

The public tracking routes, the JSON API and the email sender each build one of
these dataclasses and hand it to the `EventWriter` (tracking/writer.py), which
stores it with the SQL in tracking/store.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import ClassVar

from webapp.core.models import utcnow as _utcnow


class Outcome(Enum):
    """What became of a recorded event."""

    STORED = "stored"
    UNKNOWN_TARGET = "unknown_target"
    """No such content, or the contact given does not belong to it: nothing written."""
    TRACKING_OFF = "tracking_off"
    """The campaign has tracking switched off: nothing written."""


@dataclass(frozen=True, slots=True)
class Hit:
    """What a request knows about who asked: never a raw IP."""

    user_agent: str | None = None
    ip_hash: str | None = None
    ip_prefix: str | None = None
    ip: str | None = field(default=None, repr=False)
    """Only for the bot rules, in memory; never stored."""
    method: str = "GET"


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    kind: ClassVar[str]
    content_id: int
    occurred_at: datetime = field(default_factory=_utcnow)
    source: str = "pixel"
    """pixel, link, unsubscribe page, api (a script reported it), smtp (a bounce),
    imap (read from the mailbox), or the provider whose webhook told (ses, sendgrid, ...)."""
    contact_id: int | None = None
    """When given (the JSON API), the content must belong to this contact."""
    hit: Hit = field(default_factory=Hit)
    detail: str | None = None
    """What a webhook delivery carries beyond the ids (a reply's excerpt and tone, as JSON)."""


@dataclass(frozen=True, slots=True)
class OpenEvent(TrackedEvent):
    kind: ClassVar[str] = "open"


@dataclass(frozen=True, slots=True)
class ClickEvent(TrackedEvent):
    kind: ClassVar[str] = "click"
    link_id: int | None = None


@dataclass(frozen=True, slots=True)
class HoneypotEvent(TrackedEvent):
    """A hit on the email's invisible link: stored as a (bot) click, source `honeypot`."""

    kind: ClassVar[str] = "click"
    source: str = "honeypot"
    link_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReplyEvent(TrackedEvent):
    kind: ClassVar[str] = "reply"


@dataclass(frozen=True, slots=True)
class UnsubscribeEvent(TrackedEvent):
    kind: ClassVar[str] = "unsubscribe"


@dataclass(frozen=True, slots=True)
class BounceEvent(TrackedEvent):
    kind: ClassVar[str] = "bounce"


@dataclass(frozen=True, slots=True)
class AutoReplyEvent(TrackedEvent):
    """An out-of-office or other automatic answer: never counted as a reply."""

    kind: ClassVar[str] = "auto_reply"


@dataclass(frozen=True, slots=True)
class ComplaintEvent(TrackedEvent):
    """The recipient reported the email as spam (a feedback-loop report)."""

    kind: ClassVar[str] = "complaint"


@dataclass(frozen=True, slots=True)
class Target:
    """The facts about a content that the writer needs, read once per batch."""

    content_id: int
    campaign_id: int
    contact_id: int
    prospect_id: int
    tier: int
    sent_at: datetime | None
    last_clicked_at: datetime | None
    """The last click of any kind (human, bot or honeypot), or one at most
    `LAST_CLICK_STEP` before it (tracking/batch.py): whether bursts need a look."""
    tracking_enabled: bool
    first_opened_at: datetime | None = None
    """The first human open, as the batch has seen it so far."""


Classifier = Callable[[TrackedEvent, Target], str | None]
"""Returns a flag reason (machine open, bot click) or None for a likely human."""


def no_flags(event: TrackedEvent, target: Target) -> str | None:
    return None


def hour_bucket(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def seconds_between(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else (later - earlier) / timedelta(seconds=1)
