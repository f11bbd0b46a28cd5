"""CPU per request through the app's ASGI entry point, in one process, without HTTP.

    python -m bench.requestcost [--requests 20000] [--concurrency 64] [--only campaign]
                                [--seed 10000] [--emails 10000] [--database-url URL]
                                [--browser]

What a route costs Tune's own code and Quart, with no server, socket or load
generator on the same cores: each request enters `app(scope, receive, send)`
as uvicorn calls it (on uvloop, `concurrency` requests in flight), and the
process's CPU time is divided by the requests answered. The bare Quart app of
the load benchmarks (bench/ceilings.py) is measured in the same run as the
yardstick. Routes: `/api/health`; the key-authenticated reads the API layer
answers: `GET /api/campaigns/<id>` (`campaign`) and its `/stats`,
`GET /api/industries` and `GET /api/campaigns`, the first page of the list
(`campaigns`); and that list through Quart (`campaigns-query`: `?limit=50`
leaves it to Quart); `GET /api/contents/<id>` (`content`: the campaign's first
email, so with `--seed 1` or more), the campaign's emails (`contents`, the first
page; `contents-query` through Quart), its flag reasons (`flags`) and the first
page of its tier 1 (`tier`; `tier-query` through Quart); those two pages as a poll
finds them after their rows changed (`contents-changed`, `tier-changed`: the
API layer's kept body is dropped before each request, so each is written from
its rows again, as after a change, minus comparing the rows with the kept
ones; the emails' ids and links are the same, as when an email was sent or
edited; `contents-new` also drops the signed URLs and bodies kept, as for emails never
read before); `GET /api/prospects/<id>`
(`prospect`: the first prospect of a seeded campaign; `prospect-query` through Quart,
where `?via=quart` leaves it; `prospects`: up to 1,000 prospects in turn, so requests in
flight at once read different rows and share no query); and a
page, the sign-in form (`login`: a template, the session cookie and its CSRF
token). `--seed N`
reads a campaign of N prospects, contacts and sent emails (bench/seeding.py)
instead of an empty one; `--database-url` runs Tune on that database (an empty
PostgreSQL one, say) instead of a temporary SQLite file.

With `--seed N`, the tracking fast path too: `pixel` and `click` each take the
pixels or links of a campaign of their own, `--emails` emails (10,000, as the load
benchmark's), in turn: no email is both opened and clicked, and each is hit about as
often as in the load benchmark (the hits per email are printed), since what a hit
costs grows with the email's earlier hits. `click-first` takes links never
clicked before (a campaign of their own too). Each side also
reports its event loop's CPU alone (`<side> (loop)`); the rest of a tracking
hit's CPU is the event writer's thread on SQLite (on PostgreSQL the writer
runs on the loop, and the server's own CPU is not counted: see
bench/eventcost.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import func, select

from bench.ceilings import quart_app
from bench.constants import LINK_POSITION
from webapp.outbound.tokens import TokenSigner
from webapp.web.apilayer import ApiLayer
from webapp.web.apireads import ReadTable

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
"""The tracking sides' user agent with `--browser`. Without it they send none, as wrk does
in the load benchmarks: every hit is then a machine's (`empty_user_agent`)."""


def scope(path: str, headers: dict[str, str], query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }


Scopes = dict[str, Any] | list[dict[str, Any]]
"""One request's scope, or several taken in turn (the tracking sides' many emails)."""


async def one(app: ASGIApp, base: dict[str, Any]) -> int:
    """One request as uvicorn's cycle runs it: the body, then a disconnect once answered."""
    done = asyncio.Event()
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif not message.get("more_body", False):
            done.set()

    await app(dict(base), receive, send)
    return status


async def measure(app: ASGIApp, base: Scopes, requests: int, concurrency: int) -> float:
    """CPU µs per request over `requests`, `concurrency` at a time (after a warm-up)."""
    return (await measure_threads(app, base, requests, concurrency))[0]


