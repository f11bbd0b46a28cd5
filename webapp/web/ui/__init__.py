"""The dashboard: server-rendered pages and their HTMX partials (the `ui` blueprint).

Every page needs a signed-in user except the sign-in page itself (the public
tracking endpoints live in `webapp.web.track`). Every unsafe request carries the
session's CSRF token. Routes stay thin: parse the request, call a domain function
that takes the session first, render a template. One module per part of the
dashboard registers its routes on the one blueprint below: `auth` (sign in/out and
the login check), `campaigns`, `live` (SSE and polling), `imports`, `templates`,
`keys`, `webhooks`, `mailboxes`, `review` (the send review), `sending`, `replies`
(what the mailbox brought), `sequences`, `workspace` (the follow-up list and the rep's
outcomes), `deliverability` (a sending domain's DNS records); `filters` formats figures,
`charts` draws the activity chart.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Quart, g, request

from webapp.core.config import Config
from webapp.web.csrf import csrf_token
from webapp.web.hooks import CSP

blueprint = Blueprint("ui", __name__)

# Pages with an email preview: the srcdoc iframe inherits this policy, and emails are
# styled inline. Scripts stay 'self' only, and the iframe is sandboxed without scripts.
PREVIEW_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "img-src 'self' data:", "img-src 'self' data: https:"
)


def install(app: Quart, config: Config) -> None:
    """Register the blueprint, template helpers, login throttle and the live hub."""
    from webapp.prospects.jobs import progress_percent
    from webapp.web.ui import (
        auth,
        campaigns,
        deliverability,
        filters,
        imports,
        keys,
        live,
        mailboxes,
        replies,
        review,
        sending,
        sequences,
        templates,
        webhooks,
        workspace,
    )

    # Imported for their routes.
    del (
        campaigns,
        deliverability,
        imports,
        keys,
        mailboxes,
        replies,
        review,
        sending,
        sequences,
        templates,
        webhooks,
    )
    app.register_blueprint(blueprint)
    filters.install(app)
    app.add_template_global(csrf_token, "csrf_token")
    app.add_template_global(progress_percent, "import_percent")
    auth.install(app, config)
    live.install(app)
    workspace.install(app)

    @app.context_processor
    async def current_user() -> dict[str, Any]:
        return {"current_user": g.get("user")}


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"
