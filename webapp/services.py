"""The long-lived parts of one Tune process, built at startup and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from quart import current_app

from .config import Config
from .db import Database
from .events import EventWriter
from .hits import LinkCache
from .ratelimit import RateLimiter
from .tokens import TokenSigner

if TYPE_CHECKING:
    from .sending import Sender


@dataclass
class Services:
    config: Config
    db: Database
    writer: EventWriter
    limiter: RateLimiter
    signer: TokenSigner
    ip_salt: str
    link_cache: LinkCache
    sender: Sender | None = None
    """The email sender, when this process runs one (SMTP_URL set, TUNE_RUN_SENDER on)."""


def services() -> Services:
    """The running app's services (inside a request or app context)."""
    tune: Services = current_app.extensions["tune"]
    return tune
