"""campaign_figures: a campaign's sizes and sending state, kept by the database itself

`GET /api/campaigns/<id>` showed how many prospects, contacts and emails a
campaign has and where its sending stands by counting its rows on every read:
O(campaign size). This table holds those figures per campaign, kept exact by
triggers on every write path (imports, deletes and their cascades, content
generation, the sender's state changes, bulk operations, hand-written SQL):

- prospects, contacts, contents: the row counts;
- pending: emails queued or sending; sent: emails with a `sent_at`;
- last_sent_at: the newest `sent_at` (looked up again only when the row holding
  it is deleted or sent earlier; a content's `sent_at` never moves back in
  Tune itself).

On SQLite, row triggers (one writer at a time, each a single-row UPDATE of the
figures). On PostgreSQL, statement triggers with transition tables: an import's
multi-row INSERT or COPY, or a bulk UPDATE of 100k emails, changes the figures
once per statement and campaign, in campaign order (no deadlocks between two
statements touching several campaigns). A transaction that updates emails of
several campaigns in separate statements (the sender's lease, the sequence
scheduler) holds their figures rows until it commits, so it locks them all first,
in campaign order (`campaigns.queries.lock_figures`): two of them never wait for
each other in a cycle. Prospects and contacts moving between campaigns (Tune never does it)
are row triggers guarded by WHEN, so ordinary updates of those rows cost nothing.
A TRUNCATE of one of the counted tables alone is not followed (Tune never does it).

A campaign's figures row is made with it (a trigger on `campaigns`), and on
SQLite deleted before the campaign's rows cascade (so a campaign's deletion
does not update figures about to go).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 10:00:00
"""

# ruff: noqa: S608  (every statement here is built from constants)

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from webapp.core.models.base import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "('queued', 'sending')"  # the send statuses that make a campaign "sending"

BACKFILL = f"""
INSERT INTO campaign_figures
    (campaign_id, prospects, contacts, contents, pending, sent, last_sent_at)
SELECT c.id,
    (SELECT count(*) FROM prospects p WHERE p.campaign_id = c.id),
    (SELECT count(*) FROM contacts k WHERE k.campaign_id = c.id),
    (SELECT count(*) FROM contents e WHERE e.campaign_id = c.id),
    (SELECT count(*) FROM contents e WHERE e.campaign_id = c.id
        AND e.send_status IN {PENDING}),
    (SELECT count(e.sent_at) FROM contents e WHERE e.campaign_id = c.id),
    (SELECT max(e.sent_at) FROM contents e WHERE e.campaign_id = c.id)
FROM campaigns c
"""

# ---------------------------------------------------------------- SQLite: row triggers

SQLITE_SIZES = (
    [
        f"""
    CREATE TRIGGER figures_{table}_insert AFTER INSERT ON {table} BEGIN
        UPDATE campaign_figures SET {table} = {table} + 1 WHERE campaign_id = new.campaign_id;
    END
    """
        for table in ("prospects", "contacts")
    ]
    + [
        f"""
    CREATE TRIGGER figures_{table}_delete AFTER DELETE ON {table} BEGIN
        UPDATE campaign_figures SET {table} = {table} - 1 WHERE campaign_id = old.campaign_id;
    END
    """
        for table in ("prospects", "contacts")
    ]
    + [
        f"""
    CREATE TRIGGER figures_{table}_move AFTER UPDATE OF campaign_id ON {table}
    WHEN old.campaign_id IS NOT new.campaign_id BEGIN
        UPDATE campaign_figures SET {table} = {table} - 1 WHERE campaign_id = old.campaign_id;
        UPDATE campaign_figures SET {table} = {table} + 1 WHERE campaign_id = new.campaign_id;
    END
    """
        for table in ("prospects", "contacts")
    ]
)

