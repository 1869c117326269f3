"""build_leads: which record each golden field group comes from, on literal records and links."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from leadlake.stages.silver.resolve import (
    FIELD_GROUPS,
    LEAD_COLUMNS,
    UNKNOWN_PROVIDER_CONFIDENCE,
    build_leads,
    default_field_confidence,
)
from leadlake.stages.silver.resolve.golden import Confidence, _python_order

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


# ---------------------------------------------------------------------------------------------------
# The vectorised build_leads against the per-lead implementation it replaced (kept here as the reference).


def _ref_present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    if isinstance(value, str) and not value.strip():
        return False
    return True


def _ref_plain(value: object) -> object:
    if not _ref_present(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _ref_completeness(record: Mapping[str, object]) -> int:
    return sum(_ref_present(record.get(f)) for group in FIELD_GROUPS.values() for f in group)


def _ref_choose(
    group: str, fields: tuple[str, ...], members: list[dict[str, Any]], confidence: Confidence
) -> tuple[dict[str, Any] | None, float]:
    trust = confidence.get(group, {})
    candidates = [m for m in members if _ref_present(m.get(fields[0]))]
    if not candidates:
        return None, 0.0
    best = min(
        candidates,
        key=lambda m: (
            -trust.get(m["provider"], UNKNOWN_PROVIDER_CONFIDENCE),
            -_ref_completeness(m),
            m["record_id"],
        ),
    )
    return best, trust.get(best["provider"], UNKNOWN_PROVIDER_CONFIDENCE)


def _ref_rating(rated: list[dict[str, Any]]) -> float | None:
    if not rated:
        return None
    weights = [max(int(_ref_plain(m.get("review_count")) or 0), 0) for m in rated]  # type: ignore[call-overload]
    ratings = [float(m["rating"]) for m in rated]
    total = sum(weights)
    if total:
        return round(sum(r * w for r, w in zip(ratings, weights, strict=True)) / total, 3)
    return round(sum(ratings) / len(ratings), 3)


def _ref_contributions(
    group: str, contributors: list[dict[str, Any]], confidence: Confidence
) -> list[dict[str, Any]]:
    trust = confidence.get(group, {})
    return [
        {"field": group, "provider": provider, "confidence": trust.get(provider, UNKNOWN_PROVIDER_CONFIDENCE)}
        for provider in sorted({m["provider"] for m in contributors})
    ]


def _ref_golden(lead_id: str, members: list[dict[str, Any]], confidence: Confidence) -> dict[str, Any]:
    row: dict[str, Any] = {"lead_id": lead_id}
    provenance: list[dict[str, Any]] = []
    for group, fields in FIELD_GROUPS.items():
        chosen, conf = _ref_choose(group, fields, members, confidence)
        for f in fields:
            row[f] = _ref_plain(chosen.get(f)) if chosen else None
        if chosen:
            provenance.append({"field": group, "provider": chosen["provider"], "confidence": conf})
    row["phone_is_toll_free"] = bool(row["phone_is_toll_free"]) if row["phone_e164"] else False
    rated = [m for m in members if _ref_present(m.get("rating"))]
    counted = [m for m in members if _ref_present(m.get("review_count"))]
    row["rating"] = _ref_rating(rated)
    row["review_count"] = (
        max(int(_ref_plain(m.get("review_count"))) for m in counted)  # type: ignore[call-overload]
        if counted
        else None
    )
    row["categories"] = sorted(
        {str(c) for m in members for c in (m.get("categories") if m.get("categories") is not None else [])}
    )
    with_categories = [m for m in members if m.get("categories") is not None and len(m["categories"]) > 0]
    for group, contributors in (
        ("rating", rated),
        ("review_count", counted),
        ("categories", with_categories),
    ):
        provenance.extend(_ref_contributions(group, contributors, confidence))
    row["providers"] = sorted({m["provider"] for m in members})
    row["source_record_ids"] = sorted(m["record_id"] for m in members)
    row["source_count"] = len(members)
    row["provenance"] = json.dumps(provenance, sort_keys=True)
    return row


def _reference_build_leads(
    records: pd.DataFrame, links: pd.DataFrame, confidence: Confidence | None = None
) -> pd.DataFrame:
    """build_leads as it was: a Python loop over the leads and their member records."""
    if records.empty:
        return pd.DataFrame(columns=LEAD_COLUMNS)
    confidence = default_field_confidence() if confidence is None else confidence
    joined = records.merge(
        links[["record_id", "lead_id"]], on="record_id", how="inner", validate="one_to_one"
    )
    if len(joined) != len(records):
        raise ValueError("every record needs exactly one link")
    by_lead: dict[str, list[dict[str, Any]]] = {}
    for rec in joined.sort_values("record_id", kind="stable").to_dict("records"):
        by_lead.setdefault(rec["lead_id"], []).append(rec)
    rows = [_ref_golden(lead_id, by_lead[lead_id], confidence) for lead_id in sorted(by_lead)]
    leads = pd.DataFrame(rows, columns=LEAD_COLUMNS)
    return leads.astype({"source_count": "int64", "phone_is_toll_free": bool})


PROVIDERS = ("google_places", "yelp", "hunter", "pdl", "zz_custom")  # the last three: unknown by default
# Ties on purpose: equal trust (a/b), an int confidence, a group with no entry (address).
TIED_CONFIDENCE: dict[str, dict[str, float]] = {
    "name": {"google_places": 0.9, "yelp": 0.9, "hunter": 0.9},
    "website": {"yelp": 1, "pdl": 1},
    "phone": {"google_places": 0.5, "zz_custom": 0.7},
    "geo": {"pdl": 0.99},
    "rating": {"yelp": 0.25},
    "categories": {"hunter": 1},
}
MISSING: tuple[Any, ...] = (None, float("nan"), "", "  ", "\t\u3000")


def _text(rng: np.random.Generator, pool: tuple[str, ...]) -> Any:
    """A text value: usually one of a few (ties), sometimes missing or a numpy string."""
    roll = rng.random()
    if roll < 0.3:
        return MISSING[rng.integers(len(MISSING))]
    value = pool[rng.integers(len(pool))]
    return np.str_(value) if roll > 0.95 else value


def _number(rng: np.random.Generator, draw: Any) -> Any:
    """A number: missing, a Python or numpy scalar."""
    roll = rng.random()
    if roll < 0.2:
        return (None, float("nan"))[rng.integers(2)]
    value = draw()
    if roll > 0.9:
        return np.float64(value) if isinstance(value, float) else np.int64(value)
    return value


def _categories(rng: np.random.Generator) -> Any:
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.3:
        return []
    picked = [
        ("plumber", "bakery", "café", "Zoo", "bakery", "7")[i]
        for i in rng.integers(6, size=rng.integers(1, 4))
    ]
    if roll > 0.85:
        return np.array(picked, dtype=object)
    if roll > 0.8:
        return [*picked, 7]  # not text: str() of it joins the union
    return picked


def _random_input(seed: int, variant: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records and links with every awkward value build_leads meets; leads of 1 to 40 records."""
    rng = np.random.default_rng(seed)
    rows, lead_of = [], {}
    for lead in range(120):
        size = (
            1 if lead % 3 == 0 else (int(rng.integers(30, 41)) if lead % 17 == 0 else int(rng.integers(2, 6)))
        )
        lead_id = f"lead-{rng.integers(10**6):06d}-{lead}"
        for _ in range(size):
            provider = PROVIDERS[rng.integers(len(PROVIDERS))]
            record_id = f"{provider}:{rng.integers(10**9):09d}"
            lead_of[record_id] = lead_id
            rows.append(
                {
                    "record_id": record_id,
                    "provider": provider,
                    "name": _text(rng, ("Ace Plumbing", "Oak Bakery", "ace plumbing co")),
                    "name_norm": _text(rng, ("ace plumbing", "oak bakery")),
                    "website": _text(rng, ("https://ace.example", "https://oak.example")),
                    "domain": _text(rng, ("ace.example", "oak.example")),
                    "phone_e164": _text(rng, ("+13035550123", "+18005550100")),
                    "phone_is_toll_free": (True, False, None, np.bool_(True))[rng.integers(4)],
                    "address_line1": _text(rng, ("1200 Main St", "5 Oak Ave")),
                    "city": _text(rng, ("Denver", "Austin")),
                    "region": _text(rng, ("CO", "TX")),
                    "postal": _text(rng, ("80202", "78701")),
                    "country": _text(rng, ("US",)),
                    "lat": _number(rng, lambda: float(rng.uniform(-90, 90))),
                    "lon": _number(rng, lambda: float(rng.uniform(-180, 180))),
                    # Many digits, so the summation order of the weighted mean shows in the result.
                    "rating": _number(rng, lambda: float(rng.uniform(1, 5))),
                    "review_count": _number(rng, lambda: int(rng.integers(-3, 10**6))),
                    "categories": _categories(rng),
                    "campaign_ids": ["c1"],
                }
            )
    order = rng.permutation(len(rows))
    records = pd.DataFrame([rows[i] for i in order])
    if variant == "typed":  # as silver's records come: str text, numeric dtypes, nullable review counts
        for column in ("name", "name_norm", "website", "domain", "phone_e164", "address_line1", "city"):
            records[column] = [str(v) if isinstance(v, np.str_) else v for v in records[column]]
        records = records.astype({"lat": "float64", "lon": "float64", "rating": "float64"})
        records["review_count"] = records["review_count"].astype("float64").round().astype("Int64")
        records["phone_is_toll_free"] = records["phone_is_toll_free"].map(bool)
    elif variant == "sparse":  # columns a golden row reads, missing altogether
        records = records.drop(columns=["website", "domain", "rating", "categories"])
        records["review_count"] = [
            float(v) + 0.7 if _ref_present(v) else None for v in records["review_count"]
        ]
    links = pd.DataFrame({"record_id": list(lead_of), "lead_id": list(lead_of.values())})
    return records, links.sample(frac=1.0, random_state=seed)


