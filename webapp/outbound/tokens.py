"""Signed, compact tokens for the tracking URLs Tune puts in every email.

An email carries four kinds of token: the open pixel (`/t/o/<token>.gif`,
content id), tracked links (`/t/c/<token>`, content id and link id), the
invisible honeypot link (`/t/c/<token>` too, content id and 0, signed with its
own key so that it is told apart from a link only by Tune) and the unsubscribe
link (`/t/u/<token>`, content id).

Format, before URL-safe base64 without padding::

    payload = varint(content_id) [ + varint(link_id) ]     unsigned LEB128
    token   = payload + HMAC-SHA256(purpose_key, payload)[:12]

* `purpose_key = HMAC-SHA256(secret, "tune.tracking-token.v1/" + purpose)`, so
  an open token is never a valid click or unsubscribe token, and the same
  payload signs differently for each purpose.
* The tag is truncated to 96 bits. Forging a token means guessing a tag
  online, one HTTP request per guess: at a billion requests a second that is
  still ~2.5e12 years per expected hit. Ids are not secret (anyone can decode
  the payload), but without the key nobody can produce a token for another id,
  so tokens cannot be enumerated.
* No expiry: emails are opened months after they are sent. To revoke every
  token, change the secret; to rotate without breaking old emails, pass the
  previous secrets as `old_secrets` (they verify, never sign).
* Sizes: an open or unsubscribe token is 18-24 characters for ids up to 2**40,
  a click token 20-32 characters.

Readers return None for anything that is not a token they issued, and never
raise, whatever string (or other value) they are given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable

TAG_BYTES = 12
MAX_ID = 2**63 - 1  # the database's BIGINT

_KEY_CONTEXT = b"tune.tracking-token.v1/"
_OPEN = b"open"
_CLICK = b"click"
_UNSUBSCRIBE = b"unsubscribe"
_HONEYPOT = b"honeypot"
_PURPOSES = (_OPEN, _CLICK, _UNSUBSCRIBE, _HONEYPOT)

_MAX_VARINT_BYTES = 9  # 63 bits, 7 per byte
# Two maximal varints and the tag, base64 without padding.
_MAX_TOKEN_CHARS = -(-(2 * _MAX_VARINT_BYTES + TAG_BYTES) * 4 // 3)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+")


class TokenSigner:
    """Issue and check the signed tokens in tracking URLs."""

    def __init__(self, secret: str, old_secrets: Iterable[str] = ()) -> None:
        old = tuple(old_secrets)
        if not secret or not all(old):
            raise ValueError("token secrets must be non-empty strings")
        self._signing_keys = _purpose_keys(secret)
        self._verifying_keys = [self._signing_keys, *(_purpose_keys(s) for s in old)]

    def open_token(self, content_id: int) -> str:
        return self._sign(_OPEN, content_id)

    def click_token(self, content_id: int, link_id: int) -> str:
        return self._sign(_CLICK, content_id, link_id)

    def unsubscribe_token(self, content_id: int) -> str:
        return self._sign(_UNSUBSCRIBE, content_id)

    def honeypot_token(self, content_id: int) -> str:
        """The invisible link's token: shaped like a click token (two ids), signed apart."""
        return self._sign(_HONEYPOT, content_id, 0)

    def read_honeypot(self, token: str) -> int | None:
        ids = self._verify(_HONEYPOT, token, count=2)
        return None if ids is None or ids[1] != 0 else ids[0]

    def read_open(self, token: str) -> int | None:
        ids = self._verify(_OPEN, token, count=1)
        return None if ids is None else ids[0]

    def read_click(self, token: str) -> tuple[int, int] | None:
        ids = self._verify(_CLICK, token, count=2)
        return None if ids is None else (ids[0], ids[1])

    def read_unsubscribe(self, token: str) -> int | None:
        ids = self._verify(_UNSUBSCRIBE, token, count=1)
        return None if ids is None else ids[0]

    def _sign(self, purpose: bytes, *ids: int) -> str:
        payload = b"".join([_encode_varint(value) for value in ids])
        tag = self._signing_keys[purpose].tag(payload)
        return (
            binascii.b2a_base64(payload + tag, newline=False)
            .translate(_URLSAFE)
            .rstrip(b"=")
            .decode("ascii")
        )

    def _verify(self, purpose: bytes, token: object, *, count: int) -> list[int] | None:
        raw = _decode_token(token)
        if raw is None or len(raw) <= TAG_BYTES:
            return None
        payload, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        # Check every key (no early exit) so timing does not reveal which one matched.
        matched = False
        for keys in self._verifying_keys:
            matched |= hmac.compare_digest(keys[purpose].tag(payload), tag)
        if not matched:
            return None
        return _decode_varints(payload, count)


def _purpose_keys(secret: str) -> dict[bytes, _PurposeKey]:
    master = secret.encode("utf-8")
    return {
        purpose: _PurposeKey(hmac.new(master, _KEY_CONTEXT + purpose, hashlib.sha256).digest())
        for purpose in _PURPOSES
    }


class _PurposeKey:
    """A purpose key as HMAC-SHA256 uses it: the hash states after its inner and outer
    padded key blocks, hashed once. A tag copies them and hashes the payload and the
    inner digest (RFC 2104), two compressions instead of the four of a one-shot HMAC
    (`hmac.digest`, which hashes the key blocks again) at half its cost; a page of 50
    emails signs 150 tokens, a tracking hit checks one."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = key.ljust(_SHA256_BLOCK, b"\0")  # a 32-byte key: padded, never hashed
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def tag(self, payload: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:TAG_BYTES]


_SHA256_BLOCK = 64
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _decode_token(token: object) -> bytes | None:
    """Strict base64url: only the canonical spelling of some bytes is accepted."""
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_CHARS:
        return None
    if len(token) % 4 == 1 or not _TOKEN_SHAPE.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # Trailing characters can differ in bits that decoding drops; reject those spellings.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        return None
    return raw


def _encode_varint(value: int) -> bytes:
    if value.__class__ is int and 0 <= value < 0x4000:  # ids below 16,384: one or two bytes
        return _SMALL_VARINTS[value] if value < 0x80 else bytes((value & 0x7F | 0x80, value >> 7))
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise ValueError(f"token ids must be integers from 0 to 2**63-1, not {value!r}")
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


_SMALL_VARINTS = [bytes((value,)) for value in range(0x80)]


def _decode_varints(payload: bytes, count: int) -> list[int] | None:
    """Exactly `count` minimal varints filling `payload`, or None."""
    values: list[int] = []
    position = 0
    while position < len(payload):
        value = shift = 0
        start = position
        while True:
            if position >= len(payload) or position - start >= _MAX_VARINT_BYTES:
                return None
            byte = payload[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if byte == 0 and position - start > 1:  # padded with a zero group: not minimal
            return None
        values.append(value)
    if len(values) != count or any(value > MAX_ID for value in values):
        return None
    return values
