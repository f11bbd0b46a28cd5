"""The one check for text a database cannot store, shared by the API and the importers."""

from __future__ import annotations

import pytest

from webapp.core.errors import ValidationFailed
from webapp.core.text import check_storable, unstorable_character


@pytest.mark.parametrize(
    "text", ["", "Acme, Inc", "Zoë Ünal", "東京", "emoji 🎉", "tab\tnew\nline"]
)
def test_ordinary_text_is_storable(text: str) -> None:
    assert unstorable_character(text) is None
    assert check_storable(text, "name") == text


@pytest.mark.parametrize(
    ("text", "character"), [("a\x00b", "U+0000"), ("\ud800", "U+D800"), ("x\udfff", "U+DFFF")]
)
def test_nul_and_lone_surrogates_are_refused_naming_the_field(text: str, character: str) -> None:
    assert character in (unstorable_character(text) or "")
    with pytest.raises(ValidationFailed) as raised:
        check_storable(text, "company")
    assert raised.value.field == "company"
    assert raised.value.status == 422
    assert raised.value.message.startswith(f"company contains the character {character}")
