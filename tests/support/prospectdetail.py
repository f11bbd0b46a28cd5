"""A prospect with everything `GET /api/prospects/<id>` shows, and that answer as the ORM
reads gave it before the plain-SQL read (`webapp/prospects/detail.py`): the reference the
plain-SQL read is checked against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.campaigns import timeline
from webapp.core.models import Enrollment, Event, Link, ProspectOutcome, Reply
from webapp.inbox import replies as inbox_replies
from webapp.prospects import queries as prospects
from webapp.sequences import control
from webapp.web.api.prospects import ProspectDetail, ReceivedReply, TimelineEvent, WrittenEmail
from webapp.web.api.sequences import Place
from webapp.web.services import Services

AT = datetime(2026, 3, 1, 9, 30, 15, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Built:
    campaign_id: int
    prospect_id: int
    contact_ids: list[int]
    content_ids: list[int]


async def orm_detail(tune: Services, prospect_id: int) -> ProspectDetail:
    """The answer as the route read it through the ORM (one statement per part)."""
    async with tune.db.read() as session:
        prospect = await prospects.get_prospect(session, prospect_id)
        written = await timeline.contents_of_prospect(session, prospect_id)
        entries = await timeline.prospect_timeline(session, prospect_id)
        replies = await inbox_replies.prospect_replies(session, prospect_id)
        places = await control.positions(session, prospect_id)
        detail = ProspectDetail.model_validate(prospect)
    return detail.model_copy(
        update={
            "contents": [
                WrittenEmail.model_validate(row) for thread in written.values() for row in thread
            ],
            "events": [TimelineEvent.model_validate(entry) for entry in entries],
            "replies": [ReceivedReply.model_validate(reply) for reply in replies],
            "sequence": [Place.model_validate(place) for place in places],
        }
    )


async def busy_prospect(tune: Services, *, account_stop: bool = True) -> Built:
    """A prospect (unicode everywhere) with eight contacts in every state of the sequence:
    active (with a flagged bounce that does not count), paused by a rep, stopped by a rep,
    not enrolled, one whose reply the scheduler has not seen, one unsubscribed, one with a
    bounced email, one with a complaint; emails, opens, a click on a link, outcomes (one
    hidden behind its reply event) and replies, two at the same time."""
    reasons = [{"rule": "größe", "points": 12.5, "detail": None}, {"rule": "b", "points": -3}]
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Frühling", account_stop=account_stop)
        prospect = await make_prospect(
            session,
            campaign,
            'Zoë & Co — ünïcode "quoted" <b>',
            score=77,
            hot=True,
            score_reasons=reasons,
            last_activity_at=AT,
            employees=120,
            industry="Spiele",
            country="Österreich",
            profile_version=3,
        )
        people = [
            await make_contact(
                session, prospect, f"p{number}@zoë.example", first_name=f"Jörg {number}"
            )
            for number in range(8)
        ]
        people[5].unsubscribed_at = AT
        states: list[dict[str, Any] | None] = [
            dict(status="active", due_at=AT + timedelta(days=2), last_sent_at=AT),
            dict(
                status="paused",
                due_at=AT + timedelta(days=9),
                paused_until=AT + timedelta(days=9),
                pause_reason="paused_by_rep",
            ),
            dict(status="stopped", stop_reason="stopped_by_rep", stopped_at=AT),
            None,
            dict(status="active", due_at=AT + timedelta(hours=3), last_sent_at=AT),
            dict(status="active", step=2, due_at=AT + timedelta(days=1), last_sent_at=AT),
            dict(status="active", due_at=AT + timedelta(days=1)),
            dict(status="paused", due_at=AT, paused_until=AT, pause_reason="out_of_office"),
        ]
        for person, state in zip(people, states, strict=True):
            if state is not None:
                session.add(
                    Enrollment(
                        campaign_id=campaign.id,
                        prospect_id=prospect.id,
                        contact_id=person.id,
                        **state,
                    )
                )
        contents = [
            await make_content(
                session,
                people[0],
                urls=("https://a.example/?q=ü",),
                subject='Grüße "1" <b>',
                send_status="sent",
                sent_at=AT,
            ),
            await make_content(session, people[0], step=2, subject="Zwei", send_status="queued"),
            await make_content(session, people[6], subject="Drei", send_status="bounced"),
            await make_content(
                session, people[4], subject="Vier", send_status="sent", sent_at=AT, replied_at=AT
            ),
        ]
        await session.flush()
        link_id = await session.scalar(select(Link.id).where(Link.content_id == contents[0].id))
        events = [
            ("open", people[0], AT, {}),
            ("click", people[0], AT + timedelta(minutes=1), {"link_id": link_id}),
            (
                "open",
                people[0],
                AT + timedelta(minutes=1),
                {"flagged": True, "flag_reason": "proxy"},
            ),
            ("bounce", people[0], AT, {"flagged": True, "flag_reason": "ignored"}),
            ("complaint", people[7], AT, {}),
            ("complaint", people[3], AT, {}),
            ("reply", people[4], AT + timedelta(hours=1), {"source": "rep"}),
        ]
        for kind, person, moment, fields in events:
            session.add(
                Event(
                    kind=kind,
                    campaign_id=campaign.id,
                    content_id=contents[0].id,
                    contact_id=person.id,
                    prospect_id=prospect.id,
                    tier=prospect.tier,
                    occurred_at=moment,
                    **fields,
                )
            )
        outcomes = [
            ("replied", None, AT + timedelta(hours=1)),
            ("meeting", "Tréffen am Montag", AT + timedelta(minutes=1)),
            ("note", "Notiz ✓", AT + timedelta(days=1)),
        ]
        for outcome, note, moment in outcomes:
            session.add(
                ProspectOutcome(
                    campaign_id=campaign.id,
                    prospect_id=prospect.id,
                    contact_id=people[4].id if outcome == "replied" else None,
                    outcome=outcome,
                    note=note,
                    created_at=moment,
                )
            )
        for number, label in enumerate((None, "negative", None)):
            session.add(
                Reply(
                    campaign_id=campaign.id,
                    content_id=contents[3].id,
                    contact_id=people[4].id,
                    prospect_id=prospect.id,
                    sender=people[4].email,
                    subject=f"Re: Vier {number} — ünïcode",
                    text="Danke!\nGrüße",
                    classification="positive",
                    label=label,
                    received_at=AT + timedelta(hours=min(number, 1)),
                )
            )
    return Built(
        campaign.id, prospect.id, [person.id for person in people], [c.id for c in contents]
    )
