"""`tune import` and `tune analyse`, run as real processes against a real database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.factories import make_campaign
from tests.support.servers import run_cli
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.models import Contact, Prospect

pytestmark = pytest.mark.slow


def new_campaign(database_url: str) -> int:
    async def work() -> int:
        db = Database(Config(database_url=database_url, secret_key="x" * 20))
        try:
            async with db.write() as session:
                return (await make_campaign(session)).id
        finally:
            await db.dispose()

    return asyncio.run(work())


def row_counts(database_url: str, campaign_id: int) -> tuple[int, int]:
    async def work() -> tuple[int, int]:
        db = Database(Config(database_url=database_url, secret_key="x" * 20))
        try:
            async with db.read() as session:
                prospects = await session.scalar(
                    select(func.count()).where(Prospect.campaign_id == campaign_id)
                )
                contacts = await session.scalar(
                    select(func.count()).where(Contact.campaign_id == campaign_id)
                )
                return prospects or 0, contacts or 0
        finally:
            await db.dispose()

    return asyncio.run(work())


CSV = """Company,Website,Email,Job Title,Employees,Country
Bellagio,bellagio.com,ann@bellagio.com,VP Marketing,8000,US
Bellagio,bellagio.com,bob@bellagio.com,CEO,,
Wynn,wynn.com,not-an-email,Director,,
Aria,aria.com,carla@aria.com,Casino Host,300,USA
"""


def test_import_prints_progress_summary_and_rejected_lines(
    env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    campaign_id = new_campaign(database_url)
    path = tmp_path / "prospects.csv"
    path.write_text(CSV)

    first = run_cli(["import", str(campaign_id), str(path)], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert (
        f"Imported prospects.csv into campaign {campaign_id}: 3 created, 0 updated, "
        "0 duplicates skipped, 1 rejected (2 new prospects" in first.stdout
    )
    assert "Importing prospects.csv" in first.stderr and "4/4" in first.stderr
    assert "line 4: invalid email 'not-an-email'" in first.stderr
    assert row_counts(database_url, campaign_id) == (2, 3)

    again = run_cli(["import", str(campaign_id), str(path)], env, tmp_path)
    assert "0 created, 0 updated, 3 duplicates skipped, 1 rejected" in again.stdout
    assert row_counts(database_url, campaign_id) == (2, 3)

    analysed = run_cli(["analyse", str(campaign_id)], env, tmp_path)
    assert analysed.returncode == 0, analysed.stderr
    assert f"Analysed 2 prospects of campaign {campaign_id} with profile casino v1" in (
        analysed.stdout
    )
    assert "(0 changed)" in analysed.stdout


def test_strict_import_of_a_file_with_a_bad_row_fails_and_writes_nothing(
    env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    campaign_id = new_campaign(database_url)
    path = tmp_path / "prospects.csv"
    path.write_text(CSV)
    result = run_cli(["import", str(campaign_id), str(path), "--strict"], env, tmp_path)
    assert result.returncode == 1
    assert "rejected 1 of 4 rows; strict mode: nothing was imported" in result.stderr
    assert "line 4: invalid email 'not-an-email'" in result.stderr
    assert row_counts(database_url, campaign_id) == (0, 0)


def test_import_refuses_a_file_that_is_not_csv_and_an_unknown_campaign(
    env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    campaign_id = new_campaign(database_url)
    picture = tmp_path / "logo.csv"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    result = run_cli(["import", str(campaign_id), str(picture)], env, tmp_path)
    assert result.returncode == 1
    assert "binary data" in result.stderr and "Traceback" not in result.stderr

    good = tmp_path / "good.csv"
    good.write_text(CSV)
    missing = run_cli(["import", "999", str(good)], env, tmp_path)
    assert missing.returncode == 1
    assert "campaign 999 does not exist" in missing.stderr
