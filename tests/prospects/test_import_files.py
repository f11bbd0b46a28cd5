"""The files around an import, on a real database: the sample CSV imports as it is, the rejected
rows download with their own columns and why, fixed they import, and the progress percentage."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from quart.typing import TestClientProtocol

from bench.import_100k import write_rows
from tests.support.factories import make_campaign
from webapp.prospects.analysis import analyse_campaign
from webapp.prospects.importer import batch_size, import_csv
from webapp.prospects.jobs import get_import, import_json
from webapp.prospects.rejects import SAMPLE_ROWS, rejects_csv
from webapp.web.services import Services

CSV = "text/csv"


async def new_campaign(tune: Services) -> int:
    async with tune.db.write() as session:
        return (await make_campaign(session, industry="casino")).id


def read_csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))


async def test_the_sample_csv_imports_without_a_rejected_row_or_warning(
    client: TestClientProtocol, tune: Services, auth: dict[str, Any]
) -> None:
    response = await client.get("/api/imports/sample.csv", headers=auth)
    assert response.status_code == 200
    assert response.mimetype == CSV
    assert "attachment" in response.headers["Content-Disposition"]
    sample = await response.get_data()
    assert read_csv(sample) == [list(row) for row in SAMPLE_ROWS]

    campaign_id = await new_campaign(tune)
    imported = await client.post(
        f"/api/campaigns/{campaign_id}/prospects",
        data=sample,
        headers={**auth, "Content-Type": CSV},
    )
    body = await imported.get_json()
    assert imported.status_code == 201, body
    assert (body["created"], body["rejected"], body["warned"]) == (len(SAMPLE_ROWS) - 1, 0, 0)
    assert body["prospects_created"] == 3  # two contacts of Aria are one prospect


async def test_rejected_rows_download_with_their_columns_and_import_once_fixed(
    client: TestClientProtocol, tune: Services, auth: dict[str, Any]
) -> None:
    campaign_id = await new_campaign(tune)
    upload = (
        b"Email;Company;Favourite colour\n"
        b"ann@aria.com;Aria;blue\n"
        b'bob@;Wynn;=HYPERLINK("http://evil.example")\n'
        b"carla@venetian.com;;red\n"
        b"\n"
        b"dan@gmail.com;;green\n"
    )
    imported = await client.post(
        f"/api/campaigns/{campaign_id}/prospects",
        data=upload,
        headers={**auth, "Content-Type": CSV},
    )
    report = await imported.get_json()
    assert (report["created"], report["rejected"]) == (2, 2)

    response = await client.get(f"/api/imports/{report['import_id']}/rejected.csv", headers=auth)
    assert response.status_code == 200
    assert response.mimetype == CSV
    rows = read_csv(await response.get_data())
    assert rows == [
        ["Email", "Company", "Favourite colour", "Line", "Rejected because"],
        ["bob@", "Wynn", '\'=HYPERLINK("http://evil.example")', "3", "invalid email 'bob@'"],
        [
            "dan@gmail.com",
            "",
            "green",
            "6",
            "company is required (or a website, or a work email address)",
        ],
    ]

    # Fixed in a spreadsheet, the same file imports: the extra columns are ignored.
    rows[1][0], rows[2][1] = "bob@wynn.com", "Lucky Star"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    again = await client.post(
        f"/api/campaigns/{campaign_id}/prospects",
        data=buffer.getvalue().encode(),
        headers={**auth, "Content-Type": CSV},
    )
    fixed = await again.get_json()
    assert (fixed["created"], fixed["rejected"]) == (2, 0)


async def test_an_import_without_rejected_rows_downloads_the_header_alone(
    client: TestClientProtocol, tune: Services, auth: dict[str, Any]
) -> None:
    campaign_id = await new_campaign(tune)
    imported = await client.post(
        f"/api/campaigns/{campaign_id}/prospects",
        data=b"email,company\nann@aria.com,Aria\n",
        headers={**auth, "Content-Type": CSV},
    )
    import_id = (await imported.get_json())["import_id"]
    response = await client.get(f"/api/imports/{import_id}/rejected.csv", headers=auth)
    assert read_csv(await response.get_data()) == [["email", "company", "Line", "Rejected because"]]
    missing = await client.get("/api/imports/999999/rejected.csv", headers=auth)
    assert missing.status_code == 404


async def test_every_rejected_row_is_kept_beyond_the_first_hundred_reported(
    tune: Services,
) -> None:
    campaign_id = await new_campaign(tune)
    bad = batch_size(tune.db) + 50  # more than a batch of rejects, with no valid row to carry them
    data = ("email,company\n" + "".join(f"nobody{n},Acme\n" for n in range(bad))).encode()
    summary = await import_csv(tune.db, campaign_id, data, offload=False)
    assert (summary.rejected, len(summary.errors)) == (bad, 100)
    async with tune.db.read() as session:
        job = await get_import(session, summary.import_id or 0)
    body = b"".join([chunk async for chunk in rejects_csv(tune.db, job)])
    rows = read_csv(body)
    assert len(rows) == bad + 1
    assert rows[-1] == [
        f"nobody{bad - 1}",
        "Acme",
        str(bad + 1),
        f"invalid email 'nobody{bad - 1}'",
    ]


async def test_the_import_reports_its_total_and_percentage(tune: Services) -> None:
    campaign_id = await new_campaign(tune)
    seen: list[tuple[int, int | None]] = []
    rows = batch_size(tune.db) * 5 // 2
    data = ("email,company\n" + "".join(f"p{n}@c{n}.com,C{n}\n" for n in range(rows))).encode()
    summary = await import_csv(
        tune.db,
        campaign_id,
        data,
        progress=lambda state: seen.append((state.rows_seen, state.total)),
    )
    assert seen[0] == (batch_size(tune.db), rows)
    async with tune.db.read() as session:
        job = await get_import(session, summary.import_id or 0)
        shown = import_json(job)
    assert (shown["total"], shown["percent"], shown["rows_seen"]) == (rows, 100, rows)


async def test_scores_written_at_import_equal_a_fresh_analysis(
    tune: Services, tmp_path: Path
) -> None:
    """New prospects are scored before they are written, from the rows in memory; a
    re-analysis from the stored contacts finds nothing to change: same scores, tiers and
    reasons (as stored text), across batches that split a company's contacts."""
    campaign_id = await new_campaign(tune)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    write_rows(first, 2 * batch_size(tune.db) + 500, seed=3)
    write_rows(second, batch_size(tune.db), seed=4)  # the same companies with other contacts
    for path in (first, second):
        summary = await import_csv(tune.db, campaign_id, path.read_bytes(), offload=False)
        assert summary.created > 0
        analysed = await analyse_campaign(tune.db, campaign_id)
        assert analysed.analysed > 500
        assert analysed.changed == 0
