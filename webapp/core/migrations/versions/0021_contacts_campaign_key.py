"""contacts: no foreign key to their campaign; the prospect's still deletes them with it

A contact's campaign is its prospect's, and `fk_contacts_prospect_id_prospects`
(kept) deletes the contact with its prospect, which `fk_prospects_campaign_id_campaigns`
deletes with its campaign: deleting a campaign deletes its contacts exactly as
before. The second key checked each inserted contact against its campaign row
(on PostgreSQL a query and a row lock per contact): 100,000 contacts inserted
in one statement took about 1.0 s less of the database's CPU without it, of
6.2-7.2 s (docs/benchmarks.md, "CSV import"). Nothing read through it.

On SQLite dropping a key copies the table, which drops its triggers (the
campaign figures' of migration 0017): they are created again as they were.
Downgrading creates the key again.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "fk_contacts_campaign_id_campaigns"


def _alter(change: str) -> None:
    bind = op.get_bind()
    triggers: list[str] = []
    if bind.dialect.name == "sqlite":
        triggers = [
            str(sql)
            for (sql,) in bind.execute(
                sa.text(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name = 'contacts' ORDER BY name"
                )
            )
        ]
    with op.batch_alter_table("contacts") as batch:  # SQLite copies the table
        if change == "drop":
            batch.drop_constraint(KEY, type_="foreignkey")
        else:
            batch.create_foreign_key(KEY, "campaigns", ["campaign_id"], ["id"], ondelete="CASCADE")
    for sql in triggers:
        op.execute(sql)


def upgrade() -> None:
    _alter("drop")


def downgrade() -> None:
    _alter("create")
