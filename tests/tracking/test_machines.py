"""Machine-open and bot-click flags, with real user-agent strings."""

from __future__ import annotations

import pytest

from webapp.tracking import timing
from webapp.tracking.machines import (
    CLICK_TOO_SOON_SECONDS,
    OPEN_TOO_SOON_SECONDS,
    SCANNER_WINDOW_SECONDS,
    classify_click,
    classify_open,
    hash_ip,
    ip_prefix,
)

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67"
)
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
OUTLOOK_DESKTOP = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
OUTLOOK_DESKTOP_CLICK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)"
ANDROID_GMAIL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36"
)
HUMAN_IP = "203.0.113.45"
HUMAN_AGENTS = [CHROME, FIREFOX, SAFARI, EDGE, IPHONE_MAIL, OUTLOOK_DESKTOP, ANDROID_GMAIL]


def open_reason(
    user_agent: str | None = CHROME,
    ip: str | None = HUMAN_IP,
    method: str = "GET",
    seconds_since_sent: float | None = 3600.0,
) -> str | None:
    return classify_open(
        user_agent=user_agent, ip=ip, method=method, seconds_since_sent=seconds_since_sent
    )


def click_reason(
    user_agent: str | None = CHROME,
    ip: str | None = HUMAN_IP,
    method: str = "GET",
    seconds_since_sent: float | None = 3600.0,
    opened_before: bool = False,
) -> str | None:
    return classify_click(
        user_agent=user_agent,
        ip=ip,
        method=method,
        seconds_since_sent=seconds_since_sent,
        opened_before=opened_before,
    )


@pytest.mark.parametrize("agent", [*HUMAN_AGENTS, OUTLOOK_DESKTOP_CLICK])
def test_real_mail_clients_and_browsers_open_as_humans(agent: str) -> None:
    assert open_reason(agent) is None


@pytest.mark.parametrize("agent", [CHROME, FIREFOX, SAFARI, EDGE, IPHONE_MAIL, ANDROID_GMAIL])
def test_real_browsers_click_as_humans(agent: str) -> None:
    assert click_reason(agent) is None


def test_apple_mpp_is_flagged_by_its_network_and_its_bare_user_agent() -> None:
    assert open_reason("Mozilla/5.0", ip="17.58.101.2") == "apple_mpp"
    assert open_reason(IPHONE_MAIL, ip="17.120.0.9") == "apple_mpp"
    assert open_reason("Mozilla/5.0", ip=HUMAN_IP) == "apple_mpp"
    assert open_reason(IPHONE_MAIL, ip="18.0.0.1") is None


def test_apple_network_over_ipv4_mapped_ipv6_is_still_apple() -> None:
    assert open_reason(IPHONE_MAIL, ip="::ffff:17.1.2.3") == "apple_mpp"


@pytest.mark.parametrize("agent", [GMAIL_PROXY, YAHOO_PROXY])
def test_webmail_image_proxies_are_flagged_as_proxy_opens(agent: str) -> None:
    assert open_reason(agent, ip="66.249.84.1") == "proxy"


def test_head_requests_are_prefetches_not_opens() -> None:
    assert open_reason(method="HEAD") == "prefetch_head"
    assert open_reason(method="head") == "prefetch_head"
    assert click_reason(method="HEAD") == "head_request"
    assert click_reason(method="OPTIONS") == "not_get_request"


@pytest.mark.parametrize("agent", [None, "", "   "])
def test_missing_user_agents_are_flagged(agent: str | None) -> None:
    assert open_reason(agent) == "empty_user_agent"
    assert click_reason(agent) == "empty_user_agent"


@pytest.mark.parametrize(
    "agent",
    [
        "curl/8.5.0",
        "Wget/1.21.4",
        "python-requests/2.31.0",
        "Go-http-client/2.0",
        "Python-urllib/3.11",
        HEADLESS,
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b",
        "Microsoft Office Existence Discovery",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    ],
)
def test_scanners_tools_and_robots_are_flagged_by_user_agent(agent: str) -> None:
    assert click_reason(agent) == "scanner_ua"
    assert open_reason(agent) == "scanner_ua"


@pytest.mark.parametrize(
    "vendor", ["Barracuda", "Mimecast", "Proofpoint", "urldefense", "IronPort", "FireEye", "Sophos"]
)
def test_security_gateways_that_name_themselves_are_flagged(vendor: str) -> None:
    # Illustrative: these gateways' agents vary by product; the vendor name is what we match.
    assert click_reason(f"Mozilla/5.0 (compatible; {vendor} link scan)") == "scanner_ua"


def test_a_proxy_user_agent_clicking_a_link_is_a_scanner() -> None:
    assert click_reason(GMAIL_PROXY) == "scanner_ua"


@pytest.mark.parametrize(
    "ip", ["40.107.22.10", "52.101.3.4", "104.47.58.1", "2a01:111:f400:7e1b::5"]
)
def test_safe_links_from_microsoft_mail_ranges_are_flagged_by_ip(ip: str) -> None:
    # Safe Links detonation sends an ordinary browser user agent.
    assert click_reason(CHROME, ip=ip) == "scanner_ip"
    assert open_reason(CHROME, ip=ip) == "scanner_ip"


