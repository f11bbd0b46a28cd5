"""Which mailbox an email leaves from, decided as the sender leases it.

A contact's first email goes from the campaign's mailbox with the most capacity left
right now (paused and full mailboxes are passed over), and the contact keeps that
mailbox: every follow-up leaves from it, so the thread stays whole. A campaign
with no mailboxes sends from the default mailbox (SMTP_URL, SMTP_FROM).

Taking the slot and assigning the mailbox happen in the lease transaction. When no
mailbox can send now, the email stays queued and its `next_attempt_at` becomes the
time the first of them frees a slot (or, for a paused mailbox, a later look: resuming
it makes its emails due at once).

A router may have a `gate`: the sender's per-mailbox circuit breakers
(`webapp.outbound.sending.breakers`). A mailbox whose relay is failing is held
like a full one, until its breaker lets a trial through: its contacts' emails wait,
new contacts go to the campaign's other mailboxes, and no slot is taken meanwhile.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.config import Config
from webapp.core.models import CampaignMailbox, Contact, Mailbox
from webapp.mailboxes.capacity import Limit, Slots, Taken, domain_limit, mailbox_limit

PAUSED_RECHECK = timedelta(minutes=15)


@dataclass(frozen=True)
class Route:
    """Send from this mailbox (None: the default mailbox)."""

    mailbox: Mailbox | None
    taken: Taken | None = None
    """The slots taken for it, to give back if the send never reaches the relay."""


@dataclass(frozen=True)
class Wait:
    """Not now: leave the email queued until `until`."""

    until: datetime
    reason: str


class Gate(Protocol):
    """Which mailboxes' relays are failing (key None: the default mailbox)."""

    def held(self, key: int | None, now: datetime) -> datetime | None:
        """Until when the mailbox's emails wait; None when one may go now."""

    def took(self, key: int | None) -> None:
        """An email was routed to the mailbox."""


@dataclass
class Router:
    """Routes the rows of one lease pass; caches what it read for the pass."""

    config: Config
    slots: Slots
    _mailboxes: dict[int, Mailbox | None] = field(default_factory=dict)
    _campaigns: dict[int, list[int]] = field(default_factory=dict)
    _remaining: dict[int, int] = field(default_factory=dict)
    _full: dict[str, datetime] = field(default_factory=dict)
    gate: Gate | None = None

    def new_pass(self) -> None:
        """Forget the previous pass (mailboxes may have changed, slots were taken)."""
        self._mailboxes.clear()
        self._campaigns.clear()
        self._remaining.clear()
        self._full.clear()

    async def _mailbox(self, session: AsyncSession, mailbox_id: int) -> Mailbox | None:
        if mailbox_id not in self._mailboxes:
            self._mailboxes[mailbox_id] = await session.get(Mailbox, mailbox_id)
        return self._mailboxes[mailbox_id]

    async def _campaign(self, session: AsyncSession, campaign_id: int) -> list[Mailbox]:
        if campaign_id not in self._campaigns:
            rows = await session.scalars(
                select(Mailbox)
                .join(CampaignMailbox, CampaignMailbox.mailbox_id == Mailbox.id)
                .where(CampaignMailbox.campaign_id == campaign_id)
                .order_by(Mailbox.id)
            )
            found = list(rows)
            for mailbox in found:
                self._mailboxes[mailbox.id] = mailbox
            self._campaigns[campaign_id] = [mailbox.id for mailbox in found]
        mailboxes = [self._mailboxes.get(mailbox_id) for mailbox_id in self._campaigns[campaign_id]]
        return [mailbox for mailbox in mailboxes if mailbox is not None]

    async def route(
        self,
        session: AsyncSession,
        *,
        campaign_id: int,
        contact_id: int,
        assigned: int | None,
        recipient: str,
        now: datetime,
    ) -> Route | Wait:
        """Where this email goes now, a slot taken; or how long it must wait."""
        pacing = domain_limit(self.config, recipient)
        if assigned is not None:
            mailbox = await self._mailbox(session, assigned)
            candidates = [mailbox] if mailbox is not None else []
        else:
            candidates = await self._campaign(session, campaign_id)
        if not candidates:
            held = self._held(None, now)
            if held is not None:
                return Wait(held, "relay failing")
            if pacing is None:
                return self._took(Route(None))
            taken = Taken((pacing.key,), now, secrets.token_hex(8))
            wait = await self._take(session, [pacing], now, taken.member)
            if wait is not None:
                return Wait(wait, f"{pacing.key} paced")
            return self._took(Route(None, taken))
        active = [mailbox for mailbox in candidates if mailbox.paused_at is None]
        if not active:
            return Wait(now + PAUSED_RECHECK, "mailbox paused")
        holds = [self._held(mailbox.id, now) for mailbox in active]
        if all(held is not None for held in holds):
            return Wait(min(held for held in holds if held is not None), "relay failing")
        active = [mailbox for mailbox, held in zip(active, holds, strict=True) if held is None]
        for mailbox in active:
            if mailbox.id not in self._remaining:
                usage = await self.slots.usage(session, mailbox_limit(mailbox, now), now)
                self._remaining[mailbox.id] = usage.remaining
        ordered = sorted(active, key=lambda mailbox: (-self._remaining[mailbox.id], mailbox.id))
        waits: list[datetime] = []
        for mailbox in ordered:
            limits = [mailbox_limit(mailbox, now)] + ([pacing] if pacing else [])
            taken = Taken(tuple(limit.key for limit in limits), now, secrets.token_hex(8))
            wait = await self._take(session, limits, now, taken.member)
            if wait is not None:
                waits.append(wait)
                continue
            self._remaining[mailbox.id] = max(0, self._remaining[mailbox.id] - 1)
            if assigned is None:
                await session.execute(
                    update(Contact).where(Contact.id == contact_id).values(mailbox_id=mailbox.id)
                )
            return self._took(Route(mailbox, taken))
        return Wait(min(waits), "mailbox full")

    def _held(self, key: int | None, now: datetime) -> datetime | None:
        return None if self.gate is None else self.gate.held(key, now)

    def _took(self, route: Route) -> Route:
        if self.gate is not None:
            self.gate.took(route.mailbox.id if route.mailbox else None)
        return route

    async def _take(
        self, session: AsyncSession, limits: list[Limit], now: datetime, member: str
    ) -> datetime | None:
        """Take a slot on every limit; a limit found full this pass is not asked again."""
        known = [self._full[limit.key] for limit in limits if limit.key in self._full]
        if known:
            return max(known)
        wait = await self.slots.reserve(session, limits, now, member)
        if wait is not None and len(limits) == 1:
            self._full[limits[0].key] = wait
        return wait
