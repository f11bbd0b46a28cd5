"""the prospect list's sorts: by last activity and by name, within a tier

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
    op.create_index(
        "ix_prospects_tier_activity",
        "prospects",
        ["campaign_id", "tier", "last_activity_at", "score", "id"],
    )
    op.create_index(
        "ix_prospects_tier_name",
        "prospects",
        ["campaign_id", "tier", sa.text("lower(name)"), "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_prospects_tier_name", table_name="prospects")
    op.drop_index("ix_prospects_tier_activity", table_name="prospects")
