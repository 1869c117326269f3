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
                    phone_is_toll_free=False, domain="EXAMPLE.COM", website=None,
                    address_line1="1200 Main St Ste 200", postal="80202-1234", lat=39.7392, lon=-104.9903),
            _record("google_places:g1", "google_places", name="Ace Plumbing Company",
                    phone_e164="+13035550123", phone_is_toll_free=False, domain="example.com",
                    website="https://www.example.com/", address_line1="1200 Main Street",
                    postal="80202", lat=39.7393, lon=-104.9904),
            # One toll-free number fronting two Google listings: not identifying for either.
            _record("google_places:g2", "google_places", name="Call Center A", phone_e164="+18005550199",
                    phone_is_toll_free=True, domain="facebook.com", website="https://facebook.com/acme",
                    address_line1=None, postal=None, lat=None, lon=None),
            _record("google_places:g3", "google_places", name="Call Center B", phone_e164="+18005550199",
                    phone_is_toll_free=True, domain=None, website=None, address_line1=None, postal=None,
                    lat=None, lon=None),
            # A toll-free number used once: a key for the model, but no deterministic link.
            _record("yelp:y2", "yelp", name="Free Call Co", phone_e164="+18885550100",
                    phone_is_toll_free=True, domain=None, website=None, address_line1=None, postal=None,
                    lat=None, lon=None),
        ]
    )  # fmt: skip
    prep = prepare(records, ResolveSettings())
    assert prep.to_dict("records") == [
        {"record_id": "google_places:g1", "provider": "google_places", "name_norm": "ace plumbing",
         "phone_key": "+13035550123", "phone_local_key": "+13035550123", "domain_key": "example.com",
         "website_key": "example.com", "address_norm": "1200 main st", "postal": "80202",
         "lat": 39.7393, "lon": -104.9904, "geo_cell": "3973:-10500"},
        {"record_id": "google_places:g2", "provider": "google_places", "name_norm": "call center a",
         "phone_key": None, "phone_local_key": None, "domain_key": None, "website_key": None,
         "address_norm": None, "postal": None, "lat": None, "lon": None, "geo_cell": None},
        {"record_id": "google_places:g3", "provider": "google_places", "name_norm": "call center b",
         "phone_key": None, "phone_local_key": None, "domain_key": None, "website_key": None,
         "address_norm": None, "postal": None, "lat": None, "lon": None, "geo_cell": None},
        {"record_id": "yelp:y1", "provider": "yelp", "name_norm": "ace plumbing",
         "phone_key": "+13035550123", "phone_local_key": "+13035550123", "domain_key": "example.com",
         "website_key": None, "address_norm": "1200 main st", "postal": "80202",
         "lat": 39.7392, "lon": -104.9903, "geo_cell": "3973:-10500"},
        {"record_id": "yelp:y2", "provider": "yelp", "name_norm": "free call",
         "phone_key": "+18885550100", "phone_local_key": None, "domain_key": None, "website_key": None,
         "address_norm": None, "postal": None, "lat": None, "lon": None, "geo_cell": None},
    ]  # fmt: skip


def test_prepare_keeps_a_domain_only_where_it_names_one_business_of_a_provider() -> None:
    """Two Google branches on one domain: the domain names neither; Yelp's single use still counts."""
    records = pd.DataFrame(
        [
            _record("google_places:a", "google_places", name="Rapid Rooter", domain="rapidrooter.com"),
            _record("google_places:b", "google_places", name="Rapid Rooter", domain="rapidrooter.com"),
            _record("yelp:a", "yelp", name="Rapid Rooter", domain="rapidrooter.com"),
        ]
    )
    assert prepare(records)["domain_key"].tolist() == [None, None, "rapidrooter.com"]


def test_prepare_tolerates_missing_optional_columns() -> None:
    records = pd.DataFrame([_record("yelp:1", "yelp", name="Oak Bakery")])
    (row,) = prepare(records).to_dict("records")
    assert row["name_norm"] == "oak bakery"
    keys = ("phone_key", "domain_key", "website_key", "postal", "lat", "geo_cell")
    assert {c: row[c] for c in keys} == dict.fromkeys(keys)
