"""SendGrid's Event Webhook: bounces, blocks, deferrals and spam reports, signed with ECDSA.

SendGrid signs `timestamp + body` with its ECDSA P-256 key (SHA-256) and sends
the signature and timestamp in the `X-Twilio-Email-Event-Webhook-Signature` and
`-Timestamp` headers; SENDGRID_WEBHOOK_PUBLIC_KEY is the verification key the
SendGrid settings page shows (base64 DER, or PEM).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

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

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key from SENDGRID_WEBHOOK_PUBLIC_KEY (base64 DER or PEM)."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except ValueError:
        raise WebhookNotConfigured("SENDGRID_WEBHOOK_PUBLIC_KEY is not a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookNotConfigured("SENDGRID_WEBHOOK_PUBLIC_KEY is not an ECDSA key")
    return key


def verify_and_read(request: Request, config: Config) -> list[ProviderEvent]:
    if not config.sendgrid_webhook_public_key:
        raise WebhookNotConfigured("set SENDGRID_WEBHOOK_PUBLIC_KEY")
    key = public_key(config.sendgrid_webhook_public_key)
    signature = request.headers.get(SIGNATURE, "")
    timestamp = request.headers.get(TIMESTAMP, "")
    if not signature or not timestamp:
        raise WebhookRejected("the request is not signed")
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + request.body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (ValueError, InvalidSignature):
        raise WebhookRejected("the signature does not match") from None
    try:
        items = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookInvalid("the body is not a JSON list of events") from None
    if not isinstance(items, list):
        raise WebhookInvalid("the body is not a JSON list of events")
    return [event for item in items if isinstance(item, dict) for event in _event(item)]


def _event(item: dict[str, Any]) -> list[ProviderEvent]:
    kind = item.get("event")
    event_id = str(item.get("sg_event_id") or "")
    email = str(item.get("email") or "")
    if not event_id or "@" not in email:
        return []
    moment = epoch_time(item.get("timestamp"))
    ids = angle(item.get("smtp-id"))
    status = str(item.get("status") or "")
    if kind == "bounce":
        # type "bounce": the address does not exist; "blocked": refused for now.
        hard = item.get("type", "bounce") == "bounce" and not status.startswith("4")
        return [ProviderEvent("sendgrid", event_id, "bounce", email, hard, status, ids, moment)]
    if kind == "deferred":
        return [ProviderEvent("sendgrid", event_id, "bounce", email, False, status, ids, moment)]
    if kind == "spamreport":
        return [
            ProviderEvent(
                "sendgrid", event_id, "complaint", email, message_ids=ids, occurred_at=moment
            )
        ]
    return []
