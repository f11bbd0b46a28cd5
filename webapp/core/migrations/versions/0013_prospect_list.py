"""the prospect list's sorts (by last activity, by name), its filters' index on the
emails, and the reworded email reason

The "+5 personal email address" reason meant a named person's mailbox (not a
free-mail account); stored reasons get the new words, as re-scoring would give.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD_LABEL = '"personal email address"'
NEW_LABEL = '"mailbox of a named person"'


def _relabel(old: str, new: str) -> None:
    column = "score_reasons"
    if op.get_bind().dialect.name == "postgresql":
        column = "score_reasons::text"
    value = f"replace({column}, :old, :new)"
    if op.get_bind().dialect.name == "postgresql":
        value = f"({value})::json"
    statement = f"UPDATE prospects SET score_reasons = {value} WHERE {column} LIKE :pattern"  # noqa: S608 (constants only)
    op.execute(sa.text(statement).bindparams(old=old, new=new, pattern=f"%{old}%"))


def upgrade() -> None:
    _relabel(OLD_LABEL, NEW_LABEL)
    op.create_index(
        "ix_prospects_tier_activity",
        "prospects",
        ["campaign_id", "tier", "last_activity_at", "score", "id"],
    )
    op.create_index(
        "ix_contents_prospect_engagement",
        "contents",
        [
            "campaign_id",
            "prospect_id",
            "sent_at",
            "first_opened_at",
            "first_clicked_at",
            "replied_at",
        ],
    )
    op.create_index(
        "ix_prospects_tier_name",
        "prospects",
        ["campaign_id", "tier", sa.text("lower(name)"), "id"],
    )


def downgrade() -> None:
    _relabel(NEW_LABEL, OLD_LABEL)
    op.drop_index("ix_prospects_tier_name", table_name="prospects")
    op.drop_index("ix_prospects_tier_activity", table_name="prospects")
    op.drop_index("ix_contents_prospect_engagement", table_name="contents")
