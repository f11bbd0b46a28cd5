"""Waiting for a campaign's send queue to drain, the one way every sending test does it."""

from __future__ import annotations

import asyncio
import time

from webapp.core.db import Database
from webapp.outbound.sending.queue import pending, send_progress
from webapp.outbound.sending.sender import Sender


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
