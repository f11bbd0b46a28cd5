"""Postmark's bounce and spam complaint webhooks, protected by HTTP basic auth.

Postmark calls the webhook URL with the user and password set in its webhook
settings (POSTMARK_WEBHOOK_AUTH, `user:password`). A Bounce record names its
type (HardBounce, SoftBounce, Transient, ...); a SpamComplaint record is a
complaint. The record's ID is the event id.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json

from webapp.core.config import Config
from webapp.inbox.webhooks import (
    ProviderEvent,
    Request,
    WebhookInvalid,
    WebhookNotConfigured,
    WebhookRejected,
    iso_time,
)

HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Unsubscribe", "Blocked"}
SOFT = {"SoftBounce", "Transient", "DnsError", "MailFrontier", "ChallengeVerification"}


def verify_and_read(request: Request, config: Config) -> list[ProviderEvent]:
    if not config.postmark_webhook_auth:
        raise WebhookNotConfigured("set POSTMARK_WEBHOOK_AUTH")
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        presented = base64.b64decode(encoded, validate=True) if scheme.lower() == "basic" else b""
    except (ValueError, binascii.Error):
        presented = b""
    if not hmac.compare_digest(presented, config.postmark_webhook_auth.encode()):
        raise WebhookRejected("wrong or missing credentials")
    try:
        record = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookInvalid("the body is not a Postmark record") from None
    if not isinstance(record, dict):
        raise WebhookInvalid("the body is not a Postmark record")
    kind = record.get("RecordType")
    email = str(record.get("Email") or "")
    event_id = f"{kind}:{record.get('ID')}"
    if record.get("ID") is None or "@" not in email:
        return []
    if kind == "SpamComplaint":
        moment = iso_time(record.get("BouncedAt"))
        return [ProviderEvent("postmark", event_id, "complaint", email, occurred_at=moment)]
    bounce_type = str(record.get("Type") or "")
    if kind != "Bounce" or bounce_type not in HARD | SOFT:
        return []
    hard = bounce_type in HARD
    return [
        ProviderEvent(
            "postmark",
            event_id,
            "bounce",
            email,
            hard=hard,
            status="5.0.0" if hard else "4.0.0",
            occurred_at=iso_time(record.get("BouncedAt")),
        )
    ]
