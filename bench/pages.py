"""Page and API latency as the data grows: 1,000 vs 1,000,000 events, first vs deep pages.

The dashboard's pages are measured when a user can sign in (`tune users create`
and the login form); without the dashboard the API rows stand alone.
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

import httpx

from bench import harness
from bench.harness import API_KEY, Server, WrkResult, running, wrk
from bench.rounds import Settings, ratio
from webapp.web.pagination import DEFAULT_LIMIT, encode_cursor


def _latency(base: str, path: str, settings: Settings, headers: dict[str, str]) -> WrkResult:
    return wrk(base, path, seconds=max(2.0, settings.seconds / 2), connections=4, headers=headers)


def _sign_in(server: Server) -> str | None:
    """A dashboard session cookie for a fresh admin, or None without a dashboard."""
    password = "bench password 0123456789"  # noqa: S105 - a throwaway bench user
    created = subprocess.run(
        [harness.TUNE, "users", "create", "bench@example.com", "--admin"],
        input=password + "\n",
        env=server.env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if created.returncode != 0:
        return None
    with httpx.Client(base_url=server.base, timeout=10) as client:
        page = client.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if page.status_code != 200 or match is None:
            return None
        signed_in = client.post(
            "/login",
            data={
                "email": "bench@example.com",
                "password": password,
                "csrf_token": match.group(1),
                "next": "/campaigns",
            },
        )
        cookie = client.cookies.get("session")
        if signed_in.status_code not in (302, 303) or not cookie:
            return None
        return f"session={cookie}"


def pages(settings: Settings) -> dict[str, Any]:
    """Campaign page and stats API at 1,000 vs 1,000,000 events; tier pages at 100,000."""
    events_big = 100_000 if settings.quick else 1_000_000
    prospects_big = 10_000 if settings.quick else 100_000
    with harness.workspace("pages") as workdir, harness.fresh_database("sqlite", workdir) as url:
        started = time.monotonic()
        small = harness.seed_campaign(url, 1_000)
        harness.seed_events(url, small, 1_000)
        big = harness.seed_campaign(url, 1_000)
        harness.seed_events(url, big, events_big)
        wide = harness.seed_campaign(url, prospects_big)
        seeding = round(time.monotonic() - started, 1)
        key = {"X-API-Key": API_KEY}
        with running(url, workdir) as server:
            figures: dict[str, Any] = {"seed_seconds": seeding, "events_big": events_big}
            for name, path in (
                ("stats_api", "/api/campaigns/{}/stats"),
                ("campaign_api", "/api/campaigns/{}"),
            ):
                few = _latency(server.base, path.format(small.campaign_id), settings, key)
                many = _latency(server.base, path.format(big.campaign_id), settings, key)
                figures[name] = {
                    "p50_ms_1k": few.p50_ms,
                    "p50_ms_big": many.p50_ms,
                    "p99_ms_1k": few.p99_ms,
                    "p99_ms_big": many.p99_ms,
                    "ratio_p50": ratio(many.p50_ms, few.p50_ms),
                }
            deep = encode_cursor([False, 1, wide.content_ids[-1]])
            tier_path = f"/api/campaigns/{wide.campaign_id}/prospects/1"
            # The first page without a query string is answered in front of Quart (the
            # API layer); a cursor is Quart's. The keyset's cost is compared on one path:
            # the first page asked with its default limit written out, through Quart.
            first_api = _latency(server.base, f"{tier_path}?limit={DEFAULT_LIMIT}", settings, key)
            first_layer = _latency(server.base, tier_path, settings, key)
            deep_api = _latency(server.base, f"{tier_path}?cursor={deep}", settings, key)
            figures["tier_api"] = {
                "prospects": prospects_big,
                "p50_ms_first": first_api.p50_ms,
                "p50_ms_first_layer": first_layer.p50_ms,
                "p50_ms_deep": deep_api.p50_ms,
                "ratio_p50": ratio(deep_api.p50_ms, first_api.p50_ms),
            }
            cookie = _sign_in(server)
            if cookie is None:
                figures["dashboard"] = "not available yet"
                return figures
            session = {"Cookie": cookie}
            few = _latency(server.base, f"/campaigns/{small.campaign_id}", settings, session)
            many = _latency(server.base, f"/campaigns/{big.campaign_id}", settings, session)
            first = _latency(
                # The score order, whose keyset the deep cursor above is in.
                server.base,
                f"/campaigns/{wide.campaign_id}/tiers/1?sort=score",
                settings,
                session,
            )
            deep_page = _latency(
                server.base,
                f"/campaigns/{wide.campaign_id}/tiers/1?sort=score&cursor={deep}",
                settings,
                session,
            )
            figures["campaign_page"] = {
                "p50_ms_1k": few.p50_ms,
                "p50_ms_big": many.p50_ms,
                "ratio_p50": ratio(many.p50_ms, few.p50_ms),
                "non_2xx": few.non_2xx + many.non_2xx,
            }
            figures["tier_page"] = {
                "p50_ms_first": first.p50_ms,
                "p50_ms_deep": deep_page.p50_ms,
                "ratio_p50": ratio(deep_page.p50_ms, first.p50_ms),
                "non_2xx": first.non_2xx + deep_page.non_2xx,
            }
            return figures
