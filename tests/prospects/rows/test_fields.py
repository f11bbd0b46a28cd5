"""Reading prospect uploads: CSV bytes and JSON rows into ImportRow / RowError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.core.errors import UnsupportedMediaType, ValidationFailed
from webapp.prospects.rows.amounts import parse_amount
from webapp.prospects.rows.csv import iter_csv_records, rows_from_csv
from webapp.prospects.rows.decode import CsvFormatError, decode_csv
from webapp.prospects.rows.fields import (
    MAX_NOTES,
    ImportRow,
    RowError,
    normalise_row,
    rows_from_json,
)


def csv_rows(text: str, encoding: str = "utf-8") -> list[ImportRow | RowError]:
    return list(rows_from_csv(text.encode(encoding)))


def only_row(text: str) -> ImportRow:
    rows = csv_rows(text)
    assert len(rows) == 1
    row = rows[0]
    assert isinstance(row, ImportRow), row
    return row


def row_from(**fields: object) -> ImportRow | RowError:
    return normalise_row(2, {"email": "ana@acme.com", **fields})


# --- encodings -----------------------------------------------------------------------------


def test_utf8_bom_does_not_hide_the_first_column() -> None:
    data = b"\xef\xbb\xbfEmail,Company\nana@acme.com,Acme\n"
    [row] = rows_from_csv(data)
    assert isinstance(row, ImportRow)
    assert (row.email, row.company) == ("ana@acme.com", "Acme")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom(encoding: str) -> None:
    data = "\ufeffemail\tcompany\nana@acme.com\tSociété Générale\n".encode(encoding)
    [row] = rows_from_csv(data)
    assert isinstance(row, ImportRow)
    assert row.company == "Société Générale"


def test_latin1_bytes_are_read_as_cp1252() -> None:
    data = "email;company;notes\nana@acme.com;Société Café;“quoted” – dash\n".encode("cp1252")
    row = next(rows_from_csv(data))
    assert isinstance(row, ImportRow)
    assert row.company == "Société Café"
    assert row.notes == "“quoted” – dash"


def test_utf8_with_a_stray_byte_later_is_refused_rather_than_garbled() -> None:
    data = "email,company\nana@acme.com,Société\n".encode() + b"bob@acme.com,Caf\xe9\n"
    with pytest.raises(CsvFormatError, match="UTF-8"):
        decode_csv(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b" \r\n \n",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
        bytes(range(1, 32)) * 20,
    ],
    ids=["empty", "blank", "png", "zip", "control-characters"],
)
def test_files_that_are_not_csv_are_refused(data: bytes) -> None:
    with pytest.raises(CsvFormatError) as raised:
        rows_from_csv(data)
    assert "email" in raised.value.message
    assert isinstance(raised.value, UnsupportedMediaType)
    assert raised.value.to_dict()["error"]["code"] == "not_csv"


def test_header_without_any_known_column_names_the_expected_columns() -> None:
    with pytest.raises(CsvFormatError, match=r"no recognised column.*email column"):
        rows_from_csv(b"foo,bar\n1,2\n")


def test_header_without_email_column_is_refused() -> None:
    with pytest.raises(CsvFormatError, match="no email column"):
        rows_from_csv(b"company,website\nAcme,acme.com\n")


# --- CSV structure --------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(delimiter: str) -> None:
    header = delimiter.join(["Company", "Email", "Employees", "Notes"])
    record = delimiter.join(["Acme Corp", "ana@acme.com", '"1,200"', '"likes a, b | c; d"'])
    row = only_row(f"{header}\n{record}\n")
    assert (row.company, row.employees, row.notes) == ("Acme Corp", 1200, "likes a, b | c; d")


def test_header_with_spaces_is_split_on_the_delimiter_not_the_spaces() -> None:
    row = only_row("First Name;Last Name;Email Address\nAna;Lima;ana@acme.com\n")
    assert (row.first_name, row.last_name, row.email) == ("Ana", "Lima", "ana@acme.com")


def test_header_decides_when_the_sniffer_is_fooled_by_quotes_in_the_data() -> None:
    # csv.Sniffer sees ", '" in the notes and guesses a comma.
    text = "email;company;notes\nana@acme.com;Acme;tiers 'gold', 'silver', 'bronze'\n"
    row = only_row(text)
    assert (row.company, row.notes) == ("Acme", "tiers 'gold', 'silver', 'bronze'")


def test_one_column_file_of_emails() -> None:
    rows = csv_rows("email\nana@acme.com\nbob@globex.io\n")
    assert [row.company_key for row in rows if isinstance(row, ImportRow)] == [
        "acme.com",
        "globex.io",
    ]


def test_quoted_commas_stay_in_their_field() -> None:
    row = only_row('company,email,title\n"Acme, Inc.",ana@acme.com,"VP, Sales"\n')
    assert (row.company, row.title) == ("Acme, Inc.", "VP, Sales")


def test_quoted_newlines_keep_line_numbers_of_later_records_right() -> None:
    text = (
        "email,company,notes\r\n"
        'ana@acme.com,Acme,"first line\r\nsecond line\r\nthird"\r\n'
        "bob@,Globex,\r\n"
        "\r\n"
        "cy@initech.com,Initech,\r\n"
    )
    rows = csv_rows(text)
    assert [row.line for row in rows] == [2, 5, 7]
    first, bad, last = rows
    assert isinstance(first, ImportRow) and first.notes == "first line\r\nsecond line\r\nthird"
    assert bad == RowError(5, "invalid email 'bob@'")
    assert isinstance(last, ImportRow) and last.company == "Initech"


def test_old_mac_line_endings() -> None:
    rows = csv_rows("email,company\rana@acme.com,Acme\rbob@globex.io,Globex\r")
    assert [row.line for row in rows] == [2, 3]


def test_header_only_file_has_no_rows() -> None:
    assert csv_rows("email,company,website\r\n") == []


def test_blank_lines_and_empty_spreadsheet_rows_are_skipped() -> None:
    rows = csv_rows("\n\nemail,company\nana@acme.com,Acme\n,\n , \n\nbob@globex.io,Globex\n")
    assert [row.line for row in rows] == [4, 8]


def test_duplicate_columns_first_non_empty_wins() -> None:
    text = "Email,Company,E-mail,Email\n,Acme,ana@acme.com,other@acme.com\nbob@x.io,X,cy@x.io,\n"
    rows = csv_rows(text)
    assert [row.email for row in rows if isinstance(row, ImportRow)] == [
        "ana@acme.com",
        "bob@x.io",
    ]


def test_short_and_long_records() -> None:
    rows = csv_rows("email,company,title\nana@acme.com,Acme\nbob@globex.io,Globex,CEO,extra,more\n")
    assert [(row.company, row.title) for row in rows if isinstance(row, ImportRow)] == [
        ("Acme", None),
        ("Globex", "CEO"),
    ]


def test_unknown_columns_are_ignored() -> None:
    [(line, record)] = list(iter_csv_records("Email,Favourite Colour,Company\na@b.io,blue,B\n"))
    assert (line, record) == (2, {"email": "a@b.io", "company": "B"})


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Company Name", "company"),
        ("Organization", "company"),
        ("account", "company"),
        ("Website", "domain"),
        ("URL", "domain"),
        ("Domain", "domain"),
        ("Employee Count", "employees"),
        ("Headcount", "employees"),
        ("FirstName", "first_name"),
        ("first name", "first_name"),
        ("Last_Name", "last_name"),
        ("Full Name", "name"),
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("Job Title", "title"),
        ("Position", "title"),
        ("Annual Revenue", "revenue"),
        ("COUNTRY", "country"),
        ("Industry", "industry"),
        ("Notes", "notes"),
    ],
)
def test_header_aliases(header: str, field: str) -> None:
    [(_, record)] = list(iter_csv_records(f"{header},email\nvalue,ana@acme.com\n"))
    assert record[field] == "value"


def test_an_unterminated_quote_rejects_its_line_and_the_rows_after_it_are_read() -> None:
    text = 'email,company,title\nq1@bq1.com,"Acme, Inc,CEO\nq2@bq2.com,B,CTO\nq3@bq3.com,C,CFO\n'
    rows = list(rows_from_csv(text.encode()))
    assert rows[0] == RowError(2, "a quoted field opened on line 2 is never closed")
    assert [(row.line, row.email) for row in rows[1:] if isinstance(row, ImportRow)] == [
        (3, "q2@bq2.com"),
        (4, "q3@bq3.com"),
    ]
    assert len(rows) == 3


def test_an_unterminated_quote_in_a_large_file_is_reported_with_its_line() -> None:
    text = 'email,notes\nana@acme.com,fine\nbob@acme.com,"oops\n' + "x" * 140_000 + "\n"
    rows = list(rows_from_csv(text.encode()))
    assert isinstance(rows[0], ImportRow)
    assert isinstance(rows[1], RowError) and rows[1].line == 3
    assert "never closed" in rows[1].reason


def test_quoted_line_breaks_are_still_one_field() -> None:
    text = 'email,notes\nana@acme.com,"two\nlines"\nbob@acme.com,"last\nrecord"\n'
    rows = list(rows_from_csv(text.encode()))
    assert [(row.line, row.notes) for row in rows if isinstance(row, ImportRow)] == [
        (2, "two\nlines"),
        (4, "last\nrecord"),
    ]


# --- row rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["Ana.Lima@Acme.COM", "ana+tag@acme.co.uk", "o'brien@acme.ie", "ana@xn--mnchen-3ya.de"],
)
def test_valid_emails_are_lowercased(email: str) -> None:
    row = row_from(email=email)
    assert isinstance(row, ImportRow)
    assert row.email == email.lower()


@pytest.mark.parametrize(
    "email",
    [
        "bob@",
        "@acme.com",
        "bob",
        "bob@acme",
        "bob@@acme.com",
        "bob smith@acme.com",
        "bob@acme .com",
        ".bob@acme.com",
        "bob..smith@acme.com",
        "bob@acme..com",
        "bob@-acme.com",
        "bob@acme.com/path",
        "bob@127.0.0.1",
        "a" * 65 + "@acme.com",
        "bob@" + "a" * 250 + ".com",
    ],
)
def test_invalid_emails_reject_the_row(email: str) -> None:
    row = row_from(email=email)
    assert isinstance(row, RowError)
    assert row.reason.startswith("invalid email ")


@pytest.mark.parametrize("email", [None, "", "   ", "n/a", "-"])
def test_missing_email_rejects_the_row(email: str | None) -> None:
    assert row_from(email=email) == RowError(2, "email is required")


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("acme.com", "acme.com"),
        ("https://www.Acme.com/about?x=1#team", "acme.com"),
        ("http://acme.com:8080", "acme.com"),
        ("WWW.ACME.CO.UK.", "acme.co.uk"),
        ("//cdn.acme.io/x", "cdn.acme.io"),
        ("acme.com/careers", "acme.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("https://user:pw@shop.acme.com/", "shop.acme.com"),
        ("www.com", "www.com"),
    ],
)
def test_domain_normalisation(website: str, domain: str) -> None:
    row = row_from(website=website)
    assert isinstance(row, ImportRow)
    assert (row.domain, row.company_key) == (domain, domain)


@pytest.mark.parametrize("website", ["localhost", "http://", "10.0.0.1", "acme", "ex ample.com"])
def test_an_invalid_domain_is_left_blank_with_a_warning(website: str) -> None:
    row = row_from(website=website, company="Acme")
    assert isinstance(row, ImportRow)
    # As if the website were empty: the work email's domain names the company.
    assert (row.domain, row.company_key) == ("acme.com", "acme.com")
    assert row.warnings == (f"invalid domain {website!r}; left blank",)


def test_an_invalid_domain_with_nothing_else_naming_the_company_rejects_the_row() -> None:
    row = normalise_row(2, {"email": "ana@gmail.com", "website": "acme"})
    assert row == RowError(2, "company is required (or a website, or a work email address)")


def test_domain_comes_from_work_email_and_names_a_nameless_company() -> None:
    row = normalise_row(3, {"email": "ana@sales.münchen.de"})
    assert isinstance(row, ImportRow)
    assert row.domain == "sales.xn--mnchen-3ya.de"
    assert row.company == "sales.münchen.de"


@pytest.mark.parametrize(
    "email",
    [
        "ana@gmail.com",
        "ana@yahoo.co.uk",
        "ana@hotmail.fr",
        "ana@outlook.com",
        "ana@icloud.com",
        "ana@aol.com",
        "ana@proton.me",
        "ana@protonmail.com",
        "ana@gmx.de",
        "ana@gmx.net",
        "ana@web.de",
    ],
)
def test_free_mail_domain_is_not_a_company(email: str) -> None:
    assert normalise_row(4, {"email": email}) == RowError(
        4, "company is required (or a website, or a work email address)"
    )
    row = normalise_row(4, {"email": email, "company": "  Acme   Widgets "})
    assert isinstance(row, ImportRow)
    assert (row.domain, row.company, row.company_key) == (None, "Acme Widgets", "acme widgets")


def test_companies_without_domain_share_a_key_regardless_of_case_and_spacing() -> None:
    one = normalise_row(2, {"email": "a@gmail.com", "company": "Acme  Widgets"})
    two = normalise_row(3, {"email": "b@gmail.com", "company": "ACME widgets"})
    assert isinstance(one, ImportRow) and isinstance(two, ImportRow)
    assert one.company_key == two.company_key


def test_website_column_wins_over_email_domain() -> None:
    row = row_from(email="ana@acme-mail.com", website="acme.com")
    assert isinstance(row, ImportRow)
    assert row.domain == "acme.com"


@pytest.mark.parametrize(
    ("fields", "first", "last"),
    [
        ({"name": "Ana Lima"}, "Ana", "Lima"),
        ({"full_name": "  Ana   de la  Cruz "}, "Ana", "de la Cruz"),
        ({"name": "Lima, Ana"}, "Ana", "Lima"),
        ({"name": "Cher"}, "Cher", None),
        ({"name": "Ana Lima", "first_name": "Anabela"}, "Anabela", None),
        ({"first_name": " Mary  Jane ", "last_name": "Watson"}, "Mary Jane", "Watson"),
        ({}, None, None),
    ],
)
def test_names(fields: dict[str, str], first: str | None, last: str | None) -> None:
    row = row_from(**fields)
    assert isinstance(row, ImportRow)
    assert (row.first_name, row.last_name) == (first, last)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1200", 1200),
        ("1,200", 1200),
        ("1 200", 1200),
        ("1,200,000", 1_200_000),
        ("5k", 5000),
        ("5 K", 5000),
        ("1.5M", 1_500_000),
        ("1,5M", 1_500_000),
        ("2B", 2_000_000_000),
        ("2bn", 2_000_000_000),
        ("$3.2m", 3_200_000),
        ("€ 40 million", 40_000_000),
        ("USD 12,000", 12_000),
        ("10-50", 30),
        ("51 - 200", 125),
        ("1–5M", 3_000_000),
        ("$1M-$5M", 3_000_000),
        ("10 to 20", 15),
        ("10,001+", 10_001),
        ("500 employees", 500),
        ("1.5e6", 1_500_000),
        ("", None),
        ("  ", None),
    ],
)
def test_lenient_numbers(text: str, number: int | None) -> None:
    assert parse_amount(text) == number


@pytest.mark.parametrize("text", ["lots", "1.2.3", "5x", "50-10", "-5", "$", "1e99"])
def test_garbage_numbers_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        parse_amount(text)


def test_a_garbage_number_is_left_blank_with_a_warning_naming_the_column() -> None:
    row = only_row("email,Headcount,revenue\nana@acme.com,lots,about a million\n")
    assert (row.employees, row.revenue) == (None, None)
    assert row.warnings == (
        "invalid employees 'lots': expected a number like 1200, 5k, 1.5M or 10-50; left blank",
        "invalid revenue 'about a million': expected a number like 1200, 5k, 1.5M or 10-50; "
        "left blank",
    )


def test_a_row_without_bad_values_has_no_warning() -> None:
    assert only_row("email,employees\nana@acme.com,200\n").warnings == ()


def test_an_overlong_company_rejects_the_row() -> None:
    assert isinstance(row_from(company="x" * 200), ImportRow)
    row = row_from(company="x" * 201)
    assert row == RowError(2, "company is longer than 200 characters (201)")


@pytest.mark.parametrize(
    ("field", "limit"),
    [("first_name", 100), ("last_name", 100), ("title", 200), ("country", 100), ("industry", 100)],
)
def test_overlong_optional_values_are_left_blank_with_a_warning(field: str, limit: int) -> None:
    kept = row_from(**{field: "x" * limit})
    assert isinstance(kept, ImportRow) and getattr(kept, field) == "x" * limit
    row = row_from(**{field: "x" * (limit + 1)})
    assert isinstance(row, ImportRow) and getattr(row, field) is None
    assert row.warnings == (f"{field} is longer than {limit} characters ({limit + 1}); left blank",)


def test_overlong_full_name_part_is_left_blank_after_splitting() -> None:
    row = row_from(name="Ana " + "L" * 101)
    assert isinstance(row, ImportRow)
    assert (row.first_name, row.last_name) == ("Ana", None)
    assert row.warnings == ("last_name is longer than 100 characters (101); left blank",)


def test_a_rejected_csv_row_keeps_its_cells_as_they_were() -> None:
    rows = csv_rows("Email,Colour,Company\nnot-an-email,blue,Acme\nana@acme.com,red,Acme\n")
    assert isinstance(rows[0], RowError)
    assert rows[0].record == ("not-an-email", "blue", "Acme")


def test_notes_are_truncated_not_rejected_and_keep_line_breaks() -> None:
    row = row_from(notes="line one\nline two " + "x" * 5000)
    assert isinstance(row, ImportRow) and row.notes is not None
    assert len(row.notes) == MAX_NOTES
    assert row.notes.startswith("line one\nline two ")


@pytest.mark.parametrize(
    ("country", "kept"),
    [
        ("us", "US"),
        (" de ", "DE"),
        ("United  States", "United States"),
        ("Deutschland", "Deutschland"),
    ],
)
def test_country_kept_as_given_but_two_letter_codes_uppercased(country: str, kept: str) -> None:
    row = row_from(country=country)
    assert isinstance(row, ImportRow)
    assert row.country == kept


@pytest.mark.parametrize("placeholder", ["n/a", "N/A", "#N/A", "-", "null"])
def test_placeholders_count_as_empty(placeholder: str) -> None:
    row = row_from(title=placeholder, employees=placeholder)
    assert isinstance(row, ImportRow)
    assert (row.title, row.employees) == (None, None)


# --- JSON door ------------------------------------------------------------------------------


def test_json_rows_use_the_same_aliases_and_accept_numbers() -> None:
    items: list[object] = [
        {
            "Email Address": "Ana@Acme.com",
            "company_name": "Acme",
            "employees": 1200,
            "revenue": 2.5e6,
            "job_title": "CFO",
            "website": "https://acme.com",
        },
        "ana@acme.com",
        {"email": "bob@acme.com", "company": {"name": "Acme"}},
        {"email": "cy@acme.com", "employees": True},
        {"email": "di@acme.com", "employees": "10-50", "country": None},
    ]
    rows = list(rows_from_json(items))
    first = rows[0]
    assert isinstance(first, ImportRow)
    assert (first.line, first.email, first.employees, first.revenue, first.title) == (
        1,
        "ana@acme.com",
        1200,
        2_500_000,
        "CFO",
    )
    assert rows[1] == RowError(2, "expected an object, got a string")
    assert rows[2] == RowError(3, "company must be text or a number, got an object")
    assert rows[3] == RowError(4, "employees must be text or a number, got true/false")
    last = rows[4]
    assert isinstance(last, ImportRow) and (last.line, last.employees) == (5, 30)


@pytest.mark.parametrize("body", [{"email": "a@b.io"}, "rows", None, 3])
def test_json_body_that_is_not_an_array_is_refused_at_once(body: object) -> None:
    with pytest.raises(ValidationFailed, match="JSON array") as raised:
        rows_from_json(body)
    assert raised.value.field == "rows"


def test_json_and_csv_doors_agree() -> None:
    raw = {"email": "ana@acme.com", "company": "Acme", "employees": "1.5k", "name": "Ana Lima"}
    [from_csv] = csv_rows("email,company,employees,name\nana@acme.com,Acme,1.5k,Ana Lima\n")
    [from_json] = list(rows_from_json([raw]))
    assert from_csv == ImportRow(
        line=2,
        company="Acme",
        domain="acme.com",
        company_key="acme.com",
        email="ana@acme.com",
        first_name="Ana",
        last_name="Lima",
        employees=1500,
    )
    assert from_json == from_csv._replace(line=1)


# --- properties -----------------------------------------------------------------------------


def read_all(data: bytes) -> list[ImportRow | RowError]:
    try:
        return list(rows_from_csv(data))
    except CsvFormatError:
        return []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_nothing_but_csv_format_error(data: bytes) -> None:
    for row in read_all(data):
        assert isinstance(row, ImportRow | RowError)


CSV_PIECES = [*'abc@.,;|\t"\r\n -1k$éß0\x00', "@acme.com", "@gmail.com", "www.", "n/a", "10-50"]
CSV_TEXT = st.lists(st.sampled_from(CSV_PIECES), max_size=120).map("".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.sampled_from(
        [
            "email,company,employees,name",
            "email;website;revenue;notes",
            "Email\tCompany\tCountry",
            "e-mail|title|first name",
        ]
    ),
    body=CSV_TEXT,
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
)
def test_csv_like_text_yields_rows_or_row_errors_with_sane_lines(
    header: str, body: str, encoding: str
) -> None:
    data = f"{header}\n{body}".encode(encoding, errors="replace")
    rows = read_all(data)
    lines = [row.line for row in rows]
    assert lines == sorted(set(lines))
    assert all(line >= 2 for line in lines)
    for row in rows:
        assert isinstance(row, ImportRow | RowError)
        if isinstance(row, ImportRow):
            assert row.email == row.email.lower() and "@" in row.email
            assert row.company and row.company_key
