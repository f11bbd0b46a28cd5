"""events.txid on PostgreSQL: the transaction that stored each event, so the event feed
never skips one

`GET /api/events` is keyset-paged and a client keeps its last cursor. On PostgreSQL an
event's id comes from a sequence when it is inserted, but transactions commit in any
order: a transaction holding id 10 can commit after another committed id 11 and a
client's cursor passed it, and a feed in id order never served event 10.

`txid` is the top-level transaction id of the transaction that inserted the row
(`pg_current_xact_id()`, 64 bits with its epoch: it never wraps around), stored as a
bigint. The feed (campaigns/feed.py) pages on `(txid, id)` and serves only rows whose
`txid` is below its own snapshot's xmin: every transaction with a smaller id has
ended, so no row can later appear below a cursor. An order on ids alone cannot be
made safe with transaction ids: a transaction that began writing (and so got its id)
before another may take its event ids after it, and then commits its higher ids
while the other's lower ones are still in flight.

Rows stored before this migration get 0: they were all committed (the column is added
under the table's exclusive lock), and a cursor of the old shape, `[id]`, continues
from `(0, id)`: the remaining old rows in id order, then every new one. The index on
`(txid, id)` serves the feed's pages.

SQLite: nothing to do. It has one writer at a time and its ids are never reused
(migration 0023), so its feed stays in id order. The column and index are not in the
models (migrate.py's `modelled` leaves them out of comparisons); no code writes them.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 01:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_events_txid_id"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # A constant default fills the existing rows without rewriting the table; the
    # transaction id is the default of the rows inserted from now on.
    op.execute("ALTER TABLE events ADD COLUMN txid bigint NOT NULL DEFAULT 0")
    op.execute(
        "ALTER TABLE events ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text)::bigint"
    )
    op.execute(f"CREATE INDEX {INDEX} ON events (txid, id)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX {INDEX}")
    op.execute("ALTER TABLE events DROP COLUMN txid")
