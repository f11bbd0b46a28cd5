"""`tune deliverability check DOMAIN`: SPF, DKIM and DMARC of a sending domain, in plain words."""

from __future__ import annotations

import asyncio

import click

from webapp.cli.common import load_config
from webapp.core.errors import TuneError

MARKS = {"ok": "ok     ", "warning": "warning", "problem": "PROBLEM"}


@click.group()
def deliverability() -> None:
    """Check that a sending domain's DNS records let its mail reach the inbox."""


@deliverability.command("check")
@click.argument("domain")
@click.option(
    "--dkim-selector",
    default=None,
    help="The DKIM selector your provider signs with (Google Workspace: google).",
)
def deliverability_check(domain: str, dkim_selector: str | None) -> None:
    """Look up DOMAIN's SPF, DKIM and DMARC records and say what receivers make of them.

    Exit status 0 when nothing is a problem (warnings allowed), 2 when something is,
    1 when the check could not be made (a bad domain, DNS not answering).
    """
    from webapp.deliverability import Resolver, check_domain

    config = load_config()
    resolver = Resolver(config.dns_nameservers, config.dns_timeout)
    try:
        report = asyncio.run(check_domain(domain, dkim_selector, resolver=resolver))
    except TuneError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{report.domain}: {report.severity}")
    for finding in report.findings:
        click.echo(f"  {MARKS[finding.severity]}  {finding.check.upper():5}  {finding.message}")
    if report.severity == "problem":
        raise SystemExit(2)


COMMANDS = (deliverability,)
