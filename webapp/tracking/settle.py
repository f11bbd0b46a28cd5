"""When a hit's classification has settled, so that it may act on people.

A click can be re-flagged until `SURROUNDING_SECONDS` after it (tracking/bursts.py).
Everything a click or open sets off for a person waits until then: the follow-up
list, sequence conditions (`opened_no_reply`, `clicked_no_reply`) and the `click`
and `open` webhooks (their deliveries are due `CLICK_SETTLE_SECONDS` after the
hit). A scanner's click is re-flagged before anything acts on it, so nothing
ever has to be taken back. Counters and pages show hits at once: they are
corrected in the same transaction as the hit that re-flags them.

Hot prospects are made by replies only, which are never classified, so they act
at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from webapp.tracking.bursts import SURROUNDING_SECONDS

DEFAULT_SECONDS = 60.0
MINIMUM_SECONDS = SURROUNDING_SECONDS
"""Shorter would let a click act before the rules that can re-flag it have run."""

_seconds = DEFAULT_SECONDS


def configure(seconds: float) -> None:
    """Set the delay (from `CLICK_SETTLE_SECONDS`) for this process."""
    global _seconds
    _seconds = max(float(seconds), 0.0)


def seconds() -> float:
    return _seconds


def settled_before(now: datetime) -> datetime:
    """Hits at or before this moment have their final classification."""
    return now - timedelta(seconds=_seconds)


def due_at(moment: datetime) -> datetime:
    """When a hit at `moment` may act on people."""
    return moment + timedelta(seconds=_seconds)
