"""Webhook endpoints: where events go, which types they want, and their secrets.

Every change calls `SUBSCRIPTIONS.invalidate()`, the process-wide cache the
event writer consults to know whether an event needs an outbox row at all (so
tracking costs nothing extra while no endpoint wants the event). Other
processes see a change within `Subscriptions.ttl` seconds; the outbox insert
itself re-checks that the endpoint still exists and is active.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.models import WebhookEndpoint, utcnow
from webapp.webhooks.destinations import check_destination
from webapp.webhooks.signing import decrypt_secret, encrypt_secret, new_secret

EVENT_TYPES = (
    "open",
    "click",
    "reply",
    "auto_reply",
    "bounce",
    "complaint",
    "unsubscribe",
    "outcome",
    "prospect.hot",
    "sequence.stopped",
    "send.failed",
    "mailbox.paused",
)
FLAGGABLE = frozenset({"open", "click"})
"""Types whose machine/bot variants are sent only to endpoints with `include_flagged`."""
ROTATION_OVERLAP = timedelta(hours=24)
URL_MAX = 2000


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str
    """The clear secret: shown once, never stored or logged."""


def check_url(url: Any, *, production: bool) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationFailed("url is required", field="url")
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > URL_MAX or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationFailed("url must be an http(s) URL", field="url")
    if production and parts.scheme != "https":
        raise ValidationFailed("url must use https in production", field="url")
    if parts.username or parts.password:
        raise ValidationFailed("url must not carry credentials", field="url")
    return url


def check_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationFailed("events must be a non-empty list of event types", field="events")
    unknown = [str(kind) for kind in events if kind not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}", field="events"
        )
    return [kind for kind in EVENT_TYPES if kind in events]


def check_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str) or len(description) > 200:
        raise ValidationFailed(
            "description must be text of at most 200 characters", field="description"
        )
    return description.strip()


async def create_endpoint(
    session: AsyncSession,
    *,
    app_secret: str,
    url: Any,
    events: Any,
    description: Any = None,
    include_flagged: bool = False,
    production: bool = False,
    allow_private: bool = True,
) -> CreatedEndpoint:
    """A new endpoint; `allow_private` False refuses URLs that reach non-public addresses."""
    checked = check_url(url, production=production)
    await check_destination(checked, allow_private=allow_private)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=checked,
        events=check_events(events),
        description=check_description(description),
        include_flagged=bool(include_flagged),
        active=True,
        secret_encrypted=encrypt_secret(app_secret, secret),
    )
    session.add(endpoint)
    await session.flush()
    SUBSCRIPTIONS.invalidate()
    return CreatedEndpoint(endpoint, secret)


async def get_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} does not exist")
    return endpoint


async def list_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    return list(await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


async def update_endpoint(
    session: AsyncSession,
    endpoint_id: int,
    *,
    production: bool = False,
    allow_private: bool = True,
    url: Any = None,
    events: Any = None,
    description: Any = None,
    include_flagged: bool | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given; switching an endpoint back on clears its failure notice."""
    endpoint = await get_endpoint(session, endpoint_id)
    if url is not None:
        endpoint.url = check_url(url, production=production)
        await check_destination(endpoint.url, allow_private=allow_private)
    if events is not None:
        endpoint.events = check_events(events)
    if description is not None:
        endpoint.description = check_description(description)
    if include_flagged is not None:
        endpoint.include_flagged = bool(include_flagged)
    if active is not None:
        endpoint.active = bool(active)
        if active:
            endpoint.disabled_at = None
            endpoint.disabled_reason = None
            endpoint.failing_since = None
    await session.flush()
    SUBSCRIPTIONS.invalidate()
    return endpoint


async def delete_endpoint(session: AsyncSession, endpoint_id: int) -> None:
    """Delete the endpoint and its outbox: nothing more is sent to it."""
    endpoint = await get_endpoint(session, endpoint_id)
    await session.delete(endpoint)
    await session.flush()
    SUBSCRIPTIONS.invalidate()


async def rotate_secret(
    session: AsyncSession,
    endpoint_id: int,
    *,
    app_secret: str,
    overlap: timedelta = ROTATION_OVERLAP,
    now: datetime | None = None,
) -> str:
    """A new secret; the current one keeps signing too for `overlap`. Returns the new one."""
    endpoint = await get_endpoint(session, endpoint_id)
    secret = new_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = (now or utcnow()) + overlap
    endpoint.secret_encrypted = encrypt_secret(app_secret, secret)
    await session.flush()
    return secret


def signing_secrets(endpoint: Any, app_secret: str, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous during its overlap."""
    found = [decrypt_secret(app_secret, endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        found.append(decrypt_secret(app_secret, endpoint.previous_secret_encrypted))
    return found


# --- which endpoints want which events ----------------------------------------------

ACTIVE_ROUTES = "SELECT id, events, include_flagged FROM webhook_endpoints WHERE active = ?"

Routes = dict[str, tuple[tuple[int, bool], ...]]
"""event type -> (endpoint id, include_flagged) of the active endpoints that want it."""


def build_routes(rows: Iterable[Sequence[Any]]) -> Routes:
    found: dict[str, list[tuple[int, bool]]] = {}
    for endpoint_id, events, include_flagged in rows:
        kinds = json.loads(events) if isinstance(events, str) else events
        for kind in kinds or ():
            found.setdefault(kind, []).append((int(endpoint_id), bool(include_flagged)))
    return {kind: tuple(routes) for kind, routes in found.items()}


class Subscriptions:
    """The routes, cached for `ttl` seconds; `invalidate()` forces a reload in this process."""

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self._routes: Routes = {}
        self._loaded_at = float("-inf")

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at > self.ttl

    def routes(self, load: Callable[[], Iterable[Sequence[Any]]]) -> Routes:
        """The cached routes, reloaded with `load()` (rows of ACTIVE_ROUTES) when stale.

        No lock: `load()` on an async driver hands the event loop to other tasks while
        it waits for the database, and one of them may come here too; a thread lock
        held across that wait blocked the loop's own thread for good. Two loads at
        once read the same rows, and either result is a whole `Routes`.
        """
        if self.stale():
            started = time.monotonic()
            self._routes = build_routes(load())
            self._loaded_at = started
        return self._routes

    async def routes_async(self, session: AsyncSession) -> Routes:
        if self.stale():
            rows = (
                await session.execute(
                    select(
                        WebhookEndpoint.id, WebhookEndpoint.events, WebhookEndpoint.include_flagged
                    ).where(WebhookEndpoint.active.is_(True))
                )
            ).all()
            started = time.monotonic()
            self._routes = build_routes(rows)
            self._loaded_at = started
        return self._routes


SUBSCRIPTIONS = Subscriptions()


def wanted(routes: Routes, kind: str, flagged: bool) -> list[int]:
    """The endpoints an event of `kind` goes to (flagged ones only where asked for)."""
    return [
        endpoint_id
        for endpoint_id, include_flagged in routes.get(kind, ())
        if not flagged or include_flagged or kind not in FLAGGABLE
    ]
