"""Public tracking endpoints used by mail clients: pixel, link redirect, unsubscribe.

No login and no API key: the signed token in the URL is the only credential.
Pixel and cached-link hits are normally answered by the fast path in front of
Quart (`webapp/web/tracklayer.py`), with the same behaviour as these routes.
The pixel answers its GIF whatever happens, so a bad token or a database
failure never breaks an email's rendering. A link whose email is gone (a
discarded draft's, which a rep may have previewed) is a 404 page, like a bad
link, and is forgotten by the link cache. A honeypot token on `/t/c/` (the
invisible link only scanners follow) is recorded and answered with an empty page.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, redirect, render_template, request
from sqlalchemy import select

from webapp.core.logs import get_logger
from webapp.core.models import Contact, Content
from webapp.tracking.events import (
    ClickEvent,
    HoneypotEvent,
    OpenEvent,
    Outcome,
    UnsubscribeEvent,
)
from webapp.tracking.hits import LinkTarget, make_hit
from webapp.web.hooks import client_ip
from webapp.web.services import Services, services
from webapp.web.serving import PIXEL, PIXEL_HEADERS

blueprint = Blueprint("track", __name__, url_prefix="/t")
log = get_logger(__name__)

CLICK_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
NOT_VALID = "This link is not valid. If you copied it from an email, check it is complete."
EMAIL_GONE = "This email no longer exists, so there is nothing to unsubscribe from."
"""The 404 page of an unsubscribe link whose email is gone (a discarded draft's)."""
EMPTY_PAGE = '<!doctype html><html lang="en"><head><title>Tune</title></head><body></body></html>'


def _hit() -> Any:
    tune = services()
    return make_hit(
        user_agent=request.headers.get("User-Agent"),
        ip=client_ip(tune.config),
        method=request.method,
        salt=tune.ip_salt,
    )


@blueprint.route("/o/<token>.gif", methods=["GET", "HEAD"])
async def pixel(token: str) -> Response:
    """Record an open (unless the token is bad) and always answer the GIF."""
    tune = services()
    content_id = tune.signer.read_open(token)
    if content_id is not None:
        try:
            await tune.writer.record(OpenEvent(content_id, source="pixel", hit=_hit()))
        except Exception as exc:  # never break the email: log and serve the GIF
            log.warning("pixel_not_recorded", error=type(exc).__name__)
    return Response(PIXEL, status=200, headers=PIXEL_HEADERS)


@blueprint.route("/c/<token>", methods=["GET", "HEAD"])
async def click(token: str) -> Any:
    """Redirect to the URL stored for this link of this content, and record the click."""
    tune = services()
    parsed = tune.signer.read_click(token)
    if parsed is None:
        honeypot = tune.signer.read_honeypot(token)
        if honeypot is not None:
            return await _honeypot(honeypot)
        return await _not_found()
    target = await link_target(tune, parsed)
    if target is None:
        return await _not_found()
    if not target.url.lower().startswith(("http://", "https://")):
        return await _not_found()  # only web links are ever stored; refuse anything else
    content_id = parsed[0]
    try:
        outcome = await tune.writer.record(
            ClickEvent(content_id, source="link", link_id=target.link_id, hit=_hit())
        )
    except Exception as exc:  # the reader still gets where they were going
        log.warning("click_not_recorded", error=type(exc).__name__)
    else:
        if outcome is Outcome.UNKNOWN_TARGET:  # its email is gone (a discarded draft)
            forget_link(tune, parsed)
            return await _not_found()
    response = redirect(target.url, code=302)
    response.headers.update(CLICK_HEADERS)
    return response


async def _honeypot(content_id: int) -> Any:
    """The invisible link: only scanners follow it. Recorded, and answered with an empty page."""
    try:
        await services().writer.record(HoneypotEvent(content_id, hit=_hit()))
    except Exception as exc:
        log.warning("honeypot_not_recorded", error=type(exc).__name__)
    headers = {
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex",
    }
    return EMPTY_PAGE, 200, headers


async def link_target(tune: Services, parsed: tuple[int, int]) -> LinkTarget | None:
    """The stored URL of link `position` of content `content_id`: cached, else read (with
    the other misses waiting at the same moment, tracking/links.py)."""
    return await tune.link_reads.get(parsed)


def forget_link(tune: Services, parsed: tuple[int, int]) -> None:
    """Forget the cached link of an email the writer found gone: the link left with it."""
    tune.link_reads.cache.discard(parsed)


@blueprint.get("/u/<token>")
async def unsubscribe_page(token: str) -> Any:
    """Ask for confirmation; mail clients' one-click POST skips this page."""
    target = await _unsubscribe_target(token)
    if isinstance(target, str):
        return await _not_found(target)
    _, contact = target
    return await _unsubscribe_answer(token, contact, done=contact.unsubscribed_at is not None)


@blueprint.post("/u/<token>")
async def unsubscribe(token: str) -> Any:
    """RFC 8058 one-click unsubscribe (body `List-Unsubscribe=One-Click`, or none)."""
    target = await _unsubscribe_target(token)
    if isinstance(target, str):
        return await _not_found(target)
    content_id, contact = target
    await services().writer.record(UnsubscribeEvent(content_id, source="unsubscribe", hit=_hit()))
    return await _unsubscribe_answer(token, contact, done=True)


async def _unsubscribe_target(token: str) -> tuple[int, Contact] | str:
    """The email and contact an unsubscribe token names, or why there are none (the
    404 page's message)."""
    tune = services()
    content_id = tune.signer.read_unsubscribe(token)
    if content_id is None:
        return NOT_VALID
    async with tune.db.read() as session:
        contact = await _contact_of(session, content_id)
    return EMAIL_GONE if contact is None else (content_id, contact)


async def _unsubscribe_answer(token: str, contact: Contact, *, done: bool) -> Any:
    html = await render_template("unsubscribe.html", token=token, email=contact.email, done=done)
    return html, 200, {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


async def _contact_of(session: Any, content_id: int) -> Contact | None:
    return await session.scalar(
        select(Contact)
        .join(Content, Content.contact_id == Contact.id)
        .where(Content.id == content_id)
    )


async def _not_found(message: str = NOT_VALID) -> Any:
    html = await render_template("error.html", status=404, title="Link not found", message=message)
    return html, 404, {"Referrer-Policy": "no-referrer"}
