"""Prometheus metrics of one Tune process (multiprocess-aware when several workers run).

With several workers (`tune run --workers N`) every worker writes its values to
files in `PROMETHEUS_MULTIPROC_DIR` and `/metrics` merges them: counters and
histograms are summed over all workers (including workers that have exited
since `tune run` started), gauges follow their `multiprocess_mode`: `livesum`
adds up the workers alive now, `liveall` keeps one series per live worker with
a `pid` label, `livemax` takes the largest.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from webapp.core.common import TIERS

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "tune_http_requests", "HTTP requests by route template", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "tune_http_request_duration_seconds",
    "HTTP request duration by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS = Counter("tune_events", "Tracked events stored", ["kind", "flagged"])
CAMPAIGNS_CREATED = Counter("tune_campaigns_created", "Campaigns created")
PROSPECTS_ANALYSED = Counter("tune_prospects_analysed", "Prospects scored", ["tier"])
EMAILS_SENT = Counter("tune_emails_sent", "Send attempts by result", ["result"])
SEQUENCE_STEPS = Counter(
    "tune_sequence_steps", "Due sequence steps by what the scheduler did", ["result"]
)
RATE_LIMITED = Counter("tune_rate_limited", "Requests refused with 429")
RATE_LIMIT_STORAGE_ERRORS = Counter(
    "tune_rate_limit_storage_errors", "Rate-limit checks skipped because the storage failed"
)
WRITER_QUEUE_DEPTH = Gauge(
    "tune_event_writer_queue_depth", "Events waiting for the writer", multiprocess_mode="livesum"
)
WRITER_BATCH_SIZE = Histogram(
    "tune_event_writer_batch_size",
    "Events per writer transaction",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
WRITER_COMMIT_SECONDS = Histogram(
    "tune_event_writer_commit_seconds",
    "Duration of one writer transaction",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
WRITER_FAILURES = Counter("tune_event_writer_failures", "Writer transactions that failed")
SMTP_CIRCUIT_STATE = Gauge(
    "tune_smtp_circuit_state",
    "SMTP circuit breaker: 0 closed, 1 half-open, 2 open (worst relay, worst live worker)",
    multiprocess_mode="livemax",
)
MAILBOX_CIRCUIT_STATE = Gauge(
    "tune_mailbox_circuit_state",
    "Circuit breaker of one mailbox's relay: 0 closed, 1 half-open, 2 open (worst live worker)",
    ["mailbox"],
    multiprocess_mode="livemax",
)
INBOX_MESSAGES = Counter(
    "tune_inbox_messages",
    "Inbound messages and provider events by what they became",
    ["outcome"],
)
INBOX_CONNECTED = Gauge(
    "tune_inbox_connected",
    "1 while this worker holds the mailbox lease and is connected (worst live worker: max)",
    multiprocess_mode="livemax",
)
INBOX_CIRCUIT_STATE = Gauge(
    "tune_inbox_circuit_state",
    "Mailbox circuit breaker: 0 closed, 1 half-open, 2 open (worst live worker)",
    multiprocess_mode="livemax",
)
INBOX_FAILURES = Counter(
    "tune_inbox_failures", "Mailbox connections or passes that failed", ["stage"]
)
INBOX_WEBHOOKS = Counter(
    "tune_inbox_webhooks",
    "Provider webhook requests by provider and result",
    ["provider", "result"],
)
BUILD_INFO = Gauge(
    "tune_build_info", "Tune version (always 1)", ["version"], multiprocess_mode="max"
)

# Connection pool, read from the engine's pool (see webapp/poolstats.py).
DB_POOL_SIZE = Gauge(
    "tune_db_pool_size", "Configured pool size (all live workers)", multiprocess_mode="livesum"
)
DB_POOL_MAX = Gauge(
    "tune_db_pool_max",
    "Most connections the pools may open: size + max overflow (all live workers)",
    multiprocess_mode="livesum",
)
DB_POOL_CHECKED_OUT = Gauge(
    "tune_db_pool_checked_out",
    "Connections in use (all live workers)",
    multiprocess_mode="livesum",
)
DB_POOL_CHECKED_IN = Gauge(
    "tune_db_pool_checked_in",
    "Open connections idle in the pool (all live workers)",
    multiprocess_mode="livesum",
)
DB_POOL_OVERFLOW = Gauge(
    "tune_db_pool_overflow",
    "Connections open beyond the pool size (all live workers)",
    multiprocess_mode="livesum",
)
DB_POOL_WORKER_CHECKED_OUT = Gauge(
    "tune_db_pool_worker_checked_out",
    "Connections in use by one worker (pid label with several workers)",
    multiprocess_mode="liveall",
)
DB_POOL_WAIT = Histogram(
    "tune_db_pool_wait_seconds",
    "Time from asking the pool for a connection to holding one (opening included)",
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DB_POOL_TIMEOUTS = Counter(
    "tune_db_pool_timeouts", "Connection requests that gave up after DB_POOL_TIMEOUT"
)

_REQUEST_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request; each label set's children are looked up once."""
    key = (method, route, status)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_DURATION.labels(method, route),
        )
        _REQUEST_CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


