"""build_leads: which record each golden field group comes from, on literal records and links."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from leadlake.stages.silver.resolve import LEAD_COLUMNS, build_leads

LEAD = "lead-1"


def _record(record_id: str, provider: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "record_id": record_id, "provider": provider, "name": None, "name_norm": None, "website": None,
        "domain": None, "phone_e164": None, "phone_is_toll_free": False, "address_line1": None, "city": None,
        "region": None, "postal": None, "country": None, "lat": None, "lon": None, "rating": None,
        "review_count": None, "categories": [],
    }  # fmt: skip
    return {**base, **fields}


def _one_lead(*records: dict[str, Any]) -> dict[str, Any]:
    links = pd.DataFrame({"record_id": [r["record_id"] for r in records], "lead_id": LEAD})
    (lead,) = build_leads(pd.DataFrame(list(records)), links).to_dict("records")
    return lead


GOOGLE = _record(
    "google_places:g1", "google_places", name="Ace Plumbing Company", name_norm="ace plumbing",
    phone_e164="+13035550123", address_line1="1200 Main Street", city="Denver", region="CO",
    postal="80202", country="US", lat=39.7392, lon=-104.9903, rating=4.6, review_count=150,
    categories=["plumber"],
)  # fmt: skip
YELP = _record(
    "yelp:y1", "yelp", name="Ace Plumbing Co.", name_norm="ace plumbing", website="https://example.com/denver",
    domain="example.com", phone_e164="+13035550999", address_line1="1200 Main St Ste 2", city="Denver",
    region="CO", postal="80202-1234", country="US", lat=39.7393, lon=-104.9904, rating=4.0, review_count=50,
    categories=["plumbing", "plumber"],
)  # fmt: skip


def test_each_group_comes_from_its_most_trusted_record_that_has_it() -> None:
    lead = _one_lead(YELP, GOOGLE)
    assert list(lead) == LEAD_COLUMNS
    # Google is trusted more for name, phone, address and geo; only Yelp has a website.
    assert (lead["name"], lead["name_norm"]) == ("Ace Plumbing Company", "ace plumbing")
    assert (lead["phone_e164"], lead["phone_is_toll_free"]) == ("+13035550123", False)
    assert (lead["address_line1"], lead["postal"]) == ("1200 Main Street", "80202")  # never a mix
    assert (lead["lat"], lead["lon"]) == (39.7392, -104.9903)
    assert (lead["website"], lead["domain"]) == ("https://example.com/denver", "example.com")
    # Aggregates: rating weighted by reviews (4.6*150 + 4.0*50) / 200, most reviews, union of categories.
    assert lead["rating"] == 4.45
    assert lead["review_count"] == 150
    assert lead["categories"] == ["plumber", "plumbing"]
    assert lead["providers"] == ["google_places", "yelp"]
    assert lead["source_record_ids"] == ["google_places:g1", "yelp:y1"]
    assert lead["source_count"] == 2
    assert json.loads(lead["provenance"]) == [
        {"field": "name", "provider": "google_places", "confidence": 0.95},
        {"field": "website", "provider": "yelp", "confidence": 0.85},
        {"field": "phone", "provider": "google_places", "confidence": 0.98},
        {"field": "address", "provider": "google_places", "confidence": 0.97},
        {"field": "geo", "provider": "google_places", "confidence": 0.98},
        {"field": "rating", "provider": "google_places", "confidence": 0.9},
        {"field": "rating", "provider": "yelp", "confidence": 0.9},
        {"field": "review_count", "provider": "google_places", "confidence": 0.9},
        {"field": "review_count", "provider": "yelp", "confidence": 0.9},
        {"field": "categories", "provider": "google_places", "confidence": 0.85},
        {"field": "categories", "provider": "yelp", "confidence": 0.9},
    ]


def test_among_equally_trusted_records_the_more_complete_one_wins_then_the_smaller_id() -> None:
    # Unknown providers are trusted 0.5 each. The sparse record has the smaller id, so only the
    # completeness rule (3 fields against 1) can pick the full one.
    sparse = _record("hunter:a", "hunter", name="Oak Bakery")
    full = _record("pdl:b", "pdl", name="Oak Bakery LLC", phone_e164="+15125550100", city="Austin")
    assert _one_lead(sparse, full)["name"] == "Oak Bakery LLC"
    equal = _record("hunter:c", "hunter", name="Oak Bakery Inc", phone_e164="+15125550100", city="Austin")
    assert _one_lead(equal, full)["name"] == "Oak Bakery Inc"  # as complete: "hunter:c" < "pdl:b"


def test_ratings_without_reviews_average_plainly_and_a_missing_phone_is_not_toll_free() -> None:
    a = _record("google_places:1", "google_places", name="A", rating=4.0, review_count=0)
    b = _record("yelp:1", "yelp", name="A", rating=5.0, review_count=0, phone_is_toll_free=True)
    lead = _one_lead(a, b)
    assert lead["rating"] == 4.5
    assert lead["review_count"] == 0
    assert lead["phone_e164"] is None and lead["phone_is_toll_free"] is False


def test_a_record_without_a_link_is_refused() -> None:
    links = pd.DataFrame({"record_id": ["google_places:g1"], "lead_id": [LEAD]})
    with pytest.raises(ValueError, match="exactly one link"):
        build_leads(pd.DataFrame([GOOGLE, YELP]), links)
