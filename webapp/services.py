"""The long-lived parts of one Tune process, built at startup and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from quart import current_app

from .config import Config
from .db import Database
from .events import EventWriter
from .hits import LinkCache
from .ratelimit import RateLimiter
from .tokens import TokenSigner


@dataclass
class Services:
    config: Config
    db: Database
    writer: EventWriter
    limiter: RateLimiter
    signer: TokenSigner
    ip_salt: str
    link_cache: LinkCache


def services() -> Services:
    """The running app's services (inside a request or app context)."""
    tune: Services = current_app.extensions["tune"]
    return tune