def test_barracuda_range_is_flagged_by_ip() -> None:
    assert click_reason(CHROME, ip="209.222.82.17") == "scanner_ip"


def test_opens_right_after_sending_are_too_soon() -> None:
    assert open_reason(seconds_since_sent=0.4) == "too_soon_after_send"
    assert open_reason(seconds_since_sent=OPEN_TOO_SOON_SECONDS - 0.01) == "too_soon_after_send"
    assert open_reason(seconds_since_sent=OPEN_TOO_SOON_SECONDS) is None
    assert open_reason(seconds_since_sent=None) is None


def test_a_clock_skewed_negative_age_counts_as_too_soon() -> None:
    assert open_reason(seconds_since_sent=-3) == "too_soon_after_send"


def test_clicks_right_after_delivery_are_too_soon() -> None:
    assert click_reason(seconds_since_sent=2.0) == "too_soon_after_delivery"
    assert click_reason(seconds_since_sent=CLICK_TOO_SOON_SECONDS - 0.01) == (
        "too_soon_after_delivery"
    )
    assert click_reason(seconds_since_sent=CLICK_TOO_SOON_SECONDS, opened_before=True) is None
    assert click_reason(seconds_since_sent=None) is None


def test_the_bounds_come_from_the_published_scanner_timing() -> None:
    # Median 43 s, two thirds within 20-60 s (putyourlightson/craft-campaign#546).
    assert timing.scanner_share_before(43.0) == pytest.approx(0.5)
    share = timing.scanner_share_before(60.0) - timing.scanner_share_before(20.0)
    assert share == pytest.approx(2 / 3, abs=1e-6)
    assert 12 < CLICK_TOO_SOON_SECONDS < 14
    assert 140 < SCANNER_WINDOW_SECONDS < 150
    assert timing.scanner_share_before(SCANNER_WINDOW_SECONDS) == pytest.approx(0.99)


def test_a_click_in_the_scanner_window_needs_a_human_open_first() -> None:
    assert click_reason(seconds_since_sent=43.0) == "scanner_window"
    assert click_reason(seconds_since_sent=43.0, opened_before=True) is None
    assert click_reason(seconds_since_sent=SCANNER_WINDOW_SECONDS + 1) is None
    assert click_reason(seconds_since_sent=600.0) is None


def test_stored_prefixes_stand_in_for_addresses_when_reclassifying() -> None:
    assert (
        classify_click(
            user_agent=CHROME,
            ip=None,
            prefix="40.107.22.0/24",
            method="GET",
            seconds_since_sent=None,
            opened_before=True,
        )
        == "scanner_ip"
    )
    assert (
        classify_open(
            user_agent=CHROME, ip=None, prefix="17.58.1.0/24", method="GET", seconds_since_sent=None
        )
        == "apple_mpp"
    )
    assert (
        classify_open(
            user_agent=CHROME,
            ip=None,
            prefix="203.0.113.0/24",
            method="GET",
            seconds_since_sent=None,
        )
        is None
    )


def test_mimecast_and_proofpoint_ranges_are_flagged() -> None:
    assert click_reason(CHROME, ip="205.139.110.30") == "scanner_ip"
    assert click_reason(CHROME, ip="91.220.42.7") == "scanner_ip"
    assert click_reason(CHROME, ip="148.163.140.2") == "scanner_ip"


@pytest.mark.parametrize("ip", [None, "", "not-an-ip", "999.1.1.1", "1.2.3", "17.0.0.0/8"])
def test_invalid_ips_never_raise_and_are_ignored(ip: str | None) -> None:
    assert open_reason(CHROME, ip=ip) is None
    assert click_reason(CHROME, ip=ip) is None
    assert ip_prefix(ip) is None
    assert hash_ip(ip, "salt") is None


def test_ip_prefix_is_a_slash_24_or_a_slash_48() -> None:
    assert ip_prefix("203.0.113.77") == "203.0.113.0/24"
    assert ip_prefix(" 198.51.100.1 ") == "198.51.100.0/24"
    assert ip_prefix("2001:db8:abcd:12::1") == "2001:db8:abcd::/48"
    assert ip_prefix("::ffff:192.0.2.9") == "192.0.2.0/24"
    assert ip_prefix("fe80::1%eth0") == "fe80::/48"


def test_hash_ip_is_salted_truncated_and_ignores_spelling() -> None:
    digest = hash_ip("203.0.113.45", "salt-a")
    assert digest is not None and len(digest) == 32
    assert set(digest) <= set("0123456789abcdef")
    assert "203.0.113.45" not in digest
    assert hash_ip("203.0.113.45", "salt-b") != digest
    assert hash_ip("203.0.113.46", "salt-a") != digest
    assert hash_ip("2001:DB8::1", "s") == hash_ip("2001:db8:0:0::1", "s")
    assert hash_ip("::ffff:203.0.113.45", "salt-a") == digest


def test_hash_ip_refuses_an_empty_salt() -> None:
    with pytest.raises(ValueError):
        hash_ip("203.0.113.45", "")
