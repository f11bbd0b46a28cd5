"""CSRF protection for the dashboard: one random token per browser session.

Every state-changing request to a page (forms and HTMX calls alike) must carry
the session's token, in the `csrf_token` form field or the `X-CSRF-Token`
header (base.html sets it on every HTMX request through `hx-headers`). The
JSON API is not covered: it authenticates with API keys, never cookies.
"""

from __future__ import annotations

import hmac
import secrets

from quart import request, session

from webapp.core.errors import Forbidden

SESSION_KEY = "csrf"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """The session's token, created on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def rotate() -> str:
    """A fresh token (after sign-in and sign-out)."""
    session.pop(SESSION_KEY, None)
    return csrf_token()


async def check_csrf() -> None:
    """Raise `Forbidden` for an unsafe request without the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(SESSION_KEY)
    presented = request.headers.get(HEADER)
    if not presented:
        form = await request.form
        presented = form.get(FORM_FIELD)
    if (
        not isinstance(expected, str)
        or not presented
        or not hmac.compare_digest(presented.encode(), expected.encode())
    ):
        raise Forbidden(
            "the form has expired or did not come from Tune; reload the page and try again"
        )
