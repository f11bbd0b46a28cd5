"""Tune's settings, read from the environment (and `.env`) in one place.

Every variable is documented in `.env.example` and `docs/configuration.md`.
A bad value raises `ConfigError` whose message names the variable, so startup
stops with one clear line.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from webapp.core.common import parse_flag
from webapp.core.errors import ConfigError
from webapp.core.logs import TRACKING_LOG_MODES

ENVIRONMENTS = ("development", "production")
BOOTSTRAP_KEY_MIN = 20


@dataclass(frozen=True)
class Config:
    """Typed settings; build with `Config.from_env()` or directly in tests."""

    database_url: str = "sqlite+aiosqlite:///tune.db"
    db_pool_size: int = 20
    db_max_overflow: int = 10
    db_pool_timeout: float = 30.0
    db_pool_recycle: int = 3600
    env: str = "development"
    secret_key: str = field(default="", repr=False)
    previous_secret_keys: tuple[str, ...] = field(default=(), repr=False)
    """Keys TUNE_SECRET_KEY replaced: stored mailbox passwords still open with them until
    `tune mailboxes rekey` has re-encrypted them under the current key."""
    base_url: str = "http://127.0.0.1:8000"
    rate_limit: str = "100/minute"
    ratelimit_storage_uri: str = "memory://"
    cors_origins: tuple[str, ...] = ()
    max_upload_bytes: int = 50 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    instance_path: Path = Path("instance")
    bootstrap_api_key: str | None = field(default=None, repr=False)
    trusted_proxies: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_json: bool | None = None
    log_tracking_hits: str = "sampled"
    """A log line for every tracking hit (`every`), for one in `log_tracking_sample`, or none."""
    log_tracking_sample: int = 100
    demo: bool = False
    metrics_token: str | None = field(default=None, repr=False)
    sentry_dsn: str | None = field(default=None, repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    smtp_from: str = "Tune <tune@localhost>"
    send_rate: str = "60/minute"
    send_concurrency: int = 4
    run_sender: bool = True
    send_domain_hourly: int = 0
    """At most this many emails per rolling hour to one recipient domain (0: no limit)."""
    mailbox_health_min_sends: int = 20
    """Sends a mailbox must have made before its bounce and complaint rates can pause it."""
    event_batch_max: int = 500
    event_batches_in_flight: int = 2
    """PostgreSQL: writer transactions at once (the next batch starts while one commits)."""
    session_lifetime_days: int = 7
    header_timeout: float = 10.0
    """Seconds a client has to send its request line and headers (`tune run`)."""
    imap_url: str | None = field(default=None, repr=False)
    imap_poll_seconds: float = 60.0
    imap_processed_folder: str | None = None
    imap_oauth2_token_command: str | None = field(default=None, repr=False)
    run_inbox: bool = True
    sns_topic_arns: tuple[str, ...] = ()
    sns_host_pattern: str = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
    sendgrid_webhook_public_key: str | None = field(default=None, repr=False)
    postmark_webhook_auth: str | None = field(default=None, repr=False)
    mailgun_webhook_signing_key: str | None = field(default=None, repr=False)
    webhook_timeout: float = 10.0
    """Seconds a webhook receiver has to answer one delivery."""
    webhook_concurrency: int = 8
    click_settle_seconds: float = 60.0
    """Seconds before a click or open may act on people (follow-ups, sequences, webhooks)."""
    run_webhooks: bool = True
    """Whether `tune run` also runs the webhook dispatcher (`tune worker` always does)."""
    webhooks_allow_private: bool | None = None
    """Whether webhook URLs may point at private, loopback, link-local, multicast or
    reserved addresses; None: only in development (never by default in production)."""
    dns_nameservers: tuple[tuple[str, int], ...] = ()
    """The DNS servers the deliverability check asks, as (address, port); () = the system's."""
    dns_timeout: float = 5.0
    """Seconds one deliverability check may spend on DNS, all lookups together."""

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def allow_private_webhooks(self) -> bool:
        if self.webhooks_allow_private is None:
            return not self.is_production
        return self.webhooks_allow_private

    @property
    def bootstrap_key_is_short(self) -> bool:
        """A short bootstrap key (the curl guide's) is accepted in development only."""
        key = self.bootstrap_api_key
        return key is not None and len(key) < BOOTSTRAP_KEY_MIN

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def json_logs(self) -> bool:
        return self.is_production if self.log_json is None else self.log_json

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def with_changes(self, **changes: Any) -> Config:
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, load_dotenv: bool = True
    ) -> Config:
        """Read settings from `environ` (default: `os.environ` plus `.env`)."""
        if environ is None:
            if load_dotenv:
                from dotenv import load_dotenv as _load

                _load(Path.cwd() / ".env", override=False)
            environ = os.environ
        env = _Reader(environ)
        tune_env = env.choice("TUNE_ENV", ENVIRONMENTS, "development")
        instance_path = Path(env.text("TUNE_INSTANCE_PATH", "instance"))
        secret = env.text("TUNE_SECRET_KEY", "")
        if not secret:
            if tune_env == "production":
                raise ConfigError("TUNE_SECRET_KEY: required when TUNE_ENV=production")
            secret = _development_secret(instance_path)
        elif len(secret) < 16:
            raise ConfigError("TUNE_SECRET_KEY: must be at least 16 characters")
        config = cls(
            database_url=env.database_url("DATABASE_URL", cls.database_url),
            db_pool_size=env.integer("DB_POOL_SIZE", cls.db_pool_size, minimum=1),
            db_max_overflow=env.integer("DB_MAX_OVERFLOW", cls.db_max_overflow, minimum=0),
            db_pool_timeout=env.number("DB_POOL_TIMEOUT", cls.db_pool_timeout, minimum=0.1),
            db_pool_recycle=env.integer("DB_POOL_RECYCLE", cls.db_pool_recycle, minimum=-1),
            env=tune_env,
            secret_key=secret,
            previous_secret_keys=env.items("TUNE_PREVIOUS_SECRET_KEYS"),
            base_url=env.url("TUNE_BASE_URL", cls.base_url),
            rate_limit=env.rate("RATE_LIMIT", cls.rate_limit),
            ratelimit_storage_uri=env.storage("RATELIMIT_STORAGE_URI", cls.ratelimit_storage_uri),
            cors_origins=env.items("CORS_ORIGINS"),
            max_upload_bytes=env.integer("MAX_UPLOAD_BYTES", cls.max_upload_bytes, minimum=1024),
            instance_path=instance_path,
            bootstrap_api_key=env.text("TUNE_BOOTSTRAP_API_KEY", "") or None,
            trusted_proxies=env.items("TRUSTED_PROXIES"),
            log_level=env.choice(
                "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", upper=True
            ),
            log_json=env.optional_flag("LOG_JSON"),
            log_tracking_hits=env.choice(
                "LOG_TRACKING_HITS", TRACKING_LOG_MODES, cls.log_tracking_hits
            ),
            log_tracking_sample=env.integer(
                "LOG_TRACKING_SAMPLE", cls.log_tracking_sample, minimum=1
            ),
            demo=env.flag("TUNE_DEMO", False),
            metrics_token=env.text("METRICS_TOKEN", "") or None,
            sentry_dsn=env.text("SENTRY_DSN", "") or None,
            smtp_url=env.text("SMTP_URL", "") or None,
            smtp_from=env.text("SMTP_FROM", cls.smtp_from),
            send_rate=env.rate("SEND_RATE", cls.send_rate),
            send_concurrency=env.integer("SEND_CONCURRENCY", cls.send_concurrency, minimum=1),
            run_sender=env.flag("TUNE_RUN_SENDER", True),
            send_domain_hourly=env.integer("SEND_DOMAIN_HOURLY", cls.send_domain_hourly, minimum=0),
            mailbox_health_min_sends=env.integer(
                "MAILBOX_HEALTH_MIN_SENDS", cls.mailbox_health_min_sends, minimum=1
            ),
            event_batch_max=env.integer("TUNE_EVENT_BATCH_MAX", cls.event_batch_max, minimum=1),
            event_batches_in_flight=env.integer(
                "TUNE_EVENT_BATCHES_IN_FLIGHT", cls.event_batches_in_flight, minimum=1
            ),
            session_lifetime_days=env.integer(
                "SESSION_LIFETIME_DAYS", cls.session_lifetime_days, minimum=1
            ),
            header_timeout=env.number("HEADER_TIMEOUT", cls.header_timeout, minimum=0.5),
            imap_url=env.text("IMAP_URL", "") or None,
            imap_poll_seconds=env.number("IMAP_POLL_SECONDS", cls.imap_poll_seconds, minimum=1),
            imap_processed_folder=env.text("IMAP_PROCESSED_FOLDER", "") or None,
            imap_oauth2_token_command=env.text("IMAP_OAUTH2_TOKEN_COMMAND", "") or None,
            run_inbox=env.flag("TUNE_RUN_INBOX", True),
            sns_topic_arns=env.items("SNS_TOPIC_ARNS"),
            sns_host_pattern=env.pattern("SNS_HOST_PATTERN", cls.sns_host_pattern),
            sendgrid_webhook_public_key=env.text("SENDGRID_WEBHOOK_PUBLIC_KEY", "") or None,
            postmark_webhook_auth=env.text("POSTMARK_WEBHOOK_AUTH", "") or None,
            mailgun_webhook_signing_key=env.text("MAILGUN_WEBHOOK_SIGNING_KEY", "") or None,
            webhook_timeout=env.number("WEBHOOK_TIMEOUT", cls.webhook_timeout, minimum=0.5),
            # At least the 10 s within which a later hit can still re-flag a click.
            click_settle_seconds=env.number(
                "CLICK_SETTLE_SECONDS", cls.click_settle_seconds, minimum=10.0
            ),
            webhook_concurrency=env.integer(
                "WEBHOOK_CONCURRENCY", cls.webhook_concurrency, minimum=1
            ),
            run_webhooks=env.flag("TUNE_RUN_WEBHOOKS", True),
            webhooks_allow_private=env.optional_flag("WEBHOOKS_ALLOW_PRIVATE"),
            dns_nameservers=env.nameservers("DNS_NAMESERVERS"),
            dns_timeout=env.number("DNS_TIMEOUT", cls.dns_timeout, minimum=0.1),
        )
        for proxy in config.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(
                    f"TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
                ) from None
        if config.postmark_webhook_auth is not None and ":" not in config.postmark_webhook_auth:
            raise ConfigError("POSTMARK_WEBHOOK_AUTH: expected user:password")
        if config.bootstrap_key_is_short and config.is_production:
            raise ConfigError(
                f"TUNE_BOOTSTRAP_API_KEY: must be at least {BOOTSTRAP_KEY_MIN} characters"
            )
        return config


