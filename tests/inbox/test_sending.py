"""Sending honours what the inbox learnt: suppressed addresses and out-of-office return dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.support.factories import make_recipient
from webapp.core.models import Contact, Content, Suppression
from webapp.outbound.sending.queue import SendPolicy, lease_batch
from webapp.web.services import Services

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = SendPolicy()


async def queued(tune: Services, **contact: object) -> int:
    async with tune.db.write() as session:
        content = await make_recipient(
            session, send_status="queued", queued_at=NOW, next_attempt_at=NOW
        )
        row = await session.get(Contact, content.contact_id)
        assert row is not None
        for name, value in contact.items():
            setattr(row, name, value)
        return content.id


async def lease(tune: Services, now: datetime) -> list[int]:
    async with tune.db.write() as session:
        batch = await lease_batch(
            session, "w1", 10, policy=POLICY, message_id=lambda cid: f"<{cid}@t>", now=now
        )
    return [email.content_id for email in batch]


async def status(tune: Services, content_id: int) -> tuple[str, datetime | None]:
    async with tune.db.read() as session:
        content = await session.get(Content, content_id)
        assert content is not None
        return content.send_status, content.next_attempt_at


async def test_an_email_to_an_absent_contact_waits_for_the_return_date(tune: Services) -> None:
    back = NOW + timedelta(days=10)
    content_id = await queued(tune, return_at=back)
    assert await lease(tune, NOW) == []
    assert await status(tune, content_id) == ("queued", back)
    assert await lease(tune, back + timedelta(minutes=1)) == [content_id]


async def test_an_address_suppressed_after_queueing_is_never_sent(tune: Services) -> None:
    content_id = await queued(tune)
    async with tune.db.write() as session:
        email = (
            await session.execute(
                select(Contact.email).join(Content, Content.contact_id == Contact.id)
            )
        ).scalar_one()
        session.add(Suppression(email=email.lower(), reason="complaint", source="ses"))
    assert await lease(tune, NOW) == []
    assert (await status(tune, content_id))[0] == "skipped_suppressed"
