"""Flag opens and clicks that a machine probably made, so the numbers stay honest.

Apple Mail Privacy Protection (MPP) loads every image when mail arrives, and
corporate mail security gateways fetch every link before the reader sees it.
Counting those as human opens and clicks would inflate every campaign. The
classifiers here return a reason string for a suspicious event and None for a
likely human; callers store the reason next to the event and never drop it, so
a report can always show both "all" and "human" numbers.

Everything here is a heuristic. Where the lists come from:

* Apple MPP: Apple fetches through its own proxies with the bare user agent
  `Mozilla/5.0`, from Apple's own network 17.0.0.0/8 (registered to Apple
  since the 1990s; ARIN). MPP fetches the pixel whether or not the message
  is ever read.
* Image proxies: Gmail (`GoogleImageProxy`, "via ggpht.com") and Yahoo
  (`YahooMailProxy`) fetch images through their own proxies, as documented in
  their help pages. Unlike MPP these usually fire when a person opens the
  message (and only the first time), so "proxy" marks an open that is real but
  carries no device, location or repeat-open information.
* Link scanners: public user-agent tokens of Microsoft's link previews and
  Office link discovery, and the vendor names Barracuda, Mimecast, Proofpoint
  (urldefense), Cisco IronPort, FireEye, Symantec/MessageLabs and Sophos, which
  appear when their scanners identify themselves. Many scanners (notably
  Microsoft Defender Safe Links detonation) send an ordinary browser user agent;
  the timing and burst rules exist for those.
* Tools and robots: HTTP libraries (curl, Wget, python-requests, Go, ...),
  headless browsers, and anything calling itself a bot, spider or crawler.
* Networks: the published ranges of mail-security services (Microsoft Exchange
  Online Protection, Mimecast, Barracuda, Proofpoint), shipped as a dated,
  versioned list and refreshable (tracking/ranges.py). Kept short on purpose: a
  wrong range would flag real readers.
* Timing: fitted to the published distribution of scanner clicks (tracking/timing.py).

Bursts (several links of one email from one network within a couple of seconds),
the honeypot link and re-flagging are judged over the email's recent hits in the
writer's transaction (tracking/bursts.py).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re

from webapp.tracking import ranges, timing

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Reasons (stored with the event; at most 40 characters).
APPLE_MPP = "apple_mpp"
PROXY = "proxy"
PREFETCH_HEAD = "prefetch_head"
HEAD_REQUEST = "head_request"
NOT_GET = "not_get_request"
EMPTY_USER_AGENT = "empty_user_agent"
SCANNER_UA = "scanner_ua"
SCANNER_IP = "scanner_ip"
TOO_SOON_AFTER_SEND = "too_soon_after_send"
TOO_SOON_AFTER_DELIVERY = "too_soon_after_delivery"
MULTI_LINK_BURST = "multi_link_burst"
RAPID_REPEAT = "rapid_repeat"

SCANNER_WINDOW = "scanner_window"
HONEYPOT = "honeypot"
HONEYPOT_WINDOW = "honeypot_window"
SCANNER_SOURCE = "scanner_source"
MACHINE_BY_REP = "marked_by_rep"

RULESET = 2
"""The version of these rules, stored with every event they judge (1: the fixed 5 s/10 s
windows and three-link bursts of before; 2: fitted timing, bursts judged as a whole,
the honeypot). `tune events reclassify` re-judges older events with the current rules."""

OPEN_TOO_SOON_SECONDS = timing.SCANNER_EARLIEST
"""Before the earliest scanner (1st percentile of the fitted timing, about 13 s)."""
CLICK_TOO_SOON_SECONDS = timing.SCANNER_EARLIEST
"""Likewise for clicks: too early for a reader, already the time of scanners."""
SCANNER_WINDOW_SECONDS = timing.SCANNER_LATEST
"""Up to the 99th percentile of scanner timing (about 145 s) a click needs a human open first."""

# Hits come in bursts from the same few proxies and scanners: remember the
# answers for recent addresses and agents (bounded, so memory stays flat).
CACHED_ADDRESSES = 4096
APPLE_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)
SCANNER_NETWORKS: tuple[IpNetwork, ...] = ranges.load().networks


def use_ranges(found: ranges.ScannerRanges) -> None:
    """Judge hits against `found` from now on (the instance's refreshed list)."""
    global SCANNER_NETWORKS
    SCANNER_NETWORKS = found.networks
    _scanner_address.cache_clear()
    _prefix_in_any.cache_clear()


APPLE_MPP_USER_AGENT = "Mozilla/5.0"
IMAGE_PROXY_TOKENS = ("googleimageproxy", "ggpht.com", "yahoomailproxy")
SCANNER_TOKENS = (
    # Microsoft link previews and Office link discovery.
    "bingpreview",
    "skypeuripreview",
    "microsoft office existence discovery",
    "microsoft office protocol discovery",
    # Mail security gateways that name themselves.
    "barracuda",
    "mimecast",
    "proofpoint",
    "urldefense",
    "ironport",
    "fireeye",
    "symantec",
    "messagelabs",
    "sophos",
    # HTTP libraries and command-line tools.
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "libwww-perl",
    "apache-httpclient",
    "java/",
    "node-fetch",
    "axios/",
    # Headless browsers and link unfurlers.
    "headlesschrome",
    "phantomjs",
    "facebookexternalhit",
)
_ROBOT_WORDS = re.compile(r"bot\b|spider|crawler", re.IGNORECASE)


def classify_open(
    *,
    user_agent: str | None,
    ip: str | None,
    method: str,
    seconds_since_sent: float | None,
    prefix: str | None = None,
) -> str | None:
    """Why this pixel fetch is probably not a person reading, or None.

    `prefix` stands in for `ip` when only the stored /24 or /48 is known.
    """
    agent = (user_agent or "").strip()
    lowered = agent.lower()
    address = _parse_ip(ip)
    verb = method.strip().upper()
    if verb == "HEAD":
        return PREFETCH_HEAD
    if verb != "GET":
        return NOT_GET
    apple = (
        _in_any(address, APPLE_NETWORKS)
        if address is not None
        else _prefix_in_any(prefix, APPLE_NETWORKS)
    )
    if agent == APPLE_MPP_USER_AGENT or apple:
        return APPLE_MPP
    if any(token in lowered for token in IMAGE_PROXY_TOKENS):
        return PROXY
    if not agent:
        return EMPTY_USER_AGENT
    if _is_scanner_agent(lowered):
        return SCANNER_UA
    if in_scanner_networks(ip, prefix):
        return SCANNER_IP
    if seconds_since_sent is not None and seconds_since_sent < OPEN_TOO_SOON_SECONDS:
        return TOO_SOON_AFTER_SEND
    return None


def in_scanner_networks(ip: str | None, prefix: str | None = None) -> bool:
    """Whether the address (or, when only that is stored, its /24 or /48) is a scanner's."""
    if ip:
        return _scanner_address(_parse_ip(ip))
    return _prefix_in_any(prefix, SCANNER_NETWORKS)


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def _scanner_address(address: IpAddress | None) -> bool:
    return address is not None and any(address in network for network in SCANNER_NETWORKS)


def classify_click(
    *,
    user_agent: str | None,
    ip: str | None,
    method: str,
    seconds_since_sent: float | None,
    opened_before: bool,
    prefix: str | None = None,
) -> str | None:
    """Why this click, judged alone, is probably not a person following the link, or None.

    `opened_before` says whether a human open of the same email came first: inside
    the scanner window it is what a person's click has and a scanner's lacks. The
    email's other hits (bursts, the honeypot) are judged in tracking/bursts.py.
    `prefix` stands in for `ip` when only the stored /24 or /48 is known.
    """
    agent = (user_agent or "").strip()
    lowered = agent.lower()
    verb = method.strip().upper()
    if verb == "HEAD":
        return HEAD_REQUEST
    if verb != "GET":
        return NOT_GET
    if not agent:
        return EMPTY_USER_AGENT
    if _is_scanner_agent(lowered) or any(token in lowered for token in IMAGE_PROXY_TOKENS):
        return SCANNER_UA
    if in_scanner_networks(ip, prefix):
        return SCANNER_IP
    if seconds_since_sent is not None:
        if seconds_since_sent < CLICK_TOO_SOON_SECONDS:
            return TOO_SOON_AFTER_DELIVERY
        if seconds_since_sent < SCANNER_WINDOW_SECONDS and not opened_before:
            return SCANNER_WINDOW
    return None


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def hash_ip(ip: str | None, salt: str) -> str | None:
    """A keyed SHA-256 of the address (32 hex chars), so raw IPs are never stored.

    The salt must be secret: the IPv4 space is small enough to hash exhaustively.
    Spellings of the same address (IPv6 case and zero runs, IPv4-mapped IPv6)
    hash the same. Invalid or missing addresses give None.
    """
    if not salt:
        raise ValueError("hash_ip needs a non-empty secret salt")
    address = _parse_ip(ip)
    if address is None:
        return None
    digest = hmac.new(salt.encode("utf-8"), str(address).encode("ascii"), hashlib.sha256)
    return digest.hexdigest()[:32]


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def ip_prefix(ip: str | None) -> str | None:
    """The coarse network of an address: IPv4 /24 or IPv6 /48, e.g. "203.0.113.0/24"."""
    address = _parse_ip(ip)
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Network((int(address), 24), strict=False))
    return str(ipaddress.IPv6Network((int(address), 48), strict=False))


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def _parse_ip(ip: str | None) -> IpAddress | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(int(address))
    return address


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def _in_any(address: IpAddress | None, networks: tuple[IpNetwork, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def _prefix_in_any(prefix: str | None, networks: tuple[IpNetwork, ...]) -> bool:
    if not prefix:
        return False
    try:
        network = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False
    return any(network.version == known.version and network.overlaps(known) for known in networks)


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def _is_scanner_agent(lowered_agent: str) -> bool:
    return any(token in lowered_agent for token in SCANNER_TOKENS) or bool(
        _ROBOT_WORDS.search(lowered_agent)
    )
