"""Small definitions that several packages share, declared once: the tiers, yes/no
flags, and the ids of the workers that lease rows (the email sender, the webhook
dispatcher)."""

from __future__ import annotations

import os
import socket
import uuid

TIERS = (1, 2, 3)
"""Every prospect is scored into one of these tiers; 1 is the best fit."""

YES = frozenset({"1", "true", "yes", "on"})
NO = frozenset({"0", "false", "no", "off"})


def parse_flag(raw: str) -> bool | None:
    """True for 1/true/yes/on, False for 0/false/no/off (any case, spaces ignored), else None.

    Callers decide what an unknown word means: a config error, a 422, a default.
    """
    value = raw.strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    return None


def new_worker_id() -> str:
    """host:pid:random, unique per leasing worker, at most 64 characters."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
