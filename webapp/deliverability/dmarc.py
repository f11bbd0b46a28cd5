"""DMARC (RFC 7489): read the policy a domain publishes at `_dmarc.<domain>`.

Since February 2024 Gmail and Yahoo require a DMARC record (p=none at least)
from anyone sending them more than 5,000 messages a day; p=quarantine or
p=reject is what protects the domain from being spoofed.
"""

from __future__ import annotations

from webapp.deliverability.dkim import tags
from webapp.deliverability.report import DmarcResult, Finding, Severity

POLICIES = ("none", "quarantine", "reject")


def record_name(domain: str) -> str:
    return f"_dmarc.{domain}"


def is_dmarc(text: str) -> bool:
    return text.replace(" ", "").upper().startswith("V=DMARC1")


def check(domain: str, records: list[str]) -> DmarcResult:
    """The DMARC verdict from the `v=DMARC1` TXT records at `_dmarc.<domain>`."""
    findings: list[Finding] = []

    def say(severity: Severity, message: str) -> None:
        findings.append(Finding("dmarc", severity, message))

    if not records:
        say(
            "problem",
            f"No DMARC record at {record_name(domain)}: Gmail and Yahoo require one for bulk "
            "senders. Start with v=DMARC1; p=none; rua=mailto:you@your-domain.",
        )
        return DmarcResult(None, None, None, None, [], findings)
    if len(records) > 1:
        say(
            "problem",
            f"{len(records)} DMARC records: receivers ignore DMARC when there is more than "
            "one. Keep one.",
        )
        return DmarcResult(records[0], None, None, None, [], findings)
    record = records[0]
    fields = tags(record)
    policy = fields.get("p", "").lower() or None
    subdomain_policy = fields.get("sp", "").lower() or None
    rua = [address for address in fields.get("rua", "").split(",") if address]
    percent: int | None = None
    if "pct" in fields:
        try:
            percent = int(fields["pct"])
        except ValueError:
            say("warning", f"pct={fields['pct']} is not a number; receivers use 100.")
    if policy not in POLICIES:
        say(
            "problem",
            "The DMARC record has no valid policy (p=none, p=quarantine or p=reject): "
            "receivers ignore it, as if there were none.",
        )
    elif policy == "none":
        say(
            "warning",
            "DMARC policy is p=none: enough for Gmail's and Yahoo's bulk sender rules, but "
            "mail that fails the check is still delivered, so anyone can spoof the domain. "
            "Move to p=quarantine once the reports look clean.",
        )
    else:
        say("ok", f"DMARC policy is p={policy}: mail that fails the check is {_fate(policy)}.")
    if percent is not None and 0 <= percent < 100 and policy in {"quarantine", "reject"}:
        say("warning", f"pct={percent}: the policy applies to only {percent}% of failing mail.")
    if not rua:
        say(
            "warning",
            "No rua= address: nobody receives the daily DMARC reports, so failures go "
            "unnoticed. Add rua=mailto:an-address-you-read.",
        )
    else:
        say("ok", f"DMARC reports go to {', '.join(rua)}.")
    return DmarcResult(record, policy, subdomain_policy, percent, rua, findings)


def _fate(policy: str) -> str:
    return "sent to spam" if policy == "quarantine" else "rejected"
