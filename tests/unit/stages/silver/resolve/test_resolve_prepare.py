"""prepare: the comparison keys each record gets, on literal inputs and outputs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from leadlake.stages.silver.resolve import (
    ResolveSettings,
    address_key,
    geo_cell,
    name_key,
    postal_key,
    prepare,
    website_key,
)
from leadlake.stages.silver.resolve.prepare import identifies, shared_value_pairs


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("1200 Main Street", "1200 main st"),
        ("1200 Main Street Suite 200", "1200 main st"),
        ("900 Elm Avenue #4", "900 elm ave"),
        ("", None),
        ("   ", None),
        (None, None),
        (42, None),
    ],
)
def test_address_key_abbreviates_and_drops_the_unit(line: object, key: str | None) -> None:
    assert address_key(line) == key


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("1200 Main Street, Denver, CO 80202, USA", "1200 main st"),  # a one-line address: the street
        ("1200 Main St, Suite 200, Denver, CO 80202", "1200 main st"),
        ("Hauptstraße 5, 80331 München, Deutschland", "5 hauptstr"),  # the number first, as "12, Rue"
        ("45 Oak Avenue, Toronto, ON M5V 2T6", "45 oak ave"),
        ("10 Downing St, London SW1A 2AA, UK", "10 downing st"),
        ("12, Rue de Rivoli, 75001 Paris", "12 rue de rivoli"),  # a number first is not yet the street
        ("Broadway, New York, NY 10001", "broadway"),
        ("1200 Main St, Suite 200", "1200 main st"),  # no locality after the comma: kept whole
        ("PO Box 12, Springfield", "po box 12 springfield"),
    ],
)
def test_address_key_of_a_one_line_address_is_its_street(line: str, key: str) -> None:
    assert address_key(line) == key


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("747 9th Ave.  between 50th and 51st Sts.", "747 9th ave"),  # as a city guide writes it
        ("12 E 45th St (btwn 5th & Madison)", "12 e 45th st"),
        ("100 Main St, Bet. Oak and Elm, Denver, CO 80202", "100 main st"),
        ("1 Between Rd", "1 between rd"),  # a street named Between
        ("5 Betty Ln", "5 betty ln"),
    ],
)
def test_address_key_leaves_cross_streets_out(line: str, key: str) -> None:
    assert address_key(line) == key


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://www.Example.com/", "example.com"),
        ("http://example.com/locations/3?utm_source=x#map", "example.com/locations/3"),
        ("example.com", "example.com"),
        ("  ", None),
        (None, None),
        (math.nan, None),
    ],
)
def test_website_key_drops_scheme_www_query_and_slash(url: object, key: str | None) -> None:
    assert website_key(url) == key


@pytest.mark.parametrize(
    ("postal", "key"),
    [("80202-1234", "80202"), ("80202", "80202"), ("sw1a 1aa", "SW1A1AA"), ("", None), (None, None)],
)
def test_postal_key_compares_zip5(postal: object, key: str | None) -> None:
    assert postal_key(postal) == key


def test_name_key_prefers_name_norm_and_falls_back_to_the_raw_name() -> None:
    assert name_key("ace plumbing", "Something Else Inc") == "ace plumbing"
    assert name_key(None, "Ace Plumbing Co.") == "ace plumbing"
    assert name_key("", "  ") is None


def test_geo_cell_is_the_floor_of_degrees_over_the_cell_size() -> None:
    # 39.7392 / 0.01 = 3973.92 -> 3973; -104.9903 / 0.01 = -10499.03 -> -10500 (floor, not truncation).
    assert geo_cell(39.7392, -104.9903, 0.01) == "3973:-10500"
    assert geo_cell(None, -104.9903, 0.01) is None


def _record(record_id: str, provider: str, **fields: object) -> dict[str, object]:
    return {"record_id": record_id, "provider": provider, **fields}


def test_prepare_keys_on_literal_records() -> None:
    records = pd.DataFrame(
        [
            # Given out of order: prepare sorts by record_id.
            _record("yelp:y1", "yelp", name="Ace Plumbing Co.", phone_e164="+13035550123",
                    phone_is_toll_free=False, domain="EXAMPLE.COM", website=None, city="Denver",
                    address_line1="1200 Main St Ste 200", postal="80202-1234", lat=39.7392, lon=-104.9903),
            _record("google_places:g1", "google_places", name="Ace Plumbing Company",
                    phone_e164="+13035550123", phone_is_toll_free=False, domain="example.com",
                    website="https://www.example.com/", address_line1="1200 Main Street", city="Denver",
                    postal="80202", lat=39.7393, lon=-104.9904),
            # A toll-free number: a key for the model, but no deterministic link; a social domain: none.
            _record("google_places:g2", "google_places", name="The Steak House", phone_e164="+18005550199",
                    phone_is_toll_free=True, domain="facebook.com", website="https://facebook.com/acme",
                    address_line1=None, postal=None, lat=None, lon=None),
        ]
    )  # fmt: skip
    rows = prepare(records, ResolveSettings()).to_dict("records")
    assert [r["record_id"] for r in rows] == ["google_places:g1", "google_places:g2", "yelp:y1"]
    g1, g2, y1 = rows
    assert {k: g1[k] for k in ("name_norm", "name_sorted", "name_prefix", "name_phonetic", "name_token")} == {
        "name_norm": "ace plumbing", "name_sorted": "ace plumbing", "name_prefix": "ace ",
        "name_phonetic": "A200 P451", "name_token": "plumbing",
    }  # fmt: skip
    assert (g1["phone_key"], g1["phone_local_key"], g1["domain_key"], g1["website_key"]) == (
        "+13035550123",
        "+13035550123",
        "example.com",
        "example.com",
    )
    assert (g1["address_norm"], g1["address_number"], g1["postal"], g1["postal3"], g1["city_key"]) == (
        "1200 main st",
        "1200",
        "80202",
        "802",
        "denver",
    )
    assert (g1["geo_cell"], g1["geo_cell_coarse"]) == ("3973:-10500", "794:-2100")
    assert (y1["name_norm"], y1["address_norm"], y1["postal"], y1["website_key"]) == (
        "ace plumbing",
        "1200 main st",
        "80202",
        None,
    )
    assert (g2["name_sorted"], g2["phone_key"], g2["phone_local_key"], g2["domain_key"]) == (
        "house steak",
        "+18005550199",
        None,
        None,
    )


def test_prepare_keeps_a_shared_domain_as_evidence_and_extra_columns() -> None:
    """Two branches on one domain keep it (term frequencies and the name/place checks weigh it): a
    record's keys never depend on the rest of its batch. Extra identifiers are normalised text."""
    records = pd.DataFrame(
        [
            _record("google_places:a", "google_places", name="Rapid Rooter", domain="rapidrooter.com",
                    tax_id="12-345 678"),
            _record("google_places:b", "google_places", name="Rapid Rooter", domain="rapidrooter.com",
                    tax_id=12345678.0),
            _record("yelp:a", "yelp", name="Rapid Rooter", domain="rapidrooter.com", tax_id=None),
        ]
    )  # fmt: skip
    prep = prepare(records, ResolveSettings(extra_columns=("tax_id",)))
    assert prep["domain_key"].tolist() == ["rapidrooter.com"] * 3
    assert prep["tax_id"].tolist() == ["12345678", "12345678", None]


