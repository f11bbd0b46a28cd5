"""What a deliverability check found: one `Finding` per fact, grouped by record, in a `Report`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["ok", "warning", "problem"]
Check = Literal["domain", "spf", "dkim", "dmarc"]
SEVERITY_RANK: dict[Severity, int] = {"ok": 0, "warning": 1, "problem": 2}


def worst(severities: list[Severity]) -> Severity:
    """The most serious of `severities` ("ok" for none)."""
    return max(severities, key=SEVERITY_RANK.__getitem__, default="ok")


@dataclass(frozen=True)
class Finding:
    """One thing a rep should know, said in plain words."""

    check: Check
    severity: Severity
    message: str


@dataclass(frozen=True)
class SpfResult:
    records: list[str]
    """Every `v=spf1` TXT record at the domain (more than one is itself an error)."""
    lookups: int | None
    """DNS lookups an evaluation needs (include, a, mx, ptr, exists, redirect, followed
    through includes); RFC 7208 allows 10. None when there is no single record to count."""
    all_qualifier: str | None
    """How the record ends: "-" (-all), "~" (~all), "?" (?all), "+" (+all or all)."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def severity(self) -> Severity:
        return worst([finding.severity for finding in self.findings])


@dataclass(frozen=True)
class DkimResult:
    selector: str | None
    """The selector checked; None when none was named (DKIM then goes unchecked)."""
    name: str | None
    """Where the key was looked up: `<selector>._domainkey.<domain>`."""
    record: str | None
    key_type: str | None
    """"rsa" or "ed25519" when the key could be read."""
    key_bits: int | None
    revoked: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def severity(self) -> Severity:
        return worst([finding.severity for finding in self.findings])


@dataclass(frozen=True)
class DmarcResult:
    record: str | None
    policy: str | None
    """none, quarantine or reject."""
    subdomain_policy: str | None
    percent: int | None
    rua: list[str]
    """Where aggregate reports go (mailto: addresses)."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def severity(self) -> Severity:
        return worst([finding.severity for finding in self.findings])


@dataclass(frozen=True)
class Report:
    """The whole check of one sending domain."""

    domain: str
    """The domain in ASCII form (punycode for international names)."""
    exists: bool
    """False when the domain does not exist in DNS (NXDOMAIN): nothing else was checked."""
    spf: SpfResult | None
    dkim: DkimResult | None
    dmarc: DmarcResult | None
    findings: list[Finding]
    """Every finding, problems first."""

    @property
    def severity(self) -> Severity:
        return worst([finding.severity for finding in self.findings])


def ordered(findings: list[Finding]) -> list[Finding]:
    """Problems first, then warnings, then what is fine; otherwise in the order found."""
    return sorted(findings, key=lambda finding: -SEVERITY_RANK[finding.severity])
