"""The import flow in a real browser (Playwright, Chromium) against a real `tune run`: the
sample CSV, a hand-made file with bad rows (warnings, rejected rows to download, fix and
import again), and a big file's progress bar with its percentage."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bench.import_tracking import csv_body
from tests.support.browser import sync_api
from tests.support.paths import ARTIFACTS
from tests.support.signin import sign_in_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = sync_api()

HAND_MADE = (
    "Company,Website,Email,Title,Headcount,Colour\n"
    "Aria Resort,aria.example,ann@aria.example,CEO,lots,blue\n"
    "Wynn,wynn.example,bob@,CFO,500,=1+1\n"
    "Venetian,venetian.example,carla@venetian.example,Director,1200,red\n"
    ",,dan@gmail.com,Host,10,green\n"
)


def import_csv(page: Any, path: Path) -> None:
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Import", exact=True).click()


def wait_while_it_moves(page: Any, stall_seconds: float) -> None:
    """Until the import's report shows; fails when its count of rows read stands still
    for `stall_seconds`."""
    seen, moved = "", time.monotonic()
    while True:
        words = page.evaluate(
            """() => document.querySelector('.import-report') ? null
                : (document.querySelector('.import-progress p')?.textContent ?? '')"""
        )
        if words is None:
            return
        if words != seen:  # "Importing big.csv… 41,000 of 100,000 rows read: 41%."
            seen, moved = words, time.monotonic()
        assert time.monotonic() - moved < stall_seconds, f"the import stalled: {seen!r}"
        page.wait_for_timeout(500)


def test_import_with_bad_rows_then_the_fixed_rejected_rows(
    server: str,
    browser_page: tuple[Any, list[str]],
    tmp_path: Path,
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in_page(page)
    page.get_by_label("Name").fill("Import flow")
    page.get_by_label("Industry").select_option("casino")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))

    # The sample downloads from the import form, and imports as it is.
    with page.expect_download() as sample_download:
        page.get_by_role("link", name="Download a sample CSV").click()
    sample = tmp_path / "sample.csv"
    sample_download.value.save_as(sample)
    import_csv(page, sample)
    report = page.locator(".import-report")
    expect(report).to_contain_text("Import of sample.csv: finished", timeout=15_000)
    expect(report.locator('[data-report="created"]')).to_have_text("4")
    expect(report.locator('[data-report="rejected"]')).to_have_text("0")
    expect(report.get_by_role("link", name=re.compile("rejected"))).to_have_count(0)

    # A hand-made file: a bad headcount is a warning, two rows are rejected.
    hand_made = tmp_path / "hand-made.csv"
    hand_made.write_text(HAND_MADE)
    import_csv(page, hand_made)
    expect(report).to_contain_text("Import of hand-made.csv: finished", timeout=15_000)
    expect(report.locator('[data-report="created"]')).to_have_text("2")
    expect(report.locator('[data-report="rejected"]')).to_have_text("2")
    expect(report.locator('[data-report="warned"]')).to_have_text("1")
    warnings = report.locator('[data-report="warnings"]')
    expect(warnings).to_contain_text("invalid employees 'lots'")
    expect(warnings.locator("tbody tr").first.locator("td").first).to_have_text("2")
    page.screenshot(path=str(ARTIFACTS / "import-report.png"), full_page=True)

    # The rejected rows download with the file's own columns, then the line and why.
    with page.expect_download() as rejected_download:
        report.get_by_role("link", name="Download the 2 rejected rows (CSV)").click()
    assert rejected_download.value.suggested_filename == "hand-made-rejected.csv"
    rejected = tmp_path / "rejected.csv"
    rejected_download.value.save_as(rejected)
    rows = list(csv.reader(io.StringIO(rejected.read_text())))
    assert rows == [
        ["Company", "Website", "Email", "Title", "Headcount", "Colour", "Line", "Rejected because"],
        ["Wynn", "wynn.example", "bob@", "CFO", "500", "'=1+1", "3", "invalid email 'bob@'"],
        ["", "", "dan@gmail.com", "Host", "10", "green", "5",
         "company is required (or a website, or a work email address)"],
    ]  # fmt: skip

    # Fixed in a spreadsheet, the same file imports.
    rows[1][2], rows[2][0] = "bob@wynn.example", "Lucky Star Card Room"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(buffer.getvalue())
    import_csv(page, fixed)
    expect(report).to_contain_text("Import of fixed.csv: finished", timeout=15_000)
    expect(report.locator('[data-report="created"]')).to_have_text("2")
    expect(report.locator('[data-report="rejected"]')).to_have_text("0")
    for company in ("Aria Resort", "Wynn", "Lucky Star Card Room"):
        expect(page.locator("#tiers").get_by_role("link", name=company, exact=True)).to_be_visible()
    assert problems == []


def test_a_big_import_shows_a_percentage_on_its_progress_bar(
    server: str,
    browser_page: tuple[Any, list[str]],
    tmp_path: Path,
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    sign_in_page(page)
    page.get_by_label("Name").fill("Big import")
    page.get_by_label("Industry").select_option("casino")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    big = tmp_path / "big.csv"
    big.write_bytes(csv_body(100_000))
    import_csv(page, big)
    # The page polls every second. The percentage shows once the file's rows are
    # counted, which takes longer the busier the machine is; what matters is that it
    # shows while the import runs. So: whichever comes first, the percentage (read at
    # once with its bar, as the partial is swapped every second) or the finished report.
    shown = page.wait_for_function(
        """() => {
            const words = document.querySelector('[data-report="percent"]');
            const bar = document.querySelector('progress[aria-label="Import progress"]');
            if (words && bar) return [words.textContent, bar.max, bar.value];
            return document.querySelector('.import-report') ? 'finished' : null;
        }""",
        polling=100,
        timeout=180_000,
    ).json_value()
    assert shown != "finished", "the import finished before it showed a percentage"
    words, maximum, value = shown
    assert re.fullmatch(r"\d{1,2}%", words), words
    assert words == f"{value}%" and maximum == 100, shown  # the words and the bar agree
    # The import reads at a lower priority than the server, so on a busy machine it
    # takes as long as the machine's other work lets it: it is judged by whether it
    # keeps moving, not by a deadline.
    wait_while_it_moves(page, stall_seconds=60)
    expect(page.locator(".import-report")).to_contain_text("finished")
    expect(page.locator('.import-report [data-report="created"]')).to_have_text("100,000")
    assert problems == []
