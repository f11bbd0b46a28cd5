"""`check_domain` against a real authoritative DNS server on loopback (knotd), not the internet."""

from __future__ import annotations

import time

import pytest

from webapp.core.errors import ValidationFailed
from webapp.deliverability import DnsUnavailable, Report, Resolver, check_domain
from webapp.deliverability.report import Finding

pytestmark = pytest.mark.slow

ZONE = "deliverability.test"


async def check(knot: tuple[str, int], name: str, selector: str | None = None) -> Report:
    return await check_domain(f"{name}.{ZONE}", selector, resolver=Resolver((knot,), timeout=10))


def about(report: Report, check: str) -> list[Finding]:
    return [finding for finding in report.findings if finding.check == check]


def messages(report: Report) -> str:
    return "\n".join(f"{f.severity} {f.check}: {f.message}" for f in report.findings)


async def test_a_domain_with_everything_right_is_ok(knot: tuple[str, int]) -> None:
    report = await check(knot, "good", "mail")
    assert report.severity == "ok", messages(report)
    assert report.exists
    assert report.spf is not None and report.spf.records == [
        "v=spf1 include:_spf.provider.deliverability.test -all"
    ]  # the verification TXT record beside it is not SPF
    assert report.spf.lookups == 1
    assert report.spf.all_qualifier == "-"
    assert report.dkim is not None
    assert (report.dkim.key_type, report.dkim.key_bits) == ("rsa", 2048)  # read from both strings
    assert report.dmarc is not None
    assert report.dmarc.policy == "reject"
    assert report.dmarc.rua == ["mailto:dmarc@good.deliverability.test"]
    assert {finding.check for finding in report.findings} == {"spf", "dkim", "dmarc"}


async def test_missing_dmarc_is_a_problem_that_names_gmail_and_yahoo(
    knot: tuple[str, int],
) -> None:
    report = await check(knot, "nodmarc", "mail")
    (finding,) = about(report, "dmarc")
    assert finding.severity == "problem"
    assert "No DMARC record" in finding.message
    assert "Gmail and Yahoo require one for bulk senders" in finding.message
    assert report.dkim is not None and report.dkim.severity == "problem"  # no key there either
    assert report.spf is not None and report.spf.severity == "ok"
    assert report.findings[0].severity == "problem"  # problems come first


async def test_dmarc_p_none_without_reports_is_a_warning(knot: tuple[str, int]) -> None:
    report = await check(knot, "monitor")
    assert report.dmarc is not None
    assert report.dmarc.policy == "none"
    assert report.dmarc.severity == "warning"
    dmarc = " ".join(finding.message for finding in about(report, "dmarc"))
    assert "p=none" in dmarc and "spoof" in dmarc
    assert "No rua= address" in dmarc
    assert report.spf is not None and report.spf.all_qualifier == "~"


async def test_spf_lookups_are_counted_through_includes(knot: tuple[str, int]) -> None:
    report = await check(knot, "toomany")
    assert report.spf is not None
    assert report.spf.lookups == 11  # 4 in the record, 3 in s1, 4 in s2
    (problem,) = [f for f in about(report, "spf") if f.severity == "problem"]
    assert "more than 10 DNS lookups" in problem.message
    assert "permerror" in problem.message


async def test_two_spf_records_are_a_problem(knot: tuple[str, int]) -> None:
    report = await check(knot, "twospf")
    assert report.spf is not None
    assert len(report.spf.records) == 2
    assert report.spf.lookups is None
    (finding,) = about(report, "spf")
    assert finding.severity == "problem"
    assert "2 SPF records" in finding.message
    assert report.dmarc is not None and report.dmarc.severity == "ok"


async def test_plus_all_and_a_short_key(knot: tuple[str, int]) -> None:
    report = await check(knot, "open", "k1024")
    spf = " ".join(f.message for f in about(report, "spf") if f.severity == "problem")
    assert "+all" in spf and "any server" in spf
    assert report.dkim is not None
    assert (report.dkim.key_bits, report.dkim.severity) == (1024, "warning")


async def test_a_revoked_dkim_key(knot: tuple[str, int]) -> None:
    report = await check(knot, "good", "old")
    assert report.dkim is not None
    assert report.dkim.revoked
    (finding,) = about(report, "dkim")
    assert finding.severity == "problem"
    assert "revoked" in finding.message
    assert report.severity == "problem"


async def test_an_unknown_selector(knot: tuple[str, int]) -> None:
    report = await check(knot, "good", "nosuch")
    assert report.dkim is not None
    assert report.dkim.name == "nosuch._domainkey.good.deliverability.test"
    assert report.dkim.record is None
    (finding,) = about(report, "dkim")
    assert finding.severity == "problem"
    assert "No DKIM key at nosuch._domainkey.good.deliverability.test" in finding.message


async def test_no_selector_leaves_dkim_unchecked_with_a_hint(knot: tuple[str, int]) -> None:
    report = await check(knot, "good")
    (finding,) = about(report, "dkim")
    assert finding.severity == "warning"
    assert "selector" in finding.message


async def test_a_domain_that_does_not_exist(knot: tuple[str, int]) -> None:
    report = await check(knot, "missing", "mail")
    assert not report.exists
    assert report.spf is None and report.dmarc is None
    (finding,) = report.findings
    assert finding.severity == "problem"
    assert "does not exist in DNS" in finding.message


async def test_the_domain_may_be_typed_as_an_address_or_url(knot: tuple[str, int]) -> None:
    resolver = Resolver((knot,), timeout=10)
    report = await check_domain(f"ana@GOOD.{ZONE}", resolver=resolver)
    assert report.domain == f"good.{ZONE}"
    report = await check_domain(f"https://good.{ZONE}/about", resolver=resolver)
    assert report.domain == f"good.{ZONE}" and report.exists


@pytest.mark.parametrize("value", ["", "not a domain", "localhost", "a..b.com", "x" * 300 + ".com"])
async def test_a_bad_domain_is_refused_before_any_lookup(value: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await check_domain(value, resolver=Resolver((("127.0.0.1", 9),), timeout=0.2))
    assert refused.value.field == "domain"


async def test_a_bad_selector_is_refused(knot: tuple[str, int]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await check_domain(f"good.{ZONE}", "a b", resolver=Resolver((knot,)))
    assert refused.value.field == "dkim_selector"


async def test_a_server_that_never_answers_times_out() -> None:
    from tests.support.dns import silent_server

    with silent_server() as silent:
        started = time.monotonic()
        with pytest.raises(DnsUnavailable) as unavailable:
            await check_domain(f"good.{ZONE}", "mail", resolver=Resolver((silent,), timeout=0.5))
        elapsed = time.monotonic() - started
    assert "did not answer within 0.5 s" in unavailable.value.message
    assert unavailable.value.status == 503
    assert elapsed < 10  # bounded by the timeout, not by dnspython's retries


async def test_a_server_that_refuses_the_zone_is_unavailable(knot: tuple[str, int]) -> None:
    """knotd is authoritative for deliverability.test only: it refuses other names."""
    with pytest.raises(DnsUnavailable):
        await check_domain("acme.com", resolver=Resolver((knot,), timeout=5))


def test_an_international_domain_is_checked_in_its_ascii_form() -> None:
    from webapp.deliverability import parse_domain

    assert parse_domain("Ana@München.de") == "xn--mnchen-3ya.de"
    assert parse_domain("https://www.faß.de/") == "xn--fa-hia.de"
