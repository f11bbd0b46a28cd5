"""Reading what a person wrote: the answer without its quoted history, its tone, a return date.

Quoted history and signatures are taken off by mail-parser-reply, which knows
the "On … wrote:" / "Am … schrieb" / "Le … a écrit" headers of the common mail
clients in many languages. Whether an answer asks to stop is read from phrases
in English, German, French and Spanish; a rep can correct any label.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser

REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl"]
CLASSIFICATIONS = ("positive", "neutral", "negative")
TEXT_MAX = 20_000

NEGATIVE = [
    # English
    r"unsubscribe",
    r"remove me",
    r"take me off",
    r"opt[ -]?out",
    r"stop (e-?mailing|sending|contacting|writing)",
    r"do not (contact|email|e-mail|write)",
    r"don'?t (contact|email|e-mail|write)",
    r"not interested",
    r"no interest",
    r"no thanks",
    r"no thank you",
    # German
    r"abmelden",
    r"austragen",
    r"nicht interessiert",
    r"kein interesse",
    r"keine (weiteren )?(e-?mails|nachrichten)",
    r"nicht mehr (kontaktieren|anschreiben|schreiben)",
    r"entfernen sie mich",
    # French
    r"desabonner",
    r"desinscrire",
    r"desinscription",
    r"pas interesse",
    r"ne m'?interesse pas",
    r"retirez[- ]moi",
    r"ne (plus )?me (contactez|contacter|recontactez) (plus|pas)",
    r"ne plus me contacter",
    # Spanish
    r"(dar(me)?|dame|denme|den) de baja",
    r"no me interesa",
    r"no estoy interesad[oa]",
    r"no nos interesa",
    r"eliminar(me)?",
    r"eliminame",
    r"no (me )?(contacte[ns]?|escrib[ae]n?)",
    r"dej(e|en) de (enviar|escribir)",
]
POSITIVE = [
    r"interested",
    r"sounds (good|great|interesting)",
    r"let'?s (talk|chat|meet|schedule|set up)",
    r"(book|schedule|set up) a (call|meeting|demo)",
    r"happy to (chat|talk|meet)",
    r"call me",
    r"send (me )?(more )?(info|details|information)",
    r"tell me more",
    r"interessiert",
    r"gerne",
    r"klingt (gut|interessant)",
    r"termin",
    r"interesse",
    r"volontiers",
    r"avec plaisir",
    r"me interesa",
    r"con gusto",
    r"suena (bien|interesante)",
    r"hablemos",
]
_NEGATIVE = re.compile(r"\b(" + "|".join(NEGATIVE) + r")\b")
_POSITIVE = re.compile(r"\b(" + "|".join(POSITIVE) + r")\b")

MONTHS = {
    # English
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
    # German
    "januar": 1, "jänner": 1, "februar": 2, "märz": 3, "maerz": 3, "mai": 5, "juni": 6,
    "juli": 7, "oktober": 10, "okt": 10, "dezember": 12, "dez": 12,
    # French
    "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "juin": 6,
    "juillet": 7, "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11,
    "décembre": 12, "decembre": 12,
    # Spanish
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
    "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11,
    "diciembre": 12,
}  # fmt: skip
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th|er|\.)?\s+(?:de\s+)?({_MONTH})\.?(?:\s+(?:de\s+)?(\d{{4}}))?\b",
    re.IGNORECASE,
)
_MONTH_DAY = re.compile(
    rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.IGNORECASE
)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DOTTED = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})?")
RETURN_HORIZON = timedelta(days=180)
# Forwarding/quoting lines some webmail clients write that the parser does not know.
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(original message|mensaje original|message d'origine|"
    r"urspr(ü|ue)ngliche nachricht|mensaje de|message de|nachricht von)\b.*$",
    re.IGNORECASE | re.MULTILINE,
)


def reply_text(body: str) -> str:
    """The newest answer in `body`: quoted history and signature taken off."""
    text = body.replace("\r\n", "\n").strip()
    if not text:
        return ""
    separator = _SEPARATOR.search(text)
    if separator and separator.start() > 0:
        text = text[: separator.start()]
    replies = EmailReplyParser(languages=REPLY_LANGUAGES).read(text).replies
    latest = replies[0].body if replies else ""
    if not latest.strip():  # everything looked quoted: keep the unquoted lines
        latest = "\n".join(line for line in text.splitlines() if not line.startswith(">"))
    return latest.strip()[:TEXT_MAX]


def classify_reply(text: str) -> str:
    """negative (asks to stop, or not interested), positive, or neutral."""
    folded = fold(text)
    if _NEGATIVE.search(folded):
        return "negative"
    if _POSITIVE.search(folded):
        return "positive"
    return "neutral"


def fold(text: str) -> str:
    """Lower case without accents, apostrophes made plain, so one pattern fits all spellings."""
    text = text.replace("\u2019", "'").replace("\u00a0", " ").casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def return_date(text: str, received: datetime) -> datetime | None:
    """The date an out-of-office answer says its writer is back, at 00:00 UTC.

    The latest date within six months after `received` that the text names
    ("back on 12 January", "until 2026-01-12", "bis zum 12. Januar", "jusqu'au
    12 janvier", "hasta el 12 de enero", 12.01.2026); None when it names none.
    """
    today = received.astimezone(UTC).date()
    found: list[date] = []
    for match in _ISO.finditer(text):
        found += _valid(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    for match in _DAY_MONTH.finditer(text):
        month = MONTHS[match.group(2).lower()]
        found += _dated(today, int(match.group(1)), month, match.group(3))
    for match in _MONTH_DAY.finditer(text):
        month = MONTHS[match.group(1).lower()]
        found += _dated(today, int(match.group(2)), month, match.group(3))
    for match in _DOTTED.finditer(text):
        year = match.group(3)
        if year is not None and len(year) == 2:
            year = "20" + year
        found += _dated(today, int(match.group(1)), int(match.group(2)), year)
    ahead = [day for day in found if today < day <= today + RETURN_HORIZON]
    if not ahead:
        return None
    back = max(ahead)
    return datetime(back.year, back.month, back.day, tzinfo=UTC)


def _dated(today: date, day: int, month: int, year: str | None) -> list[date]:
    if year is not None:
        return _valid(int(year), month, day)
    candidates = _valid(today.year, month, day)
    if candidates and candidates[0] <= today:
        candidates = _valid(today.year + 1, month, day)
    return candidates


def _valid(year: int, month: int, day: int) -> list[date]:
    try:
        return [date(year, month, day)]
    except ValueError:
        return []


class _TextOf(HTMLParser):
    """HTML to readable text: block elements become line breaks, scripts and styles vanish."""

    BLOCKS = {"p", "div", "br", "li", "tr", "blockquote", "h1", "h2", "h3", "h4", "hr", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "head", "title"}:
            self.hidden += 1
        elif tag == "blockquote":
            self.quote += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "head", "title"}:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.quote:  # quoted history in HTML mail: mark it like plain-text quoting
            data = "\n".join("> " + line if line.strip() else line for line in data.split("\n"))
        self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
