"""The Mailboxes page: the sending identities, their caps, health and state, and what a
rep does to them (add, change, pause, resume, delete); and the campaign form that
picks the mailboxes a campaign sends from.

Every form posts, then redirects (post/redirect/get). A password typed into a URL is
stored sealed and never rendered again: the page shows URLs masked (`***`), the edit
form is filled with the masked URL (sent back as it is, it keeps the password), and
a form refused for an error is shown again with the password masked too.
"""

from __future__ import annotations

from typing import Any

from quart import g, redirect, render_template, request

from webapp.core.errors import TuneError
from webapp.core.logs import get_logger
from webapp.mailboxes import store
from webapp.mailboxes.progress import mailbox_state, mailbox_states
from webapp.web.services import services
from webapp.web.ui import blueprint

log = get_logger(__name__)
NUMBERS = ("daily_cap", "hourly_cap", "min_gap_seconds", "warmup_start", "warmup_step")


def _fields(form: Any) -> dict[str, Any]:
    """The form's fields as the domain takes them (blank numbers: left as they are)."""
    data: dict[str, Any] = {
        name: form.get(name, "")
        for name in ("name", "from_address", "from_name", "smtp_url", "imap_url", "signature")
        if name in form
    }
    for name in NUMBERS:
        value = (form.get(name) or "").strip()
        if value:
            data[name] = value
        elif name == "warmup_start" and name in form:
            data[name] = None
    return data


def _masked(form: Any) -> dict[str, str]:
    """The form to show again after an error, every password masked."""
    shown = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    for name in ("smtp_url", "imap_url"):
        if shown.get(name):
            try:
                shown[name] = store.mask_url(shown[name])[0]
            except ValueError:  # not even a URL: nothing of it is shown again
                shown[name] = ""
    return shown


async def _list_page(error: str | None = None, form: Any = None, status: int = 200) -> Any:
    tune = services()
    async with tune.db.read() as db_session:
        states = await mailbox_states(
            db_session, tune.mailbox_slots(), await store.list_mailboxes(db_session)
        )
    html = await render_template(
        "mailboxes.html", states=states, error=error, form=_masked(form) if form else {}
    )
    return html, status


@blueprint.get("/mailboxes")
async def mailboxes_page() -> Any:
    return await _list_page()


@blueprint.post("/mailboxes")
async def mailbox_create() -> Any:
    form = await request.form
    tune = services()
    try:
        async with tune.db.write() as db_session:
            mailbox = await store.create_mailbox(db_session, tune.config, _fields(form))
    except TuneError as error:
        return await _list_page(error=error.message, form=form, status=422)
    log.info("mailbox_created_in_dashboard", mailbox=mailbox.name, user_id=g.user.id)
    # Its inbox is read now; a sender waiting for its first mailbox sends now.
    tune.mailboxes_changed(may_send=True)
    return redirect("/mailboxes", 303)


async def _edit_page(
    name: str, error: str | None = None, form: Any = None, status: int = 200
) -> Any:
    tune = services()
    async with tune.db.read() as db_session:
        mailbox = await store.get_mailbox(db_session, name)
        state = await mailbox_state(db_session, tune.mailbox_slots(), mailbox)
    html = await render_template(
        "mailbox.html",
        state=state,
        mailbox=mailbox,
        error=error,
        form=_masked(form) if form else None,
    )
    return html, status


@blueprint.get("/mailboxes/<name>")
async def mailbox_page(name: str) -> Any:
    return await _edit_page(name)


@blueprint.post("/mailboxes/<name>")
async def mailbox_change(name: str) -> Any:
    form = await request.form
    tune = services()
    try:
        async with tune.db.write() as db_session:
            mailbox = await store.update_mailbox(db_session, tune.config, name, _fields(form))
    except TuneError as error:
        return await _edit_page(name, error=error.message, form=form, status=422)
    log.info("mailbox_changed_in_dashboard", mailbox=mailbox.name, user_id=g.user.id)
    tune.mailboxes_changed()  # a new or changed IMAP URL is read from now
    return redirect(f"/mailboxes/{mailbox.name}", 303)


@blueprint.post("/mailboxes/<name>/pause")
async def mailbox_pause(name: str) -> Any:
    async with services().db.write() as db_session:
        await store.pause_mailbox(db_session, name, f"paused by {g.user.email}")
    return redirect("/mailboxes", 303)


@blueprint.post("/mailboxes/<name>/resume")
async def mailbox_resume(name: str) -> Any:
    tune = services()
    async with tune.db.write() as db_session:
        await store.resume_mailbox(db_session, name)
    if tune.sender is not None:
        tune.sender.wake()
    log.info("mailbox_resumed_in_dashboard", mailbox=name, user_id=g.user.id)
    return redirect("/mailboxes", 303)


@blueprint.post("/mailboxes/<name>/delete")
async def mailbox_delete(name: str) -> Any:
    tune = services()
    async with tune.db.write() as db_session:
        await store.delete_mailbox(db_session, name)
    tune.mailboxes_changed()  # its inbox is no longer read
    log.info("mailbox_deleted_in_dashboard", mailbox=name, user_id=g.user.id)
    return redirect("/mailboxes", 303)


@blueprint.post("/campaigns/<int:campaign_id>/mailboxes")
async def campaign_mailboxes_change(campaign_id: int) -> Any:
    """The campaign's "Send from" choice (none ticked: the default mailbox)."""
    form = await request.form
    async with services().db.write() as db_session:
        await store.set_campaign_mailboxes(db_session, campaign_id, form.getlist("mailboxes"))
    return redirect(f"/campaigns/{campaign_id}#sending", 303)
