"""Turning uploaded bytes into text: the encoding of a prospect file.

UTF-8 (with or without BOM) and UTF-16/32 with a BOM are recognised by their
bytes. Anything else is a single-byte export from a spreadsheet: cp1252, the
Western default, unless charset-normalizer is confident the text is in another
alphabet (a Cyrillic cp1251 export, a Greek cp1253 one). The uploader can also
name the encoding, which wins over every guess.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

from webapp.core.errors import UnsupportedMediaType, ValidationFailed
from webapp.prospects.rows.fields import expected_columns

_NON_ASCII_BYTE = re.compile(rb"[\x80-\xff]")
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
GUESS_SAMPLE_BYTES = 262_144
"""charset-normalizer reads this much of a non-UTF-8 file."""
NON_LATIN_SCRIPTS = (
    "Cyrillic",
    "Greek",
    "Hebrew",
    "Arabic",
    "Thai",
    "Armenian",
    "Georgian",
    "Hiragana",
    "Katakana",
    "CJK",
    "Hangul",
)
"""Unicode block names (as charset-normalizer reports them) that no Latin code page covers."""


class CsvFormatError(UnsupportedMediaType):
    """The upload is not a prospect CSV Tune can read (binary, empty, no usable header)."""

    code = "not_csv"


def decode_csv(data: bytes, encoding: str | None = None) -> str:
    """Decode uploaded bytes: the named `encoding`, else UTF-8 (with or without BOM),
    UTF-16/32 with BOM, else a single-byte code page (`_decode_single_byte`).

    Raises ValidationFailed for an encoding Python does not know, and
    CsvFormatError for bytes that are not in the named encoding or look like
    binary data (control characters no text export contains).
    """
    if not data or data.isspace():
        raise CsvFormatError(f"the file is empty; expected a CSV with {expected_columns()}")
    if encoding:
        text = _decode_named(data, encoding)
    elif data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        text = _decode_or_reject(data, "utf-32")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _decode_or_reject(data, "utf-16")
    elif data.startswith(codecs.BOM_UTF8):
        text = _decode_or_reject(data, "utf-8-sig")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            if _NON_ASCII_BYTE.search(data, 0, error.start):
                # Valid multi-byte UTF-8 before this point: reading it all as
                # cp1252 would garble every accented name in the file.
                raise CsvFormatError(
                    f"the file is UTF-8 up to byte {error.start} but not after it; "
                    "save it again as UTF-8, or name its encoding"
                ) from None
            text = _decode_single_byte(data)
    if _looks_binary(text[:65_536]):
        raise CsvFormatError(
            f"the file looks like binary data, not text; expected a CSV with {expected_columns()}"
        )
    return text


def check_encoding(encoding: str | None) -> str | None:
    """The encoding an uploader named, checked; None when they named none.

    Raises ValidationFailed (field `encoding`) for a name Python does not know.
    """
    name = (encoding or "").strip()
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValidationFailed(
            f"unknown encoding {name[:40]!r}; use a name like utf-8, cp1252 or cp1251",
            field="encoding",
        ) from None


def _decode_named(data: bytes, encoding: str) -> str:
    name = check_encoding(encoding) or "utf-8"
    if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        name = "utf-8-sig"
    try:
        return data.decode(name)
    except UnicodeDecodeError as error:
        raise CsvFormatError(
            f"the file is not {name}: byte {error.start} cannot be read in that encoding"
        ) from None


def _decode_or_reject(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise CsvFormatError(
            f"the file starts with a {encoding} mark but is not {encoding}"
        ) from None


def _decode_single_byte(data: bytes) -> str:
    """cp1252, the Western default, unless charset-normalizer finds another alphabet.

    Its guess is only taken when the text it reads is in a non-Latin script
    (a Cyrillic cp1251 export, Greek, Hebrew, Arabic, Thai, CJK): between the
    Latin code pages it often picks cp1250 for a Western file, which would
    garble "ñ" and "€".
    """
    guess = charset_normalizer.from_bytes(data[:GUESS_SAMPLE_BYTES]).best()
    if guess is not None and any(
        alphabet.startswith(NON_LATIN_SCRIPTS) for alphabet in guess.alphabets
    ):
        try:
            return data.decode(guess.encoding)
        except UnicodeDecodeError:
            pass  # the sample fooled it; the whole file is not in that encoding
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        # The five bytes cp1252 leaves undefined; Latin-1 maps every byte.
        return data.decode("latin-1")


def _looks_binary(sample: str) -> bool:
    return len(_BINARY_CHARS.findall(sample)) * 100 > len(sample)
