"""Send progress that explains itself: how far a campaign's sending is, when it should
finish, and what the mail server is doing, in words.

The figures come from the queue (emails per send status). The finish time is the
emails still to go at SEND_RATE, plus the wait for a paused relay. The relay's
state comes from this process's sender when it runs one (the circuit breaker of
each of the campaign's mailboxes: "paused: the mail server refused 5 times in a
row, retrying at 14:05", or "mailbox beta is held ... the other mailboxes keep
sending") and, for every process, from the queue itself: emails put back after a
failed round carry their error and their retry time, whichever worker sent them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from limits import parse as parse_rate
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import Campaign, Content, utcnow
from webapp.mailboxes.store import campaign_mailboxes
from webapp.outbound.sending.breakers import DEFAULT, Hold
from webapp.outbound.sending.queue import pending, send_progress
from webapp.outbound.smtp.breaker import BreakerState

DONE = ("sent", "failed", "bounced")
"""Statuses of emails that have been through the relay (sent or not)."""


@dataclass(frozen=True)
class RelayState:
    """The mail server's state for people: `kind` for styling and tests, `words` to read."""

    kind: str
    """normal, idle, paused, probing, mailbox_held, retrying, held, worker, unconfigured."""
    words: str


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]
    total: int
    """Emails queued for this campaign so far (sent, failed, bounced or still to go)."""
    done: int
    sent: int
    pending: int
    finish_at: datetime | None
    """When the last pending email should be out, at SEND_RATE; None when nothing is pending."""
    relay: RelayState

    @property
    def percent(self) -> int:
        return int(self.done * 100 / self.total) if self.total else 0


def per_second(send_rate: str) -> float:
    """SEND_RATE ("60/minute") as emails per second."""
    item = parse_rate(send_rate)
    return float(item.amount) / float(item.get_expiry())


def clock_time(moment: datetime) -> str:
    return moment.strftime("%H:%M UTC")


async def retry_waiting(
    session: AsyncSession, campaign_id: int, now: datetime
) -> tuple[int, datetime | None, str | None]:
    """Emails put back in the queue after a failed round: how many, the next retry, the error."""
    waiting = (
        Content.campaign_id == campaign_id,
        Content.send_status == "queued",
        Content.last_error.is_not(None),
        Content.next_attempt_at > now,
    )
    count, first = (
        await session.execute(
            select(func.count(), func.min(Content.next_attempt_at)).where(*waiting)
        )
    ).one()
    if not count:
        return 0, None, None
    error = await session.scalar(
        select(Content.last_error).where(*waiting).order_by(Content.next_attempt_at).limit(1)
    )
    return int(count), first, error


def holds_of(sender: Any, now: datetime) -> list[Hold]:
    """The sender's mailboxes whose relay is failing (its one breaker, for a plain sender)."""
    breakers = getattr(sender, "breakers", None)
    if breakers is not None:
        return list(breakers.holds(now))
    breaker = getattr(sender, "breaker", None)
    if breaker is None or breaker.state is BreakerState.CLOSED:
        return []
    retry_in = breaker.retry_in()
    until = None if retry_in is None else now + timedelta(seconds=retry_in)
    return [Hold(DEFAULT, breaker.state, breaker.opened_after, until)]


def held_until(sender: Any, now: datetime | None = None) -> dict[str, datetime]:
    """Until when each held mailbox waits (now for one whose trial is on), by name."""
    now = now or utcnow()
    return {hold.mailbox: hold.until or now for hold in holds_of(sender, now)}


def _times(refused: int) -> str:
    return "once" if refused == 1 else f"{refused} times in a row"


def _held_words(hold: Hold, now: datetime) -> str:
    if hold.state is BreakerState.OPEN:
        return (
            f"Mailbox {hold.mailbox} is held: its mail server refused {_times(hold.refused)}, "
            f"retrying at {clock_time(hold.until or now)}."
        )
    return (
        f"Mailbox {hold.mailbox} is held: checking its mail server with one email "
        f"after it refused {_times(hold.refused)}."
    )


def relay_state(
    *,
    sender: Any,
    smtp_configured: bool,
    paused: bool,
    pending_count: int,
    retries: tuple[int, datetime | None, str | None],
    now: datetime,
    mailboxes: Collection[str] = (),
) -> RelayState:
    """Plain words for what happens to the queue now."""
    if paused:
        return RelayState("held", "Paused by a rep: queued emails wait until sending resumes.")
    if not smtp_configured:
        return RelayState(
            "unconfigured",
            "No mail server is configured (SMTP_URL): emails wait in the queue until one is.",
        )
    names = set(mailboxes) or {DEFAULT}
    held = [hold for hold in holds_of(sender, now) if hold.mailbox in names]
    if held and names == {DEFAULT}:
        [hold] = held
        if hold.state is BreakerState.OPEN:
            return RelayState(
                "paused",
                f"Paused: the mail server refused {_times(hold.refused)}, "
                f"retrying at {clock_time(hold.until or now)}.",
            )
        return RelayState(
            "probing",
            "Checking the mail server with one email after it refused "
            f"{hold.refused} times in a row.",
        )
    if held:
        words = " ".join(_held_words(hold, now) for hold in held)
        if len(held) == len(names):
            return RelayState("paused", f"{words} Queued emails wait until one answers again.")
        return RelayState("mailbox_held", f"{words} The other mailboxes keep sending.")
    waiting, next_retry, error = retries
    if waiting and next_retry is not None:
        emails = "1 email" if waiting == 1 else f"{waiting} emails"
        reason = f" (the mail server answered: {error})" if error else ""
        return RelayState(
            "retrying",
            f"{emails} will be tried again from {clock_time(next_retry)}{reason}.",
        )
    if sender is None:
        if not pending_count:
            return RelayState("idle", "Nothing waiting to be sent.")
        return RelayState("worker", "Sent by the background worker (tune worker).")
    if pending_count:
        return RelayState("normal", "Sending normally.")
    return RelayState("idle", "Nothing waiting to be sent.")


async def explain(
    session: AsyncSession,
    campaign: Campaign,
    *,
    sender: Any,
    smtp_configured: bool,
    send_rate: str,
    now: datetime | None = None,
) -> Progress:
    """The campaign's send progress, its expected finish and the relay's state in words."""
    now = now or utcnow()
    counts = await send_progress(session, campaign.id)
    to_go = pending(counts)
    done = sum(counts[status] for status in DONE)
    retries = (
        await retry_waiting(session, campaign.id, now) if counts["queued"] else (0, None, None)
    )
    names = [mailbox.name for mailbox in await campaign_mailboxes(session, campaign.id)]
    relay = relay_state(
        sender=sender,
        smtp_configured=smtp_configured,
        paused=campaign.status == "paused",
        pending_count=to_go,
        retries=retries,
        now=now,
        mailboxes=names,
    )
    finish_at = None
    if to_go and relay.kind not in ("held", "unconfigured"):
        start = now
        if relay.kind == "paused":  # every relay of the campaign held: from the first back
            wanted = set(names) or {DEFAULT}
            back = [hold.until or now for hold in holds_of(sender, now) if hold.mailbox in wanted]
            start = min(back, default=now)
        finish_at = start + timedelta(seconds=to_go / per_second(send_rate))
    return Progress(
        counts=counts,
        total=done + to_go,
        done=done,
        sent=counts["sent"],
        pending=to_go,
        finish_at=finish_at,
        relay=relay,
    )
