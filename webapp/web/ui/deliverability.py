"""The deliverability page: a form for a sending domain and its DKIM selector, and the report.

The report is the `_deliverability.html` partial; with HTMX (`HX-Request`) this route
answers the partial alone, so another page (a mailbox's, for its domain) can either
include the partial with a `report` it computed, or load it without blocking its own
rendering: `<div hx-get="/deliverability?domain=…&dkim_selector=…" hx-trigger="load"
hx-swap="outerHTML"></div>`.
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
    if is_htmx():
        # HTMX swaps only 2xx answers: the partial carries the error itself (role=alert).
        html = await render_template("_deliverability.html", report=report, error=error)
        return html, 200, headers
    html = await render_template(
        "deliverability.html",
        report=report,
        error=error,
        field=field,
        domain=domain,
        selector=selector,
    )
    return html, status, headers
