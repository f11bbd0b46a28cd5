"""The operations docs stay true: the API reference's curl examples run against a
real server, every route and environment variable is documented, and the deploy
files are valid."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart

from tests.support.dns import knot_server
from tests.support.factories import make_recipient
from tests.support.paths import ROOT
from tests.support.servers import run_cli, serve, tune_env
from webapp.core.config import Config
from webapp.core.db import Database

DOCS = ROOT / "docs"
DEPLOY = ROOT / "deploy"
GUIDES = [
    "deployment.md",
    "scaling.md",
    "operations.md",
    "api.md",
    "configuration.md",
    "inbox.md",
    "deliverability.md",
]


def api_examples() -> list[tuple[str, Any]]:
    """(curl command, sample JSON answer or None) in the order of docs/api.md."""
    blocks = re.findall(r"```(sh|json)\n(.*?)```", (DOCS / "api.md").read_text(), flags=re.S)
    examples: list[tuple[str, Any]] = []
    for index, (kind, body) in enumerate(blocks):
        if kind != "sh":
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
        sample = json.loads(following[1]) if following[0] == "json" else None
        for line in body.splitlines():
            if line.strip().startswith("curl "):
                examples.append((line.strip(), sample))
    return examples


def same_shape(actual: Any, sample: Any, where: str = "") -> list[str]:
    """Differences in field names between an answer and its documented sample."""
    if isinstance(sample, dict):
        if not isinstance(actual, dict):
            return [f"{where or 'answer'}: expected an object"]
        problems = [] if set(actual) == set(sample) else [f"{where}: {sorted(actual)}"]
        for key in set(actual) & set(sample):
            problems += same_shape(actual[key], sample[key], f"{where}.{key}")
        return problems
    if isinstance(sample, list) and sample and isinstance(actual, list) and actual:
        return same_shape(actual[0], sample[0], f"{where}[0]")
    return []


def test_api_reference_has_examples_for_every_section() -> None:
    examples = api_examples()
    assert len(examples) >= 12
    assert sum(1 for _, sample in examples if sample is not None) >= 10


async def seed(url: str) -> None:
    """Campaign 1 with prospect, contact and email 1, as an import would leave it."""
    db = Database(Config(database_url=url, secret_key="x" * 20))
    try:
        async with db.write() as session:
            await make_recipient(session)
    finally:
        await db.dispose()


def test_every_api_example_answers_as_documented(database_url: str, tmp_path: Path) -> None:
    asyncio.run(seed(database_url))
    # The deliverability example looks example.com up on a real DNS server on loopback.
    with knot_server(tmp_path / "knot", ["example.com"]) as (address, port):
        env = tune_env(database_url, tmp_path, DNS_NAMESERVERS=f"{address}:{port}")
        created = run_cli(["keys", "create", "--name", "docs"], env, tmp_path)
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip().splitlines()[-1]
        with serve(env, tmp_path) as base:
            for command, sample in api_examples():
                result = subprocess.run(
                    ["bash", "-c", command.replace("http://127.0.0.1:8000", base)],
                    env={**env, "TUNE_KEY": key},
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )
                assert result.returncode == 0, f"{command}\n{result.stderr}"
                if "/metrics" in command:
                    names = {f.name for f in text_string_to_metric_families(result.stdout)}
                    assert "tune_db_pool_checked_out" in names
                    continue
                answer = json.loads(result.stdout)
                if sample is not None:
                    assert same_shape(answer, sample) == [], command


def documented_routes() -> set[str]:
    headings = re.findall(r"^### ([A-Z]+) (\S+)$", (DOCS / "api.md").read_text(), flags=re.M)
    return {f"{method} {path}" for method, path in headings}


def test_every_api_route_is_in_the_reference(app: Quart) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api") or rule.rule == "/metrics"):
            continue
        path = re.sub(r"<(?:[^>]*:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in {"HEAD", "OPTIONS"}:
                routes.add(f"{method} {path}")
    assert routes - documented_routes() == set()


def environment_variables() -> set[str]:
    names = set(
        re.findall(
            r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', (ROOT / "webapp/core/config.py").read_text()
        )
    )
    for source in (ROOT / "webapp").rglob("*.py"):
        names.update(
            re.findall(r'environ(?:\.get)?[(\[]\s*"([A-Z][A-Z0-9_]+)"', source.read_text())
        )
    names.update(
        re.findall(r'MULTIPROC_ENV = "([A-Z_]+)"', (ROOT / "webapp/core/metrics.py").read_text())
    )
    return names


def test_every_environment_variable_is_in_the_configuration_reference() -> None:
    variables = environment_variables()
    assert {"DATABASE_URL", "METRICS_TOKEN", "SENTRY_DSN", "PROMETHEUS_MULTIPROC_DIR"} <= variables
    reference = (DOCS / "configuration.md").read_text()
    assert sorted(name for name in variables if f"`{name}`" not in reference) == []


def test_readme_links_every_guide() -> None:
    readme = (ROOT / "README.md").read_text()
    for guide in GUIDES:
        assert (DOCS / guide).is_file()
        assert f"docs/{guide}" in readme


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_prometheus_config_is_valid() -> None:
    checked = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_dashboard_queries_only_metrics_tune_exports(app: Quart) -> None:
    response = await app.test_client().get("/metrics", scope_base={"client": ("127.0.0.1", 1)})
    families = list(text_string_to_metric_families(await response.get_data(as_text=True)))
    exported = {f.name for f in families} | {s.name for f in families for s in f.samples}
    exported |= {f"{f.name}_total" for f in families if f.type == "counter"}
    exported |= {f"{f.name}_{end}" for f in families for end in ("bucket", "sum", "count")}
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in expressions for name in re.findall(r"\btune_[a-z_]+", expr)}
    assert used - exported == set()
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("pool", "requests", "latency", "events", "batch"):
        assert topic in titles
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_compose_and_dockerfile_describe_the_documented_stack() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert {"app", "postgres", "redis", "prometheus"} <= set(compose["services"])
    app_env = compose["services"]["app"]["environment"]
    assert app_env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert app_env["RATELIMIT_STORAGE_URI"].startswith("redis://")
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2
    assert re.search(r"^USER (?!root)\w+", dockerfile, flags=re.M)
    assert "HEALTHCHECK" in dockerfile and "/api/ready" in dockerfile
    unit = (DEPLOY / "tune.service").read_text()
    assert "ExecStart=" in unit and "User=tune" in unit
