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

from webapp.core.errors import UnsupportedMediaType
from webapp.prospects.rows.fields import expected_columns

_NON_ASCII_BYTE = re.compile(rb"[\x80-\xff]")
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")


class CsvFormatError(UnsupportedMediaType):
    """The upload is not a prospect CSV Tune can read (binary, empty, no usable header)."""

    code = "not_csv"


def decode_csv(data: bytes) -> str:
    """Decode uploaded bytes: UTF-8 (with or without BOM), UTF-16/32 with BOM, else cp1252.

    Raises CsvFormatError for binary data: NUL or other control characters that
    no text export contains.
    """
    if not data or data.isspace():
        raise CsvFormatError(f"the file is empty; expected a CSV with {expected_columns()}")
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
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
                    "save it again as UTF-8"
                ) from None
            text = _decode_single_byte(data)
    if "\x00" in text or _looks_binary(text[:65_536]):
        raise CsvFormatError(
            f"the file looks like binary data, not text; expected a CSV with {expected_columns()}"
        )
    return text


def _decode_or_reject(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise CsvFormatError(
            f"the file starts with a {encoding} mark but is not {encoding}"
        ) from None


def _decode_single_byte(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        # The five bytes cp1252 leaves undefined; Latin-1 maps every byte.
        return data.decode("latin-1")


def _looks_binary(sample: str) -> bool:
    return len(_BINARY_CHARS.findall(sample)) * 100 > len(sample)
