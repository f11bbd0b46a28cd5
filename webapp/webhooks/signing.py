"""Webhook secrets and signatures in the Standard Webhooks form.

A secret is `whsec_` + base64 of 24 random bytes; the HMAC key is the decoded
bytes. The signature header is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
one per secret in use, space-separated (during a rotation both the new and the
previous secret sign, so a receiver still holding the old one keeps verifying).

The secret must be usable to sign, so it cannot be hashed: it is stored
encrypted with Fernet under a key derived from TUNE_SECRET_KEY by HKDF
(`webapp.core.sealing`, shared with mailbox passwords), and the clear secret is
shown once, when it is made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from webapp.core.sealing import SecretUnreadable, open_secret, seal

PREFIX = "whsec_"
SECRET_BYTES = 24
HKDF_INFO = b"tune webhook secrets v1"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (the prefix is optional, as verifiers accept)."""
    body = secret.removeprefix(PREFIX)
    return base64.b64decode(body, validate=True)


__all__ = ["SecretUnreadable", "decrypt_secret", "encrypt_secret", "headers", "new_secret"]


def encrypt_secret(app_secret: str, secret: str) -> str:
    return seal(app_secret, HKDF_INFO, secret)


def decrypt_secret(app_secret: str, stored: str) -> str:
    return open_secret(app_secret, HKDF_INFO, stored)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of `body` sent as `message_id` at `timestamp`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secrets_in_use: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret in use."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, message_id, timestamp, body) for secret in secrets_in_use
        ),
    }