def _development_secret(instance_path: Path) -> str:
    """Keep a generated secret in the instance folder so restarts keep tokens valid."""
    path = instance_path / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    instance_path.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


class _Reader:
    """Typed getters over an environment mapping; each error names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
        if number < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {number}")
        return number

    def number(self, name: str, default: float, *, minimum: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
        if number < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {number}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        value = self.optional_flag(name)
        return default if value is None else value

    def optional_flag(self, name: str) -> bool | None:
        value = self._raw(name)
        if value is None:
            return None
        flag = parse_flag(value)
        if flag is not None:
            return flag
        raise ConfigError(f"{name}: expected true or false, got {value!r}")

    def choice(self, name: str, choices: tuple[str, ...], default: str, upper: bool = False) -> str:
        value = self._raw(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in choices:
            raise ConfigError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")
        return value

    def items(self, name: str) -> tuple[str, ...]:
        value = self._raw(name)
        if value is None:
            return ()
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def nameservers(self, name: str) -> tuple[tuple[str, int], ...]:
        """`1.1.1.1, 127.0.0.1:5353, [::1]:53` as (address, port) pairs; port 53 by default."""
        servers: list[tuple[str, int]] = []
        for item in self.items(name):
            host, port = item, "53"
            if item.startswith("["):
                host, bracket, rest = item[1:].partition("]")
                port = rest.removeprefix(":") or "53" if bracket else ""
            elif item.count(":") == 1:
                host, port = item.split(":")
            try:
                address = str(ipaddress.ip_address(host))
                number = int(port)
            except ValueError:
                number = 0
                address = ""
            if not address or not 1 <= number <= 65535:
                raise ConfigError(
                    f"{name}: expected IP addresses with an optional port, like "
                    f"1.1.1.1 or 127.0.0.1:5353 or [::1]:53, got {item!r}"
                )
            servers.append((address, number))
        return tuple(servers)

    def pattern(self, name: str, default: str) -> str:
        value = self.text(name, default)
        try:
            re.compile(value)
        except re.error as exc:
            raise ConfigError(f"{name}: not a regular expression ({exc})") from None
        return value

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default).rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ConfigError(f"{name}: expected an http(s) origin like https://tune.example.com")
        return value

    def rate(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if value == default:
            # Tune's own defaults are valid (tests/core/test_config.py): `limits` (about 50 ms
            # of the import child's start-up, with its storage modules) is loaded only to
            # check a configured rate.
            return value
        from limits import parse as parse_rate

        try:
            parse_rate(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a rate like 100/minute, got {value!r}") from None
        return value

    def storage(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if urlsplit(value).scheme not in {"memory", "redis", "rediss", "redis+unix"}:
            raise ConfigError(f"{name}: expected memory:// or redis://host:port, got {value!r}")
        return value

    def database_url(self, name: str, default: str) -> str:
        value = self.text(name, default)
        scheme = value.split("://", 1)[0]
        if scheme == "postgresql" or scheme == "postgres":
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        elif scheme == "sqlite":
            value = "sqlite+aiosqlite://" + value.split("://", 1)[1]
        elif scheme not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
            raise ConfigError(
                f"{name}: expected sqlite+aiosqlite:///path.db or postgresql+asyncpg://..., "
                f"got a {scheme!r} URL"
            )
        return value
