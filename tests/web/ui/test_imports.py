"""CSV imports from the dashboard: progress, then the report."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

from quart.typing import TestClientProtocol as Client

from tests.support.factories import make_campaign
from tests.support.signin import page, token
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
