"""Operational endpoints: liveness, readiness and (with the operations work) metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint
from sqlalchemy import text

from .migrate import current_revision, head_revision
from .services import services

blueprint = Blueprint("ops", __name__)
READY_TIMEOUT_SECONDS = 2.0


@blueprint.get("/api/health")
async def health() -> Any:
    """Liveness: the process answers. Touches no database."""
    return {"status": "ok"}


@blueprint.get("/api/ready")
async def ready() -> Any:
    """Readiness: the database answers, migrations are at head, the writer runs."""
    tune = services()
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with tune.db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            revision = await current_revision(tune.db.engine)
        checks["database"] = "ok"
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
