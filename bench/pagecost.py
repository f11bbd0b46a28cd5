"""CPU to write the API layer's 50-item pages from their rows, the rows read once.

    python -m bench.pagecost [--pages 1000] [--body-bytes 5000] [--database-url URL]

When a page's rows changed since the last poll, the API layer writes its JSON
again (`webapp/web/apipages.py`); `python -m bench.requestcost`'s
`contents-changed` and `tier-changed` sides measure that inside a request, on
seeded emails whose bodies are a dozen characters. This measures the writing
alone, over rows read from a real database (a temporary SQLite file, or an
empty PostgreSQL one with `--database-url`, so each driver's row values), with
email bodies of `--body-bytes` characters of ASCII HTML (quotes, newlines,
`&`), as a real campaign's are. Each figure is CPU µs per page, the best of 5
runs of `--pages` pages:

- `emails`: the first page of a campaign's emails, every URL signed again
  (emails never read before);
- `emails, fields kept`: the same rows with the signed URLs and escaped bodies
  kept from the last page (`apipages.EmailFields`: as when the emails' rows
  changed because they were sent, their ids, links and bodies did not);
- `tier`: the first page of a tier's prospects with their contacts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from bench.constants import SECRET
from bench.seeding import seed_campaign
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.migrate import upgrade
from webapp.outbound.contentreads import ContentPage, campaign_content_page
from webapp.outbound.contents import TrackingUrls
from webapp.outbound.tokens import TokenSigner
from webapp.prospects.tierpage import TierRows, tier_page_rows
from webapp.web import apipages
from webapp.web.pagination import DEFAULT_LIMIT

PARAGRAPH = (
    '<p style="margin: 0 0 12px; color: #333">Hi Ann,</p>\n'
    "<p>Teams like Acme cut churn by a third with us &amp; kept their stack. "
    '<a href="https://example.com/case?utm_source=tune&id=42">Read how</a>.</p>\n'
)


def body(size: int) -> str:
    return (PARAGRAPH * (size // len(PARAGRAPH) + 1))[:size]


def best(write: Callable[[], bytes], pages: int) -> float:
    """CPU µs per page, the best of 5 runs (after a warm-up)."""
    for _ in range(pages // 10 + 1):
        write()
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(pages):
            write()
        runs.append((time.process_time() - started) / pages * 1e6)
    return min(runs)


async def read_pages(url: str, body_bytes: int) -> tuple[ContentPage, TierRows]:
    seeded = await asyncio.to_thread(seed_campaign, url, 150)
    db = Database(Config(database_url=url, secret_key=SECRET))
    try:
        async with db.write() as session:
            await session.execute(
                text("UPDATE contents SET html = :html, text = :text WHERE campaign_id = :id"),
                {"html": body(body_bytes), "text": body(body_bytes // 2), "id": seeded.campaign_id},
            )
        page = await campaign_content_page(db, seeded.campaign_id, DEFAULT_LIMIT)
        tier, _ = await tier_page_rows(db, seeded.campaign_id, 1, DEFAULT_LIMIT)
    finally:
        await db.dispose()
    return page, tier


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pagecost")
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--body-bytes", type=int, default=5000)
    parser.add_argument("--database-url", help="an empty database (default: a SQLite file)")
    args = parser.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'tune.db'}"
    upgrade(url)
    page, tier = asyncio.run(read_pages(url, args.body_bytes))
    urls = TrackingUrls("https://tune.example", TokenSigner(SECRET))
    kept = apipages.EmailFields(apipages.FIELDS_BUDGET)
    figures = {
        "emails": best(lambda: apipages.emails_page(page, urls), args.pages),
        "emails, fields kept": best(lambda: apipages.emails_page(page, urls, kept), args.pages),
        "tier": best(lambda: apipages.prospects_page(tier, None), args.pages),
    }
    print(f"{len(page.rows)} emails of {args.body_bytes} characters, {len(tier)} prospects")
    for name, cost in figures.items():
        print(f"{name:18} {cost:8.1f} µs CPU/page")


if __name__ == "__main__":
    main()
