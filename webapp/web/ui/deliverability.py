"""The deliverability page: a form for a sending domain and its DKIM selector, and the report.

The report is the `_deliverability.html` partial, which a mailbox's page can include
for its own domain; with HTMX the form swaps only the partial.
"""

from __future__ import annotations

from typing import Any

from quart import g, render_template, request

from webapp.core import metrics
from webapp.core.errors import RateLimited, ServiceUnavailable, ValidationFailed
from webapp.deliverability import Report, Resolver, check_domain
from webapp.web.services import services
from webapp.web.ui import blueprint, is_htmx


@blueprint.get("/deliverability")
async def deliverability_page() -> Any:
    domain = request.args.get("domain", "").strip()[:300]
    selector = request.args.get("dkim_selector", "").strip()[:200]
    report: Report | None = None
    error: str | None = None
    field: str | None = None
    status = 200
    headers: dict[str, str] = {}
    if domain:
        tune = services()
        decision = await tune.limiter.hit(f"deliverability-user:{g.user.id}")
        if not decision.allowed:
            metrics.RATE_LIMITED.inc()
            raise RateLimited(
                f"too many checks; retry in {decision.reset_after} s",
                retry_after=decision.reset_after,
            )
        resolver = Resolver(tune.config.dns_nameservers, tune.config.dns_timeout)
        try:
            report = await check_domain(domain, selector or None, resolver=resolver)
        except ValidationFailed as failed:
            error, field, status = failed.message, failed.field, failed.status
        except ServiceUnavailable as unavailable:
            error, status = unavailable.message, unavailable.status
            headers["Retry-After"] = str(unavailable.retry_after)
    template = "_deliverability.html" if is_htmx() else "deliverability.html"
    html = await render_template(
        template, report=report, error=error, field=field, domain=domain, selector=selector
    )
    return html, status, headers
