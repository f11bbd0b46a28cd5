"""The API's blueprint: every route on it needs an API key and counts against its rate limit."""

from __future__ import annotations

from quart import Blueprint, request

from webapp.accounts import apikeys
from webapp.core import metrics
from webapp.core.errors import NotFound, RateLimited, Unauthorized
from webapp.core.models import utcnow
from webapp.web.hooks import current
from webapp.web.services import services

blueprint = Blueprint("api", __name__, url_prefix="/api")

MAX_IDS = {
    "campaign_id": 2**31 - 1,
    "import_id": 2**31 - 1,
    "endpoint_id": 2**31 - 1,
    "position": 2**15 - 1,
}
"""Campaign, import and webhook endpoint ids are 32-bit integers; step numbers
(`position`) 16-bit; the other ids 64-bit."""
MAX_ID = 2**63 - 1


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
    row = await apikeys.authenticate(tune.db, key, tune.key_cache)
    if row is None:
        raise Unauthorized("the API key is not valid or has been revoked")
    state = current()
    state.api_key_id = row.id
    now = utcnow()
    if apikeys.needs_touch(row, now) and tune.key_cache.claim_touch(row, now):
        async with tune.db.write() as session:
            await apikeys.touch(session, row.id, now)
        tune.key_cache.touched(row, now)
    decision = await tune.limiter.hit(f"key:{row.key_hash[:24]}")
    state.extra_headers = decision.headers()
    if not decision.allowed:
        metrics.RATE_LIMITED.inc()
        raise RateLimited(
            f"rate limit of {tune.config.rate_limit} exceeded; retry in {decision.reset_after} s",
            retry_after=decision.reset_after,
        )
    for name, value in (request.view_args or {}).items():
        # An id beyond its column's range names nothing (and must not fail in the driver).
        if isinstance(value, int) and value > MAX_IDS.get(name, MAX_ID):
            raise NotFound(f"{name} {value} does not exist")
