"""Public tracking hits: who asked (hashed, never a raw IP), and whether a machine did.

Mail privacy proxies and link scanners fetch pixels and follow links by
themselves. Their hits are stored and counted, flagged with a reason, and kept
out of the unique human figures (see `webapp/tracking/machines.py` for the rules).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from webapp.tracking.events import ClickEvent, Hit, OpenEvent, Target, TrackedEvent, seconds_between
from webapp.tracking.machines import PROXY, classify_click, classify_open, hash_ip, ip_prefix

BURST_WINDOW_SECONDS = 1.0
RECENT_CONTENTS = 10_000


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
    """The writer's classifier: flags machine opens and bot clicks.

    Remembers the last second of clicks per content (bounded), to spot a scanner
    following several links of one email at once.
    """

    def __init__(self) -> None:
        self._recent: OrderedDict[int, deque[tuple[float, int | None]]] = OrderedDict()

    def __call__(self, event: TrackedEvent, target: Target) -> str | None:
        if event.source not in {"pixel", "link"}:
            return None  # reported by the team's own systems: trusted
        sent_ago = seconds_between(event.occurred_at, target.sent_at)
        hit = event.hit
        if isinstance(event, OpenEvent):
            reason = classify_open(
                user_agent=hit.user_agent, ip=hit.ip, method=hit.method, seconds_since_sent=sent_ago
            )
            # Gmail's and Yahoo's image proxies fetch when a person opens the email:
            # a real open, only without device details.
            return None if reason == PROXY else reason
        if isinstance(event, ClickEvent):
            distinct, previous = self._note_click(target.content_id, event.link_id)
            return classify_click(
                user_agent=hit.user_agent,
                ip=hit.ip,
                method=hit.method,
                seconds_since_sent=sent_ago,
                seconds_since_previous_click_same_content=previous
                if previous is not None
                else seconds_between(event.occurred_at, target.last_clicked_at),
                distinct_links_clicked_last_second=distinct,
            )
        return None

    def _note_click(self, content_id: int, link_id: int | None) -> tuple[int, float | None]:
        now = time.monotonic()
        clicks = self._recent.pop(content_id, None) or deque(maxlen=32)
        previous = now - clicks[-1][0] if clicks else None
        clicks.append((now, link_id))
        self._recent[content_id] = clicks
        while len(self._recent) > RECENT_CONTENTS:
            self._recent.popitem(last=False)
        links = {link for moment, link in clicks if now - moment <= BURST_WINDOW_SECONDS}
        return len(links), previous


@dataclass(frozen=True)
class LinkTarget:
    link_id: int
    url: str


class LinkCache:
    """Bounded cache of (content id, link number) → stored URL; links never change."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, int], LinkTarget] = OrderedDict()

    def get(self, key: tuple[int, int]) -> LinkTarget | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple[int, int], item: LinkTarget) -> None:
        self._items[key] = item
        while len(self._items) > self.size:
            self._items.popitem(last=False)
