"""Prometheus metrics of one Tune process (multiprocess-aware when several workers run)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

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
    "SMTP circuit breaker: 0 closed, 1 half-open, 2 open",
    multiprocess_mode="max",
)
BUILD_INFO = Info("tune_build", "Tune version")
