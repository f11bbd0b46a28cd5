"""`campaign_figures` (migration 0017's triggers) against fresh counts, after every kind
of write: import, content generation, queueing, leasing, sending, retries and bounces,
pauses, deletes and their cascades, bulk statements and hand-written SQL.

And the campaign read built on them (`webapp/campaigns/figures.py`) against the same
answer built by counting rows.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, text, update

from tests.support.factories import make_campaign, make_contact, make_prospect, make_recipient
from tests.support.sending import FAST
from webapp.campaigns import figures
from webapp.campaigns import status as statuses
from webapp.campaigns.queries import create_campaign, lock_figures
from webapp.core.models import Campaign, Contact, Content, Prospect, utcnow
from webapp.outbound.contents import TrackingUrls, generate_contents
from webapp.outbound.sending.emails import message_id_for
from webapp.outbound.sending.queue import lease_batch, queue_campaign, record_outcome
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.prospects.importer import import_csv
from webapp.web.services import Services

FRESH = """
SELECT c.id,
    (SELECT count(*) FROM prospects p WHERE p.campaign_id = c.id),
    (SELECT count(*) FROM contacts k WHERE k.campaign_id = c.id),
    (SELECT count(*) FROM contents e WHERE e.campaign_id = c.id),
    (SELECT count(*) FROM contents e WHERE e.campaign_id = c.id
        AND e.send_status IN ('queued', 'sending')),
    (SELECT count(e.sent_at) FROM contents e WHERE e.campaign_id = c.id),
    (SELECT max(e.sent_at) FROM contents e WHERE e.campaign_id = c.id)
FROM campaigns c ORDER BY c.id
"""
STORED = """
SELECT campaign_id, prospects, contacts, contents, pending, sent, last_sent_at
FROM campaign_figures ORDER BY campaign_id
"""


async def assert_exact(tune: Services) -> list[tuple[Any, ...]]:
    """Every campaign's stored figures equal fresh counts (and no figures without one)."""
    async with tune.db.read() as session:
        fresh = [tuple(row) for row in await session.execute(text(FRESH))]
        stored = [tuple(row) for row in await session.execute(text(STORED))]
    assert stored == fresh
    return stored


async def assert_read_is_counted(tune: Services, campaign_id: int) -> dict[str, Any]:
    read = await figures.read_campaign(tune.db, campaign_id)
    assert read == await figures.counted_campaign(tune.db, campaign_id)
    return read


CSV = "email,company,first_name,title\n" + "".join(
    f"p{n}@c{n % 12}.com,Company {n % 12},Pat{n},CEO\n" for n in range(30)
)


