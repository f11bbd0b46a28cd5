"""contents, links, events, webhook_endpoints: SQLite never gives a deleted row's id again

SQLite gives a new row of an `INTEGER PRIMARY KEY` table the largest id plus one, so
the ids of the newest rows, once deleted, went to the next rows; PostgreSQL's sequences
never give an id twice. These tables' ids leave the database and outlive their rows:

* contents: every tracking token signs its email's id (outbound/tokens.py), and the API
  lists drafts with their tokens. Saving a tier's template discards its drafts
  (outbound/contents.py `discard_drafts`); the next email written took the newest
  draft's id, so the discarded draft's pixel, links and one-click unsubscribe landed on
  that email and its contact.
* links: webhook payloads name a click's link id; links are discarded with the drafts.
* events: the API's event list pages by id (`/api/events?cursor=`). Events go with a
  discarded draft, and the event writer deletes an inferred open when its click turns
  out to be a machine's (tracking/batch.py); new events took those ids behind a
  client's cursor, which then skipped them.
* webhook_endpoints: the API and the CLI delete endpoints by id; a script still holding
  a deleted endpoint's id would change or delete the next endpoint created.

`AUTOINCREMENT` keeps the largest id ever given in `sqlite_sequence`. SQLite cannot
change a table's key in place: each table is created again under a new name with the
same columns, keys and constraints, its rows copied with their ids, the old table
dropped and the new one renamed, then its indexes and triggers created again from the
text SQLite kept (`sqlite_master`). Foreign keys must be off, as Alembic leaves them
(dropping a table with them on would delete the rows that refer to it). Each table's
sequence starts at the largest id it holds or that the webhook outbox (which has no
foreign keys) still names, the largest known to have been used.

Other tables are left as they are: no code of Tune deletes campaigns, prospects or
contacts, and the rows it does delete elsewhere (send slots, pending outbox rows,
mailboxes, sequence steps) are reached by name, position or their parent's id, or
never leave the database.

PostgreSQL: nothing to do. Downgrading creates the tables again without the keyword.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 22:20:00
"""

import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.engine import Connection

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("contents", "links", "events", "webhook_endpoints")
USED_ELSEWHERE = {
    "contents": ("SELECT max(content_id) FROM webhook_deliveries",),
    "links": ("SELECT max(link_id) FROM webhook_deliveries",),
}
"""Ids of a table that another table may still name after the row is gone."""

_HEADER = re.compile(r'^CREATE TABLE "?(\w+)"? \(')


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    for table in TABLES:
        _rebuild(connection, table, autoincrement=True)
        for query in USED_ELSEWHERE.get(table, ()):
            used = connection.scalar(text(query))
            if used is None:
                continue
            ids = {"used": used, "table": table}
            moved = connection.execute(
                text("UPDATE sqlite_sequence SET seq = max(seq, :used) WHERE name = :table"), ids
            )
            if not moved.rowcount:
                connection.execute(text("INSERT INTO sqlite_sequence VALUES (:table, :used)"), ids)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    for table in reversed(TABLES):
        _rebuild(connection, table, autoincrement=False)


def _rebuild(connection: Connection, table: str, *, autoincrement: bool) -> None:
    """`table` created again with its key as asked, its rows, indexes and triggers kept."""
    if connection.scalar(text("PRAGMA foreign_keys")):
        raise RuntimeError(f"rebuilding {table} needs foreign keys off: it would delete rows")
    created = connection.scalar(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table"),
        {"table": table},
    )
    assert isinstance(created, str), table
    others = list(
        connection.scalars(
            text(
                "SELECT sql FROM sqlite_master WHERE tbl_name = :table "
                "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name"
            ),
            {"table": table},
        )
    )
    key = _with_autoincrement(created, table) if autoincrement else _without(created, table)
    temporary = f"_stable_ids_{table}"
    connection.exec_driver_sql(_HEADER.sub(f"CREATE TABLE {temporary} (", key, count=1))
    copy = f"INSERT INTO {temporary} SELECT * FROM {table}"  # noqa: S608 (names of TABLES)
    connection.exec_driver_sql(copy)
    connection.exec_driver_sql(f"DROP TABLE {table}")
    # Legacy renaming leaves the rest of the schema's text alone: the other tables' keys
    # and triggers already name `table`, and nothing names the temporary one.
    connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        connection.exec_driver_sql(f"ALTER TABLE {temporary} RENAME TO {table}")
    finally:
        connection.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    for statement in others:
        connection.exec_driver_sql(statement)


def _with_autoincrement(created: str, table: str) -> str:
    """The table's key moved onto its id column, with AUTOINCREMENT (only allowed there)."""
    key = f"CONSTRAINT pk_{table} PRIMARY KEY"
    created, columns = re.subn(
        r"\n\tid INTEGER NOT NULL, ", f"\n\tid INTEGER NOT NULL {key} AUTOINCREMENT, ", created
    )
    created, constraints = re.subn(rf", \n\t{key} \(id\)(?=, |\n\))", "", created)
    if (columns, constraints) != (1, 1):
        raise RuntimeError(f"{table}'s key is not the one 0023 knows: {created}")
    return created


def _without(created: str, table: str) -> str:
    """The table's key back as a table constraint, first of them, as the models create it."""
    key = f"CONSTRAINT pk_{table} PRIMARY KEY"
    created, columns = re.subn(
        rf"\n\tid INTEGER NOT NULL {key} AUTOINCREMENT, ", "\n\tid INTEGER NOT NULL, ", created
    )
    first = created.find(", \n\tCONSTRAINT ")
    end = created.rindex("\n)")
    at = first if first != -1 else end
    if columns != 1:
        raise RuntimeError(f"{table}'s key is not the one 0023 made: {created}")
    return f"{created[:at]}, \n\t{key} (id){created[at:]}"
