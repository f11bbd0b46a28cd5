"""mailboxes: sending identities, the campaigns that use them, send slots, assignments

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("from_address", sa.String(length=254), nullable=False),
        sa.Column("from_name", sa.String(length=200), nullable=False),
        sa.Column("smtp_url", sa.String(length=500), nullable=False),
        sa.Column("smtp_password_sealed", sa.Text(), nullable=True),
        sa.Column("imap_url", sa.String(length=500), nullable=True),
        sa.Column("imap_password_sealed", sa.Text(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        sa.Column("hourly_cap", sa.Integer(), nullable=False),
        sa.Column("min_gap_seconds", sa.Integer(), nullable=False),
        sa.Column("warmup_start", sa.Integer(), nullable=True),
        sa.Column("warmup_step", sa.Integer(), nullable=False),
        sa.Column("warmup_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailboxes")),
        sa.UniqueConstraint("name", name=op.f("uq_mailboxes_name")),
    )
    op.create_table(
        "campaign_mailboxes",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_mailboxes_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_campaign_mailboxes_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "mailbox_id", name=op.f("pk_campaign_mailboxes")),
    )
    op.create_index(
        op.f("ix_campaign_mailboxes_mailbox_id"),
        "campaign_mailboxes",
        ["mailbox_id"],
        unique=False,
    )
    op.create_table(
        "send_slots",
        sa.Column("id", BigId, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_slots")),
    )
    op.create_index("ix_send_slots_key_time", "send_slots", ["key", "taken_at"], unique=False)
    for table in ("contacts", "contents"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("mailbox_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                op.f(f"fk_{table}_mailbox_id_mailboxes"),
                "mailboxes",
                ["mailbox_id"],
                ["id"],
                ondelete="SET NULL",
            )
            batch_op.create_index(op.f(f"ix_{table}_mailbox_id"), ["mailbox_id"], unique=False)


def downgrade() -> None:
    for table in ("contents", "contacts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(op.f(f"ix_{table}_mailbox_id"))
            batch_op.drop_constraint(op.f(f"fk_{table}_mailbox_id_mailboxes"), type_="foreignkey")
            batch_op.drop_column("mailbox_id")
    op.drop_table("send_slots")
    op.drop_index(op.f("ix_campaign_mailboxes_mailbox_id"), table_name="campaign_mailboxes")
    op.drop_table("campaign_mailboxes")
    op.drop_table("mailboxes")
