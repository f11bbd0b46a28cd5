"""`/api/tracking/...`: opens, clicks and replies reported by the customer's own systems;
`/api/events/{id}/verdict`: a rep's verdict on one open or click; and the flag reasons
of a campaign's machine opens and bot clicks."""

from __future__ import annotations

from typing import Literal

from quart_schema import validate_request, validate_response

from webapp.core.db import Database
from webapp.core.errors import NotFound, ServiceUnavailable
from webapp.tracking import events
from webapp.tracking.reclassify import flag_reasons, mark_event
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Id, PlainShape, Shape, validate_params
from webapp.web.services import services

TRACKING_KINDS: dict[str, type[events.TrackedEvent]] = {
    "email-opened": events.OpenEvent,
    "email-clicked": events.ClickEvent,
    "email-replied": events.ReplyEvent,
}


class TrackedEvent(Shape):
    content_id: Id
    contact_id: Id


class Tracked(PlainShape):
    status: Literal["tracked"]


@blueprint.post('/tracking/<any("email-opened", "email-clicked", "email-replied"):kind>')
@validate_params(TrackedEvent)
@validate_response(Tracked)
async def track(kind: str, data: TrackedEvent) -> Tracked:
    """Record an open, click or reply reported by your own systems (e.g. a CRM)."""
    event = TRACKING_KINDS[kind](
        content_id=data.content_id, contact_id=data.contact_id, source="api"
    )
    try:
        outcome = await services().writer.record(event)
    except Exception as exc:
        raise ServiceUnavailable("the event could not be stored; retry") from exc
    if outcome is events.Outcome.UNKNOWN_TARGET:
        raise NotFound(f"content {data.content_id} of contact {data.contact_id} does not exist")
    return Tracked(status="tracked")


class NewVerdict(Shape):
    human: bool
    """true: a person opened or clicked; false: a machine did (a proxy, a scanner)."""


class Verdict(Shape):
    event_id: int
    human: bool
    changes: str
    """What the campaign's figures became: the summary of its reclassification."""


class FlagReason(Shape):
    kind: Literal["open", "click"]
    reason: str
    """The rule that flagged them (docs/tracking.md), or `marked_by_rep`."""
    count: int


class FlagReasons(Shape):
    campaign_id: int
    items: list[FlagReason]

    @classmethod
    async def read(cls, db: Database, campaign_id: int) -> FlagReasons:
        """The campaign's flag reasons (`reclassify.flag_reasons`); NotFound without it."""
        rows = await flag_reasons(db, campaign_id)
        items = [FlagReason(kind=kind, reason=reason, count=count) for kind, reason, count in rows]  # type: ignore[arg-type]
        return cls(campaign_id=campaign_id, items=items)


@blueprint.post("/events/<int:event_id>/verdict")
@validate_request(NewVerdict)
@validate_response(Verdict)
async def event_verdict(event_id: int, data: NewVerdict) -> Verdict:
    """Mark one open or click human or machine; the rules never override it, and the
    campaign's counters, hourly buckets and first times follow at once."""
    async with services().db.write() as session:
        changes = await mark_event(session, event_id, human=data.human)
    return Verdict(event_id=event_id, human=data.human, changes=changes.summary())


@blueprint.get("/campaigns/<int:campaign_id>/flags")
@validate_response(FlagReasons)
async def campaign_flags(campaign_id: int) -> FlagReasons:
    """Why the campaign's machine opens and bot clicks were flagged, with their counts."""
    return await FlagReasons.read(services().db, campaign_id)
