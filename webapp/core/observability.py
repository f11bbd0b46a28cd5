"""Optional error reporting to Sentry, switched on by `SENTRY_DSN`.

Without `SENTRY_DSN` nothing is imported or initialised and nothing leaves the
process. With it, sentry-sdk's Quart integration is set up and every request is
tagged with its request id (the `X-Request-ID` Tune returns and logs). Unhandled
errors reach Sentry through the error log line `unhandled_error` (sentry-sdk's
logging integration turns error records with a traceback into events), so each
is reported once, with the request id tag, and answered with the standard error.
"""

from __future__ import annotations

import logging

import structlog
from quart import Quart

from webapp.core.config import Config


def init_sentry(app: Quart, config: Config) -> bool:
    """Initialise sentry-sdk when `SENTRY_DSN` is set; return whether it was."""
    if not config.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.quart import QuartIntegration

    from webapp import __version__

    sentry_sdk.init(
        dsn=config.sentry_dsn,
        environment=config.env,
        release=f"tune@{__version__}",
        integrations=[QuartIntegration(), LoggingIntegration(event_level=logging.ERROR)],
    )

    @app.before_request
    async def tag_request_id() -> None:
        sentry_sdk.set_tag(
            "request_id", structlog.contextvars.get_contextvars().get("request_id", "-")
        )

    return True
