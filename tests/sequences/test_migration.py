"""Campaigns that existed before sequences become one-step sequences, and keep working."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from webapp.core.migrate import alembic_config, upgrade


def before_sequences() -> str:
    """The revision the sequences migration follows."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    [found] = [r for r in script.walk_revisions() if r.doc.startswith("sequences:")]
    assert isinstance(found.down_revision, str)
    return found.down_revision


async def test_an_existing_campaign_becomes_a_one_step_sequence(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await asyncio.to_thread(upgrade, url, before_sequences())
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        for statement in (
            "INSERT INTO campaigns (id, name, industry_id, status, tracking_enabled, created_at,"
            " updated_at) VALUES (7, 'Old', 1, 'draft', 1, '2026-01-01 00:00:00',"
            " '2026-01-01 00:00:00')",
            "INSERT INTO prospects (id, campaign_id, company_key, name, tier, score,"
            " score_reasons, profile_version, hot, created_at, updated_at) VALUES (1, 7,"
            " 'acme', 'Acme', 1, 50, '[]', 0, 0, '2026-01-01', '2026-01-01')",
            "INSERT INTO contacts (id, campaign_id, prospect_id, email, created_at)"
            " VALUES (1, 7, 1, 'ann@acme.example', '2026-01-01')",
            "INSERT INTO contents (id, campaign_id, contact_id, prospect_id, tier, subject, html,"
            " text, send_status, attempts, created_at) VALUES (1, 7, 1, 1, 1, 'Hi', '<p>Hi</p>',"
            " 'Hi', 'sent', 1, '2026-01-01')",
        ):
            await connection.execute(text(statement))
    await asyncio.to_thread(upgrade, url)
    async with engine.connect() as connection:
        steps = (
            await connection.execute(
                text("SELECT campaign_id, position, delay, enabled FROM sequence_steps")
            )
        ).all()
        contents = (await connection.execute(text("SELECT step, variant FROM contents"))).all()
        window = (
            await connection.execute(
                text(
                    "SELECT send_days, send_from_hour, send_until_hour, account_stop FROM campaigns"
                )
            )
        ).one()
    await engine.dispose()
    assert steps == [(7, 1, "PT0S", 1)]
    assert contents == [(1, 0)]
    assert tuple(window) == ("1234567", 0, 24, 1)
