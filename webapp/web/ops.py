"""Operational endpoints: liveness, readiness and Prometheus metrics.

`/metrics` needs no API key and is not rate-limited. Without `METRICS_TOKEN` it
answers only clients on loopback or private networks (the client address is
taken from `X-Forwarded-For` only when the peer is in `TRUSTED_PROXIES`); with
`METRICS_TOKEN` it answers whoever sends `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Any, Literal

from quart import Blueprint, Quart, Response, current_app, request
from quart_schema import document_response
from sqlalchemy import text

from webapp import __version__
from webapp.core import metrics, poolstats
from webapp.core.config import Config
from webapp.core.errors import Forbidden, Unauthorized
from webapp.core.migrate import current_revision, head_revision
from webapp.core.observability import init_sentry
from webapp.web.api.shapes import ErrorBody, Shape
from webapp.web.hooks import client_ip
from webapp.web.services import services

blueprint = Blueprint("ops", __name__)
READY_TIMEOUT_SECONDS = 2.0
PUBLISHER = "tune_pool_publisher"
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
    )
)
"""Loopback, RFC 1918 and IPv6 unique-local: who may scrape without METRICS_TOKEN."""


def install(app: Quart, config: Config) -> None:
    """Build info, optional Sentry, and (per worker) the pool-gauge publisher."""
    metrics.BUILD_INFO.labels(version=__version__).set(1)
    init_sentry(app, config)

    @app.before_serving
    async def start_pool_publisher() -> None:
        tune = app.extensions.get("tune")
        if tune is not None:
            publisher = poolstats.PoolPublisher(tune.db.engine)
            publisher.start()
            app.extensions[PUBLISHER] = publisher

    @app.after_serving
    async def stop_pool_publisher() -> None:
        publisher = app.extensions.pop(PUBLISHER, None)
        if publisher is not None:
            await publisher.stop()
        metrics.mark_this_worker_dead()


def metrics_allowed(config: Config) -> None:
    """Raise unless this request may read `/metrics` (token, or a private address)."""
    if config.metrics_token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), config.metrics_token.encode()
        ):
            raise Unauthorized("/metrics needs Authorization: Bearer <METRICS_TOKEN>")
        return
    address = client_ip(config)
    if address is None or not _is_private(address):
        raise Forbidden(
            "/metrics answers loopback and private networks only; set METRICS_TOKEN "
            "to scrape from elsewhere"
        )


def _is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in PRIVATE_NETWORKS)


@blueprint.get("/metrics")
async def prometheus_metrics() -> Any:
    """Prometheus text format: this process, or every worker with `--workers N`."""
    config: Config = current_app.config["TUNE"]
    metrics_allowed(config)
    tune = current_app.extensions.get("tune")
    if tune is not None:
        poolstats.publish(tune.db.engine)
    body, content_type = metrics.render()
    return Response(body, status=200, content_type=content_type)


class Health(Shape):
    status: Literal["ok"]


class Readiness(Shape):
    """Each check is "ok" or says what is wrong."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, str]
    error: ErrorBody | None = None


HEALTHY = b'{"status":"ok"}\n'
"""What `jsonify({"status": "ok"})` writes, encoded once."""


@blueprint.get("/api/health")
@document_response(Health)
async def health() -> Any:
    """Liveness: the process answers. Touches no database.

    Answered as a ready JSON response: quart-schema converts a returned dict
    through a new pydantic TypeAdapter each time, which measured about a
    seventh of this route's CPU.
    """
    return Response(HEALTHY, content_type="application/json")


@blueprint.get("/api/ready")
@document_response(Readiness)
@document_response(Readiness, 503)
async def ready() -> Any:
    """Readiness: the database answers and takes writes, migrations are at head, the writer runs."""
    tune = services()
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with tune.db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            revision = await current_revision(tune.db.engine)
            problem = await tune.db.write_problem() if revision else None
        checks["database"] = problem or "ok"
        checks["migrations"] = "ok" if revision == head_revision() else f"at {revision}, not head"
    except Exception as exc:
        checks["database"] = f"unavailable ({type(exc).__name__})"
    checks["event_writer"] = "ok" if tune.writer.alive else "stopped"
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        return {
            "status": "unavailable",
            "checks": checks,
            "error": {
                "code": "service_unavailable",
                "message": "not ready: " + ", ".join(f"{name} {checks[name]}" for name in failing),
            },
        }, 503
    return {"status": "ready", "checks": checks}
