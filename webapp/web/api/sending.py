"""`/api/.../send` and `/sending`: queue a campaign's emails and watch them go out."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator
from quart_schema import validate_response

from webapp.mailboxes.progress import campaign_progress
from webapp.outbound import contents
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


class MailboxQueue(Shape):
    name: str
    pending: int
    """Emails waiting for this mailbox, with its expected share of contacts not yet assigned."""
    remaining: int
    """Sends it may make now before a cap is reached."""
    paused: bool
    drain_seconds: float | None
    """Estimated seconds to send its share at its caps; none while it is paused."""


class Progress(Shape):
    campaign_id: int
    counts: dict[str, int]
    pending: int
    sender: SenderState
    mailboxes: list[MailboxQueue]
    """The campaign's mailboxes and their share of the queue (empty: the default mailbox)."""
    bottleneck: str | None
    """The mailbox that finishes last (or a paused one holding emails)."""
    drains_at: Timestamp | None
    """When the queue should be empty at the mailboxes' caps."""


@blueprint.post("/campaigns/<int:campaign_id>/send")
@validate_params(SendRequest)
@validate_response(Queued, 202)
async def send_campaign(campaign_id: int, data: SendRequest) -> tuple[Queued, int]:
    """Write missing emails, then queue the campaign's drafts (of `tier`, or all); idempotent."""
    tune = services()
    generated, summary = await sending.write_and_queue(
        tune.db,
        campaign_id,
        data.tier,
        tracking_urls(),
        contents.sender_name_of(tune.config.smtp_from),
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
    """Emails per send status, and the state of this server's sender."""
    from webapp.campaigns import queries as campaigns

    tune = services()
    async with tune.db.read() as session:
        await campaigns.get_campaign(session, campaign_id)
        counts = await sending.send_progress(session, campaign_id)
        queues = await campaign_progress(session, tune.mailbox_slots(), campaign_id)
    sender = tune.sender
    return Progress(
        mailboxes=[MailboxQueue.model_validate(queue) for queue in queues.mailboxes],
        bottleneck=queues.bottleneck,
        drains_at=queues.drains_at,
        campaign_id=campaign_id,
        counts=counts,
        pending=sending.pending(counts),
        sender=SenderState(
            running=bool(sender and sender.running), circuit=sender.circuit if sender else None
        ),
    )