# What one content adds to its campaign's figures, as SET clauses (`row` is new or old).
_ADD = """
    contents = contents + 1,
    pending = pending + ({row}.send_status IN {pending}),
    sent = sent + ({row}.sent_at IS NOT NULL),
    last_sent_at = CASE WHEN {row}.sent_at IS NOT NULL
        AND (last_sent_at IS NULL OR {row}.sent_at > last_sent_at)
        THEN {row}.sent_at ELSE last_sent_at END
"""
_REMOVE = """
    contents = contents - 1,
    pending = pending - ({row}.send_status IN {pending}),
    sent = sent - ({row}.sent_at IS NOT NULL),
    last_sent_at = CASE WHEN {row}.sent_at IS NOT NULL AND {row}.sent_at >= last_sent_at
        THEN (SELECT max(sent_at) FROM contents WHERE campaign_id = {row}.campaign_id)
        ELSE last_sent_at END
"""

SQLITE_CONTENTS = [
    f"""
    CREATE TRIGGER figures_contents_insert AFTER INSERT ON contents BEGIN
        UPDATE campaign_figures SET {_ADD.format(row="new", pending=PENDING)}
        WHERE campaign_id = new.campaign_id;
    END
    """,
    f"""
    CREATE TRIGGER figures_contents_delete AFTER DELETE ON contents BEGIN
        UPDATE campaign_figures SET {_REMOVE.format(row="old", pending=PENDING)}
        WHERE campaign_id = old.campaign_id;
    END
    """,
    # A change within the campaign: one UPDATE of its figures.
    f"""
    CREATE TRIGGER figures_contents_change
    AFTER UPDATE OF send_status, sent_at, campaign_id ON contents
    WHEN old.campaign_id IS new.campaign_id
        AND (old.send_status IS NOT new.send_status OR old.sent_at IS NOT new.sent_at)
    BEGIN
        UPDATE campaign_figures SET
            pending = pending - (old.send_status IN {PENDING})
                + (new.send_status IN {PENDING}),
            sent = sent - (old.sent_at IS NOT NULL) + (new.sent_at IS NOT NULL),
            last_sent_at = CASE
                WHEN old.sent_at IS NOT NULL AND old.sent_at >= last_sent_at
                    AND (new.sent_at IS NULL OR new.sent_at < old.sent_at)
                THEN (SELECT max(sent_at) FROM contents WHERE campaign_id = new.campaign_id)
                WHEN new.sent_at IS NOT NULL
                    AND (last_sent_at IS NULL OR new.sent_at > last_sent_at)
                THEN new.sent_at
                ELSE last_sent_at END
        WHERE campaign_id = new.campaign_id;
    END
    """,
    f"""
    CREATE TRIGGER figures_contents_move
    AFTER UPDATE OF campaign_id ON contents
    WHEN old.campaign_id IS NOT new.campaign_id
    BEGIN
        UPDATE campaign_figures SET {_REMOVE.format(row="old", pending=PENDING)}
        WHERE campaign_id = old.campaign_id;
        UPDATE campaign_figures SET {_ADD.format(row="new", pending=PENDING)}
        WHERE campaign_id = new.campaign_id;
    END
    """,
]

SQLITE_CAMPAIGNS = [
    """
    CREATE TRIGGER figures_campaign_insert AFTER INSERT ON campaigns BEGIN
        INSERT INTO campaign_figures (campaign_id) VALUES (new.id);
    END
    """,
    # Gone before the campaign's rows cascade: their triggers then update nothing.
    """
    CREATE TRIGGER figures_campaign_delete BEFORE DELETE ON campaigns BEGIN
        DELETE FROM campaign_figures WHERE campaign_id = old.id;
    END
    """,
]

SQLITE_TRIGGERS = (
    "figures_prospects_insert",
    "figures_contacts_insert",
    "figures_prospects_delete",
    "figures_contacts_delete",
    "figures_prospects_move",
    "figures_contacts_move",
    "figures_contents_insert",
    "figures_contents_delete",
    "figures_contents_change",
    "figures_contents_move",
    "figures_campaign_insert",
    "figures_campaign_delete",
)