async def test_figures_follow_every_write_path_of_a_campaigns_life(
    tune: Services, config: Any
) -> None:
    async with tune.db.write() as session:
        first = (await create_campaign(session, "Spring", "casino")).id
        other = (await create_campaign(session, "Other", "casino")).id
    assert await assert_exact(tune) == [(first, 0, 0, 0, 0, 0, None), (other, 0, 0, 0, 0, 0, None)]
    assert (await assert_read_is_counted(tune, first))["status"] == "draft"

    await import_csv(tune.db, first, CSV.encode(), offload=False)
    await import_csv(tune.db, other, CSV.encode()[:200], offload=False)
    stored = await assert_exact(tune)
    assert stored[0][1:3] == (12, 30)

    await generate_contents(tune.db, first, TrackingUrls(config.base_url, tune.signer))
    assert (await assert_exact(tune))[0][3] == 30

    async with tune.db.write() as session:
        await queue_campaign(session, first)
    assert (await assert_exact(tune))[0][4] == 30
    assert (await assert_read_is_counted(tune, first))["status"] == "sending"

    async with tune.db.write() as session:
        await statuses.pause(session, first)
    assert (await assert_read_is_counted(tune, first))["status"] == "paused"
    async with tune.db.write() as session:
        await statuses.resume(session, first)

    message_id = partial(message_id_for, config)
    async with tune.db.write() as session:
        leased = await lease_batch(session, "w1", 10, policy=FAST, message_id=message_id)
    assert len(leased) == 10
    await assert_exact(tune)
    sent = DeliveryResult(DeliveryOutcome.SENT, 250, "ok")
    later = DeliveryResult(DeliveryOutcome.TEMPORARY, 451, "try again")
    bounced = DeliveryResult(DeliveryOutcome.PERMANENT, 550, "no such user", True)
    async with tune.db.write() as session:
        for email in leased[:7]:
            await record_outcome(session, email, sent, "w1", policy=FAST)
        await record_outcome(session, leased[7], later, "w1", policy=FAST)
        await record_outcome(session, leased[8], bounced, "w1", policy=FAST)
        # leased[9] stays "sending": its lease is still held
    stored = await assert_exact(tune)
    assert stored[0][5] == 7 and stored[0][6] is not None
    await assert_read_is_counted(tune, first)

    # Deleting a prospect cascades to its contacts and their emails.
    async with tune.db.write() as session:
        content = await session.get(Content, leased[0].content_id)
        assert content is not None
        await session.execute(delete(Prospect).where(Prospect.id == content.prospect_id))
    await assert_exact(tune)
    async with tune.db.write() as session:
        await session.execute(delete(Contact).where(Contact.id == leased[1].contact_id))
    await assert_exact(tune)

    # The newest email's time taken away: the campaign's last send is looked up again.
    async with tune.db.write() as session:
        newest = text(
            "SELECT id FROM contents WHERE campaign_id = :c AND sent_at IS NOT NULL"
            " ORDER BY sent_at DESC LIMIT 1"
        )
        newest_id = (await session.execute(newest, {"c": first})).scalar_one()
        await session.execute(
            update(Content).where(Content.id == newest_id).values(sent_at=None, send_status="draft")
        )
    await assert_exact(tune)

    # Over two weeks since the last send: finished (nobody to follow up with).
    async with tune.db.write() as session:
        await session.execute(
            update(Content)
            .where(Content.campaign_id == first)
            .values(send_status="sent", sent_at=utcnow() - timedelta(days=20))
        )
    await assert_exact(tune)
    assert (await assert_read_is_counted(tune, first))["status"] == "finished"

    async with tune.db.write() as session:
        await session.execute(delete(Campaign).where(Campaign.id == first))
    stored = await assert_exact(tune)
    assert [row[0] for row in stored] == [other]
    await assert_read_is_counted(tune, other)


TIMES = st.one_of(st.none(), st.integers(0, 5))
STATUSES = st.sampled_from(["draft", "queued", "sending", "sent", "failed", "bounced"])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 2), st.integers(1, 4), STATUSES, TIMES),
        st.tuples(st.just("set"), st.integers(0, 50), STATUSES, TIMES),
        st.tuples(st.just("bulk"), st.integers(0, 2), STATUSES, TIMES),
        st.tuples(st.just("drop_content"), st.integers(0, 50)),
        st.tuples(st.just("drop_contact"), st.integers(0, 50)),
        st.tuples(st.just("drop_prospect"), st.integers(0, 50)),
        st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 2)),
        st.tuples(st.just("drop_campaign"), st.integers(0, 2)),
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
async def test_figures_stay_exact_under_any_sequence_of_writes(
    tune: Services, operations: list[tuple[Any, ...]]
) -> None:
    base = utcnow()
    async with tune.db.write() as session:
        campaigns = [(await make_campaign(session)).id for _ in range(3)]
    for operation in operations:
        async with tune.db.write() as session:
            await _apply(session, campaigns, operation, base)
        await assert_exact(tune)


