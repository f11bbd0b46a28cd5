"""`/api/mailboxes`: the sending identities, and `/api/campaigns/{id}/mailboxes`, the ones a
campaign sends from. Passwords go in inside the URLs and never come back out: every
URL in an answer has `***` where its password was."""

from __future__ import annotations

from quart import Response
from quart_schema import validate_response

from webapp.core.models import Mailbox as MailboxRow
from webapp.mailboxes import store
from webapp.mailboxes.progress import MailboxState, mailbox_state, mailbox_states
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Page, Shape, Text, Timestamp, validate_params
from webapp.web.services import services


class MailboxHealth(Shape):
    sends: int
    """Sends judged: the mailbox's last 200 (delivered or bounced)."""
    bounces: int
    complaints: int
    bounce_rate: float
    """Above 0.05 the mailbox pauses itself."""
    complaint_rate: float
    """Above 0.003 the mailbox pauses itself."""


class Mailbox(Shape):
    name: str
    from_address: str
    from_name: str
    smtp_url: str
    """The relay's URL, its password masked (`***`)."""
    imap_url: str | None
    """The inbox's URL, its password masked; none when replies are read elsewhere."""
    daily_cap: int
    """Most sends in any rolling 24 hours."""
    hourly_cap: int
    """Most sends in any rolling 60 minutes."""
    daily_cap_today: int
    """The daily cap in force now (lower while the warm-up ramp is below `daily_cap`)."""
    min_gap_seconds: int
    warmup_start: int | None
    warmup_step: int
    signature: str
    paused: bool
    paused_at: Timestamp | None
    paused_reason: str | None
    """Why: a rep's pause, or the bounce or complaint rate that paused it."""
    sent_last_day: int
    sent_last_hour: int
    remaining: int
    """Sends possible now before a cap is reached."""
    next_free_at: Timestamp | None
    """When the next send may go, if not now."""
    health: MailboxHealth
    created_at: Timestamp


class NewMailbox(Shape):
    name: Text
    """Letters, digits and . _ @ + - ; how the API, the CLI and campaigns name it."""
    from_address: Text
    smtp_url: Text
    """`smtp://user:password@host:587` (see SMTP_URL in docs/configuration.md)."""
    from_name: Text | None = None
    imap_url: Text | None = None
    """`imaps://user:password@host:993/INBOX`: replies and bounces are read from it."""
    daily_cap: int | None = None
    """Default 400."""
    hourly_cap: int | None = None
    """Default 100."""
    min_gap_seconds: int | None = None
    warmup_start: int | None = None
    """Warm-up: sends a day on the first day..."""
    warmup_step: int | None = None
    """...and this many more each day, up to `daily_cap`."""
    signature: Text | None = None
    """Plain text; templates place it with `{{ sender.signature }}`."""


class MailboxChange(Shape):
    """Only the fields given change. A URL given back masked (`***`) keeps its password;
    `paused: false` resumes a paused mailbox."""

    name: Text | None = None
    from_address: Text | None = None
    smtp_url: Text | None = None
    from_name: Text | None = None
    imap_url: Text | None = None
    daily_cap: int | None = None
    hourly_cap: int | None = None
    min_gap_seconds: int | None = None
    warmup_start: int | None = None
    warmup_step: int | None = None
    signature: Text | None = None
    paused: bool | None = None


class CampaignMailboxes(Shape):
    mailboxes: list[Text]
    """Mailbox names; empty: the default mailbox (SMTP_URL, SMTP_FROM)."""


class CampaignMailboxesAnswer(Shape):
    campaign_id: int
    mailboxes: list[str]


def shape(state: MailboxState) -> Mailbox:
    row: MailboxRow = state.mailbox
    return Mailbox(
        name=row.name,
        from_address=row.from_address,
        from_name=row.from_name,
        smtp_url=row.smtp_url,
        imap_url=row.imap_url,
        daily_cap=row.daily_cap,
        hourly_cap=row.hourly_cap,
        daily_cap_today=state.daily_cap_today,
        min_gap_seconds=row.min_gap_seconds,
        warmup_start=row.warmup_start,
        warmup_step=row.warmup_step,
        signature=row.signature,
        paused=row.paused_at is not None,
        paused_at=row.paused_at,
        paused_reason=row.paused_reason,
        sent_last_day=state.usage.day,
        sent_last_hour=state.usage.hour,
        remaining=state.usage.remaining,
        next_free_at=state.usage.next_free,
        health=MailboxHealth.model_validate(state.health.as_json()),
        created_at=row.created_at,
    )


