"""Signing in and out of the dashboard, and the check in front of every page.

Sign-in attempts are throttled per account and client address, and per client
address (`webapp.accounts.users.LoginThrottle`). A session is valid while it
carries the user's current fingerprint (password and session version): signing
out moves the version on, so no copy of the cookie outlives it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from quart import Quart, Response, current_app, g, redirect, render_template, request, session

from webapp.accounts import users
from webapp.core.config import Config
from webapp.core.errors import RateLimited
from webapp.core.logs import get_logger
from webapp.web.csrf import check_csrf, rotate
from webapp.web.hooks import client_ip
from webapp.web.services import services
from webapp.web.ui import blueprint, is_htmx

log = get_logger(__name__)

THROTTLE = "tune_login_throttle"
PUBLIC_ENDPOINTS = {"ui.login", "ui.login_submit"}


def install(app: Quart, config: Config) -> None:
    # Quart already has a default (31 days), so this must be set, not `setdefault`.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=config.session_lifetime_days)
    app.extensions[THROTTLE] = users.LoginThrottle(config.ratelimit_storage_uri)


def safe_next(target: str | None) -> str:
    """Only same-site paths: `/campaigns/3`, never `//evil.example` or a full URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/followups"
    return target


@blueprint.before_request
async def require_login() -> Any:
    """Load the signed-in user; send everyone else to the sign-in page; check CSRF."""
    g.user = None
    user_id = session.get("uid")
    if isinstance(user_id, int):
        async with services().db.read() as db_session:
            user = await users.get_user(db_session, user_id)
        if user is not None and session.get("auth") == users.fingerprint(user):
            g.user = user
        else:
            session.pop("uid", None)
            session.pop("auth", None)
    if request.endpoint not in PUBLIC_ENDPOINTS and g.user is None:
        if is_htmx() or request.accept_mimetypes.best == "text/event-stream":
            return Response("sign in required", 401, {"HX-Redirect": "/login"})
        target = request.full_path.rstrip("?") if request.method == "GET" else "/followups"
        return redirect("/login?" + urlencode({"next": target}))
    await check_csrf()
    return None


@blueprint.after_request
async def no_store(response: Response) -> Response:
    """Pages show private figures and carry a CSRF token: never cache them."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.vary.update(("HX-Request", "HX-Target"))
    return response


@blueprint.get("/")
async def home() -> Any:
    return redirect("/followups")


@blueprint.get("/login")
async def login() -> Any:
    if g.user is not None:
        return redirect(safe_next(request.args.get("next")))
    return await render_template("login.html", next=safe_next(request.args.get("next")))


@blueprint.post("/login")
async def login_submit() -> Any:
    form = await request.form
    email, password = form.get("email", ""), form.get("password", "")
    target = safe_next(form.get("next"))
    throttle: users.LoginThrottle = current_app.extensions[THROTTLE]
    address = client_ip(services().config)
    try:
        await throttle.reserve(email, address)
    except RateLimited as error:
        html = await render_template("login.html", next=target, email=email, error=error.message)
        return html, 429, {"Retry-After": str(error.retry_after)}
    async with services().db.read() as db_session:
        user = await users.check_credentials(db_session, email, password)
    if user is None:
        html = await render_template(
            "login.html", next=target, email=email, error="Wrong email or password."
        )
        return html, 401
    await throttle.succeeded(email, address)
    async with services().db.write() as db_session:
        await users.record_login(db_session, user.id)
    session.clear()
    session["uid"] = user.id
    session["auth"] = users.fingerprint(user)
    session.permanent = True
    rotate()
    log.info("user_signed_in", user_id=user.id)
    return redirect(target, 303)


@blueprint.post("/logout")
async def logout() -> Any:
    """Sign out: the user's session version moves on, so no copy of this cookie works."""
    async with services().db.write() as db_session:
        await users.end_sessions(db_session, g.user.id)
    log.info("user_signed_out", user_id=g.user.id)
    session.clear()
    rotate()
    return redirect("/login", 303)
