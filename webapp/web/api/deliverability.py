"""`/api/deliverability`: the SPF, DKIM and DMARC check of a sending domain."""

from __future__ import annotations

from typing import Literal

from quart_schema import validate_querystring, validate_response

from webapp.deliverability import Report, Resolver, check_domain
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Shape, Text
from webapp.web.services import services

Severity = Literal["ok", "warning", "problem"]


class DeliverabilityQuery(Shape):
    domain: Text
    """The sending domain (acme.com); an address (ana@acme.com) or a URL is read as its domain."""
    dkim_selector: Text | None = None
    """The DKIM selector your provider signs with (google, selector1, ...)."""


class FindingShape(Shape):
    check: Literal["domain", "spf", "dkim", "dmarc"]
    severity: Severity
    message: str
    """What it means, in plain words."""


class SpfShape(Shape):
    severity: Severity
    records: list[str]
    lookups: int | None
    """DNS lookups an evaluation needs, through includes; more than 10 fails."""
    all_qualifier: str | None


class DkimShape(Shape):
    severity: Severity
    selector: str | None
    name: str | None
    record: str | None
    key_type: str | None
    key_bits: int | None
    revoked: bool


class DmarcShape(Shape):
    severity: Severity
    record: str | None
    policy: str | None
    subdomain_policy: str | None
    percent: int | None
    rua: list[str]


class DeliverabilityReport(Shape):
    """The verdict on a sending domain: `severity` is the worst of its findings."""

    domain: str
    exists: bool
    severity: Severity
    spf: SpfShape | None
    dkim: DkimShape | None
    dmarc: DmarcShape | None
    findings: list[FindingShape]
    """Problems first, then warnings, then what is fine."""


def resolver() -> Resolver:
    config = services().config
    return Resolver(config.dns_nameservers, config.dns_timeout)


@blueprint.get("/deliverability")
@validate_querystring(DeliverabilityQuery)
@validate_response(DeliverabilityReport)
async def deliverability(query_args: DeliverabilityQuery) -> DeliverabilityReport:
    """Look up the domain's SPF, DKIM (for `dkim_selector`) and DMARC records and say what a
    receiver such as Gmail will make of them. 503 with `Retry-After` when DNS does not answer
    within `DNS_TIMEOUT`."""
    report: Report = await check_domain(
        query_args.domain, query_args.dkim_selector, resolver=resolver()
    )
    return DeliverabilityReport.model_validate(report)
