"""Settings from the environment: defaults, validation, the development secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from webapp.core.config import Config
from webapp.core.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    config = Config.from_env({"TUNE_INSTANCE_PATH": str(tmp_path)})
    assert config.database_url == "sqlite+aiosqlite:///tune.db"
    assert (
        config.db_pool_size,
        config.db_max_overflow,
        config.db_pool_timeout,
        config.db_pool_recycle,
    ) == (20, 10, 30, 3600)
    assert config.rate_limit == "100/minute"
    assert config.ratelimit_storage_uri == "memory://"
    assert config.cors_origins == ()
    assert config.max_upload_bytes == 50 * 1024 * 1024


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Config.from_env({"TUNE_INSTANCE_PATH": str(tmp_path)})
    second = Config.from_env({"TUNE_INSTANCE_PATH": str(tmp_path)})
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_requires_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TUNE_SECRET_KEY"):
        Config.from_env({"TUNE_ENV": "production", "TUNE_INSTANCE_PATH": str(tmp_path)})


def test_postgres_urls_are_given_the_async_driver(tmp_path: Path) -> None:
    config = Config.from_env(
        {"DATABASE_URL": "postgresql://u:p@db/tune", "TUNE_INSTANCE_PATH": str(tmp_path)}
    )
    assert config.database_url == "postgresql+asyncpg://u:p@db/tune"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_POOL_SIZE", "many"),
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_TIMEOUT", "soon"),
        ("TUNE_ENV", "staging"),
        ("RATE_LIMIT", "lots"),
        ("RATELIMIT_STORAGE_URI", "memcached://x"),
        ("DATABASE_URL", "mysql://x/y"),
        ("TUNE_BASE_URL", "tune.example.com"),
        ("TUNE_DEMO", "perhaps"),
        ("TUNE_SECRET_KEY", "short"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, proxy.local"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({name: value, "TUNE_INSTANCE_PATH": str(tmp_path)})
    assert str(raised.value).startswith(name + ":")


def test_the_default_rates_are_rates_and_only_a_configured_one_loads_limits(
    tmp_path: Path,
) -> None:
    """Defaults are returned unchecked (so `tune import` and the import child skip `limits`)."""
    from limits import parse as parse_rate

    for default in (Config.rate_limit, Config.send_rate):
        parse_rate(default)
    code = (
        "import sys; from webapp.core.config import Config; "
        f"Config.from_env({{'TUNE_INSTANCE_PATH': {str(tmp_path)!r}}}); "
        "print('limits' in sys.modules)"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"
    configured = Config.from_env(
        {"RATE_LIMIT": "5 per second", "TUNE_INSTANCE_PATH": str(tmp_path)}
    )
    assert configured.rate_limit == "5 per second"


def test_secrets_do_not_appear_in_repr(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "TUNE_SECRET_KEY": "s" * 40,
            "TUNE_BOOTSTRAP_API_KEY": "tune_" + "k" * 30,
            "TUNE_INSTANCE_PATH": str(tmp_path),
        }
    )
    assert "s" * 40 not in repr(config)
    assert "k" * 30 not in repr(config)


def test_the_curl_guides_short_key_is_accepted_in_development_only(tmp_path: Path) -> None:
    environ = {"TUNE_INSTANCE_PATH": str(tmp_path), "TUNE_BOOTSTRAP_API_KEY": "tune_dev_key_12345"}
    config = Config.from_env(environ)
    assert config.bootstrap_api_key == "tune_dev_key_12345"
    assert config.bootstrap_key_is_short
    production = {**environ, "TUNE_ENV": "production", "TUNE_SECRET_KEY": "s" * 32}
    with pytest.raises(ConfigError) as raised:
        Config.from_env(production)
    assert str(raised.value) == "TUNE_BOOTSTRAP_API_KEY: must be at least 20 characters"


def test_dns_nameservers_take_addresses_with_optional_ports(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "DNS_NAMESERVERS": "1.1.1.1, 127.0.0.1:5353, [::1]:53, 2001:db8::1",
            "TUNE_INSTANCE_PATH": str(tmp_path),
        }
    )
    assert config.dns_nameservers == (
        ("1.1.1.1", 53),
        ("127.0.0.1", 5353),
        ("::1", 53),
        ("2001:db8::1", 53),
    )
    assert Config.from_env({"TUNE_INSTANCE_PATH": str(tmp_path)}).dns_nameservers == ()


@pytest.mark.parametrize("value", ["dns.google", "127.0.0.1:0", "127.0.0.1:dns", "[::1"])
def test_a_bad_dns_nameserver_is_named(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"DNS_NAMESERVERS": value, "TUNE_INSTANCE_PATH": str(tmp_path)})
    assert str(raised.value).startswith("DNS_NAMESERVERS:")
