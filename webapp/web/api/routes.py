"""The JSON API: every route needs an API key and counts against its rate limit."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.accounts import apikeys
from webapp.campaigns import queries as campaigns
from webapp.campaigns import stats, timeline
from webapp.core import metrics
from webapp.core.errors import (
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from webapp.core.models import utcnow
from webapp.outbound import contents
from webapp.prospects import queries as prospects
from webapp.sequences import control
from webapp.tracking import events
from webapp.web.inputs import int_param, params
from webapp.web.pagination import page, page_request
from webapp.web.services import services

blueprint = Blueprint("api", __name__, url_prefix="/api")


def presented_key() -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


@blueprint.before_request
async def authenticate_and_limit() -> None:
    """Check the API key, then count the request against that key's rate limit."""
    key = presented_key()
    if key is None:
        raise Unauthorized("an API key is required: send it in the X-API-Key header")
    tune = services()
    row = await apikeys.authenticate(tune.db, key)
    if row is None:
        raise Unauthorized("the API key is not valid or has been revoked")
    g.api_key_id = row.id
    now = utcnow()
    if apikeys.needs_touch(row, now):
        async with tune.db.write() as session:
            await apikeys.touch(session, row.id, now)
    decision = await tune.limiter.hit(f"key:{row.key_hash[:24]}")
    g.extra_headers = decision.headers()
    if not decision.allowed:
        metrics.RATE_LIMITED.inc()
        raise RateLimited(
            f"rate limit of {tune.config.rate_limit} exceeded; retry in {decision.reset_after} s",
            retry_after=decision.reset_after,
        )
    for name, value in (request.view_args or {}).items():
        # An id beyond its column's range names nothing (and must not fail in the driver).
        if isinstance(value, int) and value > MAX_IDS.get(name, 2**63 - 1):
            raise NotFound(f"{name} {value} does not exist")


MAX_IDS = {"campaign_id": 2**31 - 1}
"""Campaign ids are 32-bit integers; prospect, contact and content ids 64-bit."""


@blueprint.get("/industries")
async def list_industries() -> Any:
    async with services().db.read() as session:
        rows = await campaigns.list_industries(session)
    return {"items": [campaigns.industry_json(row) for row in rows], "next_cursor": None}


@blueprint.post("/campaigns/create")
async def create_campaign() -> Any:
    values = await params()
    async with services().db.write() as session:
        campaign = await campaigns.create_campaign(
            session, values.get("name"), values.get("industry")
        )
        body = campaigns.campaign_json(campaign)
    return {"campaign_id": body["id"], **body}, 201


@blueprint.get("/campaigns")
async def list_campaigns() -> Any:
    request_page = page_request(request.args, arity=1)
    async with services().db.read() as session:
        rows, next_key = await campaigns.list_campaigns(session, request_page)
        items = [campaigns.campaign_json(row) for row in rows]
    return page(items, next_key)


@blueprint.get("/campaigns/<int:campaign_id>")
async def get_campaign(campaign_id: int) -> Any:
    async with services().db.read() as session:
        campaign = await campaigns.get_campaign(session, campaign_id)
        counts = await campaigns.campaign_counts(session, campaign_id)
        return {**campaigns.campaign_json(campaign), "counts": counts}


@blueprint.get("/campaigns/<int:campaign_id>/prospects/<tier>")
async def prospects_in_tier(campaign_id: int, tier: str) -> Any:
    tier_number = prospects.parse_tier(tier)
    request_page = page_request(request.args, arity=3)
    async with services().db.read() as session:
        await campaigns.get_campaign(session, campaign_id)
        rows, next_key = await prospects.prospects_in_tier(
            session, campaign_id, tier_number, request_page
        )
        items = [prospects.prospect_json(row) for row in rows]
    return page(items, next_key)


