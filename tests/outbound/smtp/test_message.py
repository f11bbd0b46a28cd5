"""Building messages: header injection, addresses and Message-IDs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.smtp import message
from webapp.core.errors import ValidationFailed
from webapp.outbound.smtp.message import make_message_id

# --- building messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"subject": "Hi\nthere"},
        {"subject": "Hi\u2028there"},
        {"recipient": "zoe@prospect.test\r\nBcc: victim@example.com"},
        {"sender": "team@tune.test\nX-Injected: 1"},
        {"message_id": "<a@b>\r\nBcc: victim@example.com"},
        {"headers": {"List-Unsubscribe": "<https://x>\r\nBcc: victim@example.com"}},
        {"headers": {"X-Evil\r\nBcc": "victim@example.com"}},
        {"headers": {"X Evil": "1"}},
        {"headers": {"Bcc": "victim@example.com"}},
        {"headers": {"to": "victim@example.com"}},
    ],
)
def test_header_injection_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        message(**overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"recipient": "not an address"},
        {"recipient": "a@example.com, b@example.com"},
        {"sender": ""},
        {"message_id": "no-angle-brackets@tune.test"},
        {"message_id": "<no-domain>"},
    ],
)
def test_bad_addresses_and_message_ids_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        message(**overrides)


def test_message_ids_are_stable_and_keyed() -> None:
    one = make_message_id(42, "Tune.Test", secret="secret-a")
    assert one == make_message_id(42, "tune.test", secret=b"secret-a")
    assert re.fullmatch(r"<tune\.42\.[0-9a-f]{16}@tune\.test>", one)
    assert one != make_message_id(42, "tune.test", secret="secret-b")
    assert one != make_message_id(43, "tune.test", secret="secret-a")
    assert make_message_id(7, "tune.test") == make_message_id(7, "tune.test")
    assert make_message_id(1, "bücher.example").endswith("@xn--bcher-kva.example>")
    for bad_domain in ("", "a b", "x@y", "a>b"):
        with pytest.raises(ValueError):
            make_message_id(1, bad_domain)
    with pytest.raises(ValueError):
        make_message_id(-1, "tune.test")
