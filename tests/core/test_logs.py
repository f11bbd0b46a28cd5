"""Log lines: JSON through structlog's fast path in production, and tracking-hit sampling."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from webapp.core.logs import TrackingLog, configure_logging, get_logger


@pytest.fixture
def json_logs() -> Iterator[None]:
    """Development logging again after the test (which configures JSON logging itself,
    once stderr is captured: the handlers keep the stream they were given)."""
    try:
        yield
    finally:
        configure_logging(json=False, level="INFO")
        structlog.contextvars.clear_contextvars()


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_production_lines_are_json_with_context_and_respect_the_level(
    json_logs: None, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json=True, level="INFO")
    structlog.contextvars.bind_contextvars(request_id="abc123")
    log = get_logger("tests.logs")
    log.debug("too_quiet", detail=1)
    log.info("hello", count=3, when=object.__name__)
    logging.getLogger("some.library").warning("from %s", "logging")
    found = lines(capfd.readouterr().err)
    assert [line["event"] for line in found] == ["hello", "from logging"]
    hello, foreign = found
    assert hello["count"] == 3 and hello["level"] == "info"
    assert hello["logger"] == "tests.logs" and hello["request_id"] == "abc123"
    assert str(hello["timestamp"]).endswith("Z")
    assert foreign["logger"] == "some.library" and foreign["level"] == "warning"


def test_exceptions_are_logged_with_their_traceback(
    json_logs: None, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json=True, level="INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("tests.logs").exception("failed")
    (line,) = lines(capfd.readouterr().err)
    assert line["event"] == "failed" and "ValueError: boom" in str(line["exception"])


@pytest.mark.parametrize(
    ("mode", "sample", "logged"),
    [("every", 100, 250), ("off", 100, 0), ("sampled", 100, 3), ("sampled", 1, 250)],
)
def test_tracking_hits_are_logged_as_configured(mode: str, sample: int, logged: int) -> None:
    tracking = TrackingLog(mode, sample)
    weights = [tracking.pick() for _ in range(250)]
    assert sum(1 for weight in weights if weight) == logged
    if mode == "sampled" and logged:
        assert set(weights) - {0} == {sample}