@blueprint.post("/campaigns/<int:campaign_id>/prospects")
async def import_prospects(campaign_id: int) -> Any:
    """Import a JSON array of row objects or a CSV body; `?strict=1` is all or nothing."""
    tune = services()
    limit = tune.config.max_upload_bytes
    try:
        if (request.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        data: bytes = await request.body
    except RequestEntityTooLarge:
        raise PayloadTooLarge(prospects.too_large_message(limit)) from None
    summary = await prospects.import_upload(
        tune.db,
        campaign_id,
        data,
        request.mimetype,
        strict=prospects.strict_flag(request.args.get("strict")),
        source="api",
    )
    return summary.as_json(), 201 if summary.created else 200


@blueprint.post("/campaigns/<int:campaign_id>/analyse")
async def analyse_campaign(campaign_id: int) -> Any:
    """Re-score every prospect of the campaign with its industry's current profile."""
    summary = await prospects.analyse_campaign(services().db, campaign_id)
    return summary.as_json()


@blueprint.get("/prospects/<int:prospect_id>")
async def get_prospect(prospect_id: int) -> Any:
    async with services().db.read() as session:
        prospect = await prospects.get_prospect(session, prospect_id)
        written = await timeline.contents_of_prospect(session, prospect_id)
        entries = await timeline.prospect_timeline(session, prospect_id)
        positions = await control.positions(session, prospect_id)
    emails = [content for thread in written.values() for content in thread]
    return {**prospects.prospect_detail_json(prospect, emails, entries), "sequence": positions}


TRACKING_KINDS: dict[str, type[events.TrackedEvent]] = {
    "email-opened": events.OpenEvent,
    "email-clicked": events.ClickEvent,
    "email-replied": events.ReplyEvent,
}


@blueprint.post('/tracking/<any("email-opened", "email-clicked", "email-replied"):kind>')
async def track(kind: str) -> Any:
    """Record an event reported by a script (e.g. a reply seen in a CRM)."""
    values = await params()
    content_id = int_param(values, "content_id")
    contact_id = int_param(values, "contact_id")
    assert content_id is not None and contact_id is not None
    event = TRACKING_KINDS[kind](content_id=content_id, contact_id=contact_id, source="api")
    try:
        outcome = await services().writer.record(event)
    except Exception as exc:
        raise ServiceUnavailable("the event could not be stored; retry") from exc
    if outcome is events.Outcome.UNKNOWN_TARGET:
        raise NotFound(f"content {content_id} of contact {contact_id} does not exist")
    return {"status": "tracked"}


@blueprint.get("/campaigns/<int:campaign_id>/stats")
async def campaign_stats(campaign_id: int) -> Any:
    async with services().db.read() as session:
        return await stats.campaign_stats(session, campaign_id)


def tracking_urls() -> contents.TrackingUrls:
    tune = services()
    return contents.TrackingUrls(tune.config.base_url, tune.signer)


@blueprint.post("/campaigns/<int:campaign_id>/contents/generate")
async def generate_contents(campaign_id: int) -> Any:
    """Write the email of every contact that has none yet (idempotent)."""
    tune = services()
    summary = await contents.generate_contents(
        tune.db, campaign_id, tracking_urls(), contents.sender_name_of(tune.config.smtp_from)
    )
    return {"campaign_id": campaign_id, **summary.as_json()}


@blueprint.get("/campaigns/<int:campaign_id>/contents")
async def list_contents(campaign_id: int) -> Any:
    request_page = page_request(request.args, arity=1)
    async with services().db.read() as session:
        campaign = await campaigns.get_campaign(session, campaign_id)
        rows, next_key = await contents.list_contents(session, campaign_id, request_page)
        links = await contents.links_of(session, [row.id for row in rows])
    urls = tracking_urls()
    items = [
        contents.content_json(row, links[row.id], urls, campaign.tracking_enabled) for row in rows
    ]
    return page(items, next_key)


@blueprint.get("/contents/<int:content_id>")
async def get_content(content_id: int) -> Any:
    async with services().db.read() as session:
        content = await contents.get_content(session, content_id)
        campaign = await campaigns.get_campaign(session, content.campaign_id)
        links = await contents.links_of(session, [content_id])
    return contents.content_json(
        content, links[content_id], tracking_urls(), campaign.tracking_enabled
    )


# --- sending ----------------------------------------------------------------------------


@blueprint.post("/campaigns/<int:campaign_id>/send")
async def send_campaign(campaign_id: int) -> Any:
    """Write missing emails, then queue the campaign's drafts (of `tier`, or all); idempotent."""
    from webapp.outbound.sending import sender as sending

    values = await params()
    raw_tier = values.get("tier")
    tier = None if raw_tier in (None, "") else prospects.parse_tier(raw_tier)
    tune = services()
    generated, summary = await sending.write_and_queue(
        tune.db, campaign_id, tier, tracking_urls(), contents.sender_name_of(tune.config.smtp_from)
    )
    async with tune.db.read() as session:
        counts = await sending.send_progress(session, campaign_id)
    if tune.sender is not None:
        tune.sender.wake()
    return {
        "campaign_id": campaign_id,
        "tier": tier,
        "generated": generated,
        **summary.as_json(),
        "counts": counts,
    }, 202


@blueprint.get("/campaigns/<int:campaign_id>/sending")
async def sending_progress(campaign_id: int) -> Any:
    """Emails per send status, and this server's sender and circuit breaker."""
    from webapp.outbound.sending import sender as sending

    tune = services()
    async with tune.db.read() as session:
        await campaigns.get_campaign(session, campaign_id)
        counts = await sending.send_progress(session, campaign_id)
    sender = tune.sender
    return {
        "campaign_id": campaign_id,
        "counts": counts,
        "pending": sending.pending(counts),
        "sender": {
            "running": bool(sender and sender.running),
            "circuit": sender.circuit if sender else None,
        },
    }


@blueprint.get("/campaigns/<int:campaign_id>/export.mbox")
async def export_mbox(campaign_id: int) -> Any:
    """Every email as a ready RFC 5322 message (mboxrd), streamed."""
    from quart import Response

    from webapp.outbound import export

    tune = services()
    await export.check_campaign(tune.db, campaign_id)
    body = export.export_mbox(tune.db, tune.config, tracking_urls(), campaign_id)
    return Response(
        body,
        mimetype="application/mbox",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.mbox"'},
    )


@blueprint.get("/campaigns/<int:campaign_id>/export.csv")
async def export_csv(campaign_id: int) -> Any:
    """One row per email with the contact and its tracked content, streamed."""
    from quart import Response

    from webapp.outbound import export

    tune = services()
    tracking = await export.check_campaign(tune.db, campaign_id)
    body = export.export_csv(tune.db, tracking_urls(), campaign_id, tracking)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )
