"""`/api/webhooks`: endpoints that receive Tune's events, their secrets and deliveries."""

from __future__ import annotations

from datetime import datetime

from quart import Response
from quart_schema import validate_response

from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import Page, Shape, Text, Timestamp, validate_params
from webapp.web.services import services
from webapp.webhooks import deliveries, endpoints


class Webhook(Shape):
    id: int
    url: str
    description: str
    events: list[str]
    include_flagged: bool
    """Machine opens and bot clicks are sent too (flagged, with their reason)."""
    active: bool
    failing_since: Timestamp | None
    """Deliveries have failed since then without a single success."""
    disabled_at: Timestamp | None
    """When Tune switched the endpoint off after a day of failures."""
    disabled_reason: str | None
    previous_secret_expires_at: Timestamp | None
    """After a rotation, the previous secret signs too until then."""
    created_at: Timestamp


class CreatedWebhook(Webhook):
    secret: str
    """The signing secret (`whsec_...`): shown this once, never again."""


class NewWebhook(Shape):
    url: Text
    """Where to POST; https in production."""
    events: list[Text]
    """Event types: open, click, reply, auto_reply, bounce, complaint, unsubscribe, outcome,
    prospect.hot, sequence.stopped, send.failed."""
    description: Text | None = None
    include_flagged: bool = False


class WebhookChange(Shape):
    """Only the fields given change; `active: true` also clears a failure notice."""

    url: Text | None = None
    events: list[Text] | None = None
    description: Text | None = None
    include_flagged: bool | None = None
    active: bool | None = None


class RotatedSecret(Shape):
    secret: str
    """The new signing secret: shown this once."""
    previous_secret_expires_at: datetime | None


class Delivery(Shape):
    id: int
    message_id: str
    """The `webhook-id` header: the same on every retry and resend."""
    event_type: str
    contact_id: int | None
    status: str
    """pending, delivering, delivered or failed."""
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: Timestamp | None
    created_at: Timestamp
    delivered_at: Timestamp | None


@blueprint.post("/webhooks")
@validate_params(NewWebhook)
@validate_response(CreatedWebhook, 201)
async def create_webhook(data: NewWebhook) -> tuple[CreatedWebhook, int]:
    """Add an endpoint; the answer carries its signing secret, shown only this once."""
    tune = services()
    async with tune.db.write() as session:
        created = await endpoints.create_endpoint(
            session,
            app_secret=tune.config.secret_key,
            url=data.url,
            events=data.events,
            description=data.description,
            include_flagged=data.include_flagged,
            production=tune.config.is_production,
            allow_private=tune.config.allow_private_webhooks,
        )
        body = Webhook.model_validate(created.endpoint).model_dump()
    return CreatedWebhook.model_validate({**body, "secret": created.secret}), 201


@blueprint.get("/webhooks")
@validate_response(Page[Webhook])
async def list_webhooks() -> Page[Webhook]:
    """Every endpoint, oldest first."""
    async with services().db.read() as session:
        items = [Webhook.model_validate(row) for row in await endpoints.list_endpoints(session)]
    return Page[Webhook].of(items, None)


@blueprint.get("/webhooks/<int:endpoint_id>")
@validate_response(Webhook)
async def get_webhook(endpoint_id: int) -> Webhook:
    async with services().db.read() as session:
        return Webhook.model_validate(await endpoints.get_endpoint(session, endpoint_id))


@blueprint.patch("/webhooks/<int:endpoint_id>")
@validate_params(WebhookChange)
@validate_response(Webhook)
async def change_webhook(endpoint_id: int, data: WebhookChange) -> Webhook:
    """Change the URL, the event types, the flagged switch or the active switch."""
    tune = services()
    async with tune.db.write() as session:
        endpoint = await endpoints.update_endpoint(
            session,
            endpoint_id,
            production=tune.config.is_production,
            allow_private=tune.config.allow_private_webhooks,
            url=data.url,
            events=data.events,
            description=data.description,
            include_flagged=data.include_flagged,
            active=data.active,
        )
        return Webhook.model_validate(endpoint)


@blueprint.delete("/webhooks/<int:endpoint_id>")
async def delete_webhook(endpoint_id: int) -> Response:
    """Delete the endpoint and everything still waiting for it (answers 204)."""
    async with services().db.write() as session:
        await endpoints.delete_endpoint(session, endpoint_id)
    return Response(status=204)


@blueprint.post("/webhooks/<int:endpoint_id>/rotate")
@validate_response(RotatedSecret)
async def rotate_webhook_secret(endpoint_id: int) -> RotatedSecret:
    """A new signing secret; the previous one keeps signing too for 24 hours."""
    tune = services()
    async with tune.db.write() as session:
        secret = await endpoints.rotate_secret(
            session, endpoint_id, app_secret=tune.config.secret_key
        )
        endpoint = await endpoints.get_endpoint(session, endpoint_id)
        return RotatedSecret(
            secret=secret, previous_secret_expires_at=endpoint.previous_secret_expires_at
        )


@blueprint.get("/webhooks/<int:endpoint_id>/deliveries")
@validate_response(Page[Delivery])
async def list_deliveries(endpoint_id: int) -> Page[Delivery]:
    """The endpoint's latest 50 deliveries, newest first."""
    async with services().db.read() as session:
        await endpoints.get_endpoint(session, endpoint_id)
        rows = await deliveries.recent_deliveries(session, endpoint_id)
        items = [Delivery.model_validate(row) for row in rows]
    return Page[Delivery].of(items, None)


@blueprint.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
@validate_response(Delivery, 202)
async def resend_delivery(endpoint_id: int, delivery_id: int) -> tuple[Delivery, int]:
    """Send a delivered or failed message again: same `webhook-id`, same body."""
    tune = services()
    async with tune.db.write() as session:
        copy = Delivery.model_validate(await deliveries.resend(session, endpoint_id, delivery_id))
    if tune.dispatcher is not None:
        tune.dispatcher.wake()
    return copy, 202
