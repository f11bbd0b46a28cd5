"""How senior a contact is, from their job title (the rules are explained in docs/scoring.md)."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import lru_cache


class Seniority(StrEnum):
    """How senior a contact is, from their job title. The value is stored on the contact."""

    C_LEVEL = "c_level"
    VP = "vp"
    DIRECTOR = "director"
    MANAGER = "manager"
    OTHER = "other"


SENIORITY_RANK = {
    Seniority.OTHER: 0,
    Seniority.MANAGER: 1,
    Seniority.DIRECTOR: 2,
    Seniority.VP: 3,
    Seniority.C_LEVEL: 4,
}
SENIORITY_LABELS = {
    Seniority.C_LEVEL: "C-level contact",
    Seniority.VP: "VP-level contact",
    Seniority.DIRECTOR: "director-level contact",
    Seniority.MANAGER: "manager-level contact",
    Seniority.OTHER: "no manager or above among contacts",
}

_C, _VP, _DIR, _MGR, _OTHER = (
    Seniority.C_LEVEL,
    Seniority.VP,
    Seniority.DIRECTOR,
    Seniority.MANAGER,
    Seniority.OTHER,
)
# First match wins, so exceptions come before the rules they override. Titles
# are matched casefolded, without accents, punctuation turned into spaces.
_SENIORITY_RULES: tuple[tuple[re.Pattern[str], Seniority], ...] = tuple(
    (re.compile(pattern), level)
    for pattern, level in (
        (r"\b(?:assistant|secretary|aide|advisor|adviser|consultant|reporting) to\b", _OTHER),
        (r"\b(?:executive|personal|administrative|admin|office|virtual) assistant\b", _OTHER),
        (r"\boffice of the\b|\b[a-z]+ s office\b", _OTHER),
        (
            r"\b(?:board member|member of the board|board of directors|board director"
            r"|advisory board|board advisor|non ?executive|non exec)\b",
            _OTHER,
        ),
        (r"\b(?:product|process|service|data|account) owner\b", _OTHER),
        (r"\b(?:intern|internship|trainee|apprentice|student)\b", _OTHER),
        (r"\bchief of staff\b", _DIR),
        (
            r"\b(?:deputy|vice) (?:ceo|chief executive|managing director"
            r"|chair|chairman|chairwoman|chairperson)\b",
            _VP,
        ),
        (r"\b(?:avp|(?:assistant|associate) (?:vice president|vp))\b", _DIR),
        (r"\b(?:assistant|associate|deputy) general manager\b", _DIR),
        (r"\b(?:assistant|associate|deputy) director\b", _MGR),
        (r"\b(?:assistant|associate|deputy) manager\b", _OTHER),
        (r"\b(?:ceo|cto|cfo|coo|cmo|cio|cro|cso|cpo|cdo|cco|chro|ciso|cxo|pdg)\b", _C),
        (r"\bchief\b", _C),
        (r"\b(?:co ?)?(?:founder|owner)\b|\bproprietor\b", _C),
        (r"(?<!vice )\bpresident[ea]?\b", _C),
        (
            r"\b(?:managing director|managing partner|general partner|senior partner"
            r"|founding partner|equity partner)\b",
            _C,
        ),
        (r"\bchair(?:man|woman|person)?\b", _C),
        (
            r"\b(?:direct(?:eur|or|ora|rice) general[e]?|director general|general director"
            r"|geschaftsfuhrer(?:in)?|inhaber(?:in)?|fundador[a]?|fondat(?:eur|rice)"
            r"|grunder(?:in)?)\b",
            _C,
        ),
        (
            r"\b(?:vice ?president[ea]?|vp|svp|evp|gvp|rvp|general manager|gerente general"
            r"|head of|leiter(?:in)?)\b|\bhead$"
            r"|^head\b(?! (?:chef|cook|waiter|bartender|housekeeper|nurse|teacher|coach"
            r"|porter|concierge|sommelier|of house))",
            _VP,
        ),
        (
            r"\b(?:director|directrice|directeur|directora|diretor|diretora|direttore"
            r"|direttrice|direktor|direktorin)\b",
            _DIR,
        ),
        (
            r"\b(?:manager|managerin|mgr|supervisor|superintendent|gerente|jefe|jefa"
            r"|responsable|team leader|teamleiter)\b"
            r"|\blead\b(?! (?:generation|gen|qualification|qualifier|nurturing|research))",
            _MGR,
        ),
        (r"\bpartner\b", _VP),
    )
)
_NON_WORD = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=8192)
def seniority_rank(title: str | None) -> int:
    """0 (OTHER) to 4 (C_LEVEL): how senior a title is, for picking a prospect's best contact."""
    return SENIORITY_RANK[seniority(title)]


@lru_cache(maxsize=8192)
def seniority(title: str | None) -> Seniority:
    """The seniority a job title implies; OTHER when unknown or empty.

    Cached: imports repeat the same few hundred titles.
    """
    if not title:
        return Seniority.OTHER
    words = plain_words(title)
    for pattern, level in _SENIORITY_RULES:
        if pattern.search(words):
            return level
    return Seniority.OTHER


def plain_words(text: str) -> str:
    """Casefolded, without accents, runs of anything but letters and digits as one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NON_WORD.sub(" ", plain).strip()
