"""Secrets Tune must be able to read back (webhook signing secrets, mailbox passwords),
sealed at rest with Fernet under keys derived from TUNE_SECRET_KEY.

Each kind of secret has its own HKDF `purpose`, so one derived key never opens
another kind's secrets. Rotation: set the new TUNE_SECRET_KEY and list the old one
in TUNE_PREVIOUS_SECRET_KEYS; `open_secret` then tries the current key first and
the previous ones after it (cryptography's MultiFernet), and `reseal` re-encrypts
a stored value under the current key (`tune mailboxes rekey` does it for every
mailbox). Once everything is resealed the old key can be dropped.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretUnreadable(RuntimeError):
    """A stored secret does not decrypt: TUNE_SECRET_KEY changed since it was sealed."""


@lru_cache(maxsize=32)
def fernet(app_secret: str, purpose: bytes) -> Fernet:
    """The Fernet key of one purpose, derived from an application secret by HKDF-SHA256."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        app_secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys(app_secret: str, purpose: bytes, previous: Sequence[str]) -> MultiFernet:
    return MultiFernet([fernet(key, purpose) for key in (app_secret, *previous)])


def seal(app_secret: str, purpose: bytes, secret: str) -> str:
    """The secret encrypted under the current key (a Fernet token, ASCII)."""
    return fernet(app_secret, purpose).encrypt(secret.encode()).decode()


def open_secret(app_secret: str, purpose: bytes, stored: str, previous: Sequence[str] = ()) -> str:
    """The clear secret; `SecretUnreadable` when no key (current or previous) opens it."""
    try:
        return _keys(app_secret, purpose, tuple(previous)).decrypt(stored.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored secret does not decrypt with TUNE_SECRET_KEY "
            "(or any of TUNE_PREVIOUS_SECRET_KEYS)"
        ) from None


def reseal(app_secret: str, purpose: bytes, stored: str, previous: Sequence[str] = ()) -> str:
    """The stored value re-encrypted under the current key (after a key rotation)."""
    try:
        return _keys(app_secret, purpose, tuple(previous)).rotate(stored.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret does not decrypt with any known key") from None
