"""events of one email by time: the event writer reads an email's hits of the last
seconds to judge a click

The index on `events.content_id` alone made that read visit every event the email
ever had; (content_id, occurred_at) reads only the recent ones and still serves
every lookup by email.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 02:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_content_time", "events", ["content_id", "occurred_at"])
    op.drop_index("ix_events_content_id", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_content_id", "events", ["content_id"])
    op.drop_index("ix_events_content_time", table_name="events")
