"""The demo campaign: deterministic, realistic, spread over all three tiers, ready to send."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.support.servers import run_cli, serve, tune_env
from webapp.campaigns.demo import DEMO_NAME, create_demo_campaign, demo_rows
from webapp.core.config import Config
from webapp.core.models import Campaign, Contact, Content, Prospect
from webapp.outbound.contents import TrackingUrls
from webapp.prospects.rows.fields import ImportRow, rows_from_json
from webapp.web.services import Services


def test_the_same_seed_gives_the_same_rows() -> None:
    assert demo_rows(seed=11) == demo_rows(seed=11)
    assert demo_rows(seed=11) != demo_rows(seed=12)
    rows = list(rows_from_json(demo_rows()))
    assert all(isinstance(row, ImportRow) for row in rows)  # every generated row is valid
    assert len({row.email for row in rows}) == len(rows)
    # Each company has its own industry, as a vendor's data would (never blank on a page).
    industries = {row.industry for row in rows}
    assert None not in industries and len(industries) >= 8
    assert {"Casino resort", "Card room", "Affiliate marketing"} <= industries


async def test_the_demo_campaign_has_300_prospects_in_every_tier_with_emails(
    tune: Services, config: Config
) -> None:
    urls = TrackingUrls(config.base_url, tune.signer)
    campaign_id = await create_demo_campaign(tune.db, urls)
    async with tune.db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.name == DEMO_NAME
        assert campaign.industry.slug == "casino"
        result = await session.execute(
            select(Prospect.tier, func.count())
            .where(Prospect.campaign_id == campaign_id)
            .group_by(Prospect.tier)
        )
        tiers: dict[int, int] = {tier: count for tier, count in result}
        sizes = list(
            (
                await session.scalars(
                    select(func.count())
                    .select_from(Contact)
                    .where(Contact.campaign_id == campaign_id)
                    .group_by(Contact.prospect_id)
                )
            ).all()
        )
        contents = await session.scalar(
            select(func.count()).select_from(Content).where(Content.campaign_id == campaign_id)
        )
        levels = set(
            await session.scalars(
                select(Contact.seniority).where(Contact.campaign_id == campaign_id).distinct()
            )
        )
    assert sum(tiers.values()) == 300
    assert all(tiers.get(tier, 0) >= 45 for tier in (1, 2, 3)), tiers
    assert len(sizes) == 300 and set(sizes) == {1, 2, 3}
    assert contents == sum(sizes)  # every contact has its email, ready to send
    assert {"c_level", "vp", "director", "manager", "other"} <= levels


def test_tune_demo_prints_the_campaign_id_and_tune_demo_seeds_an_empty_database(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(database_url, tmp_path)
    created = run_cli(["demo", "--seed", "3", "--prospects", "40"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    campaign_id = int(created.stdout.strip().splitlines()[-1])

    key = "tune_demo-test-key-0123456789abcdef"
    demo_env = {**env, "TUNE_DEMO": "1", "TUNE_BOOTSTRAP_API_KEY": key}
    # Not empty (the campaign above exists): TUNE_DEMO adds nothing.
    with serve(demo_env, tmp_path) as base:
        listed = httpx.get(f"{base}/api/campaigns", headers={"X-API-Key": key}).json()
    assert [item["id"] for item in listed["items"]] == [campaign_id]
    log = "".join(path.read_text() for path in tmp_path.glob("server-*.log"))
    assert "TUNE_DEMO" not in log


def test_tune_demo_on_an_empty_database_creates_the_demo_at_startup(
    database_url: str, tmp_path: Path
) -> None:
    key = "tune_demo-test-key-0123456789abcdef"
    env = tune_env(database_url, tmp_path, TUNE_DEMO="1", TUNE_BOOTSTRAP_API_KEY=key)
    with serve(env, tmp_path) as base:
        listed = httpx.get(f"{base}/api/campaigns", headers={"X-API-Key": key}).json()
        [campaign] = listed["items"]
        counts = httpx.get(f"{base}/api/campaigns/{campaign['id']}", headers={"X-API-Key": key})
    assert campaign["name"] == DEMO_NAME
    assert counts.json()["counts"]["prospects"] == 300
    log = next(tmp_path.glob("server-*.log")).read_text()
    assert f"/campaigns/{campaign['id']}" in log
