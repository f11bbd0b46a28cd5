"""the rep's workspace: follow-up states and recorded outcomes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "followup_states",
        sa.Column("prospect_id", BigId, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=16), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_followup_states_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prospect_id"],
            ["prospects.id"],
            name=op.f("fk_followup_states_prospect_id_prospects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prospect_id", name=op.f("pk_followup_states")),
    )
    op.create_index(
        op.f("ix_followup_states_campaign_id"), "followup_states", ["campaign_id"], unique=False
    )
    op.create_table(
        "prospect_outcomes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("prospect_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_prospect_outcomes_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_prospect_outcomes_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["prospect_id"],
            ["prospects.id"],
            name=op.f("fk_prospect_outcomes_prospect_id_prospects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_prospect_outcomes_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prospect_outcomes")),
    )
    op.create_index(
        op.f("ix_prospect_outcomes_campaign_id"), "prospect_outcomes", ["campaign_id"], unique=False
    )
    op.create_index(
        op.f("ix_prospect_outcomes_contact_id"), "prospect_outcomes", ["contact_id"], unique=False
    )
    op.create_index(
        op.f("ix_prospect_outcomes_user_id"), "prospect_outcomes", ["user_id"], unique=False
    )
    op.create_index(
        "ix_prospect_outcomes_prospect_time",
        "prospect_outcomes",
        ["prospect_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("prospect_outcomes")
    op.drop_table("followup_states")
