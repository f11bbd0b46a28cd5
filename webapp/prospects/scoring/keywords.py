"""A profile's keywords, found as whole words (plurals too) in company name, industry and notes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from webapp.prospects.scoring.reasons import Reason


@dataclass(frozen=True, slots=True)
class KeywordGroup:
    """Words that, when any occurs, give `points` once."""

    label: str
    words: tuple[str, ...]
    points: int


_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~–—‘’‚“”„…•·«»¡¿®™©°"
_PUNCTUATION_TO_SPACE = str.maketrans(_PUNCTUATION, " " * len(_PUNCTUATION))
_ASCII_PUNCTUATION = _PUNCTUATION[:32].encode("ascii")
_ASCII_LOWER_NO_PUNCTUATION = bytes.maketrans(
    _ASCII_PUNCTUATION + b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    b" " * len(_ASCII_PUNCTUATION) + b"abcdefghijklmnopqrstuvwxyz",
)
_PLURAL_ENDINGS = ("", "s", "es")


def keyword_tokens(text: str) -> list[str]:
    """Lowercase words of a text, the unit keywords match on ("E-Commerce" → e, commerce)."""
    if text.isascii():  # most texts: a byte table is twice as fast as str.translate
        return text.encode("ascii").translate(_ASCII_LOWER_NO_PUNCTUATION).decode("ascii").split()
    return text.lower().translate(_PUNCTUATION_TO_SPACE).split()


# A keyword hit: (keyword group index, position of the word in its group, reason).
_Hit = tuple[int, int, Reason]
# What a token leads to: the hit of the word itself, and phrases that start with it.
_Entry = tuple[_Hit | None, tuple[tuple[str, _Hit], ...]]


@dataclass(frozen=True, slots=True)
class KeywordMatcher:
    """Finds a profile's keywords as whole words, plurals included.

    Fast enough for 100,000 prospects a second: one set intersection finds the
    words present, and phrases are only searched for when their first word
    occurs. A phrase hides the words inside it ("casino reviews" does not also
    count "casino"). When several words of a group occur, the one listed first
    names the reason.
    """

    entries: Mapping[str, _Entry]

    @classmethod
    def build(cls, groups: tuple[KeywordGroup, ...]) -> KeywordMatcher:
        words: dict[str, _Hit] = {}
        phrases: dict[str, list[tuple[str, _Hit]]] = {}
        for index, group in enumerate(groups):
            if not group.points:
                continue
            for rank, word in enumerate(group.words):
                hit = (index, rank, Reason(group.points, f"{group.label} ({word})"))
                tokens = keyword_tokens(word)
                for ending in _PLURAL_ENDINGS:
                    if len(tokens) == 1:
                        # An explicitly listed word beats another word's plural form.
                        if not ending or tokens[0] + ending not in words:
                            words[tokens[0] + ending] = hit
                    else:
                        phrase = f" {' '.join(tokens)}{ending} "
                        phrases.setdefault(tokens[0], []).append((phrase, hit))
        entries = {
            token: (words.get(token), tuple(phrases.get(token, ())))
            for token in words.keys() | phrases.keys()
        }
        return cls(MappingProxyType(entries))

    def reasons(self, text: str) -> list[Reason]:
        """One reason per keyword group found in the text, in the profile's group order."""
        tokens = keyword_tokens(text)
        entries = self.entries
        present = entries.keys() & tokens
        if not present:
            return []
        hits: list[_Hit] = []
        candidates: list[tuple[str, _Hit]] = []
        for token in present:
            word_hit, phrases = entries[token]
            if word_hit is not None:
                hits.append(word_hit)
            candidates.extend(phrases)
        if candidates:
            candidates.sort(key=lambda candidate: (-len(candidate[0]), candidate[0]))
            padded = f" {' '.join(tokens)} "
            phrase_hits: list[_Hit] = []
            for phrase, hit in candidates:
                if phrase in padded:
                    padded = padded.replace(phrase, " | ")
                    phrase_hits.append(hit)
            if phrase_hits:
                outside_phrases = [entries[token][0] for token in entries.keys() & padded.split()]
                hits = phrase_hits + [hit for hit in outside_phrases if hit is not None]
        hits.sort()  # (group, rank) is unique per word, so reasons are never compared
        reasons: list[Reason] = []
        last_group = -1
        for group, _, reason in hits:
            if group != last_group:
                reasons.append(reason)
                last_group = group
        return reasons
