"""`tune generate`, run as a real process against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import run_cli

pytestmark = pytest.mark.slow


def test_generate_writes_each_contacts_email_once(
    env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    import asyncio

    from tests.support.factories import make_campaign, make_contact, make_prospect
    from webapp.core.config import Config
    from webapp.core.db import Database

    async def seed() -> int:
        db = Database(Config(database_url=database_url, secret_key="x" * 20))
        async with db.write() as session:
            campaign = await make_campaign(session)
            for _ in range(3):
                await make_contact(session, await make_prospect(session, campaign))
            campaign_id = campaign.id
        await db.dispose()
        return campaign_id

    campaign_id = asyncio.run(seed())
    first = run_cli(["generate", str(campaign_id)], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Created 3 emails (0 existed already)" in first.stdout
    second = run_cli(["generate", str(campaign_id)], env, tmp_path)
    assert "Created 0 emails (3 existed already)" in second.stdout
    missing = run_cli(["generate", "999"], env, tmp_path)
    assert missing.returncode != 0
    assert "campaign 999 does not exist" in missing.stderr
