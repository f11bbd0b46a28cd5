"""The per-tier email template editor, with a live preview for a real contact."""

from __future__ import annotations

from typing import Any

from quart import redirect, render_template, request

from webapp.campaigns import queries as campaigns
from webapp.core.common import TIERS
from webapp.core.errors import ValidationFailed
from webapp.outbound.contents import sample_context, save_template, sender_name_of, templates_of
from webapp.outbound.templates.defaults import DEFAULT_TEMPLATES
from webapp.outbound.templates.isolation import check_template
from webapp.prospects.queries import parse_tier
from webapp.web.services import services
from webapp.web.ui import PREVIEW_CSP, blueprint


async def render_preview(subject: str, html: str, context: Any) -> dict[str, Any]:
    """A preview of a template for one contact (rendered in a template worker), or the error."""
    try:
        email = await check_template(subject, html, context)
    except ValidationFailed as error:
        return {"error": error.message, "field": error.field, "line": error.details.get("line")}
    assert email is not None
    return {"subject": email.subject, "html": email.html}


def _sender_name() -> str:
    return sender_name_of(services().config.smtp_from)


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
            context, sample = await sample_context(db_session, campaign, tier, _sender_name())
            forms[tier] = {
                "subject": subject,
                "html": html,
                "sample": sample,
                "preview": await render_preview(subject, html, context),
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
        context, sample = await sample_context(db_session, campaign, tier, _sender_name())
    preview = await render_preview(form.get("subject", ""), form.get("html", ""), context)
    html = await render_template("_preview.html", preview=preview, tier=tier, sample=sample)
    return html, 200, {"Content-Security-Policy": PREVIEW_CSP}
