"""SMTP_URL: the relay's address, credentials and TLS mode, parsed and validated once.

Security rule of SMTP_URL (`parse_smtp_url`):

- `smtps://host[:465]`: implicit TLS ("tls").
- `smtp://host[:587]` with `?starttls=require` (or 1/true/yes/on): STARTTLS is
  mandatory ("starttls"); a relay that does not offer it is a relay failure.
- `?starttls=off` (or 0/false/no/none): plain SMTP, never upgraded ("none").
- `?starttls=auto`: STARTTLS when the relay offers it ("opportunistic").
- no `starttls` parameter: "starttls" when the port is 587 or the URL carries
  credentials, unless the host is loopback; otherwise "opportunistic". So a
  password never crosses the network in clear unless the URL says `starttls=off`
  or `starttls=auto`.

Certificates are verified against the system's CAs (pass `tls_context` to
`SmtpRelay` for a private CA).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from webapp.core.common import NO, YES
from webapp.core.errors import ConfigError

Security = Literal["tls", "starttls", "opportunistic", "none"]

DEFAULT_TIMEOUT = 30.0
_TRUE = YES | {"require", "required"}
_FALSE = NO | {"none"}
_AUTO = {"auto", "opportunistic"}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the relay; the password stays out of repr, str and logs."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Security = "starttls"
    timeout: float = DEFAULT_TIMEOUT
    """Seconds allowed for connecting and for each SMTP command."""

    def __post_init__(self) -> None:
        if self.security not in ("tls", "starttls", "opportunistic", "none"):
            raise ValueError(f"unknown SMTP security mode {self.security!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port out of range: {self.port}")
        if self.timeout <= 0:
            raise ValueError("SMTP timeout must be positive")

    def redacted_url(self) -> str:
        """The settings as an SMTP_URL with the password masked, e.g. smtp://user:***@host:587.

        Parsing it back (with the real password) gives the same settings.
        """
        scheme = "smtps" if self.security == "tls" else "smtp"
        userinfo = ""
        if self.username is not None:
            userinfo = quote(self.username, safe="") + (":***" if self.password else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        params = []
        if scheme == "smtp" and self.security != _default_security(
            self.host, self.port, self.username is not None
        ):
            params.append("starttls=" + _SECURITY_PARAM[self.security])
        if self.timeout != DEFAULT_TIMEOUT:
            params.append(f"timeout={self.timeout:g}")
        query = "?" + "&".join(params) if params else ""
        return f"{scheme}://{userinfo}{host}:{self.port}{query}"

    def __str__(self) -> str:
        return self.redacted_url()


_SECURITY_PARAM: dict[str, str] = {
    "starttls": "require",
    "none": "off",
    "opportunistic": "auto",
    "tls": "",
}


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_security(host: str, port: int, has_credentials: bool) -> Security:
    if not _is_loopback(host) and (port == 587 or has_credentials):
        return "starttls"
    return "opportunistic"


def parse_smtp_url(url: str) -> SmtpSettings:
    """SMTP_URL → settings; ConfigError("SMTP_URL: …") naming what is wrong.

    User name and password are percent-decoded, so a password with `@`, `/`,
    `:`, `#` or `?` is written `%40`, `%2F`, `%3A`, `%23`, `%3F`. Parameters:
    `starttls` (see the module docstring) and `timeout` (seconds).
    """
    encode_hint = "characters like / # ? in the user name or password must be percent-encoded"
    raw = (url or "").strip()
    if not raw:
        raise ConfigError("SMTP_URL: empty; expected smtp://user:password@host:587")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"SMTP_URL: bad host or port (the port must be 1-65535; {encode_hint})"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        shown = scheme or "none"
        raise ConfigError(f"SMTP_URL: scheme must be smtp:// or smtps://, not {shown}")
    if parts.path not in ("", "/") or parts.fragment:
        raise ConfigError(f"SMTP_URL: unexpected text after the host ({encode_hint})")
    host = parts.hostname
    if not host:
        raise ConfigError("SMTP_URL: missing host, e.g. smtp://user:password@smtp.example.com")
    if port == 0:
        raise ConfigError("SMTP_URL: the port must be 1-65535")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if username and not password:
        raise ConfigError("SMTP_URL: a user name needs a password (user:password@host)")
    if password and not username:
        raise ConfigError("SMTP_URL: a password needs a user name (user:password@host)")

    starttls: str | None = None
    timeout = DEFAULT_TIMEOUT
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "starttls":
            starttls = value.strip().lower()
        elif key == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                timeout = -1.0
            if not 0 < timeout <= 600:
                raise ConfigError("SMTP_URL: timeout must be a number of seconds (0-600]")
        else:
            raise ConfigError(f"SMTP_URL: unknown parameter {key!r} (known: starttls, timeout)")

    security: Security
    if scheme == "smtps":
        if starttls is not None:
            raise ConfigError("SMTP_URL: starttls does not apply to smtps:// (already TLS)")
        security = "tls"
        port = port or 465
    else:
        port = port or 587
        if starttls is None:
            security = _default_security(host, port, username is not None)
        elif starttls in _TRUE:
            security = "starttls"
        elif starttls in _FALSE:
            security = "none"
        elif starttls in _AUTO:
            security = "opportunistic"
        else:
            raise ConfigError("SMTP_URL: starttls must be require, auto or off")
    return SmtpSettings(
        host=host,
        port=port,
        username=username,
        password=password,
        security=security,
        timeout=timeout,
    )
