"""Waiting for a state the code under test reaches in its own time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def wait_for(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    """Until `await check()` is true; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)
