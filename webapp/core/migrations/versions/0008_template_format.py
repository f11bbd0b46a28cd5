"""templates written in Markdown beside raw HTML

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("templates") as batch:
        batch.add_column(
            sa.Column("format", sa.String(length=10), server_default="html", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("templates") as batch:
        batch.drop_column("format")