async def measure_threads(
    app: ASGIApp, base: Scopes, requests: int, concurrency: int
) -> tuple[float, float]:
    """CPU µs per request of the process and of the event loop's thread alone.

    The rest is other threads': on SQLite the event writer's and the reads'.
    A list of scopes is taken in turn, one request each, from where the last
    measure of the same list stopped (warm-up included).
    """
    statuses: list[int] = []
    scopes = base if isinstance(base, list) else [base]
    cursor = _CURSORS.setdefault(id(scopes), [0])

    def next_scope() -> dict[str, Any]:
        scope = scopes[cursor[0] % len(scopes)]
        cursor[0] += 1
        return scope

    async def worker(count: int) -> None:
        for _ in range(count):
            statuses.append(await one(app, next_scope()))

    await asyncio.gather(*(worker(5) for _ in range(concurrency)))
    statuses.clear()
    gc.collect()
    started, loop_started = time.process_time(), time.thread_time()
    per = requests // concurrency
    await asyncio.gather(*(worker(per) for _ in range(concurrency)))
    loop = time.thread_time() - loop_started
    elapsed = time.process_time() - started
    bad = [s for s in statuses if s not in (200, 302)]
    if bad:
        raise SystemExit(
            f"{len(bad)} answers were not 200 (first {bad[0]}) for {scopes[0]['path']}"
        )
    return elapsed / len(statuses) * 1e6, loop / len(statuses) * 1e6


_CURSORS: dict[int, list[int]] = {}


def api_layer(app: Any) -> ApiLayer:
    """The API layer in the app's chain of ASGI layers."""
    layer = app.asgi_app
    while not isinstance(layer, ApiLayer):
        layer = layer.inner
    return layer


def changed(app: ASGIApp, reads: ReadTable, key: tuple[Any, ...], new: bool = False) -> ASGIApp:
    """The app, with the body kept under `key` dropped before each request: the page is
    written again from its rows, as when one of them changed since the last poll. With
    `new`, the emails' signed URLs and bodies kept are dropped too, as for emails never read."""
    kept = reads.kept

    async def answer(scope: Any, receive: Any, send: Any) -> None:
        kept.discard(key)
        if new:
            reads.email_fields.clear()
        await app(scope, receive, send)

    return answer


