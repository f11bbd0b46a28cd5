"""The dashboard: server-rendered pages and their HTMX partials (the `ui` blueprint).

Every page needs a signed-in user except the sign-in page itself (the public
tracking endpoints live in `track`). Every unsafe request carries the session's
CSRF token. Routes stay thin: parse the request, call a plain function that
takes the session first, render a template.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from quart import (
    Blueprint,
    Quart,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.accounts import apikeys, users
from webapp.campaigns import dashboard, timeline
from webapp.campaigns import queries as campaigns
from webapp.campaigns import status as statuses
from webapp.core.common import TIERS
from webapp.core.config import Config
from webapp.core.errors import NotFound, RateLimited, TuneError, ValidationFailed
from webapp.core.logs import get_logger
from webapp.core.models import Campaign, Contact, ImportJob, Prospect, utcnow
from webapp.outbound.contents import (
    TrackingUrls,
    links_of,
    merge_context,
    save_template,
    sender_name_of,
    templates_of,
)
from webapp.outbound.sending import sender as sending
from webapp.outbound.templates.render import (
    DEFAULT_TEMPLATES,
    SAMPLE_CONTEXT,
    EmailTemplate,
    render_email,
    validate_template,
)
from webapp.prospects import queries as prospects
from webapp.prospects.queries import get_prospect, parse_tier
from webapp.tracking.live import LiveHub, sse_message
from webapp.web.csrf import check_csrf, csrf_token, rotate
from webapp.web.hooks import CSP, client_ip
from webapp.web.pagination import (
    CAMPAIGN_KEY,
    TIER_KEY,
    PageRequest,
    encode_cursor,
    page_request,
)
from webapp.web.services import services
from webapp.web.ui import charts
from webapp.workspace.outcomes import OUTCOMES

blueprint = Blueprint("ui", __name__)
log = get_logger(__name__)

HUB = "tune_live"
THROTTLE = "tune_login_throttle"
PUBLIC_ENDPOINTS = {"ui.login", "ui.login_submit"}
CAMPAIGNS_PER_PAGE = 25
PROSPECTS_PER_PAGE = 25
REPORT_ERRORS_SHOWN = 100
KEEPALIVE_SECONDS = 15.0

# Pages with an email preview: the srcdoc iframe inherits this policy, and emails are
# styled inline. Scripts stay 'self' only, and the iframe is sandboxed without scripts.
PREVIEW_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "img-src 'self' data:", "img-src 'self' data: https:"
)


# --- wiring ----------------------------------------------------------------------------


def install(app: Quart, config: Config) -> None:
    """Register the blueprint, template helpers, login throttle and the live hub."""
    app.register_blueprint(blueprint)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", 7 * 24 * 3600)
    app.add_template_filter(fmt_number, "num")
    app.add_template_filter(fmt_percent, "pct")
    app.add_template_filter(fmt_time, "utc")
    app.add_template_global(csrf_token, "csrf_token")
    app.extensions[THROTTLE] = users.LoginThrottle(config.ratelimit_storage_uri)

    @app.context_processor
    async def current_user() -> dict[str, Any]:
        return {"current_user": g.get("user")}

    @app.while_serving
    async def live_updates() -> AsyncGenerator[None, None]:
        tune = services()
        hub = LiveHub(tune.db, render=lambda campaign_id: render_live(app, campaign_id))
        hub.start()
        app.extensions[HUB] = hub
        previous_on_commit = tune.writer.on_commit

        def on_commit(campaign_ids: set[int]) -> None:
            hub.notify(campaign_ids)
            if previous_on_commit is not None:
                previous_on_commit(campaign_ids)

        tune.writer.on_commit = on_commit
        restore = _end_streams_on_signal(hub)
        try:
            yield
        finally:
            restore()
            tune.writer.on_commit = previous_on_commit
            app.extensions.pop(HUB, None)
            await hub.stop()


def _end_streams_on_signal(hub: LiveHub) -> Any:
    """Close live streams as soon as the server is told to stop.

    uvicorn waits for open responses before it shuts the app down, and a live
    stream never ends by itself; so the stop signal also ends the streams.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    saved: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(signum)
        if not callable(current) or current is signal.default_int_handler:
            continue  # not a server's handler (tests, plain scripts): leave it alone

        def handler(number: int, frame: Any, chained: Any = current) -> None:
            loop.call_soon_threadsafe(hub.close_streams)
            chained(number, frame)

        saved[signum] = current
        signal.signal(signum, handler)

    def restore() -> None:
        for number, original in saved.items():
            with contextlib.suppress(ValueError):
                signal.signal(number, original)

    return restore


