"""Real-browser tests: Debian's Chromium through Playwright against a real `tune run`.

`sync_api()` is what a browser test module calls first: it skips the module,
with the reason, when Playwright or Chromium is missing (`.ci/run` installs the
`chromium` package). `chromium_page` opens one page and collects what the page
reports as broken (console errors and warnings, uncaught errors), so a test can
assert there were none. `serve_with_user` starts `tune run` on a fresh database
that has the rep's account (`tests.support.signin`) and a bootstrap API key, and
`campaign_through_api` builds a campaign with its prospects (and their emails) in it
through that key, as a CRM would.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import run_cli, serve, tune_env
from tests.support.signin import create_user

CHROMIUM = "/usr/bin/chromium"
API_KEY = "tune_browser_test_key_0123456789abcdef"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def sync_api() -> Any:
    """`playwright.sync_api`; skips the calling test module without Playwright or Chromium."""
    api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed"
    )
    if shutil.which(CHROMIUM) is None:
        pytest.skip(
            f"Chromium not found at {CHROMIUM} (apt-get install chromium)", allow_module_level=True
        )
    return api


@contextmanager
def chromium_page(base: str | None = None, **context: Any) -> Iterator[tuple[Any, list[str]]]:
    """A fresh Chromium page (relative URLs against `base`) and the problems it reports."""
    with sync_api().sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        options = {"base_url": base, **context} if base else context
        browser_context = browser.new_context(**options)
        page = browser_context.new_page()
        problems: list[str] = []
        page.on(
            "console",
            lambda message: (
                problems.append(f"console {message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        try:
            yield page, problems
        finally:
            browser_context.close()
            browser.close()


@contextmanager
def serve_with_user(workdir: Path, **extra: str) -> Iterator[str]:
    """`tune run` on a fresh SQLite database with the rep's account; its base URL.

    `extra` goes into the server's environment (a relay, DNS servers, ...).
    """
    env = tune_env(
        f"sqlite+aiosqlite:///{workdir / 'tune.db'}",
        workdir,
        **{"TUNE_BOOTSTRAP_API_KEY": API_KEY, **extra},
    )
    assert run_cli(["db", "upgrade"], env, workdir).returncode == 0
    create_user(env, workdir)
    with serve(env, workdir) as base:
        yield base


def campaign_through_api(
    server: str, name: str, csv: str, *, emails: bool = True
) -> tuple[int, dict[str, dict[str, Any]]]:
    """A campaign made through the API with the prospects of `csv` imported, and, with
    `emails`, their emails written: its id and its prospects by company name, each
    with its first contact's email as `content` when there is one."""
    with httpx.Client(base_url=server, headers={"X-API-Key": API_KEY}) as api:
        created = api.post("/api/campaigns/create", json={"name": name, "industry": "casino"})
        assert created.status_code == 201, created.text
        campaign_id: int = created.json()["id"]
        imported = api.post(
            f"/api/campaigns/{campaign_id}/prospects",
            content=csv.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert imported.status_code == 201, imported.text
        if emails:
            generated = api.post(f"/api/campaigns/{campaign_id}/contents/generate")
            assert generated.status_code == 200, generated.text
        prospects = {
            item["name"]: item
            for tier in (1, 2, 3)
            for item in api.get(f"/api/campaigns/{campaign_id}/prospects/{tier}").json()["items"]
        }
        contents = (
            api.get(f"/api/campaigns/{campaign_id}/contents").json()["items"] if emails else []
        )
    for item in prospects.values():
        first = item["contacts"][0]["id"] if item["contacts"] else None
        item["content"] = next((c for c in contents if c["contact_id"] == first), None)
    return campaign_id, prospects