# ------------------------------------------------- PostgreSQL: statement triggers

# Per campaign: (campaign_id, dc, dp, ds, removed, added): the changes of contents,
# pending and sent, the newest sent_at taken away (the max is then looked up again when
# it was the campaign's newest) and the newest brought in. Applied in campaign order
# (two statements touching the same campaigns lock their figures in the same order),
# and only where something changed.
_PG_APPLY = """
    CREATE FUNCTION tune_figures_contents_{kind}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
        FOR r IN
            {changed}
            SELECT campaign_id, sum(dc) AS dc, sum(dp) AS dp, sum(ds) AS ds,
                max(removed) AS removed, max(added) AS added
            FROM ({deltas}) AS d
            GROUP BY campaign_id ORDER BY campaign_id
        LOOP
            IF r.dc <> 0 OR r.dp <> 0 OR r.ds <> 0 OR r.removed IS NOT NULL
                OR r.added IS NOT NULL THEN
                UPDATE campaign_figures f SET
                    contents = f.contents + r.dc,
                    pending = f.pending + r.dp,
                    sent = f.sent + r.ds,
                    last_sent_at = CASE
                        WHEN r.removed IS NOT NULL AND r.removed >= f.last_sent_at
                        THEN (SELECT max(e.sent_at) FROM contents e
                              WHERE e.campaign_id = r.campaign_id)
                        ELSE greatest(f.last_sent_at, r.added) END
                WHERE f.campaign_id = r.campaign_id;
            END IF;
        END LOOP;
        RETURN NULL;
    END $$
"""

_PG_CONTENT_DELTAS = {
    "insert": f"""
        SELECT n.campaign_id, 1 AS dc, (n.send_status IN {PENDING})::int AS dp,
            (n.sent_at IS NOT NULL)::int AS ds, NULL::timestamptz AS removed,
            n.sent_at AS added
        FROM new_rows n
    """,
    "delete": f"""
        SELECT o.campaign_id, -1 AS dc, -(o.send_status IN {PENDING})::int AS dp,
            -(o.sent_at IS NOT NULL)::int AS ds, o.sent_at AS removed,
            NULL::timestamptz AS added
        FROM old_rows o
    """,
    # Each changed row leaves its old campaign's figures and enters its new one's.
    "update": f"""
        SELECT o_campaign AS campaign_id, -(o_campaign <> n_campaign)::int AS dc,
            -(o_status IN {PENDING})::int AS dp, -(o_sent IS NOT NULL)::int AS ds,
            CASE WHEN o_campaign <> n_campaign OR n_sent IS NULL OR n_sent < o_sent
                THEN o_sent END AS removed,
            NULL::timestamptz AS added
        FROM changed
        UNION ALL
        SELECT n_campaign, (o_campaign <> n_campaign)::int, (n_status IN {PENDING})::int,
            (n_sent IS NOT NULL)::int, NULL::timestamptz,
            CASE WHEN o_campaign <> n_campaign OR o_sent IS DISTINCT FROM n_sent
                THEN n_sent END
        FROM changed
    """,
}

# Only the rows whose figures-relevant columns changed: the tracking writes to
# first_opened_at and the like go through without touching the figures.
_PG_CHANGED = """
            WITH changed AS (
                SELECT o.campaign_id AS o_campaign, o.send_status AS o_status,
                    o.sent_at AS o_sent, n.campaign_id AS n_campaign,
                    n.send_status AS n_status, n.sent_at AS n_sent
                FROM old_rows o JOIN new_rows n ON n.id = o.id
                WHERE (o.campaign_id, o.send_status, o.sent_at)
                    IS DISTINCT FROM (n.campaign_id, n.send_status, n.sent_at)
            )
"""


def _pg_contents_function(kind: str) -> str:
    changed = _PG_CHANGED if kind == "update" else ""
    return _PG_APPLY.format(kind=kind, changed=changed, deltas=_PG_CONTENT_DELTAS[kind])