def test_prepare_tolerates_missing_optional_columns() -> None:
    records = pd.DataFrame([_record("yelp:1", "yelp", name="Oak Bakery")])
    (row,) = prepare(records).to_dict("records")
    assert row["name_norm"] == "oak bakery"
    keys = ("phone_key", "domain_key", "website_key", "postal", "lat", "geo_cell", "city_key", "postal3")
    assert {c: row[c] for c in keys} == dict.fromkeys(keys)


def test_shared_value_pairs_count_the_pairs_a_value_makes_and_identifies_bounds_them() -> None:
    keys = pd.Series(["a", "a", "a", "b", "b", None, None, "c"], dtype=object)
    assert shared_value_pairs(keys) == 3 + 1  # missing values share nothing
    assert identifies(keys, max_pairs_per_record=0.5)  # 4 pairs <= 0.5 x 8 records
    assert not identifies(keys, max_pairs_per_record=0.4)
    assert identifies(pd.Series([], dtype=object), 0.0)


def test_a_name_or_address_thousands_of_characters_long_is_compared_by_its_start() -> None:
    """A stray quote swallows the next lines into one field: 20,000 characters compared pair by pair
    took a minute and gigabytes. Past MAX_COMPARED_CHARS the text is cut; shorter text is untouched."""
    from leadlake.stages.silver.resolve.prepare import MAX_COMPARED_CHARS, prepare

    long_name = "Oak Bakery " + "x" * 20_000
    records = pd.DataFrame(
        {
            "record_id": ["a", "b", "c"],
            "provider": ["list"] * 3,
            "name": [long_name, long_name + " and more", "Elm Cafe"],
            "address_line1": ["1 Main Street " * 2_000, "1 Main Street", "2 Elm Street"],
            "city": ["Denver"] * 3,
        }
    )
    prep = prepare(records).set_index("record_id")
    assert prep.at["a", "name_norm"] == prep.at["b", "name_norm"]
    assert prep.at["a", "name_norm"].startswith("oak bakery x")
    assert len(prep.at["a", "name_norm"]) <= MAX_COMPARED_CHARS
    assert len(prep.at["a", "address_norm"]) <= MAX_COMPARED_CHARS
    assert prep.at["c", "name_norm"] == "elm cafe" and prep.at["b", "address_norm"] == "1 main st"
