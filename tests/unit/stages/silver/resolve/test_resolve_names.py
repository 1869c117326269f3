"""Names: international legal suffixes, "&", word order and phonetic keys."""

from __future__ import annotations

import pytest

from leadlake.core.normalize import normalize_name, phonetic_name_key, sorted_name_key, soundex


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Ace Plumbing Company", "ace plumbing"),
        ("Acme N.V.", "acme"),
        ("Van Dijk B.V.", "van dijk"),
        ("Müller GmbH & Co. KG", "muller"),
        ("Rossi S.r.l.", "rossi"),
        ("Dupont SARL", "dupont"),
        ("Harbour View Pty Ltd", "harbour view"),
        ("Siemens AG", "siemens"),
        ("Tesco PLC", "tesco"),
        ("Banco S.A.", "banco"),
        ("Smith & Sons", "smith"),
        ("Smith & Co.", "smith"),
        ("Smith & Sons Roofing", "smith and sons roofing"),
        ("Co", "co"),  # never the whole name
        ("Co Springs Plumbing", "co springs plumbing"),  # only trailing suffixes
        ("Serenity Spa", "serenity spa"),  # a trade, not a legal form
    ],
)
def test_normalize_name_strips_international_legal_suffixes(raw: str, norm: str) -> None:
    assert normalize_name(raw) == norm


def test_sorted_name_key_ignores_word_order_and_stopwords() -> None:
    assert sorted_name_key("steak house the") == sorted_name_key("the steak house") == "house steak"
    assert sorted_name_key("the the") == "the the"  # only stopwords: kept
    assert sorted_name_key("") == ""


@pytest.mark.parametrize(
    ("word", "code"),
    [("Robert", "R163"), ("Rupert", "R163"), ("Ashcraft", "A261"), ("Tymczak", "T522"), ("Lee", "L000")],
)
def test_soundex_textbook_codes(word: str, code: str) -> None:
    assert soundex(word) == code


def test_phonetic_name_key_survives_typos_and_word_order() -> None:
    assert phonetic_name_key("ace plumbing") == phonetic_name_key("plumbng ace")
    assert soundex("") == "" and soundex("42") == "42"
