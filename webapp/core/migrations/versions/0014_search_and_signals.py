"""the follow-up list's index of human signals, and indexes for prospect search

* `ix_events_human_signals`: the columns the follow-up list reads, for unflagged
  events only, so the list reads a campaign's last days from the index alone.
* Prospect search (a substring of company, domain, contact email or name, which
  no B-tree can seek): `ix_prospects_search` and `ix_contacts_search` cover what
  the search and the list's order read, so SQLite scans those indexes instead of
  the rows; on PostgreSQL, trigram GIN indexes on the lower-cased columns
  (`pg_trgm`; when the extension cannot be created the search stays a scan).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNAL_COLUMNS = [
    "campaign_id",
    "occurred_at",
    "prospect_id",
    "contact_id",
    "kind",
    "source",
    "flagged",
]
FULL_NAME = "lower(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))"
TRIGRAM_INDEXES = {
    "ix_prospects_name_trgm": ("prospects", "lower(name)"),
    "ix_prospects_domain_trgm": ("prospects", "lower(domain)"),
    "ix_contacts_email_trgm": ("contacts", "lower(email)"),
    "ix_contacts_name_trgm": ("contacts", FULL_NAME),
}


def _trigram_extension() -> bool:
    """Whether pg_trgm is there or could be created (a savepoint keeps a refusal
    from aborting the migration's transaction)."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        return False
    return True


def upgrade() -> None:
    op.create_index(
        "ix_events_human_signals",
        "events",
        SIGNAL_COLUMNS,
        sqlite_where=sa.text("flagged = 0"),
        postgresql_where=sa.text("flagged = false"),
    )
    op.create_index(
        "ix_prospects_search",
        "prospects",
        ["campaign_id", "tier", "name", "domain", "last_activity_at", "score", "hot"],
    )
    op.create_index(
        "ix_contacts_search",
        "contacts",
        ["campaign_id", "email", "first_name", "last_name", "prospect_id"],
    )
    if op.get_bind().dialect.name == "postgresql" and _trigram_extension():
        for name, (table, expression) in TRIGRAM_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {table} USING gin ({expression} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_contacts_search", table_name="contacts")
    op.drop_index("ix_prospects_search", table_name="prospects")
    op.drop_index("ix_events_human_signals", table_name="events")
