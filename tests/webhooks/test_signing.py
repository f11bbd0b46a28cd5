"""Signatures verify with the published Standard Webhooks library; secrets stay encrypted."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webapp.core.models import WebhookEndpoint, utcnow
from webapp.web.services import Services
from webapp.webhooks.endpoints import create_endpoint, rotate_secret, signing_secrets
from webapp.webhooks.signing import (
    SecretUnreadable,
    decrypt_secret,
    encrypt_secret,
    headers,
    new_secret,
)

APP_SECRET = "an-application-secret-0123456789"


def test_a_signed_body_verifies_with_the_standardwebhooks_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    body = json.dumps({"type": "open", "data": {"contact": {"email": "a@b.example"}}}).encode()
    signed = headers([secret], "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, signed) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", signed)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, signed)


def test_secrets_are_encrypted_under_the_app_secret_and_nowhere_in_clear() -> None:
    secret = new_secret()
    stored = encrypt_secret(APP_SECRET, secret)
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    assert decrypt_secret(APP_SECRET, stored) == secret
    with pytest.raises(SecretUnreadable):
        decrypt_secret("another-application-secret-987654", stored)


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(tune: Services) -> None:
    async with tune.db.write() as session:
        created = await create_endpoint(
            session, app_secret=APP_SECRET, url="https://crm.example/hook", events=["open"]
        )
        new = await rotate_secret(
            session, created.endpoint.id, app_secret=APP_SECRET, overlap=timedelta(hours=1)
        )
        endpoint = await session.get(WebhookEndpoint, created.endpoint.id)
        assert endpoint is not None
        assert created.secret not in endpoint.secret_encrypted
        now = utcnow()
        body = b'{"type":"open"}'
        during = headers(
            signing_secrets(endpoint, APP_SECRET, now), "msg_2", int(time.time()), body
        )
        # A receiver with either secret accepts the message during the overlap...
        Webhook(created.secret).verify(body, during)
        Webhook(new).verify(body, during)
        # ...and only the new one after it.
        later = signing_secrets(endpoint, APP_SECRET, now + timedelta(hours=2))
        after = headers(later, "msg_3", int(time.time()), body)
        Webhook(new).verify(body, after)
        with pytest.raises(WebhookVerificationError):
            Webhook(created.secret).verify(body, after)
