"""The yes/no words every setting, query flag and SMTP_URL parameter accepts."""

from __future__ import annotations

import pytest

from webapp.core.common import parse_flag


@pytest.mark.parametrize("word", ["1", "true", "Yes", " ON "])
def test_yes_words(word: str) -> None:
    assert parse_flag(word) is True


@pytest.mark.parametrize("word", ["0", "FALSE", "no", "off"])
def test_no_words(word: str) -> None:
    assert parse_flag(word) is False


@pytest.mark.parametrize("word", ["", "2", "y", "enable", "truee"])
def test_anything_else_is_left_to_the_caller(word: str) -> None:
    assert parse_flag(word) is None