async def _apply(session: Any, campaigns: list[int], operation: tuple[Any, ...], base: Any) -> None:
    """One write of the generated sequence, as a statement of its own."""
    kind = operation[0]

    def sent_at(days: int | None) -> Any:
        return None if days is None else base - timedelta(days=days)

    async def pick(model: Any, index: int) -> Any:
        ids = list(
            await session.scalars(
                text(
                    f"SELECT id FROM {model.__tablename__} WHERE campaign_id IN "  # noqa: S608
                    f"({', '.join(str(c) for c in campaigns)}) ORDER BY id"
                )
            )
        )
        return ids[index % len(ids)] if ids else None

    if kind == "add":
        _, which, count, status, days = operation
        campaign = await session.get(Campaign, campaigns[which])
        if campaign is None:
            return
        prospect = await make_prospect(session, campaign)
        contacts = [await make_contact(session, prospect) for _ in range(count)]
        # One multi-row INSERT: the statement triggers see all the rows at once.
        await session.execute(
            insert(Content),
            [
                {
                    "campaign_id": campaign.id,
                    "contact_id": contact.id,
                    "prospect_id": prospect.id,
                    "tier": 1,
                    "subject": "Hello",
                    "html": "<p>Hello</p>",
                    "text": "Hello",
                    "send_status": status,
                    "sent_at": sent_at(days),
                }
                for contact in contacts
            ],
        )
    elif kind == "set":
        _, index, status, days = operation
        content_id = await pick(Content, index)
        if content_id is not None:
            await session.execute(
                update(Content)
                .where(Content.id == content_id)
                .values(send_status=status, sent_at=sent_at(days))
            )
    elif kind == "bulk":
        _, which, status, days = operation
        await session.execute(
            update(Content)
            .where(Content.campaign_id.in_(campaigns[which:]))
            .values(send_status=status, sent_at=sent_at(days))
        )
    elif kind in ("drop_content", "drop_contact", "drop_prospect"):
        model = {"drop_content": Content, "drop_contact": Contact, "drop_prospect": Prospect}[kind]
        row_id = await pick(model, operation[1])
        if row_id is not None:
            await session.execute(delete(model).where(model.id == row_id))
    elif kind == "move":
        # Never done by Tune, but hand-written SQL may: the figures follow the rows.
        _, index, which = operation
        content_id = await pick(Content, index)
        target = await session.get(Campaign, campaigns[which])
        if content_id is not None and target is not None:
            await session.execute(
                update(Content).where(Content.id == content_id).values(campaign_id=target.id)
            )
    elif kind == "drop_campaign":
        await session.execute(delete(Campaign).where(Campaign.id == campaigns[operation[1]]))


@pytest.mark.timeout(60)
async def test_lock_figures_holds_every_named_campaign_until_the_transaction_ends(
    pg: Services,
) -> None:
    """The sender's lease and the sequence scheduler take their campaigns' figures rows
    up front (in campaign order), so an email of one of them changing state elsewhere
    waits for them instead of both waiting for each other in a cycle."""
    # Not on SQLite: it runs one write transaction at a time.
    async with pg.db.write() as session:
        first = await make_campaign(session)
        second = await make_campaign(session)
        content_id = (await make_recipient(session, first, send_status="queued")).id
        campaign_ids = [second.id, first.id]
    locked, release = asyncio.Event(), asyncio.Event()

    async def lease() -> None:
        async with pg.db.write() as session:
            await lock_figures(session, campaign_ids)
            locked.set()
            await release.wait()

    async def send() -> None:
        async with pg.db.write() as session:
            await session.execute(
                update(Content)
                .where(Content.id == content_id)
                .values(send_status="sent", sent_at=utcnow())
            )

    holder = asyncio.create_task(lease())
    await locked.wait()
    sender = asyncio.create_task(send())
    done, _ = await asyncio.wait([sender], timeout=0.5)
    assert not done, "the email changed state while its campaign's figures were held"
    release.set()
    await holder
    await sender
    assert (await assert_exact(pg))[0][5] == 1
