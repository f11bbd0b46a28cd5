"""`POST /hooks/<provider>`: bounce and complaint webhooks of SES, SendGrid, Postmark and Mailgun.

No session and no API key: each provider's own signature or credentials are the
only proof, checked before anything is read. A request that fails the check gets
401 and records nothing; a provider Tune has no secret for gets 404.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from quart import Blueprint, request

from webapp.core import metrics
from webapp.core.errors import BadRequest, NotFound, Unauthorized
from webapp.core.logs import get_logger
from webapp.inbox.webhooks import (
    PROVIDERS,
    Request,
    WebhookInvalid,
    WebhookNotConfigured,
    WebhookRejected,
    record_provider_events,
)
from webapp.inbox.webhooks.receive import read_events
from webapp.web.services import services

blueprint = Blueprint("webhooks", __name__, url_prefix="/hooks")
log = get_logger(__name__)


@blueprint.post("/<provider>")
async def provider_hook(provider: str) -> Any:
    if provider not in PROVIDERS:
        raise NotFound(f"no webhook for {provider!r}; known: {', '.join(PROVIDERS)}")
    tune = services()
    body = await request.get_data(cache=False)
    assert isinstance(body, bytes)
    incoming = Request(dict(request.headers), body, request.url)
    try:
        events = await read_events(provider, incoming, tune.config)
    except WebhookNotConfigured as exc:
        metrics.INBOX_WEBHOOKS.labels(provider, "not_configured").inc()
        raise NotFound(f"the {provider} webhook is not configured: {exc}") from None
    except WebhookRejected as exc:
        metrics.INBOX_WEBHOOKS.labels(provider, "rejected").inc()
        log.warning("webhook_rejected", provider=provider, reason=str(exc))
        raise Unauthorized(f"the request failed {provider} verification: {exc}") from None
    except WebhookInvalid as exc:
        metrics.INBOX_WEBHOOKS.labels(provider, "invalid").inc()
        raise BadRequest(str(exc)) from None
    async with tune.db.write() as session:
        handled = await record_provider_events(session, events)
    metrics.INBOX_WEBHOOKS.labels(provider, "accepted").inc()
    return {"received": len(events), "outcomes": dict(Counter(item.outcome for item in handled))}