async def run(
    requests: int,
    concurrency: int,
    repeats: int,
    profile: str | None = None,
    only: tuple[str, ...] = (),
    seed: int = 0,
    database_url: str | None = None,
    browser: bool = False,
    emails: int = 10_000,
) -> dict[str, list[float]]:
    from bench.seeding import seed_campaign
    from webapp import create_app
    from webapp.accounts.apikeys import create_key
    from webapp.campaigns.queries import create_campaign, list_industries
    from webapp.core.config import Config
    from webapp.core.migrate import upgrade
    from webapp.core.models import Content, Prospect

    workdir = Path(tempfile.mkdtemp(prefix="tune-requestcost-"))
    url = database_url or f"sqlite+aiosqlite:///{workdir / 'tune.db'}"
    await asyncio.to_thread(upgrade, url)
    seeded = await asyncio.to_thread(seed_campaign, url, seed) if seed else None
    config = Config(
        database_url=url,
        secret_key="requestcost-secret-0123456789abcdef",  # noqa: S106  (a throwaway database)
        instance_path=workdir / "instance",
        run_sender=False,
        run_webhooks=False,
        run_inbox=False,
        rate_limit="100000000/minute",
        log_json=True,
    )
    app = create_app(config)
    bare = quart_app()
    results: dict[str, list[float]] = {}
    loops: dict[str, list[float]] = {}
    async with app.test_app(), bare.test_app():
        tune = app.extensions["tune"]
        async with tune.db.write() as session:
            key = (await create_key(session, "requestcost")).key
            industry = (await list_industries(session))[0].slug
            campaign_id = (
                seeded.campaign_id
                if seeded is not None
                else (await create_campaign(session, "Cost", industry)).id
            )
            prospect_id = await session.scalar(select(func.min(Prospect.id))) or 1
            prospect_ids = list(
                await session.scalars(select(Prospect.id).order_by(Prospect.id).limit(1000))
            )
            content_id = await session.scalar(select(func.min(Content.id))) or 1
        auth = {"X-API-Key": key}
        sides: dict[str, tuple[Any, Scopes]] = {
            "quart": (bare, scope("/t/o/abc.gif", {})),
            "health": (app, scope("/api/health", {})),
            "campaign": (app, scope(f"/api/campaigns/{campaign_id}", auth)),
            "stats": (app, scope(f"/api/campaigns/{campaign_id}/stats", auth)),
            "industries": (app, scope("/api/industries", auth)),
            "campaigns": (app, scope("/api/campaigns", auth)),
            "campaigns-query": (app, scope("/api/campaigns", auth, b"limit=50")),
            "prospect": (app, scope(f"/api/prospects/{prospect_id}", auth)),
            "prospect-query": (app, scope(f"/api/prospects/{prospect_id}", auth, b"via=quart")),
            "prospects": (app, [scope(f"/api/prospects/{i}", auth) for i in prospect_ids or [1]]),
            "content": (app, scope(f"/api/contents/{content_id}", auth)),
            "contents": (app, scope(f"/api/campaigns/{campaign_id}/contents", auth)),
            "contents-query": (
                app,
                scope(f"/api/campaigns/{campaign_id}/contents", auth, b"limit=50"),
            ),
            "flags": (app, scope(f"/api/campaigns/{campaign_id}/flags", auth)),
            "tier": (app, scope(f"/api/campaigns/{campaign_id}/prospects/1", auth)),
            "tier-query": (
                app,
                scope(f"/api/campaigns/{campaign_id}/prospects/1", auth, b"limit=50"),
            ),
            "login": (app, scope("/login", {})),
        }
        reads = api_layer(app).reads
        contents_key = ("contents", campaign_id)
        sides["contents-changed"] = (changed(app, reads, contents_key), sides["contents"][1])
        sides["contents-new"] = (changed(app, reads, contents_key, new=True), sides["contents"][1])
        sides["tier-changed"] = (changed(app, reads, ("tier", campaign_id, 1)), sides["tier"][1])
        if seeded is not None:  # the tracking fast path, each side on emails of its own
            signer = TokenSigner(config.secret_key)
            agent = {"User-Agent": BROWSER} if browser else {}
            paths: dict[str, Callable[[int], str]] = {
                "pixel": lambda i: f"/t/o/{signer.open_token(i)}.gif",
                "click": lambda i: f"/t/c/{signer.click_token(i, LINK_POSITION)}",
                "click-first": lambda i: f"/t/c/{signer.click_token(i, LINK_POSITION)}",
            }
            # Links never clicked: one email per click measured, warm-ups included.
            sizes = {"click-first": repeats * (requests + 5 * concurrency)}
            for name, path in paths.items():
                if not only or name in only:
                    own = await asyncio.to_thread(seed_campaign, url, sizes.get(name, emails))
                    sides[name] = (app, [scope(path(i), agent) for i in own.content_ids])
        if profile is not None:
            import cProfile
            import pstats

            target, base = sides[profile]
            await measure(target, base, requests // 4, concurrency)
            profiler = cProfile.Profile(time.thread_time)
            profiler.enable()
            await measure(target, base, requests, concurrency)
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats("tottime")
            stats.print_stats(45)
            stats.sort_stats("cumulative").print_stats(60)
            return {}
        for _ in range(repeats):
            for name, (target, base) in sides.items():
                if only and name not in only:
                    continue
                cost, loop = await measure_threads(target, base, requests, concurrency)
                results.setdefault(name, []).append(round(cost, 1))
                loops.setdefault(name, []).append(round(loop, 1))
    for name, values in loops.items():
        results[f"{name} (loop)"] = values
    for name in ("pixel", "click", "click-first"):
        if name in sides and name in results:
            targets = sides[name][1]
            hits = _CURSORS[id(targets)][0]
            print(f"{name}: {hits:,} hits over {len(targets):,} emails, "
                  f"{hits / len(targets):.1f} per email by the end")  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.requestcost")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--profile",
        choices=[
            "quart",
            "health",
            "campaign",
            "stats",
            "industries",
            "campaigns",
            "campaigns-query",
            "prospect",
            "prospect-query",
            "prospects",
            "content",
            "contents",
            "contents-query",
            "flags",
            "tier",
            "tier-query",
            "contents-changed",
            "contents-new",
            "tier-changed",
            "login",
            "pixel",
            "click",
            "click-first",
        ],
    )
    parser.add_argument("--only", nargs="*", default=[], help="sides to measure (quart always)")
    parser.add_argument("--seed", type=int, default=0, help="emails in the campaign read")
    parser.add_argument(
        "--emails", type=int, default=10_000, help="emails of the pixel's and the click's own"
    )
    parser.add_argument("--database-url", help="an empty database to run Tune on")
    parser.add_argument(
        "--browser", action="store_true", help="tracking hits with a browser's user agent"
    )
    args = parser.parse_args()
    only = ("quart", *args.only) if args.only else ()
    results = uvloop.run(
        run(
            args.requests,
            args.concurrency,
            args.repeats,
            args.profile,
            only,
            seed=args.seed,
            database_url=args.database_url,
            browser=args.browser,
            emails=args.emails,
        )
    )
    if not results:
        return
    quart = sorted(results["quart"])[len(results["quart"]) // 2]
    for name, costs in results.items():
        median = sorted(costs)[len(costs) // 2]
        print(
            f"{name:14} {median:7.1f} µs CPU/request  x{quart / median:.2f} of bare Quart  {costs}"
        )


if __name__ == "__main__":
    main()
