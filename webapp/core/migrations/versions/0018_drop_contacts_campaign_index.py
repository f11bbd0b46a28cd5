"""contacts: drop `ix_contacts_campaign_id`, which two other indexes already serve

Every contact an import writes maintained three B-trees that begin with
`campaign_id`: this one, the unique constraint `uq_contacts_campaign_email`
(campaign_id, email) and `ix_contacts_search` (campaign_id, email, ...). A
query that filters on the campaign alone can use either of the other two, so
this one only cost a B-tree insert per imported contact. Downgrading creates it
again.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 10:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_contacts_campaign_id", table_name="contacts")


def downgrade() -> None:
    op.create_index("ix_contacts_campaign_id", "contacts", ["campaign_id"], unique=False)
