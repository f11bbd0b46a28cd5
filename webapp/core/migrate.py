"""Apply and inspect Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


SEARCH_INDEXES = frozenset(
    {
        "ix_prospects_name_trgm",
        "ix_prospects_domain_trgm",
        "ix_contacts_email_trgm",
        "ix_contacts_name_trgm",
    }
)
"""PostgreSQL's trigram indexes for prospect search (migration 0014; 0019 drops the two on
prospects): made only where `pg_trgm` is available, so they are not in the models."""


SQLITE_ONLY_KEYS = frozenset({"fk_events_link_id_links"})
"""Foreign keys SQLite keeps and PostgreSQL dropped (migration 0022: events to links),
so they are not in the models."""


POSTGRES_ONLY = frozenset({("events", "txid"), ("events", "ix_events_txid_id")})
"""The event feed's transaction id and its index (migration 0024), `(table, name)`:
PostgreSQL's alone, written by the database, so they are not in the models."""


def modelled(name: str | None, type_: str, parent_names: Mapping[Any, str | None]) -> bool:
    """Alembic `include_name`: leave the trigram indexes, SQLite's own keys and
    PostgreSQL's event transaction ids out of comparisons."""
    if type_ == "foreign_key_constraint":
        return name not in SQLITE_ONLY_KEYS
    if (parent_names.get("table_name"), name) in POSTGRES_ONLY:
        return False
    return not (type_ == "index" and name in SEARCH_INDEXES)


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision`. Blocking: call outside the event loop or in a thread."""
    command.upgrade(alembic_config(database_url), revision)


@cache
def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )
