"""structlog set-up: JSON lines in production, readable lines in development.

In production (JSON lines) Tune's own log calls take structlog's fast path: a
filtering bound logger (a call below the level costs one method lookup), the
line rendered by orjson and written as bytes to stderr, with no standard
library `logging` record or formatter in between. Lines from libraries
(uvicorn, SQLAlchemy, alembic) still go through `logging`, rendered by the
same processors, so every line on stderr has the same shape.

Tracking hits are the bulk of Tune's traffic: their per-hit line follows
`LOG_TRACKING_HITS` (see `TrackingLog`).
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

HANDLER_NAME = "tune"
TRACKING_LOG_MODES = ("off", "sampled", "every")


def _orjson_dumps(event: Any, **_: Any) -> bytes:
    return orjson.dumps(event, default=str)


def _orjson_text(event: Any, **_: Any) -> str:
    """For lines from `logging`, whose formatter must return text."""
    return orjson.dumps(event, default=str).decode()


class _FastUtcStamper:
    """`TimeStamper(fmt="iso", utc=True)`'s exact text (`2026-01-31T12:00:00.250000Z`),
    with the date and time of day formatted once a second rather than on every line."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        micros = int((now - second) * 1_000_000)
        event["timestamp"] = f"{self._prefix}.{micros:06d}Z" if micros else f"{self._prefix}Z"
        return event


class _NamedBytesLogger(structlog.BytesLogger):
    """structlog's bytes logger with a `name`, for `add_logger_name`."""

    def __init__(self, name: str) -> None:
        super().__init__(sys.stderr.buffer)
        self.name = name


def _bytes_logger(*args: Any) -> _NamedBytesLogger:
    return _NamedBytesLogger(str(args[0]) if args else "")


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    """Route structlog and the standard library's logging to stderr with one renderer."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_text)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        stamp,
    ]
    if json:
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.stdlib.add_logger_name,
                _FastUtcStamper(),
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(serializer=_orjson_dumps),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
            logger_factory=_bytes_logger,
            cache_logger_on_first_use=True,
        )
    else:
        structlog.configure(
            processors=[
                *shared,
                structlog.processors.format_exc_info,
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            # Development and tests switch configurations within one process.
            cache_logger_on_first_use=False,
        )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    # Replace only Tune's own handler, so configuring twice does not double lines.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != HANDLER_NAME] + [handler]
    root.setLevel(level)
    # uvicorn's own access log would duplicate Tune's request line.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> Any:
    """A structlog logger whose lines carry `"logger": name`."""
    return structlog.get_logger(name)


class TrackingLog:
    """Whether a tracking hit gets its own log line: `off`, `every`, or one in `sample`.

    Sampled lines carry `sampled=N`, so a count of lines times N estimates the hits.
    Every hit is counted in `tune_http_requests_total` whatever the mode.
    """

    def __init__(self, mode: str, sample: int) -> None:
        if mode not in TRACKING_LOG_MODES:
            raise ValueError(f"tracking log mode must be one of {TRACKING_LOG_MODES}")
        self.mode = mode
        self.sample = max(1, sample)
        self._counter = itertools.count()

    def pick(self) -> int:
        """0 to skip this hit's line, else the `sampled` weight to log it with."""
        if self.mode == "every":
            return 1
        if self.mode == "off":
            return 0
        return self.sample if next(self._counter) % self.sample == 0 else 0
