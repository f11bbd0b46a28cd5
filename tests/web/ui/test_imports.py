"""CSV imports from the dashboard: progress, then the report."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

from quart.typing import TestClientProtocol as Client

from tests.support.factories import make_campaign
from tests.support.signin import page, token
from webapp.prospects.jobs import start_import
from webapp.web.services import Services

CSV = (
    "company,domain,email,first_name,last_name,title,employees,country\n"
    "Bellagio,bellagio.example,ada@bellagio.example,Ada,King,CEO,8000,United States\n"
    "Tiny Shop,tiny.example,bob@tiny.example,Bob,Small,Clerk,3,France\n"
    "Broken Co,broken.example,not-an-email,,,,,\n"
)


async def import_file(client: Client, campaign_id: int, body: bytes, name: str) -> Any:
    from werkzeug.datastructures import FileStorage

    return await client.post(
        f"/campaigns/{campaign_id}/import",
        form={"csrf_token": await token(client)},
        files={"file": FileStorage(io.BytesIO(body), filename=name, content_type="text/csv")},
        headers={"HX-Request": "true"},
    )


async def wait_for_report(client: Client, html: str) -> tuple[str, Any]:
    """Follow the progress partial's polling until the report shows."""
    response = None
    for _ in range(100):
        poll = re.search(r'hx-get="(/campaigns/\d+/imports/\d+)"', html)
        if not poll:
            return html, response
        await asyncio.sleep(0.05)
        response = await client.get(poll.group(1), headers={"HX-Request": "true"})
        html = await response.get_data(as_text=True)
    raise AssertionError("the import did not finish")


async def test_csv_import_shows_progress_then_the_report_with_line_numbers(
    signed_in: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Imports")
    response = await import_file(signed_in, campaign.id, CSV.encode(), "leads.csv")
    assert response.status_code == 202
    html, last = await wait_for_report(signed_in, await response.get_data(as_text=True))
    assert "Import of leads.csv: finished" in html
    assert 'data-report="created">2<' in html
    assert 'data-report="rejected">1<' in html
    assert re.search(r'<td class="num">4</td><td>[^<]*email', html), html
    assert last is not None and last.headers["HX-Trigger"] == "tune:imported"
    _, page_html = await page(signed_in, f"/campaigns/{campaign.id}")
    assert "Bellagio" in page_html and "Tiny Shop" in page_html
    assert "No prospects yet" not in page_html
    # Importing again updates instead of duplicating.
    response = await import_file(signed_in, campaign.id, CSV.encode(), "leads.csv")
    html, _ = await wait_for_report(signed_in, await response.get_data(as_text=True))
    assert 'data-report="created">0<' in html


async def test_a_file_that_is_not_a_csv_gets_a_readable_report(
    signed_in: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    response = await import_file(signed_in, campaign.id, b"\x89PNG\r\n\x1a\n\x00\x00", "x.png")
    html, _ = await wait_for_report(signed_in, await response.get_data(as_text=True))
    assert "Import of x.png: failed" in html
    assert "Traceback" not in html


async def test_import_without_a_file_asks_for_one(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    response = await signed_in.post(
        f"/campaigns/{campaign.id}/import",
        form={"csrf_token": await token(signed_in)},
        headers={"HX-Request": "true"},
    )
    assert "Choose a CSV file to import." in await response.get_data(as_text=True)


BAD_ROWS = (
    "company,domain,email,title,Headcount\n"
    "Aria,aria.example,ann@aria.example,CEO,lots\n"
    "Wynn,wynn.example,@wynn.example,CFO,500\n"
    "Venetian,venetian.example,carla@venetian.example,Director,1200\n"
)


async def test_bad_optional_values_warn_and_rejected_rows_download_from_the_report(
    signed_in: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Imports")
    response = await import_file(signed_in, campaign.id, BAD_ROWS.encode(), "bad rows.csv")
    html, _ = await wait_for_report(signed_in, await response.get_data(as_text=True))
    assert 'data-report="created">2<' in html
    assert 'data-report="rejected">1<' in html
    assert 'data-report="warned">1<' in html
    assert "Imported with a value left blank" in html
    assert re.search(r'<td class="num">2</td><td>invalid employees &#39;lots&#39;', html), html
    link = re.search(r'href="(/campaigns/\d+/imports/\d+/rejected\.csv)"', html)
    assert link is not None, html
    download = await signed_in.get(link.group(1))
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert 'filename="bad_rows-rejected.csv"' in download.headers["Content-Disposition"]
    assert (await download.get_data(as_text=True)).splitlines() == [
        "company,domain,email,title,Headcount,Line,Rejected because",
        # A cell a spreadsheet would run as a formula is neutralised, as in every export.
        "Wynn,wynn.example,'@wynn.example,CFO,500,3,invalid email '@wynn.example'",
    ]
    # Another campaign's import is not reachable through this campaign's address.
    async with tune.db.write() as session:
        other = await make_campaign(session, "Other")
    job_id = link.group(1).split("/")[4]
    assert (
        await signed_in.get(f"/campaigns/{other.id}/imports/{job_id}/rejected.csv")
    ).status_code == 404


async def test_the_campaign_page_offers_the_sample_csv(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    _, html = await page(signed_in, f"/campaigns/{campaign.id}")
    assert 'href="/imports/sample.csv"' in html
    sample = await signed_in.get("/imports/sample.csv")
    assert sample.status_code == 200 and sample.mimetype == "text/csv"
    assert (await sample.get_data(as_text=True)).startswith("company,website,email,")


async def test_a_running_import_shows_its_percentage(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        job = await start_import(session, campaign.id, "big.csv")
        job.rows_seen, job.total = 25_000, 100_000
    response = await signed_in.get(f"/campaigns/{campaign.id}/imports/{job.id}")
    html = await response.get_data(as_text=True)
    assert "25,000 of 100,000 rows read" in html
    assert 'data-report="percent">25%<' in html
    assert '<progress aria-label="Import progress" max="100" value="25">' in html
