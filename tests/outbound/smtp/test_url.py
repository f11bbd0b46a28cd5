"""SMTP_URL: parsing, validation, and the password kept out of every text."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.smtp import PASSWORD
from webapp.core.errors import ConfigError
from webapp.outbound.smtp.relay import SmtpRelay
from webapp.outbound.smtp.url import SmtpSettings, parse_smtp_url


def test_password_stays_out_of_repr_and_str() -> None:
    settings = parse_smtp_url("smtp://user:s3cr%40t%2Fpass%3Aword@smtp.example.com:587")
    assert settings.password == PASSWORD
    for text in (repr(settings), str(settings), settings.redacted_url()):
        assert PASSWORD not in text and "s3cr" not in text
    assert settings.redacted_url() == "smtp://user:***@smtp.example.com:587"
    assert str(settings) == settings.redacted_url()
    assert "smtp.example.com" in repr(SmtpRelay(settings))
    assert "s3cr" not in repr(SmtpRelay(settings))


def test_settings_made_directly_are_checked() -> None:
    settings = SmtpSettings("relay.example.com", 2525, "me", "pw", security="none", timeout=5)
    assert settings.redacted_url() == "smtp://me:***@relay.example.com:2525?starttls=off&timeout=5"
    for bad in ({"port": 0}, {"security": "ssl"}, {"timeout": 0}):
        arguments: dict[str, Any] = {"host": "relay.example.com", "port": 25, **bad}
        with pytest.raises(ValueError):
            SmtpSettings(**arguments)


@pytest.mark.parametrize(
    "url",
    [
        "smtp://user:pw@smtp.example.com:2525?starttls=off&timeout=7.5",
        "smtp://127.0.0.1:1025?starttls=require",
        "smtp://mail.example.com:25",
        "smtps://user%40example.com:pw@[::1]:465",
        "smtp://localhost:587?starttls=auto",
    ],
)
def test_redacted_url_parses_back_to_the_same_settings(url: str) -> None:
    settings = parse_smtp_url(url)
    again = parse_smtp_url(settings.redacted_url().replace(":***@", ":pw@"))
    assert again == settings


# --- parsing SMTP_URL -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://user:p%40ss%2Fw0rd@smtp.example.com:587",
            ("smtp.example.com", 587, "user", "p@ss/w0rd", "starttls"),
        ),
        (
            "smtp://user:p@ss@smtp.example.com",
            ("smtp.example.com", 587, "user", "p@ss", "starttls"),
        ),
        (
            "smtp://ap%40x.com:pw@smtp.example.com",
            ("smtp.example.com", 587, "ap@x.com", "pw", "starttls"),
        ),
        ("smtps://u:p@mail.example.com", ("mail.example.com", 465, "u", "p", "tls")),
        ("SMTPS://mail.example.com:2465", ("mail.example.com", 2465, None, None, "tls")),
        ("smtp://mail.example.com", ("mail.example.com", 587, None, None, "starttls")),
        ("smtp://mail.example.com:25", ("mail.example.com", 25, None, None, "opportunistic")),
        ("smtp://u:p@mail.example.com:25", ("mail.example.com", 25, "u", "p", "starttls")),
        ("smtp://127.0.0.1:1025", ("127.0.0.1", 1025, None, None, "opportunistic")),
        ("smtp://localhost", ("localhost", 587, None, None, "opportunistic")),
        ("smtp://u:p@[::1]:2525", ("::1", 2525, "u", "p", "opportunistic")),
        ("smtp://relay:25?starttls=require", ("relay", 25, None, None, "starttls")),
        ("smtp://relay:25?starttls=1", ("relay", 25, None, None, "starttls")),
        ("smtp://u:p@relay:587?starttls=off", ("relay", 587, "u", "p", "none")),
        ("smtp://relay?starttls=auto", ("relay", 587, None, None, "opportunistic")),
    ],
)
def test_parse_smtp_url(url: str, expected: tuple[Any, ...]) -> None:
    settings = parse_smtp_url(url)
    got = (settings.host, settings.port, settings.username, settings.password, settings.security)
    assert got == expected
    assert settings.timeout == 30.0


def test_parse_smtp_url_timeout() -> None:
    assert parse_smtp_url("smtp://relay?timeout=2.5").timeout == 2.5


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("", "empty"),
        ("http://relay.example.com", "scheme"),
        ("relay.example.com:25", "scheme"),
        ("smtp://", "missing host"),
        ("smtp://:587", "missing host"),
        ("smtp://relay:99999", "port"),
        ("smtp://relay:smtp", "port"),
        ("smtp://relay:0", "port"),
        ("smtp://user:pa/ss@relay", "percent-encoded"),
        ("smtp://user:pa#ss@relay", "percent-encoded"),
        ("smtp://user@relay", "needs a password"),
        ("smtp://:secret@relay", "needs a user name"),
        ("smtps://relay?starttls=require", "smtps"),
        ("smtp://relay?starttls=maybe", "starttls must be"),
        ("smtp://relay?tls=1", "unknown parameter"),
        ("smtp://relay?timeout=0", "timeout"),
        ("smtp://relay?timeout=soon", "timeout"),
    ],
)
def test_a_bad_smtp_url_is_a_config_error_naming_smtp_url(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_smtp_url(url)
    text = str(caught.value)
    assert text.startswith("SMTP_URL: ")
    assert complaint in text
    assert "\n" not in text
    assert "secret" not in text and "pa/ss" not in text
