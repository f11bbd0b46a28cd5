"""the follow-up list's index of human signals, and indexes for prospect search

* `ix_events_human_signals`: the columns the follow-up list reads, for unflagged
  events only, so the list reads a campaign's last days from the index alone.
* Prospect search (a substring of company, domain, contact email or name):
  on PostgreSQL, trigram GIN indexes on the lower-cased columns (`pg_trgm`; when
  the extension cannot be created the search stays a scan, as before); on SQLite,
  two FTS5 tables with the trigram tokenizer (`prospect_terms`, `contact_terms`)
  holding the lower-cased text, kept in step with prospects and contacts by triggers.

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
SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE prospect_terms USING fts5("
    "name, domain, tokenize = 'trigram case_sensitive 1')",
    "CREATE VIRTUAL TABLE contact_terms USING fts5("
    "email, full_name, prospect_id UNINDEXED, tokenize = 'trigram case_sensitive 1')",
    "INSERT INTO prospect_terms (rowid, name, domain) "
    "SELECT id, lower(name), lower(coalesce(domain, '')) FROM prospects",
    "INSERT INTO contact_terms (rowid, email, full_name, prospect_id) "
    "SELECT id, lower(email), lower(coalesce(first_name, '') || ' ' || "
    "coalesce(last_name, '')), prospect_id FROM contacts",
    "CREATE TRIGGER prospect_terms_insert AFTER INSERT ON prospects BEGIN "
    "INSERT INTO prospect_terms (rowid, name, domain) "
    "VALUES (new.id, lower(new.name), lower(coalesce(new.domain, ''))); END",
    "CREATE TRIGGER prospect_terms_update AFTER UPDATE OF name, domain ON prospects BEGIN "
    "DELETE FROM prospect_terms WHERE rowid = old.id; "
    "INSERT INTO prospect_terms (rowid, name, domain) "
    "VALUES (new.id, lower(new.name), lower(coalesce(new.domain, ''))); END",
    "CREATE TRIGGER prospect_terms_delete AFTER DELETE ON prospects BEGIN "
    "DELETE FROM prospect_terms WHERE rowid = old.id; END",
    "CREATE TRIGGER contact_terms_insert AFTER INSERT ON contacts BEGIN "
    "INSERT INTO contact_terms (rowid, email, full_name, prospect_id) VALUES (new.id, "
    "lower(new.email), lower(coalesce(new.first_name, '') || ' ' || "
    "coalesce(new.last_name, '')), new.prospect_id); END",
    "CREATE TRIGGER contact_terms_update AFTER UPDATE OF email, first_name, last_name, "
    "prospect_id ON contacts BEGIN "
    "DELETE FROM contact_terms WHERE rowid = old.id; "
    "INSERT INTO contact_terms (rowid, email, full_name, prospect_id) VALUES (new.id, "
    "lower(new.email), lower(coalesce(new.first_name, '') || ' ' || "
    "coalesce(new.last_name, '')), new.prospect_id); END",
    "CREATE TRIGGER contact_terms_delete AFTER DELETE ON contacts BEGIN "
    "DELETE FROM contact_terms WHERE rowid = old.id; END",
]
SQLITE_OBJECTS = [
    ("TRIGGER", "prospect_terms_insert"),
    ("TRIGGER", "prospect_terms_update"),
    ("TRIGGER", "prospect_terms_delete"),
    ("TRIGGER", "contact_terms_insert"),
    ("TRIGGER", "contact_terms_update"),
    ("TRIGGER", "contact_terms_delete"),
    ("TABLE", "prospect_terms"),
    ("TABLE", "contact_terms"),
]


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
    dialect = op.get_bind().dialect.name
    op.create_index(
        "ix_events_human_signals",
        "events",
        SIGNAL_COLUMNS,
        sqlite_where=sa.text("flagged = 0"),
        postgresql_where=sa.text("flagged = false"),
    )
    if dialect == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    elif dialect == "postgresql" and _trigram_extension():
        for name, (table, expression) in TRIGRAM_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {table} USING gin ({expression} gin_trgm_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for kind, name in SQLITE_OBJECTS:
            op.execute(f"DROP {kind} IF EXISTS {name}")
    elif dialect == "postgresql":
        for name in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_events_human_signals", table_name="events")
