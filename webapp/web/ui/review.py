"""The send review page: "Send tier N" opens it, its confirm sends (`sending.py`).

Opening it writes the emails still missing (a POST, then a redirect to the page),
so what the page shows are the stored drafts the send will queue, built into
messages exactly as the sender builds them. "Send a test to me" delivers one of
them to the signed-in user through the same relay, marked as a test and untracked.
"""

from __future__ import annotations

from typing import Any

from quart import g, redirect, render_template, request

from webapp.campaigns import queries as campaigns
from webapp.campaigns.timeline import preview_html
from webapp.core.errors import ServiceUnavailable, ValidationFailed
from webapp.core.logs import get_logger
from webapp.outbound import review
from webapp.outbound.contents import TrackingUrls, generate_contents
from webapp.prospects.queries import parse_tier
from webapp.web.ratelimit import RateLimiter
from webapp.web.services import services
from webapp.web.ui import PREVIEW_CSP, blueprint

log = get_logger(__name__)

FIRST_EMAILS = 3
"""Emails shown on the review when no contact is picked."""
TEST_RATE = "10/hour"
"""Test sends per user: enough to check a template, not a way to mail anyone."""
_TEST_LIMITERS: dict[str, RateLimiter] = {}


def _urls() -> TrackingUrls:
    tune = services()
    return TrackingUrls(tune.config.base_url, tune.signer)


def _tier(raw: str | None) -> int | None:
    return parse_tier(raw) if raw else None


def _review_url(campaign_id: int, tier: int | None, **extra: object) -> str:
    query = "&".join(f"{key}={value}" for key, value in (("tier", tier), *extra.items()) if value)
    return f"/campaigns/{campaign_id}/send/review" + (f"?{query}" if query else "")


async def review_page(
    campaign_id: int,
    tier: int | None,
    *,
    contact_id: int | None = None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Any:
    """The review of a send of `tier` (every tier when None), optionally showing one contact."""
    tune = services()
    async with tune.db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        counts = await review.review_counts(db_session, campaign_id, tier)
        emails = await review.reviewed_emails(
            db_session,
            tune.config,
            _urls(),
            campaign_id,
            tier,
            limit=1 if contact_id is not None else FIRST_EMAILS,
            contact_id=contact_id,
        )
        choices = await review.recipient_choices(db_session, campaign_id, tier)
    shown = [
        {
            "email": email,
            "preview": preview_html(email.content.html, email.links, tune.signer),
        }
        for email in emails
    ]
    html = await render_template(
        "send_review.html",
        campaign=campaign,
        tier=tier,
        counts=counts,
        exclusions=review.EXCLUSIONS,
        shown=shown,
        picked=contact_id,
        choices=choices,
        notice=notice,
        error=error,
        user_email=g.user.email,
        paused=campaign.status == "paused",
    )
    return html, status, {"Content-Security-Policy": PREVIEW_CSP}


@blueprint.post("/campaigns/<int:campaign_id>/send/review")
async def send_review_open(campaign_id: int) -> Any:
    """ "Send tier N": write the emails still missing, then show the review (PRG)."""
    form = await request.form
    tier = _tier(form.get("tier"))
    tune = services()
    await generate_contents(tune.db, campaign_id, _urls())
    return redirect(_review_url(campaign_id, tier), 303)


@blueprint.get("/campaigns/<int:campaign_id>/send/review")
async def send_review(campaign_id: int) -> Any:
    raw_contact = request.args.get("contact", "")
    contact_id = int(raw_contact) if raw_contact.isdigit() else None
    address = request.args.get("email", "").strip()
    if address and contact_id is None:
        async with services().db.read() as db_session:
            contact_id = await review.contact_by_email(db_session, campaign_id, address)
        if contact_id is None:
            return await review_page(
                campaign_id,
                _tier(request.args.get("tier")),
                error=f"No contact of this campaign has the address {address}.",
                status=404,
            )
    notice = None
    if request.args.get("test") == "sent":
        notice = f"A test went to {g.user.email}, marked as a test and not tracked."
    return await review_page(
        campaign_id, _tier(request.args.get("tier")), contact_id=contact_id, notice=notice
    )


def _limiter() -> RateLimiter:
    storage = services().config.ratelimit_storage_uri
    limiter = _TEST_LIMITERS.get(storage)
    if limiter is None:
        limiter = _TEST_LIMITERS[storage] = RateLimiter(TEST_RATE, storage, "tune-test-send")
    return limiter


@blueprint.post("/campaigns/<int:campaign_id>/send/test")
async def send_review_test(campaign_id: int) -> Any:
    """Send one contact's email to the signed-in user, as a test (then back to the review)."""
    form = await request.form
    tier = _tier(form.get("tier"))
    raw_contact = form.get("contact", "")
    if not raw_contact.isdigit():
        raise ValidationFailed("choose whose email to send as a test", field="contact")
    contact_id = int(raw_contact)
    tune = services()
    decision = await _limiter().hit(f"user:{g.user.id}")
    if not decision.allowed:
        return await review_page(
            campaign_id,
            tier,
            contact_id=contact_id,
            error=f"Test sends are limited to {TEST_RATE}; try again in "
            f"{decision.reset_after // 60 + 1} minutes.",
            status=429,
        )
    async with tune.db.read() as db_session:
        await review.contact_in_campaign(db_session, campaign_id, contact_id)
        emails = await review.reviewed_emails(
            db_session, tune.config, _urls(), campaign_id, None, limit=1, contact_id=contact_id
        )
    if not emails:
        raise ValidationFailed("this contact's email is not written yet", field="contact")
    message = review.message_for_test(tune.config, _urls(), tune.signer, emails[0], g.user.email)
    relay = tune.sender.relay if tune.sender is not None else None
    try:
        await review.send_test(tune.config, relay, message)
    except ServiceUnavailable as problem:
        return await review_page(
            campaign_id, tier, contact_id=contact_id, error=problem.message, status=503
        )
    log.info("test_email_sent", campaign_id=campaign_id, contact_id=contact_id, user_id=g.user.id)
    return redirect(_review_url(campaign_id, tier, contact=contact_id, test="sent"), 303)
