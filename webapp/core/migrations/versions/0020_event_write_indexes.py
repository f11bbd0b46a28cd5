"""what a tracked event no longer maintains: three foreign-key checks, the link
index for opens, one B-tree of a prospect's new last activity, and `ix_contacts_email`

Every human open or click writes an events row and moves its prospect's
`last_activity_at`; on PostgreSQL neither is a HOT update, so each writes an entry
in every index of its table (docs/benchmarks.md has the count):

* `ix_events_link_id` held an entry for every event, though only clicks have a
  link: it is now partial (`link_id IS NOT NULL`). The reads that use it (a
  campaign's and an email's clicks per link, and the `ON DELETE SET NULL` of a
  deleted link) all compare `link_id`, which implies the predicate, so both
  databases still seek it.
* `ix_prospects_campaign_activity` (campaign_id, last_activity_at) served no
  query: the prospect list's activity sort walks `ix_prospects_tier_activity`
  (campaign_id, tier, last_activity_at, score, id), and nothing else orders or
  filters a campaign's prospects by activity.
* `ix_contacts_email` (the address alone) served no query either: Tune compares
  `lower(email)` (the inbox's matching, suppressions), which only the trigram
  index (PostgreSQL) or a campaign's own indexes serve. It cost every imported
  contact a B-tree entry.
* The events' foreign keys to their campaign, contact and prospect: PostgreSQL
  checked each inserted event against those three rows (a query and a row lock
  each, 60 of a 20-event batch's 86 statements). An event's campaign, contact
  and prospect are those of its email (`content_id`), copied by the writer from
  the email row it holds locked, and the email's foreign key (kept) deletes the
  event with the email: deleting a campaign, prospect or contact deletes their
  emails, and with them their events, as before.

Downgrading creates all of it as it was.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLICKS_ONLY = "link_id IS NOT NULL"
OWNERS = {
    "fk_events_campaign_id_campaigns": ("campaign_id", "campaigns"),
    "fk_events_contact_id_contacts": ("contact_id", "contacts"),
    "fk_events_prospect_id_prospects": ("prospect_id", "prospects"),
}
"""The foreign keys an event no longer has: name, its column and the table it named."""


def upgrade() -> None:
    op.drop_index("ix_events_link_id", table_name="events")
    op.create_index(
        "ix_events_link_id",
        "events",
        ["link_id"],
        sqlite_where=sa.text(CLICKS_ONLY),
        postgresql_where=sa.text(CLICKS_ONLY),
    )
    op.drop_index("ix_prospects_campaign_activity", table_name="prospects")
    op.drop_index("ix_contacts_email", table_name="contacts")
    with op.batch_alter_table("events") as batch:  # SQLite copies the table
        for name in OWNERS:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        for name, (column, table) in OWNERS.items():
            batch.create_foreign_key(name, table, [column], ["id"], ondelete="CASCADE")
    op.create_index("ix_contacts_email", "contacts", ["email"])
    op.create_index(
        "ix_prospects_campaign_activity", "prospects", ["campaign_id", "last_activity_at"]
    )
    op.drop_index("ix_events_link_id", table_name="events")
    op.create_index("ix_events_link_id", "events", ["link_id"])
