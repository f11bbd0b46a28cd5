"""The live parts of a campaign page: figures, latest activity and the chart.

A `LiveHub` renders them once per change of the campaign's counters and pushes
them to every open Server-Sent Events stream; browsers without a stream poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any

from quart import Quart, Response, current_app, render_template

from webapp.campaigns import dashboard
from webapp.campaigns import queries as campaigns
from webapp.core.models import utcnow
from webapp.outbound import progress
from webapp.tracking.live import LiveHub, sse_message
from webapp.web.services import services
from webapp.web.ui import blueprint, charts
from webapp.workspace.followups import CLICK_DAYS, FollowUp
from webapp.workspace.outcomes import OUTCOMES

HUB = "tune_live"
KEEPALIVE_SECONDS = 15.0
FOLLOWUPS_SHOWN = 50
"""Follow-ups shown on a page; the API pages through all of them."""


def install(app: Quart) -> None:
    """Run the live hub while the app serves; the event writer tells it what changed."""

    @app.while_serving
    async def live_updates() -> AsyncGenerator[None, None]:
        tune = services()
        hub = LiveHub(tune.db, render=lambda campaign_id: render_live(app, campaign_id))
        async with running_hub(app, HUB, hub, lambda campaign_ids: campaign_ids):
            yield


@contextlib.asynccontextmanager
async def running_hub(
    app: Quart, name: str, hub: LiveHub, keys: Callable[[set[int]], Iterable[int]]
) -> AsyncIterator[LiveHub]:
    """Run `hub` as `app.extensions[name]` while the app serves: the event writer wakes
    it with `keys(campaign ids committed)`, and a stop signal ends its streams."""
    tune = services()
    hub.start()
    app.extensions[name] = hub
    previous_on_commit = tune.writer.on_commit

    def on_commit(campaign_ids: set[int]) -> None:
        hub.notify(keys(campaign_ids))
        if previous_on_commit is not None:
            previous_on_commit(campaign_ids)

    tune.writer.on_commit = on_commit
    restore = _end_streams_on_signal(hub)
    try:
        yield hub
    finally:
        restore()
        tune.writer.on_commit = previous_on_commit
        app.extensions.pop(name, None)
        await hub.stop()


def _end_streams_on_signal(hub: LiveHub) -> Any:
    """Close live streams as soon as the server is told to stop.

    uvicorn waits for open responses before it shuts the app down, and a live
    stream never ends by itself; so the stop signal also ends the streams.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    saved: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(signum)
        if not callable(current) or current is signal.default_int_handler:
            continue  # not a server's handler (tests, plain scripts): leave it alone

        def handler(number: int, frame: Any, chained: Any = current) -> None:
            loop.call_soon_threadsafe(hub.close_streams)
            chained(number, frame)

        saved[signum] = current
        signal.signal(signum, handler)

    def restore() -> None:
        for number, original in saved.items():
            with contextlib.suppress(ValueError):
                signal.signal(number, original)

    return restore


def hub() -> LiveHub:
    live: LiveHub = current_app.extensions[HUB]
    return live


def followup_fields(items: list[FollowUp], campaign_id: int | None) -> dict[str, Any]:
    """What `_followups.html` shows: the list over every campaign, or one campaign's panel."""
    return {
        "followups": items[:FOLLOWUPS_SHOWN],
        "followups_total": len(items),
        "followups_scope": campaign_id,
        "outcome_labels": OUTCOMES,
        "click_days": CLICK_DAYS,
    }


def live_context(view: dashboard.LiveView) -> dict[str, Any]:
    """The template context of the live fragments (page and pushed updates alike)."""
    series = view.series
    return {
        **followup_fields(view.followups, view.campaign.id),
        "campaign": view.campaign,
        "figures": view.figures,
        "activity": view.activity,
        "chart": charts.line_chart(series.starts, series.values, series.unit),
        "updated_at": utcnow(),
    }


async def render_live(app: Quart, campaign_id: int) -> str:
    """The live fragments of a campaign page, as out-of-band swaps (for SSE and polling)."""
    tune: Any = app.extensions["tune"]
    async with tune.db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        view = await dashboard.live_view(db_session, campaign)
        send = await progress.explain(
            db_session,
            campaign,
            sender=tune.sender,
            smtp_configured=bool(tune.config.smtp_url),
            send_rate=tune.config.send_rate,
        )
    async with app.app_context():
        return await render_template("_live.html", **live_context(view), send=send)


def live_stream(live: LiveHub, key: int) -> Response:
    """Server-Sent Events of one hub key: the current fragments, then each new version."""

    async def stream() -> AsyncIterator[bytes]:
        async with live.subscribe(key) as queue:
            yield b"retry: 3000\n\n"
            snapshot = await live.snapshot(key)
            yield sse_message("update", snapshot.html)
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if item is None:
                    return
                if item.version != snapshot.version:
                    snapshot = item
                    yield sse_message("update", item.html)

    response = Response(
        stream(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.timeout = None
    return response


@blueprint.get("/campaigns/<int:campaign_id>/live")
async def campaign_live(campaign_id: int) -> Any:
    """Server-Sent Events: the campaign's live fragments, pushed when its counters move."""
    async with services().db.read() as db_session:
        await campaigns.get_campaign(db_session, campaign_id)
    return live_stream(hub(), campaign_id)


@blueprint.get("/campaigns/<int:campaign_id>/live/poll")
async def campaign_poll(campaign_id: int) -> Any:
    """The same fragments for browsers without a live stream (polled every 5 s)."""
    async with services().db.read() as db_session:
        await campaigns.get_campaign(db_session, campaign_id)
    snapshot = await hub().snapshot(campaign_id)
    return snapshot.html
