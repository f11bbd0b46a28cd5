"""events keep the version of the rules that judged them

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("ruleset", sa.SmallInteger(), nullable=True))
    # Hits judged before this revision were judged by the first rules (version 1).
    op.execute("UPDATE events SET ruleset = 1 WHERE source IN ('pixel', 'link', 'inferred')")


def downgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_column("ruleset")
