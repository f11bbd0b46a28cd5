"""Provider webhooks with real signatures made here: SES over SNS, SendGrid, Postmark, Mailgun.

The SNS signing certificate is served by a local HTTP server that SNS_HOST_PATTERN
points Tune at; nothing reaches the internet.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from tests.support.inbox import SENT, sent_campaign
from webapp.core.config import Config
from webapp.core.models import Contact, Content, InboxReceipt, Suppression
from webapp.inbox.webhooks.ses import string_to_sign
from webapp.web.services import Services

TOPIC = "arn:aws:sns:eu-west-1:123456789012:tune-ses"
POSTMARK_AUTH = "tune-hooks:postmark-secret-7f3a"
MAILGUN_KEY = "key-mailgun-signing-0b1c2d3e4f"
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
BOUNCED = "nobody@gone-corp.example"  # SENT's Postfix DSN recipient
BOUNCED_ID = "<tune.1006.2b3c4d5e6f708192@sales.tune.test>"
COMPLAINED = "r.meyer@spam-watchers.example"


def certificate() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(SIGNING_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(SIGNING_KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


class SnsServer:
    """Serves the signing certificate and records subscription confirmations."""

    def __init__(self) -> None:
        pem = certificate()
        hits: list[str] = []
        self.hits = hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                if self.path.endswith(".pem"):
                    body, status = pem, 200
                elif self.path.startswith("/?Action=ConfirmSubscription"):
                    body, status = b"<ConfirmSubscriptionResponse/>", 200
                else:
                    body, status = b"", 404
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sns() -> Iterator[SnsServer]:
    server = SnsServer()
    yield server
    server.close()


@pytest.fixture
def config(config: Config, sns: SnsServer) -> Config:
    public = SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return config.with_changes(
        sns_topic_arns=(TOPIC,),
        sns_host_pattern=r"^http://127\.0\.0\.1:\d+$",
        sendgrid_webhook_public_key=base64.b64encode(public).decode(),
        postmark_webhook_auth=POSTMARK_AUTH,
        mailgun_webhook_signing_key=MAILGUN_KEY,
    )


def sns_message(
    sns: SnsServer, kind: str, body: dict[str, Any], version: str = "1", **fields: Any
) -> dict[str, Any]:
    message = {
        "Type": kind,
        "MessageId": fields.pop("MessageId", "5e3b6c1f-0d2a-4b8e-9f71-2c4d6e8fa0b1"),
        "TopicArn": TOPIC,
        "Message": json.dumps(body),
        "Timestamp": "2026-11-24T10:00:00.000Z",
        "SignatureVersion": version,
        "SigningCertURL": f"{sns.origin}/SimpleNotificationService-01d088a6f77103d0fe30.pem",
        **fields,
    }
    # SignatureVersion 1 is RSA-SHA1, as SNS signs it.
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    signature = SIGNING_KEY.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(signature).decode()
    return message


def ses_bounce(recipient: str = BOUNCED, bounce_type: str = "Permanent") -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": recipient, "action": "failed", "status": "5.1.1"}
            ],
            "timestamp": "2026-11-24T09:59:58.000Z",
            "feedbackId": "0102018c2f1e-bounce",
        },
        "mail": {
            "messageId": "0102018c2f1d-ses-id",
            "destination": [recipient],
            "headers": [{"name": "Message-ID", "value": BOUNCED_ID}],
        },
    }


async def state(tune: Services, email: str) -> tuple[str, bool, int]:
    """(send status of the email to `email`, suppressed?, receipts stored)."""
    async with tune.db.read() as session:
        status = await session.scalar(
            select(Content.send_status)
            .join(Contact, Contact.id == Content.contact_id)
            .where(Contact.email == email)
        )
        listed = await session.scalar(select(Suppression.id).where(Suppression.email == email))
        receipts = await session.scalar(select(func.count()).select_from(InboxReceipt))
    return str(status), listed is not None, int(receipts or 0)


async def post(client: Any, provider: str, payload: Any, **headers: str) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await client.post(
        f"/hooks/{provider}",
        data=body,
        headers={"Content-Type": "application/json", **headers},
    )


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_ses_bounce_suppresses_once(
    client: Any, tune: Services, sns: SnsServer, version: str
) -> None:
    await sent_campaign(tune.db)
    message = sns_message(sns, "Notification", ses_bounce(), version)
    response = await post(client, "ses", message)
    assert response.status_code == 200
    assert await response.get_json() == {"received": 1, "outcomes": {"bounce": 1}}
    assert await state(tune, BOUNCED) == ("bounced", True, 1)
    again = await post(client, "ses", message)
    assert await again.get_json() == {"received": 1, "outcomes": {"duplicate": 1}}
    assert await state(tune, BOUNCED) == ("bounced", True, 1)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: m.update(Message=m["Message"].replace("Permanent", "Transient")),
        lambda m: m.update(Signature=base64.b64encode(b"x" * 256).decode()),
        lambda m: m.update(TopicArn="arn:aws:sns:eu-west-1:999999999999:someone-else"),
        lambda m: m.update(SigningCertURL="https://attacker.example/cert.pem"),
        lambda m: m.update(SignatureVersion="3"),
    ],
    ids=["message", "signature", "topic", "cert-host", "version"],
)
async def test_an_ses_message_that_fails_verification_is_401_and_records_nothing(
    client: Any, tune: Services, sns: SnsServer, tamper: Any
) -> None:
    await sent_campaign(tune.db)
    message = sns_message(sns, "Notification", ses_bounce())
    tamper(message)
    response = await post(client, "ses", message)
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "unauthorized"
    assert await state(tune, BOUNCED) == ("sent", False, 0)
    assert not any("attacker" in hit for hit in sns.hits)


async def test_an_sns_subscription_is_confirmed(client: Any, sns: SnsServer) -> None:
    subscribe = f"{sns.origin}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37"
    message = sns_message(
        sns,
        "SubscriptionConfirmation",
        {},
        SubscribeURL=subscribe,
        Token="2336412f37",
    )
    response = await post(client, "ses", message)
    assert response.status_code == 200
    assert any(hit.startswith("/?Action=ConfirmSubscription") for hit in sns.hits)


async def test_an_ses_complaint_unsubscribes_and_suppresses(
    client: Any, tune: Services, sns: SnsServer
) -> None:
    await sent_campaign(tune.db)
    complaint = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": COMPLAINED}],
            "complaintFeedbackType": "abuse",
            "timestamp": "2026-11-24T10:01:00.000Z",
        },
        "mail": {"commonHeaders": {"messageId": "<tune.1009.5e6f708192031425@sales.tune.test>"}},
    }
    response = await post(client, "ses", sns_message(sns, "Notification", complaint))
    assert await response.get_json() == {"received": 1, "outcomes": {"complaint": 1}}
    async with tune.db.read() as session:
        contact = await session.scalar(select(Contact).where(Contact.email == COMPLAINED))
    assert contact is not None and contact.unsubscribed_at is not None
    assert (await state(tune, COMPLAINED))[1] is True


def sendgrid_headers(body: bytes, key: ec.EllipticCurvePrivateKey = SENDGRID_KEY) -> dict[str, str]:
    timestamp = "1795946400"
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


async def test_sendgrid_events_with_an_ecdsa_signature(client: Any, tune: Services) -> None:
    await sent_campaign(tune.db)
    events = [
        {
            "email": BOUNCED,
            "timestamp": 1795946390,
            "smtp-id": BOUNCED_ID,
            "event": "bounce",
            "type": "bounce",
            "status": "5.1.1",
            "reason": "550 5.1.1 User unknown",
            "sg_event_id": "ZGVsaXZlcmVkLTAtMjQ",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        },
        {
            "email": COMPLAINED,
            "timestamp": 1795946395,
            "event": "spamreport",
            "sg_event_id": "c3BhbXJlcG9ydC0xLTI0",
        },
        {"email": "jane.doe@acme-foods.example", "event": "open", "sg_event_id": "b3Blbi0y"},
    ]
    body = json.dumps(events).encode()
    response = await post(client, "sendgrid", body, **sendgrid_headers(body))
    assert await response.get_json() == {
        "received": 2,
        "outcomes": {"bounce": 1, "complaint": 1},
    }
    forged = await post(
        client, "sendgrid", body, **sendgrid_headers(body, ec.generate_private_key(ec.SECP256R1()))
    )
    assert forged.status_code == 401
    unsigned = await post(client, "sendgrid", body)
    assert unsigned.status_code == 401


async def test_postmark_bounces_with_basic_auth(client: Any, tune: Services) -> None:
    await sent_campaign(tune.db)
    record = {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": BOUNCED,
        "BouncedAt": "2026-11-24T10:00:00Z",
    }
    wrong = base64.b64encode(b"tune-hooks:guess").decode()
    refused = await post(client, "postmark", record, Authorization=f"Basic {wrong}")
    assert refused.status_code == 401
    assert await state(tune, BOUNCED) == ("sent", False, 0)
    right = base64.b64encode(POSTMARK_AUTH.encode()).decode()
    response = await post(client, "postmark", record, Authorization=f"Basic {right}")
    assert await response.get_json() == {"received": 1, "outcomes": {"bounce": 1}}
    assert await state(tune, BOUNCED) == ("bounced", True, 1)


def mailgun(event: dict[str, Any], key: str = MAILGUN_KEY) -> dict[str, Any]:
    timestamp, token = "1795946400", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": event,
    }


async def test_mailgun_failures_with_an_hmac_signature(client: Any, tune: Services) -> None:
    await sent_campaign(tune.db)
    temporary = {
        "id": "CPgfbmQMTCKtHW6uIWtuVe",
        "event": "failed",
        "severity": "temporary",
        "recipient": "t.nguyen@busy-mail.example",
        "timestamp": 1795946400.12,
        "delivery-status": {"code": 452, "message": "mailbox full"},
        "message": {"headers": {"message-id": "tune.1008.4d5e6f7081920314@sales.tune.test"}},
    }
    forged = await post(client, "mailgun", mailgun(temporary, "key-guess"))
    assert forged.status_code == 401
    response = await post(client, "mailgun", mailgun(temporary))
    assert await response.get_json() == {"received": 1, "outcomes": {"soft_bounce": 1}}
    permanent = {
        **temporary,
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "severity": "permanent",
        "recipient": BOUNCED,
        "message": {"headers": {"message-id": BOUNCED_ID.strip("<>")}},
    }
    response = await post(client, "mailgun", mailgun(permanent))
    assert await response.get_json() == {"received": 1, "outcomes": {"bounce": 1}}
    assert await state(tune, BOUNCED) == ("bounced", True, 2)


async def test_unknown_and_unconfigured_providers_are_404(client: Any, app: Any) -> None:
    assert (await post(client, "sparkpost", {})).status_code == 404
    app.extensions["tune"].config = app.extensions["tune"].config.with_changes(
        mailgun_webhook_signing_key=None
    )
    response = await post(client, "mailgun", mailgun({"id": "x"}))
    assert response.status_code == 404
    assert "MAILGUN_WEBHOOK_SIGNING_KEY" in (await response.get_json())["error"]["message"]


def test_sent_fixture_covers_the_addresses_used_here() -> None:
    addresses = {email for _, email, _, _ in SENT}
    assert {BOUNCED, COMPLAINED, "t.nguyen@busy-mail.example"} <= addresses