def _assert_identical(new: pd.DataFrame, old: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    for column in LEAD_COLUMNS:  # None is not NaN, a str is not np.str_: compare reprs, types included
        assert [repr(v) for v in new[column]] == [repr(v) for v in old[column]], column
    assert new["provenance"].tolist() == old["provenance"].tolist()


@pytest.mark.parametrize("variant", ["objects", "typed", "sparse"])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("tied", [False, True], ids=["default-confidence", "tied-confidence"])
def test_build_leads_is_identical_to_the_per_lead_reference(seed: int, variant: str, tied: bool) -> None:
    records, links = _random_input(seed, variant)
    confidence = TIED_CONFIDENCE if tied else None
    new = build_leads(records, links, confidence)
    _assert_identical(new, _reference_build_leads(records, links, confidence))
    assert new["source_count"].sum() == len(records)
    assert (new["source_count"] == 1).any() and new["source_count"].max() >= 30


def test_ratings_add_left_to_right_in_record_id_order_and_round_like_the_reference() -> None:
    # 1e16 + 1.0 rounds back to 1e16, so left to right both 1.0s are lost (mean 0.0); a compensated
    # sum (pandas' groupby sum) would keep them (0.5). Once weighted by reviews, once plain (no reviews).
    rows = [
        _record(f"yelp:{lead}{i}", "yelp", name="A", rating=rating, review_count=reviews)
        for lead, reviews in (("a", 1), ("b", 0))
        for i, rating in enumerate((1e16, 1.0, 1.0, -1e16))
    ]
    # Python's round(1.1005, 3) is 1.101 (the decimal value of the double is above ...05); numpy's gives 1.1.
    rows.append(_record("yelp:c0", "yelp", name="A", rating=1.1005))
    records = pd.DataFrame(rows)
    links = pd.DataFrame({"record_id": records["record_id"], "lead_id": records["record_id"].str[5]})
    leads = build_leads(records, links)
    assert leads["rating"].tolist() == [0.0, 0.0, 1.101]
    _assert_identical(leads, _reference_build_leads(records, links))


def test_ids_that_are_not_text_sort_as_python_sorts_them() -> None:
    ids = [10, 9, 100, 2]
    records = pd.DataFrame(
        [_record(i, ("yelp", "google_places")[n % 2], name=f"N{n}") for n, i in enumerate(ids)]
    )
    links = pd.DataFrame({"record_id": ids, "lead_id": [ids[0], ids[1], ids[0], ids[1]]})
    leads = build_leads(records, links)
    assert leads["lead_id"].tolist() == [9, 10] and leads["source_record_ids"].tolist() == [[2, 9], [10, 100]]
    _assert_identical(leads, _reference_build_leads(records, links))


def test_text_sorts_as_python_sorts_it_whether_arrow_can_encode_it_or_not() -> None:
    text = np.array(
        ["b\ud800", "a", "b", "a\udfff", "\u00e9", "z"], dtype=object
    )  # lone surrogates: no UTF-8
    assert text[_python_order(text)].tolist() == sorted(text.tolist())
    plain = np.array(
        ["b", "a", "\u00e9", "Z", "ab", "\U0001f600", "\uffff"], dtype=object
    )  # UTF-8 byte order
    assert plain[_python_order(plain)].tolist() == sorted(plain.tolist())


@pytest.mark.parametrize("side", ["left", "right", "either left or right"])
def test_duplicate_record_ids_are_refused_as_a_one_to_one_merge_refuses_them(side: str) -> None:
    records = pd.DataFrame([GOOGLE, YELP] + ([GOOGLE] if side != "right" else []))
    links = pd.DataFrame({"record_id": ["google_places:g1", "yelp:y1"], "lead_id": LEAD})
    if side != "left":
        links = pd.concat([links, links.head(1)])
    message = f"Merge keys are not unique in {side} dataset; not a one-to-one merge"
    for build in (build_leads, _reference_build_leads):
        with pytest.raises(pd.errors.MergeError, match=message):
            build(records, links)


def test_a_link_without_a_lead_id_is_refused_naming_the_column() -> None:
    links = pd.DataFrame({"record_id": ["google_places:g1", "yelp:y1"], "lead_id": [LEAD, None]})
    with pytest.raises(ValueError, match=r"links\.lead_id is missing"):
        build_leads(pd.DataFrame([GOOGLE, YELP]), links)