@blueprint.post("/mailboxes")
@validate_params(NewMailbox)
@validate_response(Mailbox, 201)
async def create_mailbox(data: NewMailbox) -> tuple[Mailbox, int]:
    """Add a mailbox; its passwords are stored encrypted and never shown again."""
    tune = services()
    async with tune.db.write() as session:
        row = await store.create_mailbox(session, tune.config, data.model_dump())
        state = await mailbox_state(session, tune.mailbox_slots(), row)
    # Its inbox is read now; a sender waiting for its first mailbox sends now.
    tune.mailboxes_changed(may_send=True)
    return shape(state), 201


@blueprint.get("/mailboxes")
@validate_response(Page[Mailbox])
async def list_mailboxes() -> Page[Mailbox]:
    """Every mailbox by name, with what its windows have left and its health."""
    tune = services()
    async with tune.db.read() as session:
        rows = await store.list_mailboxes(session)
        states = await mailbox_states(session, tune.mailbox_slots(), rows)
    return Page[Mailbox].of([shape(state) for state in states], None)


@blueprint.get("/mailboxes/<name>")
@validate_response(Mailbox)
async def get_mailbox(name: str) -> Mailbox:
    tune = services()
    async with tune.db.read() as session:
        row = await store.get_mailbox(session, name)
        return shape(await mailbox_state(session, tune.mailbox_slots(), row))


@blueprint.patch("/mailboxes/<name>")
@validate_params(MailboxChange)
@validate_response(Mailbox)
async def change_mailbox(name: str, data: MailboxChange) -> Mailbox:
    """Change the fields given; `paused` pauses or resumes the mailbox."""
    tune = services()
    changes = data.model_dump(exclude_unset=True)
    paused = changes.pop("paused", None)
    async with tune.db.write() as session:
        row = await store.update_mailbox(session, tune.config, name, changes)
        if paused is True:
            row = await store.pause_mailbox(session, row.name)
        elif paused is False:
            row = await store.resume_mailbox(session, row.name)
        state = await mailbox_state(session, tune.mailbox_slots(), row)
    # A new or changed IMAP URL is read from now; a resumed mailbox sends now.
    tune.mailboxes_changed(may_send=paused is False)
    return shape(state)


@blueprint.delete("/mailboxes/<name>")
async def delete_mailbox(name: str) -> Response:
    """Delete the mailbox (answers 204); its contacts get another one when next written to."""
    tune = services()
    async with tune.db.write() as session:
        await store.delete_mailbox(session, name)
    tune.mailboxes_changed()  # its inbox is no longer read
    return Response(status=204)


@blueprint.get("/campaigns/<int:campaign_id>/mailboxes")
@validate_response(CampaignMailboxesAnswer)
async def get_campaign_mailboxes(campaign_id: int) -> CampaignMailboxesAnswer:
    """The mailboxes the campaign sends from (empty: the default mailbox)."""
    from webapp.campaigns.queries import get_campaign

    async with services().db.read() as session:
        await get_campaign(session, campaign_id)
        rows = await store.campaign_mailboxes(session, campaign_id)
    return CampaignMailboxesAnswer(campaign_id=campaign_id, mailboxes=[row.name for row in rows])


@blueprint.put("/campaigns/<int:campaign_id>/mailboxes")
@validate_params(CampaignMailboxes)
@validate_response(CampaignMailboxesAnswer)
async def put_campaign_mailboxes(
    campaign_id: int, data: CampaignMailboxes
) -> CampaignMailboxesAnswer:
    """Send the campaign from these mailboxes. Contacts already written to keep theirs."""
    async with services().db.write() as session:
        rows = await store.set_campaign_mailboxes(session, campaign_id, data.mailboxes)
    return CampaignMailboxesAnswer(campaign_id=campaign_id, mailboxes=[row.name for row in rows])
