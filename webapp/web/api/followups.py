"""`/api/followups` and `/api/prospects/{id}/outcome`: the rep's workspace for scripts and CRMs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from quart_schema import validate_querystring, validate_request, validate_response

from webapp.campaigns.queries import get_campaign
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Id, Page, PageQuery, Shape, Text, Timestamp
from webapp.web.pagination import FOLLOWUP_KEY
from webapp.web.services import services
from webapp.workspace import followups, outcomes


class FollowUpQuery(PageQuery):
    campaign_id: Id | None = None
    """Only this campaign's follow-ups."""


class FollowUp(Shape):
    """A prospect that needs a human now, for its strongest reason."""

    prospect_id: int
    contact_id: int
    """The contact behind the signal: the one to write to."""
    campaign_id: int
    reason: Literal["replied", "clicked", "returned", "opened"]
    """replied (in the last 30 days), clicked (a human click in the last 3 days),
    returned (an out-of-office return date reached in the last 3 days, no reply since),
    or opened (2+ human opens in the last 7 days, no reply)."""
    occurred_at: Timestamp
    """When the signal last happened."""
    count: int
    prospect_name: str
    contact_email: str
    excerpt: str | None = None
    """The first lines of the latest reply (for `replied`)."""


class NewOutcome(Shape):
    outcome: Literal["replied", "meeting", "not_interested", "wrong_person", "note"]
    """`replied` (seen outside Tune), `meeting` (booked), `not_interested`, `wrong_person`,
    or `note` (needs `note`)."""
    note: Annotated[Text, Field(max_length=outcomes.NOTE_MAX)] | None = None


class RecordedOutcome(Shape):
    id: int
    prospect_id: int
    campaign_id: int
    contact_id: int | None
    outcome: str
    note: str | None


class Snooze(Shape):
    days: Annotated[int, Field(ge=1, le=followups.SNOOZE_DAYS_MAX)]


class FollowUpState(Shape):
    prospect_id: int
    done_at: Timestamp | None
    snoozed_until: Timestamp | None


@blueprint.get("/followups")
@validate_querystring(FollowUpQuery)
@validate_response(Page[FollowUp])
async def list_followups(query_args: FollowUpQuery) -> Page[FollowUp]:
    """Who to follow up with now: replies first, then clicks, out-of-office returns,
    repeated opens, newest first within each. Machine opens and bot clicks never count."""
    page = query_args.page(FOLLOWUP_KEY)
    async with services().db.read() as session:
        if query_args.campaign_id is not None:
            await get_campaign(session, query_args.campaign_id)
        ids = None if query_args.campaign_id is None else [query_args.campaign_id]
        shown, next_key = await followups.follow_up_page(session, ids, page.limit, page.after)
    return Page[FollowUp].of([FollowUp.model_validate(item) for item in shown], next_key)


@blueprint.post("/followups/<int:prospect_id>/done")
@validate_response(FollowUpState)
async def followup_done(prospect_id: int) -> FollowUpState:
    """Take a prospect off the list until something new happens."""
    async with services().db.write() as session:
        state = await followups.mark_done(session, prospect_id)
        return FollowUpState.model_validate(state)


@blueprint.post("/followups/<int:prospect_id>/snooze")
@validate_request(Snooze)
@validate_response(FollowUpState)
async def followup_snooze(prospect_id: int, data: Snooze) -> FollowUpState:
    """Take a prospect off the list for `days` days (1–90)."""
    async with services().db.write() as session:
        state = await followups.snooze(session, prospect_id, data.days)
        return FollowUpState.model_validate(state)


@blueprint.post("/prospects/<int:prospect_id>/outcome")
@validate_request(NewOutcome)
@validate_response(RecordedOutcome, 201)
async def record_outcome(prospect_id: int, data: NewOutcome) -> tuple[RecordedOutcome, int]:
    """Record what came of a prospect; it shows on its timeline and in the stats."""
    async with services().db.write() as session:
        recorded = await outcomes.record_outcome(session, prospect_id, data.outcome, data.note)
    return RecordedOutcome.model_validate(recorded), 201
