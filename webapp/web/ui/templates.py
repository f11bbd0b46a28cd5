"""The per-tier email template editor, with a live preview for a real contact.

A template is written as raw HTML or as plain text with Markdown (`format`); the
editor offers the merge fields a template may use (inserted at the cursor by
static/tune.js) and shows each problem once, with its line.
"""

from __future__ import annotations

from typing import Any

from quart import redirect, render_template, request

from webapp.campaigns import queries as campaigns
from webapp.core.common import TIERS
from webapp.core.errors import ValidationFailed
from webapp.outbound.contents import sample_context, save_template, sender_name_of, templates_of
from webapp.outbound.templates.defaults import DEFAULT_TEMPLATES
from webapp.outbound.templates.isolation import check_template
from webapp.outbound.templates.sandbox import FORMATS, MERGE_FIELDS, describe_problem
from webapp.prospects.queries import parse_tier
from webapp.web.services import services
from webapp.web.ui import PREVIEW_CSP, blueprint


def problem_of(error: ValidationFailed) -> dict[str, Any]:
    """A template error as the editor shows it: one sentence, and the field to mark."""
    line = error.details.get("line")
    return {
        "message": describe_problem(error.message, error.field, line),
        "field": "html" if error.field == "markdown" else error.field,
        "line": line,
    }


@blueprint.app_template_global("template_problem")
def template_problem(message: str, field: str | None, line: int | None) -> str:
    """`describe_problem` for pages that hold an error's parts (the step template editor)."""
    return describe_problem(message, field, line)


def merge_fields() -> list[tuple[str, list[str]]]:
    """The merge menu: each object a template may use, with its fields."""
    return [(owner, sorted(fields)) for owner, fields in MERGE_FIELDS.items()]


def template_format(value: str | None) -> str:
    return value if value in FORMATS else "html"


async def render_preview(
    subject: str, html: str, context: Any, body_format: str = "html"
) -> dict[str, Any]:
    """A preview of a template for one contact (rendered in a template worker), or the error."""
    try:
        email = await check_template(subject, html, context, template_format=body_format)
    except ValidationFailed as error:
        return {"error": problem_of(error)}
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
    edited: dict[int, tuple[str, str, str]] | None = None,
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
            subject, html, body_format = (edited or {}).get(tier) or (
                (row.subject, row.html, row.format)
                if row
                else (default.subject, default.html, default.format)
            )
            context, sample = await sample_context(db_session, campaign, tier, _sender_name())
            error = (errors or {}).get(tier)
            forms[tier] = {
                "subject": subject,
                "html": html,
                "format": body_format,
                "lines": max(html.count("\n") + 1, 16),
                "sample": sample,
                # One message per problem: a form that failed to save shows its error once,
                # above the fields, and the preview pane does not repeat it.
                "preview": None
                if error
                else await render_preview(subject, html, context, body_format),
                "error": error,
            }
    html_page = await render_template(
        "templates.html", campaign=campaign, forms=forms, saved=saved, fields=merge_fields()
    )
    return html_page, status, {"Content-Security-Policy": PREVIEW_CSP}


@blueprint.post("/campaigns/<int:campaign_id>/templates/<int:tier>")
async def template_save(campaign_id: int, tier: int) -> Any:
    form = await request.form
    subject, html = form.get("subject", ""), form.get("html", "")
    body_format = template_format(form.get("format"))
    try:
        async with services().db.write() as db_session:
            await save_template(db_session, campaign_id, tier, subject, html, body_format)
    except ValidationFailed as error:
        return await _templates_page(
            campaign_id,
            {tier: (subject, html, body_format)},
            {tier: problem_of(error)},
            status=422,
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
    preview = await render_preview(
        form.get("subject", ""), form.get("html", ""), context, template_format(form.get("format"))
    )
    html = await render_template("_preview.html", preview=preview, tier=tier, sample=sample)
    return html, 200, {"Content-Security-Policy": PREVIEW_CSP}
