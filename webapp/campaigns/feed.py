"""The raw event stream (`GET /api/events`), paged so that a client never misses an event.

A client pages with `next_cursor` until it is null and keeps its last cursor to resume
later (docs/api.md): whatever is stored after a page was read must sort after that
page's cursor. On SQLite it does in id order: one writer at a time (BEGIN IMMEDIATE),
and ids never reused (migration 0023).

On PostgreSQL ids come from a sequence when rows are inserted, while transactions
commit in any order: a transaction holding id 10 can commit after id 11 was served, and
a cursor at 11 would never see 10. So PostgreSQL's pages are in the order of
`(txid, id)`, `txid` being the top-level transaction that stored the row (migration
0024), and serve only rows whose transaction is older than every transaction of this
database still running (`HORIZON`, read from `pg_current_snapshot()`: the statement's
own snapshot, the one its rows are read with). Every transaction below the horizon has
ended, committed (its rows are in this snapshot) or rolled back; every transaction
still running, or yet to write, has or will get an id at or above it. A row stored
after a page was read therefore sorts after its cursor: nothing is skipped, and a
continuous read serves nothing twice. Filters (campaign, kind, time) do not change
this: they only leave rows out of a set that is already final.

Ordering by id and stopping at the first row whose transaction is not that old would
not do: a transaction that began writing before another (and so has an older id)
can insert its events after it, taking higher ids, and commit while the other's lower
ids are still in flight; its rows look settled and the cursor would pass the others.

The price: a transaction that stays open (a long import, a connection left idle in a
transaction after a write) holds the horizon back, and the feed waits for it, newer
events included; it never skips. Transactions that only read take no id and hold
nothing back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core.models import Event

TXID = literal_column("events.txid", BigInteger)
"""The transaction that stored the event (PostgreSQL only, migration 0024)."""
HORIZON = literal_column(
    """(SELECT (coalesce(min(running), pg_snapshot_xmax(pg_current_snapshot()))::text)::bigint
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running
    WHERE running::xid NOT IN (
        SELECT backend_xid FROM pg_stat_get_activity(NULL)
        WHERE backend_xid IS NOT NULL
        AND datid <> (SELECT oid FROM pg_database WHERE datname = current_database())))""",
    BigInteger,
)
"""The oldest transaction of this database still running as this statement's snapshot
sees it, or the next one to start. The snapshot's xmin would do, but it is the whole
server's: a transaction left open in another database (another application, another
test run) would hold the feed back for nothing. So the snapshot's running
transactions are taken less those that `pg_stat_activity` shows in another database
(a backend stays in its database; one not shown there, a prepared transaction or one
that has just ended, counts as this database's: the feed may wait, never skip). Its
function rather than the view: planning the view's joins cost about 1 ms a page.
When nothing runs, the list of backends is not even read."""


async def event_page(
    session: AsyncSession,
    limit: int,
    *,
    after: list[int] | None = None,
    campaign_id: int | None = None,
    kind: str | None = None,
    since: datetime | None = None,
) -> tuple[list[Event], list[int] | None]:
    """The raw events with their flags and reasons, in the order they can be served.

    `after` is the key of a cursor: `[txid, id]` (PostgreSQL) or `[id]` (SQLite, and
    PostgreSQL's cursors from before migration 0024, which continue from `[0, id]`).
    Returns the events and the key to continue after (None on the last page).
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        query: Any = select(Event, TXID).where(TXID < HORIZON).order_by(TXID, Event.id)
        if after is not None:
            txid, last = (0, after[0]) if len(after) == 1 else after
            query = query.where(tuple_(TXID, Event.id) > tuple_(txid, last))
    else:
        query = select(Event).order_by(Event.id)
        if after is not None:
            query = query.where(Event.id > after[-1])
    query = query.limit(limit + 1)
    if campaign_id is not None:
        await get_campaign(session, campaign_id)
        query = query.where(Event.campaign_id == campaign_id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if since is not None:
        query = query.where(Event.occurred_at >= since)
    rows = (await session.execute(query)).all()
    events = [row[0] for row in rows[:limit]]
    if len(rows) <= limit:
        return events, None
    return events, [rows[limit - 1][1], events[-1].id] if postgres else [events[-1].id]
