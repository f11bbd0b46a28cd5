"""Exports: the mbox of ready messages, the CSV, and CSV cells no spreadsheet runs as formulas."""

from __future__ import annotations

import csv
import io
import mailbox
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from quart.typing import TestClientProtocol

from tests.support.factories import add_contacts, contents_of
from webapp.core.cells import safe_cell
from webapp.outbound.contents import TrackingUrls
from webapp.web.services import Services

FORMULA = frozenset("=+-@")
BLANKS = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def runs_as_formula(cell: str) -> bool:
    """What a spreadsheet does: skip blanks, invisible characters and quotes, fold full width."""
    for char in cell:
        if char == '"' or char.isspace() or unicodedata.category(char) in BLANKS:
            continue
        return unicodedata.normalize("NFKC", char)[:1] in FORMULA
    return False


def cells_as_read(value: str) -> list[str]:
    """Every cell a spreadsheet could see: the row read with `,`, `;` or tab, and read with
    `;` or tab ignoring the quotes (so line breaks inside a cell start new rows)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["name", safe_cell(value), "tail"])
    written = buffer.getvalue()
    cells = []
    for delimiter in ",;\t":
        reader = csv.reader(io.StringIO(written, newline=""), delimiter=delimiter)
        cells += [cell for row in reader for cell in row]
    cells += re.split(r"[;\t\r\n]", written.replace('"', ""))  # quotes lost, another delimiter
    return cells


VARIANTS = [
    "=1+8",
    "+1+8",
    "-1+8",
    "@SUM(A1)",
    ";=1+8",
    "a;=1+8",
    "a\t=1+8",
    "\t=1+8",
    "\r=1+8",
    "\n=1+8",
    " =1+8",
    "\u00a0=1+8",
    "\u3000=1+8",
    "\u200b=1+8",
    "\ufeff=1+8",
    "\uff1d1+8",
    "\uff0b1+8",
    "\uff0d1+8",
    "\uff20SUM(A1)",
    "\ufe661+8",
    'a;"=1+8',
    'Dear Jane,\n- a point\n=HYPERLINK("http://evil")',
]


@pytest.mark.parametrize("value", VARIANTS)
def test_no_variant_of_a_formula_survives_any_reading(value: str) -> None:
    assert runs_as_formula(value) or any(
        runs_as_formula(cell) for cell in re.split(r"[;\t\r\n]", value)
    )
    for cell in cells_as_read(value):
        assert not runs_as_formula(cell), (value, cell)


@pytest.mark.parametrize(
    "value", ["Acme, Inc", "jane@acme.example", "Q3 outbound", "a=b", "", "x-y"]
)
def test_ordinary_cells_are_unchanged(value: str) -> None:
    assert safe_cell(value) == value


def test_the_defused_cell_shows_its_text_behind_an_apostrophe() -> None:
    assert safe_cell("a;=1+8") == "a;'=1+8"
    assert safe_cell("\uff1d1+8") == "'\uff1d1+8"
    assert safe_cell(None) == ""


TRICKY = st.text(
    st.sampled_from([*"=+-@;,\t\r\n \"'ab1", "\uff1d", "\uff0b", "\u3000", "\u200b", "\ufeff"]),
    max_size=20,
)


@given(st.one_of(TRICKY, st.text(max_size=30)))
def test_any_text_is_defused_for_every_reading_and_only_gains_apostrophes(value: str) -> None:
    for cell in cells_as_read(value):
        assert not runs_as_formula(cell), ascii((value, cell))
    assert safe_cell(value).replace("'", "") == value.replace("'", "")


async def test_mbox_export_holds_every_email_as_it_would_be_sent(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any], tmp_path: Path
) -> None:
    campaign_id = await add_contacts(tune, 3)
    await client.post(f"/api/campaigns/{campaign_id}/contents/generate", headers=auth)
    response = await client.get(f"/api/campaigns/{campaign_id}/export.mbox", headers=auth)
    assert response.status_code == 200
    path = tmp_path / "export.mbox"
    path.write_bytes(await response.get_data(as_text=False))

    messages = list(mailbox.mbox(str(path)))
    rows = await contents_of(tune.db, campaign_id)
    urls = TrackingUrls("http://tune.test", tune.signer)
    assert len(messages) == 3
    for message, content in zip(messages, rows, strict=True):
        assert message["Subject"] == content.subject
        assert message["List-Unsubscribe"] == f"<{urls.unsubscribe(content.id)}>"
        assert message["Message-ID"]
        assert message.is_multipart()
        html = next(p for p in message.walk() if p.get_content_type() == "text/html")
        payload = html.get_payload(decode=True)
        assert isinstance(payload, bytes)
        assert urls.pixel(content.id) in payload.decode()
    assert (await client.get("/api/campaigns/999/export.mbox", headers=auth)).status_code == 404


async def test_csv_export_lists_tracked_content_and_defuses_formulas(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any]
) -> None:
    campaign_id = await add_contacts(tune, 2, first_name='=HYPERLINK("http://evil")')
    await client.post(f"/api/campaigns/{campaign_id}/contents/generate", headers=auth)
    response = await client.get(f"/api/campaigns/{campaign_id}/export.csv", headers=auth)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")

    rows = list(csv.DictReader(io.StringIO(await response.get_data(as_text=True))))
    contents = await contents_of(tune.db, campaign_id)
    urls = TrackingUrls("http://tune.test", tune.signer)
    assert len(rows) == 2
    assert rows[0]["first_name"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["pixel_url"] == urls.pixel(contents[0].id)
    assert rows[1]["unsubscribe_url"] == urls.unsubscribe(contents[1].id)
    assert urls.pixel(contents[0].id) in rows[0]["html"]
    assert rows[0]["tier"] == "1" and rows[0]["company"]
