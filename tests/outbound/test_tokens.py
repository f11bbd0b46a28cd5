"""Tracking tokens: round trips, tamper resistance, purpose separation, rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.outbound.tokens import TokenSigner

SECRET = "test-secret-key-0123456789abcdef"
ALPHABET = string.ascii_letters + string.digits + "-_"
ids = st.integers(min_value=0, max_value=2**63 - 1)

signer = TokenSigner(SECRET)


def all_readers(token: str) -> list[object]:
    return [signer.read_open(token), signer.read_click(token), signer.read_unsubscribe(token)]


@given(ids)
def test_open_and_unsubscribe_tokens_round_trip(content_id: int) -> None:
    assert signer.read_open(signer.open_token(content_id)) == content_id
    assert signer.read_unsubscribe(signer.unsubscribe_token(content_id)) == content_id


@given(ids, ids)
def test_click_tokens_round_trip(content_id: int, link_id: int) -> None:
    assert signer.read_click(signer.click_token(content_id, link_id)) == (content_id, link_id)


def test_tokens_are_url_safe_and_unpadded() -> None:
    for token in (signer.open_token(7), signer.click_token(2**40, 3), signer.unsubscribe_token(0)):
        assert set(token) <= set(ALPHABET)


def test_tokens_are_short_for_ids_up_to_2_40() -> None:
    assert len(signer.open_token(1)) == 18
    assert len(signer.open_token(2**40)) <= 24
    assert len(signer.unsubscribe_token(2**40)) <= 24
    assert len(signer.click_token(2**40, 2**40)) <= 32


def test_same_ids_give_different_tokens_per_purpose() -> None:
    tokens = {signer.open_token(5), signer.unsubscribe_token(5), signer.click_token(5, 0)}
    assert len(tokens) == 3


def test_an_open_token_is_not_a_click_or_unsubscribe_token() -> None:
    token = signer.open_token(42)
    assert signer.read_click(token) is None
    assert signer.read_unsubscribe(token) is None


def test_an_unsubscribe_token_is_not_an_open_token() -> None:
    assert signer.read_open(signer.unsubscribe_token(42)) is None


def test_a_click_token_is_not_an_open_or_unsubscribe_token() -> None:
    token = signer.click_token(42, 1)
    assert signer.read_open(token) is None
    assert signer.read_unsubscribe(token) is None


@pytest.mark.parametrize(
    "token",
    [signer.open_token(123456), signer.click_token(123456, 9), signer.unsubscribe_token(77)],
)
def test_every_single_character_change_is_rejected(token: str) -> None:
    for index, original in enumerate(token):
        for replacement in ALPHABET:
            if replacement != original:
                tampered = token[:index] + replacement + token[index + 1 :]
                assert all_readers(tampered) == [None, None, None], tampered


def test_every_flipped_bit_is_rejected() -> None:
    token = signer.click_token(987654321, 12)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        tampered = base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
        assert all_readers(tampered) == [None, None, None]


def test_truncated_and_extended_tokens_are_rejected() -> None:
    token = signer.open_token(31337)
    for length in range(len(token)):
        assert signer.read_open(token[:length]) is None
    for suffix in ("A", "AA", "=", "==", "%3D", ".gif", " ", "\n"):
        assert signer.read_open(token + suffix) is None
    assert signer.read_open(" " + token) is None


def test_a_token_from_another_secret_is_rejected() -> None:
    other = TokenSigner("some-other-secret")
    assert signer.read_open(other.open_token(1)) is None
    assert signer.read_click(other.click_token(1, 2)) is None
    assert signer.read_unsubscribe(other.unsubscribe_token(1)) is None


def test_rotation_accepts_old_secrets_and_signs_with_the_new_one() -> None:
    old = TokenSigner("retired-secret")
    rotated = TokenSigner("current-secret", old_secrets=("retired-secret",))
    assert rotated.read_open(old.open_token(9)) == 9
    assert rotated.read_click(old.click_token(9, 4)) == (9, 4)
    assert rotated.read_unsubscribe(old.unsubscribe_token(9)) == 9
    new_token = rotated.open_token(9)
    assert old.read_open(new_token) is None
    assert TokenSigner("current-secret").read_open(new_token) == 9


def test_without_rotation_an_old_secret_is_rejected() -> None:
    old = TokenSigner("retired-secret")
    assert TokenSigner("current-secret").read_open(old.open_token(9)) is None


@given(st.text(max_size=80))
def test_arbitrary_text_never_raises_and_never_validates(text: str) -> None:
    assert all_readers(text) == [None, None, None]


@given(st.binary(max_size=40))
def test_arbitrary_well_formed_base64_never_validates(raw: bytes) -> None:
    text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert all_readers(text) == [None, None, None]


@pytest.mark.parametrize("value", [None, b"abc", 12, ["x"], "", "===="])
def test_non_tokens_return_none(value: object) -> None:
    assert all_readers(value) == [None, None, None]  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_id", [-1, 2**63, 1.5, True])
def test_signing_refuses_ids_outside_the_database_range(bad_id: object) -> None:
    with pytest.raises(ValueError):
        signer.open_token(bad_id)  # type: ignore[arg-type]


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenSigner("")
    with pytest.raises(ValueError):
        TokenSigner("x", old_secrets=("",))


def _documented_token(secret: str, purpose: bytes, *ids: int) -> str:
    """The format in the module's docstring, with the standard library's HMAC."""
    key = hmac.new(secret.encode(), b"tune.tracking-token.v1/" + purpose, hashlib.sha256).digest()
    payload = b""
    for value in ids:
        while value > 0x7F:
            payload += bytes((value & 0x7F | 0x80,))
            value >>= 7
        payload += bytes((value,))
    tag = hmac.new(key, payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode()


@given(ids, st.integers(min_value=0, max_value=2**63 - 1))
def test_tokens_are_the_documented_hmac_of_their_ids(content_id: int, link_id: int) -> None:
    """Emails already sent carry tokens signed this way: they must keep verifying."""
    assert signer.open_token(content_id) == _documented_token(SECRET, b"open", content_id)
    assert signer.click_token(content_id, link_id) == _documented_token(
        SECRET, b"click", content_id, link_id
    )
    assert signer.unsubscribe_token(content_id) == _documented_token(
        SECRET, b"unsubscribe", content_id
    )
    assert signer.honeypot_token(content_id) == _documented_token(
        SECRET, b"honeypot", content_id, 0
    )


@pytest.mark.parametrize("content_id", [0, 1, 127, 128, 16383, 16384, 2**21, 2**63 - 1])
def test_ids_at_each_varint_length_sign_as_documented(content_id: int) -> None:
    assert signer.click_token(content_id, content_id) == _documented_token(
        SECRET, b"click", content_id, content_id
    )
    assert signer.read_click(signer.click_token(content_id, 3)) == (content_id, 3)
