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
* Networks: the mail-flow ranges Microsoft publishes for Exchange Online
  Protection ("Microsoft 365 URLs and IP address ranges", Exchange Online) and
  those Barracuda publishes for its Email Security Service (US). Kept short on
  purpose: a wrong range would flag real readers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re

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

OPEN_TOO_SOON_SECONDS = 5.0
"""Nobody reads a message within 5 s of it leaving our relay; prefetchers do."""
CLICK_TOO_SOON_SECONDS = 10.0
"""Gateways follow links while delivering; a person needs longer than 10 s."""
MULTI_LINK_BURST_LINKS = 3
"""This many different links of one email clicked within one second is a scanner."""
RAPID_REPEAT_SECONDS = 1.0
"""The same link again within a second (double click, scanner retry) is not a new click."""

# Hits come in bursts from the same few proxies and scanners: remember the
# answers for recent addresses and agents (bounded, so memory stays flat).
CACHED_ADDRESSES = 4096
APPLE_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)
SCANNER_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        # Microsoft Exchange Online Protection (Microsoft 365 endpoints, Exchange Online).
        "40.92.0.0/15",
        "40.107.0.0/16",
        "52.100.0.0/14",
        "104.47.0.0/17",
        "2a01:111:f400::/48",
        # Barracuda Email Security Service, US instance.
        "64.235.144.0/20",
        "209.222.80.0/21",
    )
)

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
    *, user_agent: str | None, ip: str | None, method: str, seconds_since_sent: float | None
) -> str | None:
    """Why this pixel fetch is probably not a person reading, or None."""
    agent = (user_agent or "").strip()
    lowered = agent.lower()
    address = _parse_ip(ip)
    verb = method.strip().upper()
    if verb == "HEAD":
        return PREFETCH_HEAD
    if verb != "GET":
        return NOT_GET
    if agent == APPLE_MPP_USER_AGENT or _in_any(address, APPLE_NETWORKS):
        return APPLE_MPP
    if any(token in lowered for token in IMAGE_PROXY_TOKENS):
        return PROXY
    if not agent:
        return EMPTY_USER_AGENT
    if _is_scanner_agent(lowered):
        return SCANNER_UA
    if _in_any(address, SCANNER_NETWORKS):
        return SCANNER_IP
    if seconds_since_sent is not None and seconds_since_sent < OPEN_TOO_SOON_SECONDS:
        return TOO_SOON_AFTER_SEND
    return None


def classify_click(
    *,
    user_agent: str | None,
    ip: str | None,
    method: str,
    seconds_since_sent: float | None,
    seconds_since_previous_click_same_content: float | None,
    distinct_links_clicked_last_second: int,
) -> str | None:
    """Why this click is probably not a person following the link, or None.

    `distinct_links_clicked_last_second` counts the different links of the
    same email clicked within the last second, this click included (0 is read
    as 1); `seconds_since_previous_click_same_content` is the gap to the
    previous click on any link of the same email. The first clicks of a
    scanner burst look human when they arrive; a later pass may re-flag them.
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
    if _in_any(_parse_ip(ip), SCANNER_NETWORKS):
        return SCANNER_IP
    if seconds_since_sent is not None and seconds_since_sent < CLICK_TOO_SOON_SECONDS:
        return TOO_SOON_AFTER_DELIVERY
    links_in_last_second = max(distinct_links_clicked_last_second, 1)
    if links_in_last_second >= MULTI_LINK_BURST_LINKS:
        return MULTI_LINK_BURST
    if (
        links_in_last_second == 1
        and seconds_since_previous_click_same_content is not None
        and seconds_since_previous_click_same_content < RAPID_REPEAT_SECONDS
    ):
        return RAPID_REPEAT
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
def _is_scanner_agent(lowered_agent: str) -> bool:
    return any(token in lowered_agent for token in SCANNER_TOKENS) or bool(
        _ROBOT_WORDS.search(lowered_agent)
    )
