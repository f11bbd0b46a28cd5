"""`/api/.../send-review`, `/send` and `/sending`: check who a send reaches and what they
get, queue a campaign's emails, and watch them go out."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field
from quart_schema import validate_querystring, validate_response

from webapp.campaigns import queries as campaigns
from webapp.core.errors import Conflict
from webapp.mailboxes import store
from webapp.mailboxes.progress import campaign_progress
from webapp.outbound import progress, review
from webapp.outbound.sending import queue as sending
from webapp.prospects import queries as prospects
from webapp.web.api.contents import tracking_urls
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Shape, Timestamp, validate_params
from webapp.web.services import services


def _tier(value: object) -> object:
    return None if value in (None, "") else prospects.parse_tier(value)


class SendRequest(Shape):
    tier: Annotated[int | None, BeforeValidator(_tier)] = None
    """1, 2 or 3: only that tier's drafts; all drafts when absent."""
    expected: int | None = Field(default=None, ge=0)
    """The `recipients` a script reviewed: when the count differs now, nothing is queued
    and the answer is 409 (nothing is queued either when it is 0: a repeated send)."""


class ReviewQuery(Shape):
    tier: Annotated[int | None, BeforeValidator(_tier)] = None
    """1, 2 or 3; every tier when absent."""
    samples: int = Field(default=3, ge=0, le=20)
    """How many of the first emails to include."""
    contact_id: int | None = None
    """Include this contact's email instead of the first ones."""


class ReviewedEmail(Shape):
    content_id: int
    contact_id: int
    excluded: str | None
    """Why this send leaves the contact out (a key of `excluded`), or null."""
    headers: dict[str, str]
    """The headers as sent (Date is set again when it goes)."""
    subject: str
    html: str
    """The HTML part as sent: tracked links, pixel and unsubscribe link."""
    text: str


class SendReview(Shape):
    campaign_id: int
    tier: int | None
    recipients: int
    """Contacts whose email a send of `tier` would queue now."""
    excluded: dict[str, int]
    """Contacts left out, by reason: unsubscribed, suppressed (bounced or complained before),
    no_email (prospects without a contact address), already_sent (already queued or sent)."""
    unwritten: int
    """Recipients whose email is not written yet (written from the template on send)."""
    emails: list[ReviewedEmail]


class Queued(Shape):
    campaign_id: int
    tier: int | None
    generated: int
    """Emails written first, for contacts that had none."""
    queued: int
    skipped_unsubscribed: int
    skipped_suppressed: int
    """Emails to an address on the suppression list (a hard bounce or complaint)."""
    unchanged: int
    """Emails already queued or past it: left as they were."""
    counts: dict[str, int]
    """Emails per send status."""


class SenderState(Shape):
    running: bool
    circuit: str | None


class RelayState(Shape):
    kind: str
    """normal, idle, paused, probing, mailbox_held, retrying, held, worker or unconfigured."""
    words: str
    """The state in a sentence, as the dashboard shows it."""


class MailboxQueue(Shape):
    name: str
    pending: int
    """Emails waiting for this mailbox, with its expected share of contacts not yet assigned."""
    remaining: int
    """Sends it may make now before a cap is reached."""
    paused: bool
    drain_seconds: float | None
    """Estimated seconds to send its share at its caps; none while it is paused."""
    held_until: Timestamp | None = None
    """Set while its mail server keeps failing: its emails wait until then (this
    process's sender)."""


class Progress(Shape):
    campaign_id: int
    counts: dict[str, int]
    pending: int
    total: int
    """Emails queued so far: delivered, undeliverable or still to go."""
    done: int
    sent: int
    finish_at: Timestamp | None
    """When the last pending email should be out at SEND_RATE; null when nothing is
    pending or sending is held."""
    relay: RelayState
    sender: SenderState
    mailboxes: list[MailboxQueue]
    """The campaign's mailboxes and their share of the queue (empty: the default mailbox)."""
    bottleneck: str | None
    """The mailbox that finishes last (or a paused one holding emails)."""
    drains_at: Timestamp | None
    """When the queue should be empty at the mailboxes' caps."""


