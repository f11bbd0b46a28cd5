"""The follow-up list, outcomes and their API, on both databases, through the real writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import update

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from tests.support.inbox import MESSAGES, NOW, sent_campaign
from webapp.core.models import Contact, Content, Event, utcnow
from webapp.inbox.message import parse_message
from webapp.inbox.outcomes import handle_inbound
from webapp.tracking.events import ClickEvent, Hit, OpenEvent, ReplyEvent
from webapp.web.services import Services
from webapp.workspace import followups

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
PERSON = Hit(user_agent=CHROME, ip="198.51.100.7", ip_hash="h", ip_prefix="198.51.100.0/24")
MACHINE = Hit(user_agent=None, ip="198.51.100.7")
"""No user agent: a prefetch or a scanner, flagged by the classifier."""


async def sent(tune: Services, campaign: Any = None, name: str = "Acme") -> Content:
    async with tune.db.write() as session:
        campaign = campaign or await make_campaign(session, "Spring")
        prospect = await make_prospect(session, campaign, name)
        contact = await make_contact(session, prospect, first_name="Ada", last_name="Byron")
        return await make_content(
            session, contact, send_status="sent", sent_at=utcnow() - timedelta(days=1)
        )


async def listed(tune: Services) -> list[followups.FollowUp]:
    async with tune.db.read() as session:
        return await followups.follow_ups(session)


async def test_machine_opens_and_bot_clicks_never_put_anyone_on_the_list(tune: Services) -> None:
    content = await sent(tune)
    for _ in range(3):
        await tune.writer.record(OpenEvent(content.id, hit=MACHINE))
    await tune.writer.record(ClickEvent(content.id, source="link", hit=MACHINE))
    assert await listed(tune) == []
    await tune.writer.record(OpenEvent(content.id, hit=PERSON))
    assert await listed(tune) == []  # one human open is not yet a reason
    await tune.writer.record(OpenEvent(content.id, hit=PERSON))
    [item] = await listed(tune)
    assert (item.reason, item.count, item.contact_id) == ("opened", 2, content.contact_id)


async def test_a_reply_outranks_a_click_which_outranks_opens(tune: Services) -> None:
    opener = await sent(tune, name="Opener")
    clicker = await sent(tune, name="Clicker")
    replier = await sent(tune, name="Replier")
    for _ in range(2):
        await tune.writer.record(OpenEvent(opener.id, hit=PERSON))
    await tune.writer.record(ClickEvent(clicker.id, source="link", hit=PERSON))
    await tune.writer.record(ClickEvent(replier.id, source="link", hit=PERSON))
    await tune.writer.record(ReplyEvent(replier.id, source="api"))
    items = await listed(tune)
    assert [(i.prospect_name, i.reason) for i in items] == [
        ("Replier", "replied"),
        ("Clicker", "clicked"),
        ("Opener", "opened"),
    ]


async def test_old_clicks_and_opens_of_replied_prospects_do_not_count(tune: Services) -> None:
    old = await sent(tune, name="Old")
    await tune.writer.record(
        ClickEvent(old.id, utcnow() - timedelta(days=followups.CLICK_DAYS + 1), source="api")
    )
    assert await listed(tune) == []
    answered = await sent(tune, name="Answered")
    await tune.writer.record(
        ReplyEvent(answered.id, utcnow() - timedelta(days=followups.REPLY_DAYS + 1), source="api")
    )
    for _ in range(3):
        await tune.writer.record(OpenEvent(answered.id, hit=PERSON))
    assert await listed(tune) == []


async def test_opens_count_only_within_their_window(tune: Services) -> None:
    content = await sent(tune)
    weeks_ago = utcnow() - timedelta(days=followups.OPEN_DAYS * 3)
    await tune.writer.record(OpenEvent(content.id, weeks_ago, source="api"))
    await tune.writer.record(OpenEvent(content.id, source="api"))
    assert await listed(tune) == []  # one open this week, the other long before
    await tune.writer.record(OpenEvent(content.id, source="api"))
    [item] = await listed(tune)
    assert (item.reason, item.count) == ("opened", 2)


async def test_done_and_snooze_take_a_prospect_off_until_something_new(tune: Services) -> None:
    content = await sent(tune)
    await tune.writer.record(ReplyEvent(content.id, source="api"))
    async with tune.db.write() as session:
        await followups.mark_done(session, content.prospect_id)
    assert await listed(tune) == []
    await tune.writer.record(ClickEvent(content.id, source="api"))
    [item] = await listed(tune)
    assert item.reason == "clicked"
    async with tune.db.write() as session:
        await followups.snooze(session, content.prospect_id, 2)
    assert await listed(tune) == []
    async with tune.db.read() as session:
        later = await followups.follow_ups(session, now=utcnow() + timedelta(days=2, minutes=1))
    assert [i.reason for i in later] == ["clicked"]


async def test_api_lists_pages_and_filters_follow_ups(
    client: Any, auth: dict[str, Any], tune: Services
) -> None:
    first = await sent(tune, name="First")
    async with tune.db.read() as session:
        from webapp.core.models import Campaign

        campaign = await session.get(Campaign, first.campaign_id)
    others = [await sent(tune, campaign, name=f"Other {n}") for n in range(2)]
    elsewhere = await sent(tune, name="Elsewhere")
    for content in [first, *others, elsewhere]:
        await tune.writer.record(ReplyEvent(content.id, source="api"))
    response = await client.get("/api/followups?limit=2", headers=auth)
    body = await response.get_json()
    assert response.status_code == 200
    assert len(body["items"]) == 2 and body["next_cursor"]
    assert set(body["items"][0]) >= {"prospect_id", "contact_id", "campaign_id", "reason"}
    rest = await client.get(f"/api/followups?limit=2&cursor={body['next_cursor']}", headers=auth)
    rest_body = await rest.get_json()
    seen = [item["prospect_id"] for item in body["items"] + rest_body["items"]]
    assert sorted(seen) == sorted(c.prospect_id for c in [first, *others, elsewhere])
    assert rest_body["next_cursor"] is None
    only = await client.get(f"/api/followups?campaign_id={first.campaign_id}", headers=auth)
    assert {i["campaign_id"] for i in (await only.get_json())["items"]} == {first.campaign_id}
    missing = await client.get("/api/followups?campaign_id=999999", headers=auth)
    assert missing.status_code == 404
    bad = await client.get("/api/followups?cursor=nonsense", headers=auth)
    assert bad.status_code == 422
    assert (await bad.get_json())["error"]["field"] == "cursor"
    done = await client.post(f"/api/followups/{first.prospect_id}/done", headers=auth)
    assert done.status_code == 200
    snoozed = await client.post(
        f"/api/followups/{others[0].prospect_id}/snooze", json={"days": 3}, headers=auth
    )
    assert snoozed.status_code == 200
    left = await client.get("/api/followups", headers=auth)
    assert [i["prospect_id"] for i in (await left.get_json())["items"]] == sorted(
        [others[1].prospect_id, elsewhere.prospect_id], reverse=True
    )
    refused = await client.post(
        f"/api/followups/{first.prospect_id}/snooze", json={"days": 0}, headers=auth
    )
    assert refused.status_code == 422
    assert (await refused.get_json())["error"]["field"] == "days"


async def test_a_click_lists_its_prospect_only_once_its_classification_has_settled(
    tune: Services,
) -> None:
    from webapp.tracking import settle

    content = await sent(tune)
    clicked_at = utcnow()
    await tune.writer.record(ClickEvent(content.id, source="link", hit=PERSON))
    settle.configure(60)
    try:
        async with tune.db.read() as session:
            soon = await followups.follow_ups(session, now=clicked_at + timedelta(seconds=30))
            later = await followups.follow_ups(session, now=clicked_at + timedelta(seconds=61))
    finally:
        settle.configure(0)
    assert soon == []
    assert [item.reason for item in later] == ["clicked"]


async def test_a_reply_read_by_the_inbox_shows_its_first_lines(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any]
) -> None:
    sent_mail = await sent_campaign(tune.db)
    inbound = parse_message((MESSAGES / "reply_gmail.eml").read_bytes())
    async with tune.db.write() as session:
        await handle_inbound(session, inbound, "imap", now=NOW)
        [item] = await followups.follow_ups(session, [sent_mail.campaign_id], now=NOW)
    assert item.reason == "replied"
    assert item.excerpt is not None
    lines = item.excerpt.splitlines()
    # The stored reply: the quoted email and the signature are already gone.
    assert lines[0] == "Hi Ana," and len(lines) == 2
    assert "sounds interesting" in lines[1] and "On Mon" not in item.excerpt

    # The API lists it with the excerpt (a reply from an hour ago, to be within its window).
    content = await sent(tune, name="Fresh")
    async with tune.db.write() as session:
        row = await session.get(Content, content.id)
        assert row is not None
        row.message_id = "<fresh.1@sales.tune.test>"
        contact = await session.get(Contact, content.contact_id)
        assert contact is not None
        fresh = EmailMessage()
        fresh["From"], fresh["Subject"] = contact.email, "Re: hello"
        fresh["Message-ID"], fresh["In-Reply-To"] = "<fresh.answer@x.example>", row.message_id
        fresh["Date"] = format_datetime(utcnow() - timedelta(hours=1))
        fresh.set_content(
            "Yes, let's talk.\n\nCall me on Friday.\nOr Monday.\nOr later.\n-- \nBo\n"
        )
        await handle_inbound(session, parse_message(fresh.as_bytes()), "imap")
    answer = await client.get(f"/api/followups?campaign_id={content.campaign_id}", headers=auth)
    [listed_item] = (await answer.get_json())["items"]
    assert listed_item["reason"] == "replied"
    # The first three lines, blank ones left out.
    assert listed_item["excerpt"] == "Yes, let's talk.\nCall me on Friday.\nOr Monday."


async def test_an_out_of_office_return_puts_the_contact_on_the_list_when_due(
    tune: Services,
) -> None:
    sent_mail = await sent_campaign(tune.db)
    inbound = parse_message((MESSAGES / "auto_exchange.eml").read_bytes())
    async with tune.db.write() as session:
        await handle_inbound(session, inbound, "imap", now=NOW)
    back = datetime(2027, 1, 12, tzinfo=UTC)

    async def due(now: datetime) -> list[followups.FollowUp]:
        async with tune.db.read() as session:
            return await followups.follow_ups(session, [sent_mail.campaign_id], now=now)

    assert await due(back - timedelta(seconds=1)) == []
    [item] = await due(back + timedelta(hours=9))
    assert (item.reason, item.label, item.occurred_at) == (
        "returned",
        "Back from out of office",
        back,
    )
    assert item.contact_email == "p.janssen@dijk-logistics.example"
    assert await due(back + timedelta(days=followups.RETURN_DAYS, seconds=1)) == []
    # Marked done after the return: off the list.
    async with tune.db.write() as session:
        await followups.mark_done(session, item.prospect_id, now=back + timedelta(hours=10))
    assert await due(back + timedelta(hours=11)) == []


async def test_pages_walk_the_whole_list_across_reasons_and_equal_times(tune: Services) -> None:
    now = utcnow()
    moment = now - timedelta(hours=2)
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Paging")
    names = ["Reply A", "Reply B", "Click", "Back", "Opens", "Reply C"]
    contents = {name: await sent(tune, campaign, name=name) for name in names}
    events: list[Any] = [
        ReplyEvent(contents["Reply A"].id, moment, source="api"),
        ReplyEvent(contents["Reply B"].id, moment, source="api"),  # the same instant
        ReplyEvent(contents["Reply C"].id, moment + timedelta(minutes=1), source="api"),
        ClickEvent(contents["Click"].id, moment, source="api"),
        OpenEvent(contents["Opens"].id, moment, hit=PERSON),
        OpenEvent(contents["Opens"].id, moment, hit=PERSON),
    ]
    for event in events:
        await tune.writer.record(event)
    async with tune.db.write() as session:
        contact = await session.get(Contact, contents["Back"].contact_id)
        assert contact is not None
        contact.return_at = now - timedelta(days=1)

    async with tune.db.read() as session:
        whole = await followups.follow_ups(session, [campaign.id], now=now)
        walked: list[followups.FollowUp] = []
        after = None
        while True:
            page, after = await followups.follow_up_page(session, [campaign.id], 1, after, now=now)
            walked += page
            if after is None:
                break
        panel, total = await followups.follow_up_panel(session, [campaign.id], now=now)
    assert [item.prospect_name for item in whole][:1] == ["Reply C"]
    assert [item.reason for item in whole] == [
        "replied",
        "replied",
        "replied",
        "clicked",
        "returned",
        "opened",
    ]
    replied_same_time = [item.prospect_id for item in whole[1:3]]
    assert replied_same_time == sorted(replied_same_time)
    assert [item.prospect_id for item in walked] == [item.prospect_id for item in whole]
    assert total == len(whole) == 6 and panel == whole


async def test_a_click_reflagged_as_a_bots_leaves_the_list_and_the_count(
    tune: Services, monkeypatch: Any
) -> None:
    """The list reads human signals from an index of unflagged events only: a hit the
    writer re-flags later (a scanner's burst) must drop out of the page and the total."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Reflag")
    contents = [await sent(tune, campaign, name=name) for name in ("One", "Two", "Three")]
    for content in contents:
        await tune.writer.record(ClickEvent(content.id, source="api"))
    monkeypatch.setattr(followups, "FOLLOWUPS_SHOWN", 2)
    async with tune.db.read() as session:
        shown, total = await followups.follow_up_panel(session, [campaign.id])
    assert (len(shown), total) == (2, 3)
    async with tune.db.write() as session:
        await session.execute(
            update(Event)
            .where(Event.content_id == contents[0].id)
            .values(flagged=True, flag_reason="burst")
        )
    async with tune.db.read() as session:
        shown, total = await followups.follow_up_panel(session, [campaign.id])
        whole = await followups.follow_ups(session, [campaign.id])
    assert total == 2 and len(shown) == 2
    assert {item.prospect_name for item in whole} == {"Two", "Three"}
    assert all(item.contact_name == "Ada Byron" for item in whole)
