"""Public tracking hits: who asked (hashed, never a raw IP), and whether a machine did.

Mail privacy proxies and link scanners fetch pixels and follow links by
themselves. Their hits are stored and counted, flagged with a reason, and kept
out of the unique human figures (see `webapp/tracking/machines.py` for the rules).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass

from webapp.core.config import Config
from webapp.tracking import ranges, settle
from webapp.tracking.bursts import SOURCES
from webapp.tracking.events import ClickEvent, Hit, OpenEvent, Target, TrackedEvent, seconds_between
from webapp.tracking.machines import (
    HONEYPOT,
    PROXY,
    classify_click,
    classify_open,
    hash_ip,
    ip_prefix,
    use_ranges,
)


def ip_salt(secret_key: str) -> str:
    """A salt derived from the secret key, so IP hashes mean nothing outside this install."""
    return hmac.new(secret_key.encode(), b"tune-ip-hash", hashlib.sha256).hexdigest()


def make_hit(*, user_agent: str | None, ip: str | None, method: str, salt: str) -> Hit:
    return Hit(
        user_agent=(user_agent or None) and user_agent[:300],
        ip_hash=hash_ip(ip, salt),
        ip_prefix=ip_prefix(ip),
        ip=ip,
        method=method,
    )


class HitClassifier:
    """The writer's classifier: judges one hit alone (the user agent, the network, the
    timing). Bursts and the honeypot are judged with the email's other hits in the
    writer's transaction (tracking/bursts.py)."""

    def __call__(self, event: TrackedEvent, target: Target) -> str | None:
        if event.source == "honeypot":
            return HONEYPOT
        if event.source not in {"pixel", "link"}:
            return None  # reported by the team's own systems: trusted
        sent_ago = seconds_between(event.occurred_at, target.sent_at)
        hit = event.hit
        if isinstance(event, OpenEvent):
            reason = classify_open(
                user_agent=hit.user_agent,
                ip=hit.ip,
                method=hit.method,
                seconds_since_sent=sent_ago,
                prefix=hit.ip_prefix,
            )
            # Gmail's and Yahoo's image proxies fetch when a person opens the email:
            # a real open, only without device details.
            return None if reason == PROXY else reason
        if isinstance(event, ClickEvent):
            return classify_click(
                user_agent=hit.user_agent,
                ip=hit.ip,
                method=hit.method,
                seconds_since_sent=sent_ago,
                opened_before=target.first_opened_at is not None,
                prefix=hit.ip_prefix,
            )
        return None


def configure(config: Config) -> None:
    """Apply the settings the classifier reads: the settle delay and the ranges list."""
    settle.configure(config.click_settle_seconds)
    use_ranges(ranges.load(config.instance_path))
    SOURCES.clear()  # a new app starts with nothing quarantined


@dataclass(frozen=True)
class LinkTarget:
    link_id: int
    url: str


class LinkCache:
    """Bounded cache of (content id, link number) → stored URL; links never change, and
    ids are never reused, but a draft's links go with it when it is discarded (`discard`).

    Entries are kept as plain tuples of an int and a str, which the garbage
    collector stops tracking: up to `size` cached links add nothing to the
    full collections a busy process runs (LinkTarget instances would each be
    walked every time). `get` builds the LinkTarget.
    """

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, int], tuple[int, str]] = OrderedDict()

    def get(self, key: tuple[int, int]) -> LinkTarget | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return LinkTarget(item[0], item[1])

    def put(self, key: tuple[int, int], item: LinkTarget) -> None:
        self._items[key] = (item.link_id, item.url)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def discard(self, key: tuple[int, int]) -> None:
        """Forget a link whose email is gone (a discarded draft's)."""
        self._items.pop(key, None)