def hub() -> LiveHub:
    live: LiveHub = current_app.extensions[HUB]
    return live


# --- formatting helpers ----------------------------------------------------------------


def fmt_number(value: int | float | None) -> str:
    """1234 → "1,234"; None → "–"."""
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def fmt_percent(value: float | None) -> str:
    """0.1234 → "12.3%"; None (nothing sent) → "–"."""
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_time(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


# --- request plumbing --------------------------------------------------------------------


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


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


# --- sign in / out -----------------------------------------------------------------------


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
        await throttle.check(email, address)
    except RateLimited as error:
        html = await render_template("login.html", next=target, email=email, error=error.message)
        return html, 429, {"Retry-After": str(error.retry_after)}
    async with services().db.read() as db_session:
        user = await users.check_credentials(db_session, email, password)
    if user is None:
        await throttle.failed(email, address)
        html = await render_template(
            "login.html", next=target, email=email, error="Wrong email or password."
        )
        return html, 401
    await throttle.succeeded(email)
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
    session.clear()
    rotate()
    return redirect("/login", 303)


# --- campaigns ---------------------------------------------------------------------------


@blueprint.get("/campaigns")
async def campaign_list() -> Any:
    return await _campaign_list_page()


async def _campaign_list_page(
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status: int = 200
) -> Any:
    page = page_request(request.args, CAMPAIGN_KEY, CAMPAIGNS_PER_PAGE)
    async with services().db.read() as db_session:
        rows, next_key = await dashboard.campaign_rows(db_session, page)
        industries = await campaigns.list_industries(db_session)
    html = await render_template(
        "campaigns.html",
        rows=rows,
        next_cursor=encode_cursor(next_key) if next_key else None,
        paged=page.after is not None,
        industries=industries,
        errors=errors or {},
        values=values or {},
    )
    return html, status


@blueprint.post("/campaigns")
async def campaign_create() -> Any:
    form = await request.form
    values = {"name": form.get("name", ""), "industry": form.get("industry", "")}
    try:
        async with services().db.write() as db_session:
            campaign = await campaigns.create_campaign(
                db_session, values["name"], values["industry"]
            )
    except ValidationFailed as error:
        return await _campaign_list_page({error.field or "form": error.message}, values, 422)
    return redirect(f"/campaigns/{campaign.id}", 303)


async def live_context(db_session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """What the live parts of a campaign page show (page and pushed updates alike)."""
    figures = await dashboard.campaign_figures(db_session, campaign.id)
    activity = await timeline.latest_activity(db_session, campaign.id)
    series = await dashboard.activity_series(db_session, campaign)
    from webapp.web.ui.workspace import followups_context

    return {
        **await followups_context(db_session, campaign.id),
        "campaign": campaign,
        "figures": figures,
        "activity": activity,
        "chart": charts.line_chart(series.starts, series.values, series.unit),
        "updated_at": utcnow(),
    }


async def render_live(app: Quart, campaign_id: int) -> str:
    """The live fragments of a campaign page, as out-of-band swaps (for SSE and polling)."""
    tune: Any = app.extensions["tune"]
    async with tune.db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        context = await live_context(db_session, campaign)
    async with app.app_context():
        return await render_template("_live.html", **context)


async def _tiers_context(db_session: AsyncSession, campaign_id: int, search: str) -> dict[str, Any]:
    sizes = await dashboard.tier_sizes(db_session, campaign_id)
    tiers = {}
    for tier in TIERS:
        rows, next_key = await dashboard.search_tier(
            db_session, campaign_id, tier, search, PageRequest(PROSPECTS_PER_PAGE, None)
        )
        tiers[tier] = {"rows": rows, "next_cursor": encode_cursor(next_key) if next_key else None}
    return {"sizes": sizes, "tiers": tiers, "search": search, "campaign_id": campaign_id}


@blueprint.get("/campaigns/<int:campaign_id>")
async def campaign_page(campaign_id: int) -> Any:
    search = dashboard.clean_search(request.args.get("q"))
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        tiers = await _tiers_context(db_session, campaign_id, search)
        if request.headers.get("HX-Target") == "tiers":
            return await render_template("_tiers.html", **tiers)
        context = await live_context(db_session, campaign)
        job = await _import_job(db_session, campaign_id, request.args.get("import"))
        send_context = await sending_context(db_session, campaign_id)
        status = await statuses.campaign_status(db_session, campaign)
    return await render_template(
        "campaign.html",
        **context,
        campaign_status=status,
        status_labels=statuses.LABELS,
        **tiers,
        **send_context,
        job=job,
        shown_errors=REPORT_ERRORS_SHOWN,
    )


@blueprint.post("/campaigns/<int:campaign_id>/pause")
async def campaign_pause(campaign_id: int) -> Any:
    """Hold the campaign's queued emails back until a rep resumes it."""
    async with services().db.write() as db_session:
        await statuses.pause(db_session, campaign_id)
    log.info("campaign_paused", campaign_id=campaign_id, user_id=g.user.id)
    return redirect(f"/campaigns/{campaign_id}", 303)


@blueprint.post("/campaigns/<int:campaign_id>/resume")
async def campaign_resume(campaign_id: int) -> Any:
    tune = services()
    async with tune.db.write() as db_session:
        await statuses.resume(db_session, campaign_id)
    if tune.sender is not None:
        tune.sender.wake()
    log.info("campaign_resumed", campaign_id=campaign_id, user_id=g.user.id)
    return redirect(f"/campaigns/{campaign_id}", 303)


@blueprint.get("/campaigns/<int:campaign_id>/tiers/<int:tier>")
async def tier_rows(campaign_id: int, tier: int) -> Any:
    """More rows of one tier (the "Show more" button), keyset-paged."""
    tier = parse_tier(tier)
    search = dashboard.clean_search(request.args.get("q"))
    page = page_request(request.args, TIER_KEY, PROSPECTS_PER_PAGE)
    async with services().db.read() as db_session:
        await campaigns.get_campaign(db_session, campaign_id)
        rows, next_key = await dashboard.search_tier(db_session, campaign_id, tier, search, page)
    return await render_template(
        "_tier_rows.html",
        rows=rows,
        tier=tier,
        campaign_id=campaign_id,
        search=search,
        next_cursor=encode_cursor(next_key) if next_key else None,
    )


@blueprint.get("/campaigns/<int:campaign_id>/live")
async def campaign_live(campaign_id: int) -> Any:
    """Server-Sent Events: the campaign's live fragments, pushed when its counters move."""
    async with services().db.read() as db_session:
        await campaigns.get_campaign(db_session, campaign_id)
    live = hub()

    async def stream() -> AsyncIterator[bytes]:
        async with live.subscribe(campaign_id) as queue:
            yield b"retry: 3000\n\n"
            snapshot = await live.snapshot(campaign_id)
            yield sse_message("update", snapshot.html)
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if item is None:
                    return
                if item.version != snapshot.version:
                    snapshot = item
                    yield sse_message("update", item.html)

    response = Response(
        stream(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.timeout = None
    return response


@blueprint.get("/campaigns/<int:campaign_id>/live/poll")
async def campaign_poll(campaign_id: int) -> Any:
    """The same fragments for browsers without a live stream (polled every 5 s)."""
    async with services().db.read() as db_session:
        await campaigns.get_campaign(db_session, campaign_id)
    snapshot = await hub().snapshot(campaign_id)
    return snapshot.html


# --- import ------------------------------------------------------------------------------


async def _import_job(
    db_session: AsyncSession, campaign_id: int, raw_id: str | None
) -> ImportJob | None:
    """The import asked for, or else the campaign's latest one."""
    query = select(ImportJob).where(ImportJob.campaign_id == campaign_id)
    if raw_id and raw_id.isdigit():
        query = query.where(ImportJob.id == int(raw_id))
    return await db_session.scalar(query.order_by(ImportJob.id.desc()).limit(1))


@blueprint.post("/campaigns/<int:campaign_id>/import")
async def campaign_import(campaign_id: int) -> Any:
    """Start a CSV import in the background; the page polls its progress and report."""
    files = await request.files
    upload = files.get("file")
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
    if upload is None or not upload.filename:
        return await _import_answer(campaign, None, "Choose a CSV file to import.", 422)
    data = upload.read()
    async with services().db.write() as db_session:
        job_id = (await prospects.start_import(db_session, campaign_id, upload.filename)).id
    current_app.add_background_task(_run_import, campaign_id, data, upload.filename, job_id)
    if not is_htmx():
        return redirect(f"/campaigns/{campaign_id}?import={job_id}#import", 303)
    async with services().db.read() as db_session:
        job = await prospects.get_import(db_session, job_id)
    return await _import_answer(campaign, job, None, 202)


async def _run_import(campaign_id: int, data: bytes, source: str, job_id: int) -> None:
    """The importer records progress and the outcome on the job; this only logs surprises."""
    tune = services()
    try:
        await prospects.import_csv(tune.db, campaign_id, data, source=source, job_id=job_id)
    except TuneError as error:
        log.info("import_refused", job_id=job_id, reason=error.message)
    except Exception:
        log.exception("import_failed", job_id=job_id)
        async with tune.db.write() as db_session:
            job = await db_session.get(ImportJob, job_id)
            if job is not None and job.status == "running":
                job.status = "failed"
                job.errors = [*(job.errors or []), {"line": 0, "reason": "the import failed"}]
                job.finished_at = utcnow()


async def _import_answer(
    campaign: Campaign, job: ImportJob | None, error: str | None, status: int
) -> Any:
    html = await render_template(
        "_import.html",
        campaign=campaign,
        job=job,
        import_error=error,
        shown_errors=REPORT_ERRORS_SHOWN,
    )
    if is_htmx():
        # Show the message in place even when it is an error.
        return html, 200 if status >= 400 else status
    if job is None:
        return await render_template(
            "error.html", status=status, title="Import", message=error
        ), status
    return html, status


@blueprint.get("/campaigns/<int:campaign_id>/imports/<int:job_id>")
async def import_status(campaign_id: int, job_id: int) -> Any:
    """Progress of an import, then its report (polled by the page until it finishes)."""
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        job = await db_session.get(ImportJob, job_id)
    if job is None or job.campaign_id != campaign_id:
        raise NotFound(f"import {job_id} does not exist")
    html = await render_template(
        "_import.html",
        campaign=campaign,
        job=job,
        import_error=None,
        shown_errors=REPORT_ERRORS_SHOWN,
    )
    # When it is over, the prospect lists refresh themselves (`tune:imported`).
    headers = {"HX-Trigger": "tune:imported"} if job.status != "running" and is_htmx() else {}
    return html, 200, headers


# --- prospects ---------------------------------------------------------------------------


@blueprint.get("/prospects/<int:prospect_id>")
async def prospect_page(prospect_id: int) -> Any:
    tune = services()
    async with tune.db.read() as db_session:
        prospect = await get_prospect(db_session, prospect_id)
        campaign = await campaigns.get_campaign(db_session, prospect.campaign_id)
        contents = await timeline.contents_of_prospect(db_session, prospect_id)
        links = await links_of(db_session, [content.id for content in contents.values()])
        events = await timeline.prospect_timeline(db_session, prospect_id)
    previews = {
        contact_id: timeline.preview_html(content.html, links[content.id], tune.signer)
        for contact_id, content in contents.items()
    }
    html = await render_template(
        "prospect.html",
        prospect=prospect,
        campaign=campaign,
        best=dashboard.best_contact(list(prospect.contacts)),
        contents=contents,
        previews=previews,
        events=events,
        outcome_labels=OUTCOMES,
    )
    return html, 200, {"Content-Security-Policy": PREVIEW_CSP}


# --- templates ---------------------------------------------------------------------------


async def _sample_context(db_session: AsyncSession, campaign: Campaign, tier: int) -> Any:
    """A real contact of the tier when there is one, else Tune's sample contact."""
    row = (
        await db_session.execute(
            select(Contact, Prospect)
            .join(Prospect, Prospect.id == Contact.prospect_id)
            .where(Prospect.campaign_id == campaign.id, Prospect.tier == tier)
            .order_by(Prospect.hot.desc(), Prospect.score.desc(), Contact.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return SAMPLE_CONTEXT, SAMPLE_CONTEXT["contact"]["email"]
    contact, prospect = row
    sender = sender_name_of(services().config.smtp_from)
    return merge_context(campaign, prospect, contact, sender), contact.email


def render_preview(subject: str, html: str, context: Any) -> dict[str, Any]:
    """A preview of a template for one contact, or the error with its line."""
    try:
        validate_template(subject, html)
        email = render_email(EmailTemplate(subject, html), context)
    except ValidationFailed as error:
        return {"error": error.message, "field": error.field, "line": error.details.get("line")}
    return {"subject": email.subject, "html": email.html}


@blueprint.get("/campaigns/<int:campaign_id>/templates")
async def templates_page(campaign_id: int) -> Any:
    saved = request.args.get("saved", "")
    return await _templates_page(campaign_id, saved=int(saved) if saved.isdigit() else None)


async def _templates_page(
    campaign_id: int,
    edited: dict[int, tuple[str, str]] | None = None,
    errors: dict[int, dict[str, Any]] | None = None,
    saved: int | None = None,
    status: int = 200,
) -> Any:
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        rows = await templates_of(db_session, campaign_id)
        forms = {}
        for tier in TIERS:
            default = DEFAULT_TEMPLATES[tier]
            row = rows.get(tier)
            subject, html = (edited or {}).get(tier) or (
                (row.subject, row.html) if row else (default.subject, default.html)
            )
            context, sample = await _sample_context(db_session, campaign, tier)
            forms[tier] = {
                "subject": subject,
                "html": html,
                "sample": sample,
                "preview": render_preview(subject, html, context),
                "error": (errors or {}).get(tier),
            }
    html_page = await render_template("templates.html", campaign=campaign, forms=forms, saved=saved)
    return html_page, status, {"Content-Security-Policy": PREVIEW_CSP}


@blueprint.post("/campaigns/<int:campaign_id>/templates/<int:tier>")
async def template_save(campaign_id: int, tier: int) -> Any:
    form = await request.form
    subject, html = form.get("subject", ""), form.get("html", "")
    try:
        async with services().db.write() as db_session:
            await save_template(db_session, campaign_id, tier, subject, html)
    except ValidationFailed as error:
        problem = {
            "message": error.message,
            "field": error.field,
            "line": error.details.get("line"),
        }
        return await _templates_page(
            campaign_id, {tier: (subject, html)}, {tier: problem}, status=422
        )
    return redirect(f"/campaigns/{campaign_id}/templates?saved={tier}#tier-{tier}", 303)


@blueprint.post("/campaigns/<int:campaign_id>/templates/<int:tier>/preview")
async def template_preview(campaign_id: int, tier: int) -> Any:
    """Re-render the preview as the user types (HTMX, on input)."""
    tier = parse_tier(tier)
    form = await request.form
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        context, sample = await _sample_context(db_session, campaign, tier)
    preview = render_preview(form.get("subject", ""), form.get("html", ""), context)
    html = await render_template("_preview.html", preview=preview, tier=tier, sample=sample)
    return html, 200, {"Content-Security-Policy": PREVIEW_CSP}


# --- API keys ----------------------------------------------------------------------------


async def _keys_page(
    created: apikeys.CreatedKey | None = None, error: str | None = None, status: int = 200
) -> Any:
    async with services().db.read() as db_session:
        keys = await apikeys.list_keys(db_session)
    html = await render_template("keys.html", keys=keys, created=created, error=error)
    return html, status


@blueprint.get("/keys")
async def keys_page() -> Any:
    return await _keys_page()


@blueprint.post("/keys")
async def key_create() -> Any:
    form = await request.form
    try:
        async with services().db.write() as db_session:
            created = await apikeys.create_key(db_session, form.get("name", ""))
    except ValidationFailed as error:
        return await _keys_page(error=error.message, status=422)
    log.info("api_key_created_in_dashboard", key_id=created.id, user_id=g.user.id)
    return await _keys_page(created=created)


@blueprint.post("/keys/<int:key_id>/revoke")
async def key_revoke(key_id: int) -> Any:
    async with services().db.write() as db_session:
        await apikeys.revoke_key(db_session, key_id)
    log.info("api_key_revoked_in_dashboard", key_id=key_id, user_id=g.user.id)
    return redirect("/keys", 303)


async def sending_context(db_session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """What the sending panel shows: emails per send status and the relay's state."""
    tune = services()
    counts = await sending.send_progress(db_session, campaign_id)
    return {
        "send_counts": counts,
        "send_pending": sending.pending(counts),
        "circuit": tune.sender.circuit if tune.sender else None,
        "smtp_configured": bool(tune.config.smtp_url),
    }


async def _sending_panel(campaign_id: int, notice: str | None = None) -> Any:
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        context = await sending_context(db_session, campaign_id)
    return await render_template("_sending.html", campaign=campaign, send_notice=notice, **context)


@blueprint.get("/campaigns/<int:campaign_id>/sending")
async def sending_panel(campaign_id: int) -> Any:
    """Send progress; the panel polls itself only while emails are pending."""
    return await _sending_panel(campaign_id)


@blueprint.post("/campaigns/<int:campaign_id>/send")
async def campaign_send(campaign_id: int) -> Any:
    """ "Send tier N": write missing emails and queue the drafts; pressing twice sends once."""
    form = await request.form
    tier = prospects.parse_tier(form["tier"]) if form.get("tier") else None
    tune = services()
    written, summary = await sending.write_and_queue(
        tune.db,
        campaign_id,
        tier,
        TrackingUrls(tune.config.base_url, tune.signer),
        sender_name_of(tune.config.smtp_from),
    )
    if tune.sender is not None:
        tune.sender.wake()
    log.info("campaign_queued_in_dashboard", campaign_id=campaign_id, tier=tier, user_id=g.user.id)
    which = f"tier {tier}" if tier else "all tiers"
    notice = (
        f"Queued {fmt_number(summary.queued)} emails of {which} ({fmt_number(written)} "
        f"written now, {fmt_number(summary.unchanged)} already queued or sent)."
    )
    if is_htmx():
        return await _sending_panel(campaign_id, notice)
    return redirect(f"/campaigns/{campaign_id}#sending", 303)
