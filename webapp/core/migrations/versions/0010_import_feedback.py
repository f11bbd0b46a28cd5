"""import jobs keep their total, warnings, header and rejected rows

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 23:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("total", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("warned", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("warnings", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("columns", sa.JSON(), nullable=True))
    op.create_table(
        "import_rejects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_rejects_job_id_import_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_rejects")),
    )
    op.create_index(
        op.f("ix_import_rejects_job_id_line"), "import_rejects", ["job_id", "line"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_import_rejects_job_id_line"), table_name="import_rejects")
    op.drop_table("import_rejects")
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("columns")
        batch_op.drop_column("warnings")
        batch_op.drop_column("warned")
        batch_op.drop_column("total")
