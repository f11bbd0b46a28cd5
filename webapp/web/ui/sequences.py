"""Dashboard pages for sequences: the campaign's sequence panel, the step template editor
with its thread preview, and the prospect page's Stop / Pause / Resume."""

from __future__ import annotations

from typing import Any

from quart import redirect, render_template, request
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns import queries as campaigns
from webapp.core.errors import Conflict, ValidationFailed
from webapp.outbound.contents import sample_context, sender_name_of
from webapp.outbound.templates.sandbox import EmailTemplate
from webapp.sequences import control, figures, settings, steps
from webapp.sequences.preview import thread_preview
from webapp.sequences.variants import LABELS, MAX_VARIANTS
from webapp.web.services import services
from webapp.web.ui import PREVIEW_CSP, blueprint, is_htmx

CONDITIONS = {
    "no_reply": "no reply yet",
    "no_reply_no_open": "no reply, not opened",
    "opened_no_reply": "opened, no reply",
    "clicked_no_reply": "clicked, no reply",
}
TIER_KEYS = ("all", "1", "2", "3")


def _sender_name() -> str:
    return sender_name_of(services().config.smtp_from)


# --- the campaign's sequence panel ------------------------------------------------------


async def sequence_context(session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """What the sequence panel shows, beside the `campaign` its page already has."""
    campaign = await campaigns.get_campaign(session, campaign_id)
    return {
        "steps": await figures.sequence_json(session, campaign_id, with_totals=False),
        "settings": settings.settings_json(campaign),
        "conditions": CONDITIONS,
    }


async def _panel(campaign_id: int, notice: str | None = None, error: str | None = None) -> Any:
    async with services().db.read() as session:
        campaign = await campaigns.get_campaign(session, campaign_id)
        context = await sequence_context(session, campaign_id)
    html = await render_template(
        "_sequence.html",
        campaign=campaign,
        sequence_notice=notice,
        sequence_error=error,
        **context,
    )
    if is_htmx():
        return html
    return redirect(f"/campaigns/{campaign_id}#sequence", 303)


@blueprint.get("/campaigns/<int:campaign_id>/sequence")
async def sequence_panel(campaign_id: int) -> Any:
    return await _panel(campaign_id)


def _step_changes(form: Any) -> dict[str, Any]:
    return {
        "delay": form.get("delay", ""),
        "condition": form.get("condition", "no_reply"),
        "as_reply": form.get("as_reply") == "true",
    }


async def _change(campaign_id: int, notice: str, work: Any) -> Any:
    """Run a change; the panel comes back with its notice, or with the refusal in an alert
    (HTMX swaps only 2xx answers; without HTMX a refusal is the readable error page)."""
    try:
        async with services().db.write() as session:
            await work(session)
    except (ValidationFailed, Conflict) as error:
        if not is_htmx():
            raise
        return await _panel(campaign_id, error=error.message)
    if not is_htmx():  # post/redirect/get: a reload must not repeat the change
        return redirect(f"/campaigns/{campaign_id}#sequence", 303)
    return await _panel(campaign_id, notice=notice)


@blueprint.post("/campaigns/<int:campaign_id>/steps")
async def step_add(campaign_id: int) -> Any:
    changes = _step_changes(await request.form)

    async def work(session: AsyncSession) -> None:
        await steps.add_step(session, campaign_id, **changes)

    return await _change(campaign_id, "Follow-up added.", work)


@blueprint.post("/campaigns/<int:campaign_id>/steps/<int:position>")
async def step_edit(campaign_id: int, position: int) -> Any:
    changes = _step_changes(await request.form)

    async def work(session: AsyncSession) -> None:
        await steps.update_step(session, campaign_id, position, changes)

    return await _change(campaign_id, f"Step {position} saved.", work)


@blueprint.post('/campaigns/<int:campaign_id>/steps/<int:position>/<any("up", "down"):move>')
async def step_move(campaign_id: int, position: int, move: str) -> Any:
    target = position - 1 if move == "up" else position + 1

    async def work(session: AsyncSession) -> None:
        await steps.update_step(session, campaign_id, position, {"position": target})

    return await _change(campaign_id, f"Step {position} is now step {target}.", work)


@blueprint.post("/campaigns/<int:campaign_id>/steps/<int:position>/toggle")
async def step_toggle(campaign_id: int, position: int) -> Any:
    async def work(session: AsyncSession) -> None:
        step = await steps.get_step(session, campaign_id, position)
        await steps.update_step(session, campaign_id, position, {"enabled": not step.enabled})

    return await _change(campaign_id, f"Step {position} switched.", work)


@blueprint.post("/campaigns/<int:campaign_id>/steps/<int:position>/delete")
async def step_delete(campaign_id: int, position: int) -> Any:
    async def work(session: AsyncSession) -> None:
        await steps.delete_step(session, campaign_id, position)

    return await _change(campaign_id, f"Step {position} deleted.", work)


@blueprint.post("/campaigns/<int:campaign_id>/sequence/settings")
async def sequence_settings(campaign_id: int) -> Any:
    form = await request.form
    changes = {
        "send_days": "".join(form.getlist("send_days")),
        "send_from_hour": form.get("send_from_hour", ""),
        "send_until_hour": form.get("send_until_hour", ""),
        "timezone": form.get("timezone", ""),
        "account_stop": form.get("account_stop") == "true",
        "winner_metric": form.get("winner_metric", ""),
    }

    async def work(session: AsyncSession) -> None:
        await settings.update_settings(session, campaign_id, changes)

    return await _change(campaign_id, "Sequence settings saved.", work)


# --- step templates ---------------------------------------------------------------------


def _variant_arg() -> str:
    value = request.args.get("variant", "A").upper()
    return value if value in LABELS else "A"


async def _templates_page(
    campaign_id: int,
    position: int,
    variant: str,
    edited: dict[str, tuple[str, str]] | None = None,
    errors: dict[str, dict[str, Any]] | None = None,
    saved: str | None = None,
    status: int = 200,
) -> Any:
    number = LABELS.index(variant)
    async with services().db.read() as session:
        campaign = await campaigns.get_campaign(session, campaign_id)
        step = await steps.get_step(session, campaign_id, position)
        count = await steps.variant_count(session, step.id)
        stored = {
            (row.variant, row.tier): row for row in await steps.template_rows(session, step.id)
        }
        forms = {}
        for key in TIER_KEYS:
            if position == 1 and number == 0:
                break
            tier = 0 if key == "all" else int(key)
            row = stored.get((number, tier))
            fallback = (await steps.load_templates(session, step)).pick(number, tier or 1)
            subject, html = (edited or {}).get(key) or (
                (row.subject, row.html) if row else (fallback.subject, fallback.html)
            )
            context, sample = await sample_context(session, campaign, tier or 1, _sender_name())
            forms[key] = {
                "subject": subject,
                "html": html,
                "stored": row is not None,
                "sample": sample,
                "preview": await thread_preview(
                    session, campaign_id, position, tier, EmailTemplate(subject, html), context
                ),
                "error": (errors or {}).get(key),
            }
    variants = [LABELS[v] for v in range(max(count, number + 1))]
    next_variant = LABELS[len(variants)] if len(variants) < MAX_VARIANTS else None
    page = await render_template(
        "step_templates.html",
        campaign=campaign,
        step=step,
        variant=variant,
        variants=variants,
        next_variant=next_variant,
        forms=forms,
        saved=saved,
    )
    return page, status, {"Content-Security-Policy": PREVIEW_CSP}


@blueprint.get("/campaigns/<int:campaign_id>/steps/<int:position>/templates")
async def step_templates_page(campaign_id: int, position: int) -> Any:
    variant = _variant_arg()
    if position == 1 and variant == "A":
        return redirect(f"/campaigns/{campaign_id}/templates", 303)
    return await _templates_page(
        campaign_id, position, variant, saved=request.args.get("saved") or None
    )


@blueprint.post(
    '/campaigns/<int:campaign_id>/steps/<int:position>/templates/<any("all", "1", "2", "3"):key>'
)
async def step_template_save(campaign_id: int, position: int, key: str) -> Any:
    variant = _variant_arg()
    form = await request.form
    subject, html = form.get("subject", ""), form.get("html", "")
    try:
        async with services().db.write() as session:
            await steps.save_step_template(
                session, campaign_id, position, key, subject, html, variant
            )
    except ValidationFailed as error:
        problem = {
            "message": error.message,
            "field": error.field,
            "line": error.details.get("line"),
        }
        return await _templates_page(
            campaign_id, position, variant, {key: (subject, html)}, {key: problem}, status=422
        )
    return redirect(
        f"/campaigns/{campaign_id}/steps/{position}/templates?variant={variant}&saved={key}"
        f"#tier-{key}",
        303,
    )


@blueprint.post(
    "/campaigns/<int:campaign_id>/steps/<int:position>/templates/"
    '<any("all", "1", "2", "3"):key>/preview'
)
async def step_template_preview(campaign_id: int, position: int, key: str) -> Any:
    """Re-render the thread preview as the user types (HTMX, on input)."""
    form = await request.form
    tier = 0 if key == "all" else int(key)
    async with services().db.read() as session:
        campaign = await campaigns.get_campaign(session, campaign_id)
        context, sample = await sample_context(session, campaign, tier or 1, _sender_name())
        preview = await thread_preview(
            session,
            campaign_id,
            position,
            tier,
            EmailTemplate(form.get("subject", ""), form.get("html", "")),
            context,
        )
    html = await render_template("_thread_preview.html", preview=preview, sample=sample)
    return html, 200, {"Content-Security-Policy": PREVIEW_CSP}


# --- the prospect page's controls --------------------------------------------------------


async def position_context(session: AsyncSession, prospect_id: int) -> dict[str, Any]:
    return {"positions": await control.positions(session, prospect_id)}


@blueprint.post('/prospects/<int:prospect_id>/sequence/<any("stop", "pause", "resume"):action>')
async def prospect_sequence(prospect_id: int, action: str) -> Any:
    form = await request.form
    error = None
    try:
        async with services().db.write() as session:
            if action == "stop":
                changed = await control.stop_prospect(session, prospect_id)
            elif action == "pause":
                until = control.parse_until(form.get("until"))
                changed = await control.pause_prospect(session, prospect_id, until)
            else:
                changed = await control.resume_prospect(session, prospect_id)
    except ValidationFailed as problem:
        if not is_htmx():
            raise
        changed, error = 0, problem.message
    done = {"stop": "stopped", "pause": "paused", "resume": "resumed"}[action]
    notice = None if error else f"{changed} contact(s) {done}."
    if not is_htmx():
        return redirect(f"/prospects/{prospect_id}#sequence-position", 303)
    async with services().db.read() as session:
        prospect = await session.get(control.Prospect, prospect_id)
        context = await position_context(session, prospect_id)
    return await render_template(
        "_sequence_position.html",
        prospect=prospect,
        sequence_notice=notice,
        sequence_error=error,
        **context,
    )
