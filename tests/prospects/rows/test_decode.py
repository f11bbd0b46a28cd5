"""Decoding uploads: non-Latin single-byte exports, and the encoding an uploader names."""

from __future__ import annotations

import pytest

from webapp.core.errors import ValidationFailed
from webapp.prospects.rows.csv import rows_from_csv
from webapp.prospects.rows.decode import CsvFormatError, check_encoding, decode_csv
from webapp.prospects.rows.fields import ImportRow

CYRILLIC = (
    "email,company,title,country\n"
    "ivan@primer.ru,Рога и копыта,Генеральный директор,Россия\n"
    "olga@test.ru,Ромашка,Менеджер по продажам,Россия\n"
)


def test_a_cp1251_export_is_read_as_cyrillic_not_as_cp1252_mojibake() -> None:
    rows = list(rows_from_csv(CYRILLIC.encode("cp1251")))
    assert all(isinstance(row, ImportRow) for row in rows)
    assert [row.company for row in rows if isinstance(row, ImportRow)] == [
        "Рога и копыта",
        "Ромашка",
    ]


def test_a_greek_export_is_read_as_greek() -> None:
    text = "email,company\nana@acme.gr,Ελληνική Εταιρεία Λογισμικού\n"
    assert decode_csv(text.encode("cp1253")) == text


@pytest.mark.parametrize(
    "text",
    [
        "email,company\nm@mueller.de,Müller GmbH\n",
        "email,company,notes\njose@acme.es,Compañía Española,“Líder” – 5 €\n",
        "email,company\nf@x.fr,Société Générale\nk@y.dk,Øresund Ærø ApS\n",
    ],
)
def test_western_exports_stay_cp1252(text: str) -> None:
    assert decode_csv(text.encode("cp1252")) == text


def test_the_named_encoding_wins_over_detection() -> None:
    data = "email,company\nana@acme.cz,Škoda Žďár\n".encode("cp1250")
    assert "Škoda Žďár" in decode_csv(data, "cp1250")
    assert "Škoda Žďár" not in decode_csv(data)  # undetectable: cp1252 reads it otherwise


def test_bytes_that_are_not_in_the_named_encoding_are_refused() -> None:
    with pytest.raises(CsvFormatError, match="not utf-8"):
        decode_csv("email\nä@x.de\n".encode("cp1252"), "utf-8")


def test_a_named_utf8_file_may_start_with_a_bom() -> None:
    assert decode_csv(b"\xef\xbb\xbfemail\na@b.com\n", "UTF-8").startswith("email")


@pytest.mark.parametrize("name", ["klingon", "utf-99", "x" * 100])
def test_an_unknown_encoding_is_a_validation_error_naming_the_field(name: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_encoding(name)
    assert raised.value.field == "encoding"


def test_encoding_names_are_normalised() -> None:
    assert check_encoding(" Windows-1251 ") == "cp1251"
    assert check_encoding("") is None and check_encoding(None) is None


def test_a_nul_in_one_text_field_rejects_that_row_not_the_file() -> None:
    good = "".join(f"p{n}@company{n}.com,Company {n}\n" for n in range(50))
    data = f"email,company\n{good}ana@acme.com,Ac\x00me\nbob@beta.com,Beta\n".encode()
    rows = list(rows_from_csv(data))
    assert sum(isinstance(row, ImportRow) for row in rows) == 51
    [rejected] = [row for row in rows if not isinstance(row, ImportRow)]
    assert (rejected.line, rejected.reason) == (
        52,
        "company contains a character that cannot be stored (U+0000 at position 3)",
    )