@blueprint.get("/campaigns/<int:campaign_id>/send-review")
@validate_querystring(ReviewQuery)
@validate_response(SendReview)
async def send_review(campaign_id: int, query_args: ReviewQuery) -> SendReview:
    """What `POST /send` with the same `tier` would do now, and the emails as they will be
    sent. Read-only: emails not written yet are counted in `unwritten`, not shown."""
    tune = services()
    async with tune.db.read() as session:
        counts = await review.review_counts(session, campaign_id, query_args.tier)
        emails = await review.reviewed_emails(
            session,
            tune.config,
            tracking_urls(),
            campaign_id,
            query_args.tier,
            limit=1 if query_args.contact_id is not None else query_args.samples,
            contact_id=query_args.contact_id,
        )
    return SendReview(
        campaign_id=campaign_id,
        tier=query_args.tier,
        recipients=counts.recipients,
        excluded=counts.excluded,
        unwritten=counts.unwritten,
        emails=[
            ReviewedEmail(
                content_id=email.content.id,
                contact_id=email.contact.id,
                excluded=email.excluded,
                headers={name: str(value) for name, value in email.message.items()},
                subject=email.content.subject,
                html=email.part("html"),
                text=email.part("plain"),
            )
            for email in emails
        ],
    )


@blueprint.post("/campaigns/<int:campaign_id>/send")
@validate_params(SendRequest)
@validate_response(Queued, 202)
async def send_campaign(campaign_id: int, data: SendRequest) -> tuple[Queued, int]:
    """Write missing emails, then queue the campaign's drafts (of `tier`, or all); idempotent."""
    tune = services()
    if data.expected is not None:
        async with tune.db.read() as session:
            reviewed = await review.review_counts(session, campaign_id, data.tier)
        if reviewed.recipients and reviewed.recipients != data.expected:
            raise Conflict(
                f"{reviewed.recipients} contacts would get this send, not {data.expected}: "
                "review it again",
                field="expected",
                recipients=reviewed.recipients,
            )
    generated, summary = await sending.write_and_queue(
        tune.db,
        campaign_id,
        data.tier,
        tracking_urls(),
    )
    async with tune.db.read() as session:
        counts = await sending.send_progress(session, campaign_id)
    if tune.sender is not None:
        tune.sender.wake()
    queued = Queued(
        campaign_id=campaign_id,
        tier=data.tier,
        generated=generated,
        queued=summary.queued,
        skipped_unsubscribed=summary.skipped_unsubscribed,
        skipped_suppressed=summary.skipped_suppressed,
        unchanged=summary.unchanged,
        counts=counts,
    )
    return queued, 202


@blueprint.get("/campaigns/<int:campaign_id>/sending")
@validate_response(Progress)
async def sending_progress(campaign_id: int) -> Progress:
    """Emails per send status, the expected finish and the relay's state in words."""
    tune = services()
    async with tune.db.read() as session:
        campaign = await campaigns.get_campaign(session, campaign_id)
        chosen = await store.campaign_mailboxes(session, campaign_id)
        explained = await progress.explain(
            session,
            campaign,
            sender=tune.sender,
            smtp_configured=bool(tune.config.smtp_url) or bool(chosen),
            send_rate=tune.config.send_rate,
        )
        queues = await campaign_progress(
            session, tune.mailbox_slots(), campaign_id, held=progress.held_until(tune.sender)
        )
    sender = tune.sender
    return Progress(
        mailboxes=[MailboxQueue.model_validate(queue) for queue in queues.mailboxes],
        bottleneck=queues.bottleneck,
        drains_at=queues.drains_at,
        campaign_id=campaign_id,
        counts=explained.counts,
        pending=explained.pending,
        total=explained.total,
        done=explained.done,
        sent=explained.sent,
        finish_at=explained.finish_at,
        relay=RelayState(kind=explained.relay.kind, words=explained.relay.words),
        sender=SenderState(
            running=bool(sender and sender.running), circuit=sender.circuit if sender else None
        ),
    )
