"""The OpenAPI document, generated from the API's shapes, stays true: every /api route is
in it, and schemathesis finds no 5xx and no answer that differs from the documented schema
on a live server."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import httpx
from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.support.factories import make_recipient
from tests.support.servers import run_cli, serve, tune_env
from webapp.core.config import Config
from webapp.core.db import Database

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


def app_routes(app: Quart) -> set[str]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        path = re.sub(r"<(?:[^>]*:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in {"HEAD", "OPTIONS"}:
                routes.add(f"{method} {path}")
    return routes


async def test_every_api_route_is_documented_and_nothing_else(app: Quart, client: Client) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = await response.get_json()
    assert document["openapi"].startswith("3.")
    documented = {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert app_routes(app) == documented


async def test_the_document_needs_no_key_and_describes_the_error_shape(
    client: Client,
) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    schemas = document["components"]["schemas"]
    body = schemas["Error"]["properties"]["error"]["$ref"].removeprefix("#/components/schemas/")
    assert schemas[body]["required"] == ["code", "message"]
    assert set(schemas[body]["properties"]) == {"code", "message", "field"}
    industries = document["paths"]["/api/industries"]["get"]
    assert industries["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert document["paths"]["/api/health"]["get"]["security"] == []


async def seed(url: str) -> None:
    """A campaign with a prospect, contact and email with one link (ids 1)."""
    db = Database(Config(database_url=url, secret_key="x" * 20))
    try:
        async with db.write() as session:
            await make_recipient(session, urls=("https://example.com/a",))
    finally:
        await db.dispose()


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    database_url: str, tmp_path: Path
) -> None:
    asyncio.run(seed(database_url))
    env = tune_env(database_url, tmp_path, RATE_LIMIT="100000/minute", TUNE_RUN_SENDER="false")
    created = run_cli(["keys", "create", "--name", "schemathesis"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    with serve(env, tmp_path) as base:
        assert httpx.get(f"{base}/openapi.json", timeout=10).status_code == 200
        result = subprocess.run(
            [
                SCHEMATHESIS,
                "run",
                f"{base}/openapi.json",
                "--url",
                base,
                "-H",
                f"X-API-Key: {key}",
                "--checks",
                "not_a_server_error,response_schema_conformance",
                "--max-examples",
                "15",
                "--phases",
                "examples,fuzzing",
                "--seed",
                "20260105",
                "--request-timeout",
                "10",
                "--suppress-health-check",
                "all",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
            cwd=tmp_path,
        )
        server_log = "\n".join(path.read_text() for path in tmp_path.glob("server-*.log"))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "unhandled_error" not in server_log


async def test_no_documentation_page_loads_scripts_from_elsewhere(client: Client) -> None:
    """quart-schema's viewers fetch their scripts from a CDN, which the CSP forbids: off."""
    for path in ("/docs", "/redocs", "/scalar"):
        assert (await client.get(path)).status_code == 404
