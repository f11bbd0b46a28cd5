"""Importing prospects (function and API, JSON and CSV), tiers, re-analysis and the prospect view,
all on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol
from sqlalchemy import func, select, update

from tests.support.factories import make_campaign, make_contact, make_prospect
from webapp import create_app
from webapp.accounts.apikeys import create_key
from webapp.core.config import Config
from webapp.core.models import Contact, ImportJob, Prospect
from webapp.outbound.contents import TrackingUrls, generate_contents
from webapp.prospects.analysis import analyse_campaign
from webapp.prospects.importer import (
    batch_size,
    import_csv,
    import_prospects,
)
from webapp.prospects.jobs import get_import, start_import
from webapp.prospects.rows.csv import rows_from_csv
from webapp.prospects.rows.fields import rows_from_json
from webapp.prospects.scoring.profile import load_profile, parse_profile
from webapp.web.services import Services

CSV = "text/csv"


async def new_campaign(tune: Services, industry: str = "casino") -> int:
    async with tune.db.write() as session:
        return (await make_campaign(session, industry=industry)).id


async def counts(tune: Services, campaign_id: int) -> tuple[int, int]:
    async with tune.db.read() as session:
        prospects = await session.scalar(
            select(func.count()).select_from(Prospect).where(Prospect.campaign_id == campaign_id)
        )
        contacts = await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.campaign_id == campaign_id)
        )
    return prospects or 0, contacts or 0


async def prospect_by_key(tune: Services, campaign_id: int, key: str) -> Prospect:
    async with tune.db.read() as session:
        prospect = await session.scalar(
            select(Prospect).where(Prospect.campaign_id == campaign_id, Prospect.company_key == key)
        )
    assert prospect is not None, key
    return prospect


async def contacts_of(tune: Services, prospect_id: int) -> list[Contact]:
    async with tune.db.read() as session:
        rows = await session.scalars(
            select(Contact).where(Contact.prospect_id == prospect_id).order_by(Contact.id)
        )
        return list(rows)


def csv_body(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


async def test_rows_of_one_company_become_one_prospect_with_its_contacts(tune: Services) -> None:
    campaign_id = await new_campaign(tune)
    data = csv_body(
        "Company,Website,Email,First Name,Title,Employees,Country",
        "Bellagio,https://www.Bellagio.com/about,ann@bellagio.com,Ann,VP Marketing,8000,US",
        "Bellagio Resort,bellagio.com,bob@bellagio.com,Bob,CEO,,",
        ",,carla@bellagio.com,Carla,Casino Host,,",
        "Lucky Star Card Room,,dan@gmail.com,Dan,Owner,40,Canada",
    )
    summary = await import_prospects(tune.db, campaign_id, rows_from_csv(data))

    assert (summary.created, summary.updated, summary.duplicates, summary.rejected) == (4, 0, 0, 0)
    assert summary.prospects_created == 2
    assert await counts(tune, campaign_id) == (2, 4)
    bellagio = await prospect_by_key(tune, campaign_id, "bellagio.com")
    assert bellagio.name == "Bellagio"  # the first row names the company
    assert (bellagio.employees, bellagio.country) == (8000, "US")
    people = await contacts_of(tune, bellagio.id)
    assert [c.email for c in people] == [
        "ann@bellagio.com",
        "bob@bellagio.com",
        "carla@bellagio.com",
    ]
    assert [c.seniority for c in people] == ["vp", "c_level", "other"]
    # Scored from all three contacts: the CEO is the most senior.
    labels = [reason["label"] for reason in bellagio.score_reasons]
    assert "C-level contact" in labels and "country US" in labels
    assert bellagio.profile_version == load_profile("casino").version
    # Without a domain (free mail), the company name is the key.
    card_room = await prospect_by_key(tune, campaign_id, "lucky star card room")
    assert card_room.domain is None
    assert [c.email for c in await contacts_of(tune, card_room.id)] == ["dan@gmail.com"]


async def test_bad_rows_are_reported_by_line_and_do_not_stop_good_ones(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services
) -> None:
    campaign_id = await new_campaign(tune)
    data = csv_body(
        "company,domain,email,title,Headcount",
        "Aria,aria.com,ann@aria.com,CEO,500",
        "Aria,aria.com,not-an-email,CFO,500",
        "Wynn,wynn.com,bob@wynn.com,VP Sales,lots",
        "Wynn,wynn.com,carla@wynn.com,Director,1200",
        "Venetian,venetian.com,,Manager,",
    )
    response = await client.post(
        f"/api/campaigns/{campaign_id}/prospects",
        data=data,
        headers={**auth, "Content-Type": CSV},
    )
    assert response.status_code == 201
    body = await response.get_json()
    assert body["created"] == 3 and body["rejected"] == 2
    assert [error["line"] for error in body["errors"]] == [3, 6]
    assert "not-an-email" in body["errors"][0]["reason"]
    assert "email is required" in body["errors"][1]["reason"]
    # A bad optional value is left blank: the contact is imported, with a warning.
    assert body["warned"] == 1
    assert body["warnings"] == [
        {
            "line": 4,
            "reason": "invalid employees 'lots': expected a number like 1200, 5k, 1.5M or "
            "10-50; left blank",
        }
    ]
    assert await counts(tune, campaign_id) == (2, 3)
    wynn = await prospect_by_key(tune, campaign_id, "wynn.com")
    assert wynn.employees == 1200  # the next row of the company filled it in

    async with tune.db.read() as session:
        job = await get_import(session, body["import_id"])
    assert (job.status, job.rows_seen, job.created, job.rejected) == ("finished", 5, 3, 2)
    assert (job.errors, job.warned, job.warnings) == (body["errors"], 1, body["warnings"])


async def test_json_array_is_imported_like_a_csv(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services
) -> None:
    campaign_id = await new_campaign(tune)
    rows = [
        {"company": "Bellagio", "domain": "bellagio.com", "email": "ann@bellagio.com",
         "first_name": "Ann", "title": "VP Marketing", "employees": 8000, "country": "US"},
        {"Company Name": "Bellagio", "E-mail": "bob@bellagio.com", "Job Title": "CEO"},
        {"company": "Nowhere", "email": 42},
        "not an object",
    ]  # fmt: skip
    response = await client.post(f"/api/campaigns/{campaign_id}/prospects", json=rows, headers=auth)
    assert response.status_code == 201
    body = await response.get_json()
    assert body["created"] == 2 and body["prospects_created"] == 1
    assert [error["line"] for error in body["errors"]] == [3, 4]
    prospect = await prospect_by_key(tune, campaign_id, "bellagio.com")
    assert len(await contacts_of(tune, prospect.id)) == 2

    listed = await client.get(
        f"/api/campaigns/{campaign_id}/prospects/{prospect.tier}", headers=auth
    )
    item = (await listed.get_json())["items"][0]
    assert item["score"] == prospect.score and item["score_reasons"] == prospect.score_reasons
    assert {c["seniority"] for c in item["contacts"]} == {"vp", "c_level"}


async def test_strict_mode_rejects_the_whole_file_and_writes_nothing(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services
) -> None:
    campaign_id = await new_campaign(tune)
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        await make_contact(session, await make_prospect(session, campaign))
    good = "Aria,aria.com,ann@aria.com"
    data = csv_body("company,domain,email", good, "Wynn,wynn.com,nope", good.replace("ann", "bo"))
    before_jobs = await job_count(tune)

    response = await client.post(
        f"/api/campaigns/{campaign_id}/prospects?strict=1",
        data=data,
        headers={**auth, "Content-Type": CSV},
    )
    assert response.status_code == 422
    error = (await response.get_json())["error"]
    assert error["code"] == "validation_error" and "nothing was imported" in error["message"]
    assert error["rejected"] == 1 and error["errors"] == [
        {"line": 3, "reason": "invalid email 'nope'"}
    ]
    assert await counts(tune, campaign_id) == (0, 0)
    assert await job_count(tune) == before_jobs

    json_rows = [{"company": "Aria", "email": "ann@aria.com"}, {"company": "Wynn"}]
    response = await client.post(
        f"/api/campaigns/{campaign_id}/prospects?strict=true", json=json_rows, headers=auth
    )
    assert response.status_code == 422
    assert await counts(tune, campaign_id) == (0, 0)

    # The same file without its bad row goes in whole.
    fixed = csv_body("company,domain,email", good, good.replace("ann", "bo"))
    response = await client.post(
        f"/api/campaigns/{campaign_id}/prospects?strict=1",
        data=fixed,
        headers={**auth, "Content-Type": CSV},
    )
    assert response.status_code == 201
    assert await counts(tune, campaign_id) == (1, 2)


async def job_count(tune: Services) -> int:
    async with tune.db.read() as session:
        return await session.scalar(select(func.count()).select_from(ImportJob)) or 0


async def test_reimporting_the_same_file_creates_nothing(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services
) -> None:
    campaign_id = await new_campaign(tune)
    data = csv_body(
        "company,domain,email,title",
        "Aria,aria.com,ann@aria.com,CEO",
        "Aria,aria.com,bob@aria.com,CFO",
        "Wynn,wynn.com,carla@wynn.com,VP",
        "Wynn,wynn.com,carla@wynn.com,VP",  # the same contact twice in one file
    )
    url = f"/api/campaigns/{campaign_id}/prospects"
    first = await (
        await client.post(url, data=data, headers={**auth, "Content-Type": CSV})
    ).get_json()
    assert (first["created"], first["duplicates"]) == (3, 1)
    before = await prospect_by_key(tune, campaign_id, "aria.com")

    response = await client.post(url, data=data, headers={**auth, "Content-Type": CSV})
    assert response.status_code == 200  # nothing created
    second = await response.get_json()
    assert (second["created"], second["updated"], second["duplicates"]) == (0, 0, 4)
    assert second["prospects_created"] == 0 and second["import_id"] != first["import_id"]
    assert await counts(tune, campaign_id) == (2, 3)
    after = await prospect_by_key(tune, campaign_id, "aria.com")
    assert (after.score, after.tier, after.score_reasons) == (
        before.score,
        before.tier,
        before.score_reasons,
    )


async def test_rows_that_fill_in_missing_facts_count_as_updated(tune: Services) -> None:
    campaign_id = await new_campaign(tune)
    first = csv_body(
        "company,domain,email", "Aria,aria.com,ann@aria.com", "Wynn,wynn.com,bo@wynn.com"
    )
    await import_prospects(tune.db, campaign_id, rows_from_csv(first))
    bare = await prospect_by_key(tune, campaign_id, "aria.com")

    richer = csv_body(
        "company,domain,email,title,employees,country",
        "Aria,aria.com,ann@aria.com,Chief Marketing Officer,2000,US",  # contact + company gain
        "Wynn,wynn.com,bo@wynn.com,,,",  # nothing new
        "Aria Resort,aria.com,new@aria.com,Host,,",  # a new contact of a known company
    )
    summary = await import_prospects(tune.db, campaign_id, rows_from_csv(richer))
    assert (summary.created, summary.updated, summary.duplicates) == (1, 1, 1)
    assert summary.prospects_created == 0

    aria = await prospect_by_key(tune, campaign_id, "aria.com")
    assert (aria.name, aria.employees, aria.country) == ("Aria", 2000, "US")
    assert aria.score > bare.score  # re-scored with the new facts and the CMO
    ann = (await contacts_of(tune, aria.id))[0]
    assert (ann.title, ann.seniority) == ("Chief Marketing Officer", "c_level")

    # Values Tune has are never overwritten, so a conflicting file changes nothing.
    conflicting = csv_body(
        "company,domain,email,title,employees", "Aria,aria.com,ann@aria.com,Intern,5"
    )
    summary = await import_prospects(tune.db, campaign_id, rows_from_csv(conflicting))
    assert (summary.updated, summary.duplicates) == (0, 1)
    assert (await prospect_by_key(tune, campaign_id, "aria.com")).employees == 2000


async def test_an_import_larger_than_a_batch_is_complete_and_tracks_progress(
    tune: Services,
) -> None:
    campaign_id = await new_campaign(tune)
    size = batch_size(tune.db)
    count = size * 2 + 7
    lines = ["company,domain,email,title"]
    lines += [
        f"Casino {n // 3},casino{n // 3}.com,p{n}@casino{n // 3}.com,Manager" for n in range(count)
    ]
    lines.insert(5, "Broken,broken.com,broken,")
    seen: list[int] = []
    async with tune.db.write() as session:
        job_id = (await start_import(session, campaign_id, "big.csv")).id

    summary = await import_csv(
        tune.db,
        campaign_id,
        csv_body(*lines),
        job_id=job_id,
        progress=lambda state: seen.append(state.rows_seen),
    )
    assert summary.created == count and summary.rejected == 1
    assert summary.prospects_created == (count + 2) // 3
    assert await counts(tune, campaign_id) == ((count + 2) // 3, count)
    assert seen == sorted(seen) and len(seen) >= 3 and seen[-1] == count + 1
    async with tune.db.read() as session:
        job = await get_import(session, job_id)
    assert (job.status, job.rows_seen, job.created, job.rejected) == (
        "finished",
        count + 1,
        count,
        1,
    )
    assert job.errors == [{"line": 6, "reason": "invalid email 'broken'"}]
    assert job.finished_at is not None


@pytest.fixture
async def small_app(config: Config) -> AsyncIterator[Quart]:
    application = create_app(config.with_changes(max_upload_bytes=2048))
    async with application.test_app():
        yield application


async def test_an_upload_over_the_size_limit_is_413(small_app: Quart) -> None:
    tune: Services = small_app.extensions["tune"]
    async with tune.db.write() as session:
        key = (await create_key(session, "tests")).key
        campaign_id = (await make_campaign(session)).id
    client = small_app.test_client()
    rows = "\n".join(f"Casino {n},casino{n}.com,p{n}@casino{n}.com" for n in range(100))
    response = await client.post(
        f"/api/campaigns/{campaign_id}/prospects",
        data=("company,domain,email\n" + rows).encode(),
        headers={"X-API-Key": key, "Content-Type": CSV},
    )
    assert response.status_code == 413
    error = (await response.get_json())["error"]
    assert error["code"] == "payload_too_large" and "MAX_UPLOAD_BYTES" in error["message"]
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Contact)) == 0


async def test_other_content_types_and_binary_files_are_refused(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services
) -> None:
    campaign_id = await new_campaign(tune)
    url = f"/api/campaigns/{campaign_id}/prospects"
    xml = await client.post(
        url, data=b"<rows/>", headers={**auth, "Content-Type": "application/xml"}
    )
    assert xml.status_code == 415
    assert "text/csv" in (await xml.get_json())["error"]["message"]

    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    garbage = await client.post(url, data=png, headers={**auth, "Content-Type": CSV})
    assert garbage.status_code == 415
    error = (await garbage.get_json())["error"]
    assert error["code"] == "not_csv" and "binary" in error["message"]

    no_email = await client.post(
        url, data=b"company,domain\nAria,aria.com\n", headers={**auth, "Content-Type": CSV}
    )
    assert no_email.status_code == 415
    assert "email column" in (await no_email.get_json())["error"]["message"]

    not_array = await client.post(url, json={"company": "Aria"}, headers=auth)
    assert not_array.status_code == 422
    missing = await client.post(
        "/api/campaigns/999/prospects", json=[{"email": "a@b.com"}], headers=auth
    )
    assert missing.status_code == 404
    assert await counts(tune, campaign_id) == (0, 0)


# Casino profile: 70 is tier 1, 40–69 tier 2, under 40 tier 3 (scores found by hand from
# webapp/prospects/scoring/profiles/casino.toml: see each row's points).
THRESHOLD_ROWS = [
    # +20 revenue $500M–$5B, +15 US, +20 CEO, +10 casino, +5 mailbox of a named person = 70
    ({"company": "Edge Casino", "revenue": "1B", "country": "US", "title": "CEO"}, 70, 1),
    # +20 employees 200–999, +20 revenue, +8 ES, +6 manager, +10 casino, +5 personal = 69
    (
        {"company": "Brink Casino", "employees": 500, "revenue": "1B", "country": "ES",
         "title": "Marketing Manager"},
        69,
        2,
    ),
    # +15 US, +20 CEO, +5 personal = 40
    ({"company": "Floor Holdings", "country": "US", "title": "CEO"}, 40, 2),
    # +20 revenue, +8 ES, +6 manager, +5 personal = 39
    (
        {"company": "Under Holdings", "revenue": "1B", "country": "ES",
         "title": "Marketing Manager"},
        39,
        3,
    ),
]  # fmt: skip


async def test_tier_thresholds_place_prospects_through_import(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services
) -> None:
    campaign_id = await new_campaign(tune)
    rows = []
    for number, (row, _, _) in enumerate(THRESHOLD_ROWS):
        rows.append({**row, "domain": f"t{number}.example", "email": f"ann@t{number}.example"})
    response = await client.post(f"/api/campaigns/{campaign_id}/prospects", json=rows, headers=auth)
    assert (await response.get_json())["created"] == 4
    for number, (_, score, tier) in enumerate(THRESHOLD_ROWS):
        prospect = await prospect_by_key(tune, campaign_id, f"t{number}.example")
        assert (prospect.score, prospect.tier) == (score, tier), THRESHOLD_ROWS[number]
        assert sum(reason["points"] for reason in prospect.score_reasons) == score

    listed = await client.get(f"/api/campaigns/{campaign_id}/prospects/2", headers=auth)
    assert [item["score"] for item in (await listed.get_json())["items"]] == [69, 40]


async def test_reanalysis_after_a_profile_change_keeps_hot_prospects_hot(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services, config: Config
) -> None:
    campaign_id = await new_campaign(tune)
    rows = [
        {**row, "domain": f"t{n}.example", "email": f"ann@t{n}.example"}
        for n, (row, _, _) in enumerate(THRESHOLD_ROWS)
    ]
    await import_prospects(tune.db, campaign_id, rows_from_json(rows))
    urls = TrackingUrls(config.base_url, tune.signer)
    await generate_contents(tune.db, campaign_id, urls)
    floor = await prospect_by_key(tune, campaign_id, "t2.example")
    ann = (await contacts_of(tune, floor.id))[0]
    async with tune.db.read() as session:
        from webapp.core.models import Content

        content_id = await session.scalar(select(Content.id).where(Content.contact_id == ann.id))
    replied = await client.post(
        f"/api/tracking/email-replied?content_id={content_id}&contact_id={ann.id}", headers=auth
    )
    assert replied.status_code == 200
    assert (await prospect_by_key(tune, campaign_id, "t2.example")).hot

    # A stricter profile: tier 1 from 75, tier 2 from 45, and US counts for less.
    text = _casino_toml().replace("version = 1", "version = 2")
    text = text.replace("tier1 = 70", "tier1 = 75").replace("tier2 = 40", "tier2 = 45")
    text = text.replace("US = 15", "US = 10")
    stricter = parse_profile(text, "casino")
    summary = await analyse_campaign(tune.db, campaign_id, profile=stricter)
    assert summary.analysed == 4 and summary.changed == 4
    assert summary.tiers == {1: 0, 2: 2, 3: 2}

    edge = await prospect_by_key(tune, campaign_id, "t0.example")
    assert (edge.score, edge.tier, edge.profile_version) == (65, 2, 2)
    assert {"points": 10, "label": "country US"} in edge.score_reasons
    floor = await prospect_by_key(tune, campaign_id, "t2.example")
    assert (floor.score, floor.tier, floor.hot) == (35, 3, True)

    listed = await client.get(f"/api/campaigns/{campaign_id}/prospects/3", headers=auth)
    first = (await listed.get_json())["items"][0]
    assert (first["id"], first["hot"]) == (floor.id, True)  # hot first in its tier

    # Back to the shipped profile through the API: the original tiers come back.
    response = await client.post(f"/api/campaigns/{campaign_id}/analyse", headers=auth)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["tiers"] == {"1": 1, "2": 2, "3": 1} and body["profile_version"] == 1
    floor = await prospect_by_key(tune, campaign_id, "t2.example")
    assert (floor.tier, floor.hot) == (2, True)
    again = await analyse_campaign(tune.db, campaign_id)
    assert again.changed == 0


def _casino_toml() -> str:
    from importlib import resources

    return (
        resources.files("webapp.prospects.scoring")
        .joinpath("profiles", "casino.toml")
        .read_text("utf-8")
    )


async def test_reanalysis_corrects_stale_seniority(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign, tier=1, score=99)
        await make_contact(session, prospect, title="Director of Marketing")
        campaign_id, prospect_id = campaign.id, prospect.id
    summary = await analyse_campaign(tune.db, campaign_id)
    assert summary.changed == 1
    [contact] = await contacts_of(tune, prospect_id)
    assert contact.seniority == "director"
    async with tune.db.read() as session:
        row = await session.get(Prospect, prospect_id)
    assert row is not None and row.score < 99
    assert {"points": 12, "label": "director-level contact"} in row.score_reasons


async def test_a_prospect_shows_contacts_reasons_emails_and_timeline(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services, config: Config
) -> None:
    campaign_id = await new_campaign(tune)
    data = csv_body(
        "company,domain,email,title,employees,country",
        "Bellagio,bellagio.com,ann@bellagio.com,VP Marketing,2000,US",
        "Bellagio,bellagio.com,bob@bellagio.com,Casino Host,,",
    )
    await import_prospects(tune.db, campaign_id, rows_from_csv(data))
    await generate_contents(tune.db, campaign_id, TrackingUrls(config.base_url, tune.signer))
    prospect = await prospect_by_key(tune, campaign_id, "bellagio.com")
    async with tune.db.write() as session:
        await session.execute(update(Prospect).where(Prospect.id == prospect.id).values(notes="x"))
    body = await (await client.get(f"/api/prospects/{prospect.id}", headers=auth)).get_json()
    contents = {item["contact_id"]: item for item in body["contents"]}
    ann, _ = body["contacts"]
    for kind in ("email-opened", "email-replied"):
        response = await client.post(
            f"/api/tracking/{kind}?content_id={contents[ann['id']]['id']}&contact_id={ann['id']}",
            headers=auth,
        )
        assert response.status_code == 200

    response = await client.get(f"/api/prospects/{prospect.id}", headers=auth)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["name"] == "Bellagio" and body["hot"] is True
    assert [c["email"] for c in body["contacts"]] == ["ann@bellagio.com", "bob@bellagio.com"]
    assert body["score"] == prospect.score and body["score_reasons"] == prospect.score_reasons
    assert body["profile_version"] == 1
    assert len(body["contents"]) == 2
    assert {item["send_status"] for item in body["contents"]} == {"draft"}
    assert all(item["subject"] for item in body["contents"])
    assert [event["kind"] for event in body["events"]] == ["reply", "open"]  # newest first
    assert body["events"][0]["contact_email"] == "ann@bellagio.com"
    assert body["events"][0]["source"] == "api"

    missing = await client.get("/api/prospects/999999", headers=auth)
    assert missing.status_code == 404


async def test_import_into_an_unknown_campaign_writes_no_job(tune: Services) -> None:
    from webapp.core.errors import NotFound

    with pytest.raises(NotFound):
        await import_prospects(tune.db, 999, rows_from_json([{"email": "a@b.com"}]))
    assert await job_count(tune) == 0


async def test_a_company_name_that_grows_when_casefolded_still_imports(tune: Services) -> None:
    campaign_id = await new_campaign(tune)
    name = "\ufb03" * 200  # the "ffi" ligature: 200 characters, 600 once casefolded
    rows = [{"company": name, "email": f"p{n}@gmail.com"} for n in range(2)]
    summary = await import_prospects(tune.db, campaign_id, rows_from_json(rows))
    assert (summary.created, summary.prospects_created) == (2, 1)
    prospect = await prospect_by_key(tune, campaign_id, "ffi" * 85)
    assert prospect.name == name


async def test_every_contact_of_a_batch_joins_its_own_companys_prospect(tune: Services) -> None:
    campaign_id = await new_campaign(tune)
    # Companies interleaved within one batch, new ones among known ones the second time.
    first = [
        {"email": f"p{person}@c{company}.example", "company": f"Casino {company}"}
        for person in range(3)
        for company in range(40)
    ]
    second = [
        {"email": f"q{person}@c{company}.example", "company": f"Casino {company}"}
        for person in range(2)
        for company in range(20, 70)
    ]
    await import_prospects(tune.db, campaign_id, rows_from_json(first))
    await import_prospects(tune.db, campaign_id, rows_from_json(second))
    async with tune.db.read() as session:
        pairs = (
            await session.execute(
                select(Contact.email, Prospect.name)
                .join(Prospect, Prospect.id == Contact.prospect_id)
                .where(Contact.campaign_id == campaign_id)
            )
        ).all()
    assert len(pairs) == len(first) + len(second)
    for email, name in pairs:
        assert name == f"Casino {email.split('@c')[1].split('.')[0]}", email
