"""One reader per mailbox folder, across workers and servers, through a lease in the database.

A folder's row in `inbox_folders` names its lease holder and when the lease
ends. Taking the lease is one conditional UPDATE (free, expired, or already
ours), so two processes can never both hold it; the holder renews it while it
reads, and a holder that dies simply lets it expire. The row also keeps the
folder's UIDVALIDITY and the last UID processed under it, and progress is saved
only while the lease is still ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import InboxFolder, utcnow


class LeaseLost(Exception):
    """Another process holds the mailbox now; stop reading it."""


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int | None
    last_uid: int
    lease_owner: str | None
    lease_expires_at: datetime | None


async def acquire(
    session: AsyncSession, mailbox: str, owner: str, seconds: float, now: datetime | None = None
) -> bool:
    """Take or renew the lease on `mailbox` for `seconds`; False when another holds it."""
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(InboxFolder)
        .values(mailbox=mailbox, last_uid=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["mailbox"])
    )
    taken = await session.execute(
        update(InboxFolder)
        .where(
            InboxFolder.mailbox == mailbox,
            or_(
                InboxFolder.lease_owner.is_(None),
                InboxFolder.lease_owner == owner,
                InboxFolder.lease_expires_at < now,
            ),
        )
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(taken, "rowcount", 0))


async def release(session: AsyncSession, mailbox: str, owner: str) -> None:
    await session.execute(
        update(InboxFolder)
        .where(InboxFolder.mailbox == mailbox, InboxFolder.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


async def state(session: AsyncSession, mailbox: str) -> FolderState | None:
    row = (
        await session.execute(
            select(
                InboxFolder.uidvalidity,
                InboxFolder.last_uid,
                InboxFolder.lease_owner,
                InboxFolder.lease_expires_at,
            ).where(InboxFolder.mailbox == mailbox)
        )
    ).first()
    return FolderState(row[0], int(row[1] or 0), row[2], row[3]) if row else None


async def save_progress(
    session: AsyncSession,
    mailbox: str,
    owner: str,
    *,
    uidvalidity: int,
    last_uid: int,
    seconds: float,
    now: datetime | None = None,
) -> None:
    """Record the last UID processed (and extend the lease); raise LeaseLost if it is not ours."""
    now = now or utcnow()
    saved = await session.execute(
        update(InboxFolder)
        .where(
            InboxFolder.mailbox == mailbox,
            InboxFolder.lease_owner == owner,
            InboxFolder.lease_expires_at >= now,
        )
        .values(
            uidvalidity=uidvalidity,
            last_uid=last_uid,
            last_checked_at=now,
            lease_expires_at=now + timedelta(seconds=seconds),
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(saved, "rowcount", 0):
        raise LeaseLost(mailbox)