EVENT_KINDS = ("open", "click", "reply", "unsubscribe", "bounce", "auto_reply", "complaint")
for _kind in EVENT_KINDS:
    for _flagged in ("false", "true"):
        EVENTS.labels(kind=_kind, flagged=_flagged)
for _outcome in ("reply", "auto_reply", "bounce", "soft_bounce", "complaint", "unmatched"):
    INBOX_MESSAGES.labels(outcome=_outcome)
for _tier in TIERS:
    PROSPECTS_ANALYSED.labels(tier=str(_tier))


def multiprocess_dir() -> str | None:
    """The shared metrics directory when several workers run, else None."""
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


_LIVE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def reap_dead_workers(path: str) -> list[int]:
    """Drop the live-gauge files of workers that no longer run; return their pids."""
    dead: set[int] = set()
    for name in os.listdir(path):
        match = _LIVE_FILE.match(name)
        if match and not _running(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, path)
    return sorted(dead)


def mark_this_worker_dead() -> None:
    """Called when a worker stops, so its live gauges leave the sums at once."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(os.getpid(), path)


def wipe(path: str) -> None:
    """Remove every metrics file left by an earlier run (tune run does this at start)."""
    for name in glob.glob(os.path.join(path, "*.db")):
        os.remove(name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render() -> tuple[bytes, str]:
    """The exposition text of this process, or of all workers in multiprocess mode."""
    path = multiprocess_dir()
    if path is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    reap_dead_workers(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path)
    return generate_latest(registry), CONTENT_TYPE_LATEST


WEBHOOK_DELIVERIES = Counter(
    "tune_webhook_deliveries",
    "Webhook delivery attempts by result (delivered, retry, failed, lease_lost)",
    ["result"],
)
WEBHOOK_QUEUE_DEPTH = Gauge(
    "tune_webhook_queue_depth",
    "Webhook deliveries waiting or in flight (as last seen by a dispatcher)",
    multiprocess_mode="livemax",
)
WEBHOOK_OLDEST_PENDING = Gauge(
    "tune_webhook_oldest_pending_seconds",
    "Age of the oldest webhook delivery still waiting (as last seen by a dispatcher)",
    multiprocess_mode="livemax",
)
for _result in ("delivered", "retry", "failed", "lease_lost"):
    WEBHOOK_DELIVERIES.labels(result=_result)
MAILBOX_SENT = Counter("tune_mailbox_sent", "Emails delivered, per mailbox", ["mailbox"])
MAILBOX_REMAINING = Gauge(
    "tune_mailbox_remaining",
    "Sends a mailbox may still make now before a cap (daily, hourly) is reached",
    ["mailbox"],
    multiprocess_mode="mostrecent",
)
MAILBOX_BOUNCE_RATE = Gauge(
    "tune_mailbox_bounce_rate",
    "Hard bounces over the mailbox's last 200 sends (0-1)",
    ["mailbox"],
    multiprocess_mode="mostrecent",
)
MAILBOX_COMPLAINT_RATE = Gauge(
    "tune_mailbox_complaint_rate",
    "Spam complaints over the mailbox's last 200 sends (0-1)",
    ["mailbox"],
    multiprocess_mode="mostrecent",
)
MAILBOX_PAUSED = Gauge(
    "tune_mailbox_paused",
    "1 while the mailbox is paused (by a rep or by its own health)",
    ["mailbox"],
    multiprocess_mode="mostrecent",
)
