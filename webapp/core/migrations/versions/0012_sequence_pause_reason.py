"""why a sequence is paused (a rep, or an out-of-office answer), contacts by return date,
and a step's test-then-winner send

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sequence_enrollments") as batch_op:
        batch_op.add_column(sa.Column("pause_reason", sa.String(length=40), nullable=True))
    op.create_index("ix_contacts_return_at", "contacts", ["return_at"])
    with op.batch_alter_table("sequence_steps") as batch_op:
        batch_op.add_column(sa.Column("test_share", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("test_wait", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("test_wait_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("test_started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("winner", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("winner_reason", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sequence_steps") as batch_op:
        for name in (
            "winner_reason",
            "winner",
            "test_started_at",
            "test_wait_seconds",
            "test_wait",
            "test_share",
        ):
            batch_op.drop_column(name)
    op.drop_index("ix_contacts_return_at", table_name="contacts")
    with op.batch_alter_table("sequence_enrollments") as batch_op:
        batch_op.drop_column("pause_reason")
