"""`tune deliverability check`, run as a real process against a real knotd on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.dns import knot, silent_server  # noqa: F401  (knot: the session's DNS server)
from tests.support.servers import run_cli, tune_env

pytestmark = pytest.mark.slow


def env_for(tmp_path: Path, server: tuple[str, int], timeout: str = "5") -> dict[str, str]:
    address, port = server
    return tune_env(
        f"sqlite+aiosqlite:///{tmp_path / 'tune.db'}",
        tmp_path,
        DNS_NAMESERVERS=f"{address}:{port}",
        DNS_TIMEOUT=timeout,
    )


def test_a_good_domain_prints_ok_and_exits_0(tmp_path: Path, knot: tuple[str, int]) -> None:  # noqa: F811
    result = run_cli(
        ["deliverability", "check", "good.deliverability.test", "--dkim-selector", "mail"],
        env_for(tmp_path, knot),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "good.deliverability.test: ok"
    assert any("DKIM" in line and "RSA 2048 bits" in line for line in lines)


def test_problems_are_printed_first_and_exit_2(tmp_path: Path, knot: tuple[str, int]) -> None:  # noqa: F811
    result = run_cli(
        ["deliverability", "check", "nodmarc.deliverability.test"],
        env_for(tmp_path, knot),
        tmp_path,
    )
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == "nodmarc.deliverability.test: problem"
    assert "PROBLEM" in lines[1] and "DMARC" in lines[1]
    assert "Gmail and Yahoo require one for bulk senders" in lines[1]


def test_a_bad_domain_is_one_line_and_exit_1(tmp_path: Path, knot: tuple[str, int]) -> None:  # noqa: F811
    result = run_cli(["deliverability", "check", "not a domain"], env_for(tmp_path, knot), tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: domain 'not a domain' is not a domain name like acme.com"
    ]


def test_a_silent_dns_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with silent_server() as silent:
        result = run_cli(
            ["deliverability", "check", "good.deliverability.test"],
            env_for(tmp_path, silent, timeout="0.5"),
            tmp_path,
        )
    assert result.returncode == 1
    assert "did not answer within 0.5 s" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_nameserver_setting_is_named(tmp_path: Path) -> None:
    env = tune_env(
        f"sqlite+aiosqlite:///{tmp_path / 'tune.db'}", tmp_path, DNS_NAMESERVERS="dns.google"
    )
    result = run_cli(["deliverability", "check", "acme.com"], env, tmp_path)
    assert result.returncode == 1
    assert "DNS_NAMESERVERS" in result.stderr


def test_the_documented_example_runs(tmp_path: Path) -> None:
    """docs/deliverability.md's command, against the example.com zone it describes."""
    from tests.support.dns import knot_server

    with knot_server(tmp_path / "knot", ["example.com"]) as server:
        result = run_cli(
            ["deliverability", "check", "example.com", "--dkim-selector", "google"],
            env_for(tmp_path, server),
            tmp_path,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "example.com: warning"
    assert "p=none" in result.stdout
