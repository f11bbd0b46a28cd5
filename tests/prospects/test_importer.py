"""Import hardening on a real database: broken CSV records, characters the database cannot
store, a batch the database refuses, imports interrupted by a dead process, and encodings."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol
from sqlalchemy import func, select, text

from tests.support.factories import make_campaign, make_user
from tests.support.signin import login, page, token
from webapp import create_app
from webapp.core.config import Config
from webapp.core.errors import ValidationFailed
from webapp.core.models import Contact, ImportJob, Prospect
from webapp.prospects import worker
from webapp.prospects.importer import (
    ImportStopped,
    batch_size,
    import_csv,
    import_prospects,
)
from webapp.prospects.jobs import get_import, mark_interrupted, process_identity, start_import
from webapp.prospects.rows.fields import rows_from_json
from webapp.web.services import Services

CSV = "text/csv"


async def new_campaign(tune: Services) -> int:
    async with tune.db.write() as session:
        return (await make_campaign(session, industry="casino")).id


async def contact_count(tune: Services, campaign_id: int) -> int:
    async with tune.db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.campaign_id == campaign_id)
        )
    return count or 0


def lines(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


# --- an unterminated quoted field ----------------------------------------------------------

BROKEN = lines(
    "email,company,title",
    'q1@bq1.com,"Acme, Inc,CEO',
    "q2@bq2.com,Beta,CTO",
    "q3@bq3.com,Gamma,CFO",
)


async def test_an_unclosed_quote_is_a_rejected_line_and_the_rows_after_it_import(
    tune: Services,
) -> None:
    campaign_id = await new_campaign(tune)
    summary = await import_csv(tune.db, campaign_id, BROKEN)
    assert (summary.created, summary.rejected) == (2, 1)
    assert summary.errors == [
        {"line": 2, "reason": "a quoted field opened on line 2 is never closed"}
    ]
    async with tune.db.read() as session:
        names = set(await session.scalars(select(Prospect.name)))
    assert names == {"Beta", "Gamma"}


async def test_an_unclosed_quote_in_strict_mode_imports_nothing(
    client: TestClientProtocol, tune: Services, auth: dict[str, Any]
) -> None:
    campaign_id = await new_campaign(tune)
    response = await client.post(
        f"/api/campaigns/{campaign_id}/prospects?strict=1",
        data=BROKEN,
        headers={**auth, "Content-Type": CSV},
    )
    assert response.status_code == 422
    body = await response.get_json()
    assert body["error"]["errors"][0]["line"] == 2
    assert await contact_count(tune, campaign_id) == 0


# --- characters the database cannot store --------------------------------------------------


async def test_a_nul_in_a_field_rejects_the_row_naming_the_field(
    client: TestClientProtocol, tune: Services, auth: dict[str, Any]
) -> None:
    campaign_id = await new_campaign(tune)
    rows = [
        {"email": "ana@acme.com", "company": "Acme"},
        {"email": "bob@beta.com", "company": "Be\u0000ta"},
        {"email": "cy@gamma.com", "company": "Gamma", "title": "Boss\ud800"},
    ]
    response = await client.post(f"/api/campaigns/{campaign_id}/prospects", json=rows, headers=auth)
    assert response.status_code == 201
    body = await response.get_json()
    assert body["created"] == 1 and body["rejected"] == 2
    assert [error["line"] for error in body["errors"]] == [2, 3]
    assert body["errors"][0]["reason"].startswith("company contains a character that cannot be")
    assert body["errors"][1]["reason"].startswith("title contains a character")


async def test_a_strict_import_with_a_nul_in_its_last_row_writes_nothing(
    client: TestClientProtocol, tune: Services, auth: dict[str, Any]
) -> None:
    campaign_id = await new_campaign(tune)
    rows: list[dict[str, Any]] = [
        {"email": f"p{n}@company{n}.com", "company": f"Company {n}"} for n in range(6000)
    ]
    rows[-1]["title"] = "CEO\u0000"
    response = await client.post(
        f"/api/campaigns/{campaign_id}/prospects?strict=1", json=rows, headers=auth
    )
    assert response.status_code == 422
    body = await response.get_json()
    assert body["error"]["errors"] == [
        {
            "line": 6000,
            "reason": "title contains a character that cannot be stored (U+0000 at position 4)",
        }
    ]
    assert await contact_count(tune, campaign_id) == 0


# --- a batch the database refuses ------------------------------------------------------------


Refuse = Callable[[str], Awaitable[None]]


@pytest.fixture
async def refuse_email(tune: Services) -> AsyncIterator[Refuse]:
    """A real trigger: the database itself refuses to store a contact with a given email."""
    sqlite = tune.db.engine.dialect.name == "sqlite"

    async def refuse(email: str) -> None:
        async with tune.db.write() as session:
            if sqlite:
                await session.execute(
                    text(
                        "CREATE TRIGGER refuse BEFORE INSERT ON contacts "
                        f"WHEN NEW.email = '{email}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                    )
                )
                return
            await session.execute(
                text(
                    "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.email = '{email}' THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            await session.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON contacts "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )

    yield refuse
    async with tune.db.write() as session:
        await session.execute(
            text("DROP TRIGGER IF EXISTS refuse" + ("" if sqlite else " ON contacts"))
        )


async def test_a_refused_batch_stops_the_import_with_a_report_and_keeps_earlier_batches(
    client: TestClientProtocol, tune: Services, auth: dict[str, Any], refuse_email: Refuse
) -> None:
    campaign_id = await new_campaign(tune)
    size = batch_size(tune.db)
    count = size + 10
    rows = [{"email": f"p{n}@company{n}.com", "company": f"Company {n}"} for n in range(count)]
    await refuse_email(f"p{count - 1}@company{count - 1}.com")
    response = await client.post(f"/api/campaigns/{campaign_id}/prospects", json=rows, headers=auth)
    assert response.status_code == 503
    error = (await response.get_json())["error"]
    assert error["code"] == "import_stopped"
    assert f"stopped at line {size + 1}" in error["message"]
    assert "import the same file again to resume" in error["message"]
    assert error["created"] == size
    # The refused batch is rolled back whole; the batch before it stays.
    assert await contact_count(tune, campaign_id) == size
    async with tune.db.read() as session:
        job = await get_import(session, error["import_id"])
    assert (job.status, job.created) == ("failed", size)


async def test_a_refused_batch_raises_import_stopped_from_the_function(
    tune: Services, refuse_email: Refuse
) -> None:
    campaign_id = await new_campaign(tune)
    await refuse_email("bob@beta.com")
    items = [{"email": "bob@beta.com", "company": "Beta"}]
    with pytest.raises(ImportStopped):
        await import_prospects(tune.db, campaign_id, rows_from_json(items))
    assert await contact_count(tune, campaign_id) == 0


# --- imports interrupted by a process that died ----------------------------------------------


async def running_job(tune: Services, campaign_id: int, owner: str | None) -> int:
    async with tune.db.write() as session:
        job = await start_import(session, campaign_id, "big.csv")
        job.owner = owner
        job.rows_seen = 76_000
        job.created = 75_000
        return job.id


def dead_owner() -> str:
    return f"{socket.gethostname()}:4194304:1"  # above Linux's largest process id


async def test_imports_left_running_by_a_dead_process_are_marked_interrupted(
    tune: Services,
) -> None:
    campaign_id = await new_campaign(tune)
    dead = await running_job(tune, campaign_id, dead_owner())
    legacy = await running_job(tune, campaign_id, None)
    alive = await running_job(tune, campaign_id, process_identity())
    elsewhere = await running_job(tune, campaign_id, "another-host:12:34")
    assert await mark_interrupted(tune.db) == 2
    async with tune.db.read() as session:
        statuses = {
            job.id: (job.status, job.rows_seen) for job in await session.scalars(select(ImportJob))
        }
    assert statuses[dead] == ("interrupted", 76_000)
    assert statuses[legacy] == ("interrupted", 76_000)
    assert statuses[alive] == ("running", 76_000)
    assert statuses[elsewhere] == ("running", 76_000)


async def test_startup_marks_dead_imports_and_page_and_api_offer_to_resume(
    config: Config, tune: Services, auth: dict[str, Any]
) -> None:
    campaign_id = await new_campaign(tune)
    job_id = await running_job(tune, campaign_id, dead_owner())
    async with tune.db.write() as session:
        await make_user(session)
    restarted: Quart = create_app(config)
    async with restarted.test_app():
        client = restarted.test_client()
        response = await client.get(f"/api/imports/{job_id}", headers=auth)
        body = await response.get_json()
        assert (body["status"], body["rows_seen"], body["created"]) == (
            "interrupted",
            76_000,
            75_000,
        )
        assert "import the same file again to resume" in body["resume"]
        assert (await login(client)).status_code == 303
        status, html = await page(client, f"/campaigns/{campaign_id}")
    assert status == 200
    assert "Import of big.csv: interrupted" in html
    assert "76,000 rows" in html and "import the same file again" in html
    assert "Importing" not in html


# --- encodings -----------------------------------------------------------------------------

CYRILLIC = "email,company,title\nivan@primer.ru,Рога и копыта,Генеральный директор\n"


async def test_a_cp1251_export_is_read_as_cyrillic(tune: Services) -> None:
    campaign_id = await new_campaign(tune)
    await import_csv(tune.db, campaign_id, CYRILLIC.encode("cp1251"))
    async with tune.db.read() as session:
        assert await session.scalar(select(Prospect.name)) == "Рога и копыта"
        assert await session.scalar(select(Contact.title)) == "Генеральный директор"


async def test_the_api_takes_the_encoding_the_uploader_names(
    client: TestClientProtocol, tune: Services, auth: dict[str, Any]
) -> None:
    campaign_id = await new_campaign(tune)
    url = f"/api/campaigns/{campaign_id}/prospects"
    data = "email,company\nana@acme.com,Ελληνική\n".encode("iso-8859-7")
    response = await client.post(
        f"{url}?encoding=iso-8859-7", data=data, headers={**auth, "Content-Type": CSV}
    )
    assert response.status_code == 201
    async with tune.db.read() as session:
        assert await session.scalar(select(Prospect.name)) == "Ελληνική"
    response = await client.post(
        f"{url}?encoding=klingon", data=data, headers={**auth, "Content-Type": CSV}
    )
    assert response.status_code == 422
    assert (await response.get_json())["error"]["field"] == "encoding"


async def test_the_upload_form_takes_an_encoding(
    client: TestClientProtocol, tune: Services
) -> None:
    from werkzeug.datastructures import FileStorage

    campaign_id = await new_campaign(tune)
    async with tune.db.write() as session:
        await make_user(session)
    assert (await login(client)).status_code == 303
    response = await client.post(
        f"/campaigns/{campaign_id}/import",
        form={"csrf_token": await token(client), "encoding": "cp1251"},
        files={
            "file": FileStorage(
                io.BytesIO(CYRILLIC.encode("cp1251")), filename="ru.csv", content_type=CSV
            )
        },
    )
    assert response.status_code == 303
    for _ in range(100):
        async with tune.db.read() as session:
            job = await session.scalar(select(ImportJob))
        if job is not None and job.status != "running":
            break
        await asyncio.sleep(0.05)
    assert job is not None and (job.status, job.created) == ("finished", 1)
    async with tune.db.read() as session:
        assert await session.scalar(select(Prospect.name)) == "Рога и копыта"


async def test_strict_import_refuses_before_writing_when_validation_fails(tune: Services) -> None:
    campaign_id = await new_campaign(tune)
    with pytest.raises(ValidationFailed):
        await import_csv(tune.db, campaign_id, BROKEN, strict=True)
    assert await contact_count(tune, campaign_id) == 0


# --- big uploads in the child process --------------------------------------------------------


def big_csv(rows: int, *, bad_line: int | None = None) -> bytes:
    lines = ["company,domain,email,title,employees"]
    lines += [
        f"Company {n},company{n}.example,p{n}@company{n}.example,CEO,{n}" for n in range(rows)
    ]
    if bad_line is not None:
        lines[bad_line - 1] = "Broken,broken.example,not-an-email,CEO,1"
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) >= worker.CHILD_PROCESS_BYTES
    return body


@pytest.mark.slow
async def test_a_big_upload_is_imported_in_the_child_process_with_the_same_report(
    client: TestClientProtocol, tune: Services, auth: dict[str, Any]
) -> None:
    campaign_id = await new_campaign(tune)
    url = f"/api/campaigns/{campaign_id}/prospects"
    body = big_csv(20_000, bad_line=3)
    response = await client.post(
        f"{url}?strict=1", data=body, headers={**auth, "Content-Type": CSV}
    )
    assert response.status_code == 422  # raised in the child, answered here as it was
    error = (await response.get_json())["error"]
    assert error["errors"] == [{"line": 3, "reason": "invalid email 'not-an-email'"}]
    assert await contact_count(tune, campaign_id) == 0

    response = await client.post(url, data=body, headers={**auth, "Content-Type": CSV})
    assert response.status_code == 201
    summary = await response.get_json()
    assert (summary["created"], summary["rejected"]) == (19_999, 1)
    assert await contact_count(tune, campaign_id) == 19_999
    async with tune.db.read() as session:
        job = await get_import(session, summary["import_id"])
    assert (job.status, job.rows_seen, job.created) == ("finished", 20_000, 19_999)
    assert job.owner is not None and job.owner != process_identity()  # the child ran it


async def test_an_import_id_beyond_its_column_is_not_found(
    client: TestClientProtocol, auth: dict[str, Any]
) -> None:
    for import_id in (2**31, 1648936178868308):
        response = await client.get(f"/api/imports/{import_id}", headers=auth)
        assert response.status_code == 404
