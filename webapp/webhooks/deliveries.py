"""What the dashboard and the API show of an endpoint's deliveries, and resending one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.errors import Conflict, NotFound
from webapp.core.models import WebhookDelivery, utcnow

RECENT = 50


async def recent_deliveries(
    session: AsyncSession, endpoint_id: int, limit: int = RECENT
) -> list[WebhookDelivery]:
    """The endpoint's latest deliveries, newest first."""
    return list(
        await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


async def waiting_counts(session: AsyncSession) -> dict[int, int]:
    """Deliveries still waiting (or in flight), per endpoint."""
    rows = await session.execute(
        select(WebhookDelivery.endpoint_id, func.count())
        .where(WebhookDelivery.status.in_(("pending", "delivering")))
        .group_by(WebhookDelivery.endpoint_id)
    )
    return {int(endpoint_id): int(count) for endpoint_id, count in rows}


async def resend(
    session: AsyncSession, endpoint_id: int, delivery_id: int, now: datetime | None = None
) -> WebhookDelivery:
    """Queue the same message again (same `webhook-id` and body) behind the contact's others."""
    original = await session.get(WebhookDelivery, delivery_id)
    if original is None or original.endpoint_id != endpoint_id:
        raise NotFound(f"delivery {delivery_id} of webhook endpoint {endpoint_id} does not exist")
    if original.status in {"pending", "delivering"}:
        raise Conflict("this delivery is still waiting to go out")
    now = now or utcnow()
    copy = WebhookDelivery(
        endpoint_id=original.endpoint_id,
        message_id=original.message_id,
        event_type=original.event_type,
        order_key=original.order_key,
        campaign_id=original.campaign_id,
        prospect_id=original.prospect_id,
        contact_id=original.contact_id,
        content_id=original.content_id,
        link_id=original.link_id,
        flag_reason=original.flag_reason,
        detail=original.detail,
        occurred_at=original.occurred_at,
        body=original.body,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(copy)
    await session.flush()
    return copy
