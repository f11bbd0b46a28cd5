"""api_keys: on PostgreSQL, any revocation or deletion of a key NOTIFYs every worker

Tune's own revocations notify from their transaction and wait for every worker's
answer (`webapp/accounts/keywatch.py`). A key revoked or deleted by hand in SQL
must not stay trusted in a worker's key cache either: this trigger sends the
same notification at that transaction's commit. SQLite needs nothing (its
workers share a file counter that only Tune's revocations bump; see
`webapp/accounts/apikeys.py`).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 07:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "tune_api_key_revoked"  # keywatch.CHANNEL, fixed here as of this revision
SETTING = "tune.revocation"  # keywatch.REVOCATION_SETTING


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION tune_api_key_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- Tune's own revocations set their token: the two notifications are one.
            PERFORM pg_notify('{CHANNEL}', coalesce(current_setting('{SETTING}', true), ''));
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER api_keys_revoked
        AFTER UPDATE OF revoked_at, key_hash OR DELETE OR TRUNCATE ON api_keys
        FOR EACH STATEMENT EXECUTE FUNCTION tune_api_key_revoked()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER api_keys_revoked ON api_keys")
    op.execute("DROP FUNCTION tune_api_key_revoked()")
