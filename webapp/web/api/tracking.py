"""`/api/tracking/...`: opens, clicks and replies reported by the customer's own systems."""

from __future__ import annotations

from typing import Literal

from quart_schema import validate_response

from webapp.core.errors import NotFound, ServiceUnavailable
from webapp.tracking import events
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
