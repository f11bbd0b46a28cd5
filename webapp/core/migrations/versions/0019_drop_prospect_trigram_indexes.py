"""prospects: drop the two trigram indexes prospect search cannot use (PostgreSQL)

Prospect search (`prospects.listing.search_condition`) is one OR of the
company's name, its domain and "one of its contacts matches" (a hashed
subplan over contacts). PostgreSQL serves an OR from indexes only when every
arm can be: the subplan arm cannot, so the list reads the campaign's prospects
through a B-tree and filters them, and `ix_prospects_name_trgm` and
`ix_prospects_domain_trgm` (migration 0014) are never read. The contacts'
trigram indexes stay: the subplan reads them. Each imported prospect cost
both GIN indexes' upkeep (15-40 µs a prospect between them, 40,000
prospects inserted at once: 0.6-1.6 s). SQLite never had them. Downgrading
creates them again where `pg_trgm` is installed.

The revision follows from `NUMBER` alone (Revision ID: 0019, Revises: 0018).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

NUMBER = 19
revision: str = f"{NUMBER:04d}"
down_revision: str | None = f"{NUMBER - 1:04d}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = {
    "ix_prospects_name_trgm": "lower(name)",
    "ix_prospects_domain_trgm": "lower(domain)",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in DROPPED:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    installed = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"))
    if installed.first() is None:
        return
    for name, expression in DROPPED.items():
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON prospects USING gin ({expression} gin_trgm_ops)"
        )