def _pg_size_function(table: str, kind: str) -> str:
    sign, rows = ("+", "new_rows") if kind == "insert" else ("-", "old_rows")
    return f"""
        CREATE FUNCTION tune_figures_{table}_{kind}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT campaign_id, count(*) AS n FROM {rows}
                GROUP BY campaign_id ORDER BY campaign_id
            LOOP
                UPDATE campaign_figures SET {table} = {table} {sign} r.n
                WHERE campaign_id = r.campaign_id;
            END LOOP;
            RETURN NULL;
        END $$
    """


def _pg_move_function(table: str) -> str:
    return f"""
        CREATE FUNCTION tune_figures_{table}_move() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE campaign_figures SET {table} = {table} - 1
            WHERE campaign_id = OLD.campaign_id;
            UPDATE campaign_figures SET {table} = {table} + 1
            WHERE campaign_id = NEW.campaign_id;
            RETURN NULL;
        END $$
    """


PG_CAMPAIGN_FUNCTION = """
    CREATE FUNCTION tune_figures_campaign_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO campaign_figures (campaign_id) SELECT id FROM new_rows;
        RETURN NULL;
    END $$
"""

_TRANSITION = {"insert": "NEW TABLE AS new_rows", "delete": "OLD TABLE AS old_rows"}
_TRANSITION["update"] = "OLD TABLE AS old_rows NEW TABLE AS new_rows"


def _pg_statements() -> list[str]:
    statements: list[str] = [PG_CAMPAIGN_FUNCTION]
    statements.append(
        """
        CREATE TRIGGER figures_campaign_insert AFTER INSERT ON campaigns
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION tune_figures_campaign_insert()
        """
    )
    for table in ("prospects", "contacts"):
        for kind in ("insert", "delete"):
            statements.append(_pg_size_function(table, kind))
            statements.append(
                f"""
                CREATE TRIGGER figures_{table}_{kind} AFTER {kind.upper()} ON {table}
                REFERENCING {_TRANSITION[kind]}
                FOR EACH STATEMENT EXECUTE FUNCTION tune_figures_{table}_{kind}()
                """
            )
        statements.append(_pg_move_function(table))
        statements.append(
            f"""
            CREATE TRIGGER figures_{table}_move AFTER UPDATE OF campaign_id ON {table}
            FOR EACH ROW WHEN (OLD.campaign_id IS DISTINCT FROM NEW.campaign_id)
            EXECUTE FUNCTION tune_figures_{table}_move()
            """
        )
    for kind in ("insert", "delete", "update"):
        statements.append(_pg_contents_function(kind))
        statements.append(
            f"""
            CREATE TRIGGER figures_contents_{kind} AFTER {kind.upper()} ON contents
            REFERENCING {_TRANSITION[kind]}
            FOR EACH STATEMENT EXECUTE FUNCTION tune_figures_contents_{kind}()
            """
        )
    return statements


PG_TRIGGERS = (
    [("figures_campaign_insert", "campaigns", "tune_figures_campaign_insert")]
    + [
        (f"figures_{table}_{kind}", table, f"tune_figures_{table}_{kind}")
        for table in ("prospects", "contacts")
        for kind in ("insert", "delete", "move")
    ]
    + [
        (f"figures_contents_{kind}", "contents", f"tune_figures_contents_{kind}")
        for kind in ("insert", "delete", "update")
    ]
)


def upgrade() -> None:
    op.create_table(
        "campaign_figures",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("prospects", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("contacts", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("contents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("pending", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sent", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_figures_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_figures")),
    )
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    if not is_sqlite:
        # No campaign row may change between the backfill and the triggers.
        op.execute("LOCK TABLE campaigns, prospects, contacts, contents IN SHARE MODE")
    op.execute(BACKFILL)
    statements = (
        SQLITE_SIZES + SQLITE_CONTENTS + SQLITE_CAMPAIGNS if is_sqlite else _pg_statements()
    )
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    else:
        for name, table, function in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {function}()")
    op.drop_table("campaign_figures")
