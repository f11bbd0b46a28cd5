"""Company domains: one normal form per domain, and free-mail providers.

Domains are stored lowercase in ASCII form (punycode for international names,
by IDNA 2008 with UTS #46 mapping, so "faß.de" stays its own domain), without
scheme, "www.", port, path, query or trailing dot.
"""

from __future__ import annotations

import re
from functools import lru_cache

import idna

MAX_DOMAIN = 253

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "msn.com",
        "proton.me",
        "pm.me",
        "protonmail.com",
        "protonmail.ch",
        "mail.com",
        "email.com",
        "web.de",
        "t-online.de",
        "freenet.de",
        "mail.ru",
        "inbox.ru",
        "bk.ru",
        "list.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "rediffmail.com",
        "libero.it",
        "virgilio.it",
        "laposte.net",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "tutanota.com",
        "tuta.io",
        "zohomail.com",
        "comcast.net",
        "att.net",
        "verizon.net",
        "btinternet.com",
        "bigpond.com",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
        "bol.com.br",
        "uol.com.br",
        "terra.com.br",
    }
)
# Providers with a domain per country (yahoo.co.uk, gmx.de, outlook.fr, …).
FREE_MAIL_BRANDS = frozenset(
    {"yahoo", "ymail", "rocketmail", "hotmail", "outlook", "live", "gmx", "yandex", "aol"}
)

_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:)?//|^mailto:")
_HOST_END = re.compile(r"[/?#\\]")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TOP_LABEL = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")


@lru_cache(maxsize=16_384)
def normalise_domain(value: str) -> str | None:
    """ "acme.com" from "https://www.Acme.com:443/about?x=1"; None when it is not a domain name.

    Returns the lowercase ASCII form (punycode for international names), so the
    same company typed two ways gets one key.
    """
    host = _SCHEME.sub("", value.strip().lower(), count=1)
    host = _HOST_END.split(host, maxsplit=1)[0].rpartition("@")[2]
    host = host.partition(":")[0].rstrip(".")
    if host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    return ascii_host(host)


@lru_cache(maxsize=16_384)
@lru_cache(maxsize=16_384)
def ascii_host(host: str) -> str | None:
    """The lowercase ASCII form of a bare host name, None unless it is a plausible domain.

    Cached: a file repeats its companies' hosts in every contact's email.
    """
    if not host or len(host) > MAX_DOMAIN:
        return None
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    labels = host.split(".")
    if len(labels) < 2 or len(host) > MAX_DOMAIN:
        return None
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if not _TOP_LABEL.fullmatch(labels[-1]):
        return None
    return host


def display_domain(domain: str) -> str:
    """The readable (Unicode) form of a normalised domain: "münchen.de" for "xn--mnchen-3ya.de"."""
    if "xn--" not in domain:
        return domain
    try:
        return idna.decode(domain)
    except idna.IDNAError:
        return domain


@lru_cache(maxsize=16_384)
def is_free_mail(domain: str) -> bool:
    """True for consumer mailbox providers, whose domain says nothing about the employer."""
    domain = domain.lower().rstrip(".")
    if domain in FREE_MAIL_DOMAINS:
        return True
    brand, _, suffix = domain.partition(".")
    if brand not in FREE_MAIL_BRANDS or not suffix:
        return False
    # brand.tld or brand.co.uk / brand.com.au, not brand.example-company.com
    parts = suffix.split(".")
    return len(parts) == 1 or (len(parts) == 2 and parts[0] in {"co", "com", "ne", "or"})
