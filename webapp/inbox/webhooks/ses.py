"""Amazon SES bounce and complaint notifications, delivered by SNS.

Every SNS message is signed: the signature (RSA, SHA1 for SignatureVersion 1,
SHA256 for 2) covers a canonical string of the message's fields, and the
certificate comes from `SigningCertURL`, which must be an https SNS host
(SNS_HOST_PATTERN) and a .pem file. The topic must be one of SNS_TOPIC_ARNS:
a valid signature only proves the message came through SNS, not from our topic.
A SubscriptionConfirmation is confirmed by fetching its SubscribeURL (same host
rule). Notifications carry SES's JSON: bounces with their type and recipients,
complaints with theirs.
"""

from __future__ import annotations

import base64
import json
import re
from collections import OrderedDict
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from webapp.core.config import Config
from webapp.core.logs import get_logger
from webapp.inbox.webhooks import (
    ProviderEvent,
    Request,
    WebhookInvalid,
    WebhookNotConfigured,
    WebhookRejected,
    angle,
    iso_time,
)

log = get_logger(__name__)

_SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _SUBSCRIPTION_FIELDS,
    "UnsubscribeConfirmation": _SUBSCRIPTION_FIELDS,
}
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
SES_KINDS: dict[str, tuple[Literal["bounce", "complaint"], str]] = {
    "Bounce": ("bounce", "bouncedRecipients"),
    "Complaint": ("complaint", "complainedRecipients"),
}
"""SES notification type → (event kind, list of recipients in its section)."""
_CERTIFICATES: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
CACHE_SIZE = 16
TIMEOUT = 10.0


def string_to_sign(message: dict[str, Any]) -> bytes:
    """SNS's canonical form: each signed field present, as `Name\\nValue\\n`, in order."""
    names = SIGNED_FIELDS[str(message.get("Type"))]
    return "".join(
        f"{name}\n{message[name]}\n" for name in names if message.get(name) is not None
    ).encode()


def allowed_url(url: str, config: Config, *, pem: bool) -> bool:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if not re.fullmatch(config.sns_host_pattern, origin) or parts.username or parts.password:
        return False
    return not pem or parts.path.endswith(".pem")


async def certificate_key(url: str) -> rsa.RSAPublicKey:
    """The public key of the signing certificate at `url` (kept for the next messages)."""
    if url in _CERTIFICATES:
        _CERTIFICATES.move_to_end(url)
        return _CERTIFICATES[url]
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        response = await client.get(url)
    if response.status_code != 200:
        raise WebhookRejected(
            f"the signing certificate could not be fetched ({response.status_code})"
        )
    try:
        key = x509.load_pem_x509_certificate(response.content).public_key()
    except ValueError:
        raise WebhookRejected("the signing certificate is not a PEM certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRejected("the signing certificate has no RSA key")
    _CERTIFICATES[url] = key
    while len(_CERTIFICATES) > CACHE_SIZE:
        _CERTIFICATES.popitem(last=False)
    return key


async def verify_and_read(request: Request, config: Config) -> list[ProviderEvent]:
    """Check the SNS signature and topic, confirm subscriptions, read SES notifications."""
    if not config.sns_topic_arns:
        raise WebhookNotConfigured("set SNS_TOPIC_ARNS to the SES notification topics")
    try:
        message = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookRejected("the body is not an SNS message") from None
    if not isinstance(message, dict) or message.get("Type") not in SIGNED_FIELDS:
        raise WebhookRejected("the body is not an SNS message")
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    cert_url = str(message.get("SigningCertURL", ""))
    if algorithm is None or not allowed_url(cert_url, config, pem=True):
        raise WebhookRejected("the signing certificate is not from SNS")
    if message.get("TopicArn") not in config.sns_topic_arns:
        raise WebhookRejected("the topic is not one of SNS_TOPIC_ARNS")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except ValueError:
        raise WebhookRejected("the signature is not base64") from None
    key = await certificate_key(cert_url)
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise WebhookRejected("the SNS signature does not match") from None
    if message["Type"] == "SubscriptionConfirmation":
        await _confirm(str(message.get("SubscribeURL", "")), config)
        return []
    if message["Type"] != "Notification":
        return []
    return read_notification(str(message["MessageId"]), str(message.get("Message", "")))


async def _confirm(url: str, config: Config) -> None:
    if not allowed_url(url, config, pem=False):
        raise WebhookRejected("the SubscribeURL is not an SNS address")
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        response = await client.get(url)
    if response.status_code != 200:
        raise WebhookInvalid(f"SNS did not confirm the subscription ({response.status_code})")
    log.info("ses_subscription_confirmed", host=urlsplit(url).netloc)


def read_notification(sns_id: str, body: str) -> list[ProviderEvent]:
    """The events of one SES notification (a bounce or complaint may name several recipients)."""
    try:
        notice = json.loads(body)
    except json.JSONDecodeError:
        raise WebhookInvalid("the SNS Message is not an SES notification") from None
    if not isinstance(notice, dict):
        raise WebhookInvalid("the SNS Message is not an SES notification")
    kind = str(notice.get("notificationType") or notice.get("eventType") or "")
    if kind not in SES_KINDS:  # deliveries, sends, opens: nothing for the inbox
        return []
    event_kind, recipients = SES_KINDS[kind]
    section = notice.get(kind.lower()) or {}
    message_ids = _message_ids(notice.get("mail") or {})
    moment = iso_time(section.get("timestamp"))
    events = [
        ProviderEvent(
            "ses",
            f"{sns_id}:{index}",
            event_kind,
            str(recipient.get("emailAddress", "")),
            hard=section.get("bounceType") == "Permanent",
            status=str(recipient.get("status") or ""),
            message_ids=message_ids,
            occurred_at=moment,
        )
        for index, recipient in enumerate(section.get(recipients) or [])
    ]
    return [event for event in events if "@" in event.email]


def _message_ids(mail: dict[str, Any]) -> tuple[str, ...]:
    for header in mail.get("headers") or []:
        if str(header.get("name", "")).lower() == "message-id":
            return angle(str(header.get("value", "")))
    return angle((mail.get("commonHeaders") or {}).get("messageId"))
