"""sequences: steps, step templates, variants, enrollments; contents per step

Every existing campaign becomes a one-step sequence (its emails are step 1, variant A),
so what was sent before keeps its meaning.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("account_stop", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("send_days", sa.String(length=7), server_default="1234567", nullable=False)
        )
        batch_op.add_column(
            sa.Column("send_from_hour", sa.SmallInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("send_until_hour", sa.SmallInteger(), server_default="24", nullable=False)
        )
        batch_op.add_column(
            sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False)
        )
        batch_op.add_column(
            sa.Column("winner_metric", sa.String(length=10), server_default="reply", nullable=False)
        )

    with op.batch_alter_table("contents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("step", sa.SmallInteger(), server_default="1", nullable=False)
        )
        batch_op.add_column(
            sa.Column("variant", sa.SmallInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("in_reply_to", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("thread_refs", sa.Text(), nullable=True))
        batch_op.drop_constraint("uq_contents_campaign_contact", type_="unique")
        batch_op.create_unique_constraint(
            "uq_contents_campaign_contact_step", ["campaign_id", "contact_id", "step"]
        )

    op.create_table(
        "sequence_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("delay", sa.String(length=40), nullable=False),
        sa.Column("delay_seconds", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(length=24), nullable=False),
        sa.Column("as_reply", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_sequence_steps_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_steps")),
        sa.UniqueConstraint("campaign_id", "position", name="uq_sequence_steps_campaign_position"),
    )
    op.create_table(
        "sequence_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["sequence_steps.id"],
            name=op.f("fk_sequence_variants_step_id_sequence_steps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_variants")),
        sa.UniqueConstraint("step_id", "variant", name="uq_sequence_variants_step_variant"),
    )
    op.create_table(
        "step_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.SmallInteger(), nullable=False),
        sa.Column("tier", sa.SmallInteger(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["sequence_steps.id"],
            name=op.f("fk_step_templates_step_id_sequence_steps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_templates")),
        sa.UniqueConstraint(
            "step_id", "variant", "tier", name="uq_step_templates_step_variant_tier"
        ),
    )
    op.create_table(
        "sequence_enrollments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("prospect_id", BIG_ID, nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("step", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sa.String(length=40), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_sequence_enrollments_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_sequence_enrollments_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prospect_id"],
            ["prospects.id"],
            name=op.f("fk_sequence_enrollments_prospect_id_prospects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_enrollments")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_sequence_enrollments_contact_id")),
    )
    with op.batch_alter_table("sequence_enrollments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sequence_enrollments_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sequence_enrollments_prospect_id"), ["prospect_id"], unique=False
        )
        batch_op.create_index("ix_sequence_enrollments_due", ["due_at"], unique=False)

    # Existing campaigns: a one-step sequence whose step 1 is the email they already have.
    campaigns = sa.table("campaigns", sa.column("id"), sa.column("created_at"))
    steps = sa.table(
        "sequence_steps",
        sa.column("campaign_id"),
        sa.column("position"),
        sa.column("delay"),
        sa.column("delay_seconds"),
        sa.column("condition"),
        sa.column("as_reply"),
        sa.column("enabled"),
        sa.column("created_at"),
    )
    op.execute(
        steps.insert().from_select(
            [
                "campaign_id",
                "position",
                "delay",
                "delay_seconds",
                "condition",
                "as_reply",
                "enabled",
                "created_at",
            ],
            sa.select(
                campaigns.c.id,
                sa.literal(1),
                sa.literal("PT0S"),
                sa.literal(0),
                sa.literal("no_reply"),
                sa.false(),
                sa.true(),
                campaigns.c.created_at,
            ),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("sequence_enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_sequence_enrollments_due")
        batch_op.drop_index(batch_op.f("ix_sequence_enrollments_prospect_id"))
        batch_op.drop_index(batch_op.f("ix_sequence_enrollments_campaign_id"))
    op.drop_table("sequence_enrollments")
    op.drop_table("step_templates")
    op.drop_table("sequence_variants")
    op.drop_table("sequence_steps")
    # Later steps have no place in a one-email-per-contact table.
    op.execute("DELETE FROM contents WHERE step > 1")
    with op.batch_alter_table("contents", schema=None) as batch_op:
        batch_op.drop_constraint("uq_contents_campaign_contact_step", type_="unique")
        batch_op.create_unique_constraint(
            "uq_contents_campaign_contact", ["campaign_id", "contact_id"]
        )
        batch_op.drop_column("thread_refs")
        batch_op.drop_column("in_reply_to")
        batch_op.drop_column("variant")
        batch_op.drop_column("step")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("winner_metric")
        batch_op.drop_column("timezone")
        batch_op.drop_column("send_until_hour")
        batch_op.drop_column("send_from_hour")
        batch_op.drop_column("send_days")
        batch_op.drop_column("account_stop")
