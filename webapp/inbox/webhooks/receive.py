"""Which provider module reads which `POST /hooks/<provider>` request."""

from __future__ import annotations

from webapp.core.config import Config
from webapp.inbox.webhooks import ProviderEvent, Request, mailgun, postmark, sendgrid, ses


async def read_events(provider: str, request: Request, config: Config) -> list[ProviderEvent]:
    """Verify `request` as `provider`'s and read its events.

    Raises WebhookRejected (not the provider's), WebhookNotConfigured (no secret
    set), WebhookInvalid (verified but unreadable), or KeyError for an unknown provider.
    """
    if provider == "ses":
        return await ses.verify_and_read(request, config)
    readers = {
        "sendgrid": sendgrid.verify_and_read,
        "postmark": postmark.verify_and_read,
        "mailgun": mailgun.verify_and_read,
    }
    return readers[provider](request, config)
