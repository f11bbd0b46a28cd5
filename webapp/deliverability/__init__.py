"""Deliverability: are a sending domain's SPF, DKIM and DMARC records fit to send from?

`check_domain` looks the records up in DNS (dnspython's async resolver, bounded
by `DNS_TIMEOUT`), reads them (`spf`, `dkim`, `dmarc`) and returns a `Report`
whose findings say in plain words what a receiver such as Gmail or Yahoo will
make of them, each with a severity: ok, warning or problem.
"""

from __future__ import annotations

from webapp.deliverability.lookup import DnsUnavailable, Resolver, check_domain, parse_domain
from webapp.deliverability.report import Finding, Report, Severity

__all__ = [
    "DnsUnavailable",
    "Finding",
    "Report",
    "Resolver",
    "Severity",
    "check_domain",
    "parse_domain",
]
