"""Looking the records up: dnspython's async resolver, bounded by one timeout per check.

The three lookups of a check (SPF at the domain, the DKIM key, `_dmarc`) run
side by side on the event loop, never blocking it; SPF includes follow. The
whole check gets `DNS_TIMEOUT` seconds: a server that does not answer in time,
or answers only with errors, makes it `DnsUnavailable` (503, retry), because
a report built from missing answers would be wrong.
"""

from __future__ import annotations

import asyncio
from typing import cast

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from webapp.core.errors import ServiceUnavailable, ValidationFailed
from webapp.deliverability import dkim, dmarc, spf
from webapp.deliverability.report import Finding, Report, ordered
from webapp.prospects.rows.domains import normalise_domain

RETRY_AFTER_SECONDS = 30


class DnsUnavailable(ServiceUnavailable):
    """The DNS servers did not answer (in time, or at all): nothing can be said yet."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=RETRY_AFTER_SECONDS)


def parse_domain(value: str) -> str:
    """The sending domain in ASCII form ("münchen.de" → "xn--mnchen-3ya.de"); an address
    such as "ana@acme.com" gives its domain. 422 naming `domain` when it is not one."""
    domain = normalise_domain(value) if value else None
    if domain is None:
        raise ValidationFailed(
            f"domain {value[:80]!r} is not a domain name like acme.com", field="domain"
        )
    return domain


def parse_selector(value: str | None) -> str | None:
    """The DKIM selector in lowercase, None when none is named; 422 when it cannot be one."""
    if value is None or not value.strip():
        return None
    selector = value.strip().lower()
    if len(selector) > 200 or not dkim.SELECTOR.fullmatch(selector):
        raise ValidationFailed(
            "dkim_selector must be a DNS label such as google or selector1",
            field="dkim_selector",
        )
    return selector


class Resolver:
    """TXT lookups against the configured nameservers, or the system's (`/etc/resolv.conf`)."""

    def __init__(self, nameservers: tuple[tuple[str, int], ...] = (), timeout: float = 5.0) -> None:
        self.nameservers = nameservers
        self.timeout = timeout
        self._resolver: dns.asyncresolver.Resolver | None = None

    async def _get(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            if self.nameservers:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(address, port)
                    for address, port in self.nameservers
                ]
            else:
                try:  # reads /etc/resolv.conf: a file, so off the loop
                    resolver = await asyncio.to_thread(dns.asyncresolver.Resolver)
                except dns.resolver.NoResolverConfiguration:
                    raise DnsUnavailable(
                        "no DNS server is configured on this machine; set DNS_NAMESERVERS"
                    ) from None
            resolver.lifetime = self.timeout
            resolver.timeout = self.timeout
            self._resolver = resolver
        return self._resolver

    async def txt(self, name: str) -> list[str] | None:
        """The TXT records at `name` (each record's strings joined); None when the name
        does not exist (NXDOMAIN)."""
        resolver = await self._get()
        try:
            answer = await resolver.resolve(name, "TXT", search=False)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.resolver.NoAnswer:
            return []
        except dns.exception.Timeout:
            raise DnsUnavailable(
                f"the DNS server did not answer within {self.timeout:g} s; try again shortly"
            ) from None
        except dns.resolver.NoNameservers:
            raise DnsUnavailable(
                f"the DNS servers could not answer for {name} (server failure); try again"
            ) from None
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsUnavailable(
                f"the DNS lookup of {name} failed ({type(exc).__name__})"
            ) from None
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


async def check_domain(
    domain: str, dkim_selector: str | None = None, *, resolver: Resolver | None = None
) -> Report:
    """Check the SPF, DKIM (when a selector is named) and DMARC records of a sending domain.

    `domain` may be in any form a rep types (an address, a URL, Unicode); it is
    normalised first. Raises `ValidationFailed` for a bad domain or selector and
    `DnsUnavailable` when DNS does not answer within the resolver's timeout.
    """
    name = parse_domain(domain)
    selector = parse_selector(dkim_selector)
    resolver = resolver or Resolver()
    try:
        async with asyncio.timeout(resolver.timeout):
            return await _check(name, selector, resolver)
    except TimeoutError:
        raise DnsUnavailable(
            f"the DNS server did not answer within {resolver.timeout:g} s; try again shortly"
        ) from None


async def _check(domain: str, selector: str | None, resolver: Resolver) -> Report:
    async def nothing() -> list[str] | None:
        return None

    answers = await asyncio.gather(
        resolver.txt(domain),
        resolver.txt(dkim.key_name(selector, domain)) if selector else nothing(),
        resolver.txt(dmarc.record_name(domain)),
        return_exceptions=True,  # all three finish (within the timeout) before any error is told
    )
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    at_domain, at_selector, at_dmarc = cast(list[list[str] | None], answers)
    if at_domain is None:
        finding = Finding(
            "domain",
            "problem",
            f"{domain} does not exist in DNS: no mail can be sent from it, and receivers "
            "reject mail that claims to be from it. Check the spelling.",
        )
        return Report(domain, False, None, None, None, [finding])

    async def spf_of(target: str) -> list[str] | None:
        records = await resolver.txt(target)
        return None if records is None else [text for text in records if spf.is_spf(text)]

    spf_result = await spf.check(domain, [text for text in at_domain if spf.is_spf(text)], spf_of)
    dkim_result = dkim.check(selector, domain, at_selector)
    dmarc_result = dmarc.check(domain, [text for text in at_dmarc or [] if dmarc.is_dmarc(text)])
    findings = ordered(spf_result.findings + dkim_result.findings + dmarc_result.findings)
    return Report(domain, True, spf_result, dkim_result, dmarc_result, findings)
