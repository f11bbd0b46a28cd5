"""SPF (RFC 7208): read a domain's `v=spf1` record and count the DNS lookups it costs.

A receiver evaluating SPF may make at most 10 DNS lookups (include, a, mx, ptr,
exists and the redirect modifier, counted through every include); one more and
SPF fails with a permanent error, as if the domain had no SPF at all. So do two
SPF records, and an include whose domain has none.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from webapp.deliverability.report import Finding, Severity, SpfResult

LOOKUP_LIMIT = 10
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
MECHANISMS = LOOKUP_MECHANISMS | {"all", "ip4", "ip6"}
MAX_FOLLOWED = 25
"""Includes followed at most per check, whatever the records say (loops, huge trees)."""
_TERM = re.compile(r"^([+\-~?]?)([a-z0-9]+)(?::(.*?))?(/\d+)?(//\d+)?$", re.IGNORECASE)

Fetch = Callable[[str], Awaitable[list[str] | None]]
"""The SPF records of a domain (TXT records starting `v=spf1`); None when it does not exist."""


def is_spf(text: str) -> bool:
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


@dataclass(frozen=True)
class Term:
    qualifier: str
    """"+", "-", "~" or "?"; "+" when the record leaves it out."""
    name: str
    """The mechanism (`include`, `ip4`, ...) or modifier (`redirect`, `exp`, ...) in lowercase."""
    value: str | None
    modifier: bool


@dataclass(frozen=True)
class Parsed:
    terms: list[Term]
    errors: list[str]

    @property
    def all_qualifier(self) -> str | None:
        for term in self.terms:
            if term.name == "all" and not term.modifier:
                return term.qualifier
        return None

    def modifier(self, name: str) -> str | None:
        return next((t.value for t in self.terms if t.modifier and t.name == name), None)


def parse(record: str) -> Parsed:
    """The terms of one `v=spf1` record, and what in it a receiver would refuse."""
    terms: list[Term] = []
    errors: list[str] = []
    for word in record.split()[1:]:
        name, equals, value = word.partition("=")
        if equals and re.fullmatch(r"[a-z][a-z0-9_.\-]*", name, re.IGNORECASE):
            terms.append(Term("+", name.lower(), value, modifier=True))
            continue
        match = _TERM.match(word)
        if match is None or match.group(2).lower() not in MECHANISMS:
            errors.append(f'"{word}" is not an SPF mechanism')
            continue
        qualifier, mechanism, target = match.group(1) or "+", match.group(2).lower(), match.group(3)
        if mechanism in {"include", "exists"} and not target:
            errors.append(f'"{word}" needs a domain')
            continue
        terms.append(Term(qualifier, mechanism, target, modifier=False))
    return Parsed(terms, errors)


async def count_lookups(parsed: Parsed, fetch: Fetch) -> tuple[int, list[str]]:
    """DNS lookups an evaluation of `parsed` costs, through its includes and redirect,
    and the includes that lead nowhere. Counting stops once past the limit."""
    count = 0
    broken: list[str] = []
    followed: set[str] = set()

    async def walk(record: Parsed) -> None:
        nonlocal count
        targets: list[str] = []
        for term in record.terms:
            if term.modifier and term.name != "redirect":
                continue
            if term.modifier or term.name in LOOKUP_MECHANISMS:
                count += 1
                if term.name in {"include", "redirect"} and term.value and "%" not in term.value:
                    targets.append(term.value.lower().rstrip("."))
        for target in targets:
            if count > LOOKUP_LIMIT or len(followed) >= MAX_FOLLOWED:
                return
            if target in followed:
                continue
            followed.add(target)
            records = await fetch(target)
            if not records or len(records) != 1:
                broken.append(target)
                continue
            await walk(parse(records[0]))

    await walk(parsed)
    return count, broken


async def check(domain: str, records: list[str], fetch: Fetch) -> SpfResult:
    """The SPF verdict on `domain` from its SPF records (already fetched)."""
    findings: list[Finding] = []

    def say(severity: Severity, message: str) -> None:
        findings.append(Finding("spf", severity, message))

    if not records:
        say(
            "problem",
            f"No SPF record: receivers cannot tell which servers may send mail for {domain}. "
            "Gmail and Yahoo require SPF (and DKIM) for bulk senders; add a TXT record "
            "starting v=spf1 that lists your mail provider.",
        )
        return SpfResult(records, None, None, findings)
    if len(records) > 1:
        say(
            "problem",
            f"{len(records)} SPF records: a domain may have only one, so receivers treat SPF "
            "as broken (permerror), as if there were none. Merge them into one TXT record.",
        )
        return SpfResult(records, None, None, findings)
    parsed = parse(records[0])
    for error in parsed.errors:
        say("problem", f"The SPF record is invalid: {error}, so SPF fails (permerror).")
    lookups, broken = await count_lookups(parsed, fetch)
    if lookups > LOOKUP_LIMIT:
        say(
            "problem",
            f"SPF needs more than {LOOKUP_LIMIT} DNS lookups (at least {lookups}): receivers stop "
            f"at {LOOKUP_LIMIT} and SPF fails (permerror). Remove includes you no longer use, "
            "or replace them with ip4:/ip6: ranges.",
        )
    else:
        say("ok", f"SPF needs {lookups} of the {LOOKUP_LIMIT} DNS lookups allowed.")
    for target in broken:
        say(
            "problem",
            f"include:{target} has no single SPF record: receivers treat SPF as broken "
            "(permerror). Fix or remove that include.",
        )
    qualifier = parsed.all_qualifier
    redirect = parsed.modifier("redirect")
    if qualifier == "+":
        say(
            "problem",
            "The SPF record ends in +all: it lets any server in the world send as "
            f"{domain}. Use -all or ~all.",
        )
    elif qualifier == "?":
        say(
            "warning",
            "The SPF record ends in ?all (neutral): mail from servers it does not list is "
            "not marked as suspicious. Use ~all or -all.",
        )
    elif qualifier is None and redirect is None:
        say(
            "warning",
            "The SPF record does not end in -all or ~all: mail from servers it does not "
            "list is not marked as suspicious. Add ~all or -all at the end.",
        )
    elif qualifier in {"-", "~"}:
        ending = "-all" if qualifier == "-" else "~all"
        say("ok", f"SPF found; it ends in {ending}, so mail from unlisted servers is flagged.")
    else:
        say("ok", f"SPF found; it follows redirect={redirect}.")
    return SpfResult(records, lookups, qualifier, findings)
