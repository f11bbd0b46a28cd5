"""Mailgun's webhooks for failed deliveries and complaints, signed with HMAC-SHA256.

Each request carries `signature: {timestamp, token, signature}` where the
signature is the hex HMAC-SHA256 of timestamp + token under the webhook
signing key (MAILGUN_WEBHOOK_SIGNING_KEY). A `failed` event is permanent or
temporary by its severity; `complained` is a complaint. The event's id is its id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from webapp.core.config import Config
from webapp.inbox.webhooks import (
    ProviderEvent,
    Request,
    WebhookInvalid,
    WebhookNotConfigured,
    WebhookRejected,
    angle,
    epoch_time,
)


def verify_and_read(request: Request, config: Config) -> list[ProviderEvent]:
    if not config.mailgun_webhook_signing_key:
        raise WebhookNotConfigured("set MAILGUN_WEBHOOK_SIGNING_KEY")
    try:
        payload = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookRejected("the body is not a signed Mailgun event") from None
    signed = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signed, dict):
        raise WebhookRejected("the request is not signed")
    timestamp, token = str(signed.get("timestamp", "")), str(signed.get("token", ""))
    expected = hmac.new(
        config.mailgun_webhook_signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    if not timestamp or not hmac.compare_digest(expected, str(signed.get("signature", ""))):
        raise WebhookRejected("the signature does not match")
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise WebhookInvalid("the request has no event-data")
    return _event(data)


def _event(data: dict[str, Any]) -> list[ProviderEvent]:
    event_id = str(data.get("id") or "")
    email = str(data.get("recipient") or "")
    if not event_id or "@" not in email:
        return []
    headers = (data.get("message") or {}).get("headers") or {}
    ids = angle(headers.get("message-id"))
    moment = epoch_time(data.get("timestamp"))
    if data.get("event") == "complained":
        return [
            ProviderEvent(
                "mailgun", event_id, "complaint", email, message_ids=ids, occurred_at=moment
            )
        ]
    if data.get("event") != "failed":
        return []
    delivery = data.get("delivery-status") or {}
    hard = data.get("severity") == "permanent"
    status = str(delivery.get("enhanced-code") or delivery.get("code") or "")
    if not status or "." not in status:
        status = "5.0.0" if hard else "4.0.0"
    return [ProviderEvent("mailgun", event_id, "bounce", email, hard, status, ids, moment)]
