"""Senders for tests, built as the app builds its own, and waiting for a campaign's send
queue to drain, the one way every sending test does it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from webapp.core.config import Config
from webapp.core.db import Database
from webapp.outbound.contents import TrackingUrls
from webapp.outbound.sending.queue import SendPolicy, pending, send_progress
from webapp.outbound.sending.sender import Sender
from webapp.web.services import Services

FAST = SendPolicy(
    lease_seconds=30,
    max_attempts=3,
    retry_base=0.05,
    retry_max=0.2,
    smtp_attempts=3,
    smtp_base_delay=0.01,
    smtp_max_delay=0.05,
    breaker_threshold=3,
    breaker_cool_down=0.4,
    idle_poll=0.05,
    stop_grace=5,
)
"""Retries, breaker and polling in fractions of a second, so a test sees them all."""


def make_sender(
    tune: Services,
    config: Config | None = None,
    *,
    policy: SendPolicy = FAST,
    db: Database | None = None,
    **options: Any,
) -> Sender:
    """A sender (not started) with `config` (the app's own by default) and `policy`, on the
    app's database or on `db` (a second engine, as another process has), its tracking
    links signed with the app's key."""
    config = config or tune.config
    urls = TrackingUrls(config.base_url, tune.signer)
    return Sender(db or tune.db, config, urls, policy=policy, **options)


async def drain(db: Database, campaign_id: int, timeout: float = 30) -> dict[str, int]:
    """The campaign's send counts once nothing is left queued or in flight."""
    deadline = time.monotonic() + timeout
    while True:
        async with db.read() as session:
            counts = await send_progress(session, campaign_id)
        if not pending(counts):
            return counts
        assert time.monotonic() < deadline, f"queue not drained: {counts}"
        await asyncio.sleep(0.05)


async def send_all(sender: Sender, campaign_id: int, timeout: float = 30) -> dict[str, int]:
    """Run `sender` until the campaign's queue drains; its send counts then."""
    sender.start()
    try:
        return await drain(sender.db, campaign_id, timeout)
    finally:
        await sender.stop()
