"""Great Expectations quality gates: real GE 1.x suites run on real pandas frames."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pandas as pd
import pytest

from leadlake.quality import gates as quality
from leadlake.quality.gates import QUARANTINE_COLUMN, TABLES, QualityGateFailed


def _bronze(provider: str, n: int = 4) -> pd.DataFrame:
    payloads = [json.dumps({"id": f"{provider}-{i}", "name": f"Biz {i}"}) for i in range(n)]
    return pd.DataFrame(
        {
            "provider": [provider] * n,
            "provider_key": [f"{provider}-{i}" for i in range(n)],
            "campaign_id": ["camp-1"] * n,
            "run_id": ["run-1"] * n,
            "request_fingerprint": [hashlib.sha1(f"req{i}".encode()).hexdigest() for i in range(n)],
            "fetched_at": pd.Timestamp("2025-01-01T00:00:00Z") + pd.to_timedelta(range(n), unit="s"),
            "payload": payloads,
            "content_hash": [hashlib.sha256(p.encode()).hexdigest() for p in payloads],
        }
    )


def _source_records(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [f"rec-{i}" for i in range(n)],
            "provider": ["google_places", "yelp"] * (n // 2) + ["yelp"] * (n % 2),
            "name": [f"Biz {i}" for i in range(n)],
            "phone_e164": [f"+1415555{i:04d}" if i % 3 else None for i in range(n)],
            "rating": [None if i % 5 == 0 else (i % 50) / 10 for i in range(n)],
            "review_count": [i % 700 for i in range(n)],
            "lat": [37.7 + (i % 100) / 1000 for i in range(n)],
            "lon": [-122.4 - (i % 100) / 1000 for i in range(n)],
            "domain": [f"biz{i}.example.co.uk" if i % 2 else None for i in range(n)],
        }
    )


def _leads(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [f"lead-{i}" for i in range(n)],
            "name": [f"Biz {i}" for i in range(n)],
            "source_count": [1 + i % 2 for i in range(n)],
            "phone_e164": ["+442079460000", None, "+14155550123", "+4930123456", "+61212345678"][:n],
            "rating": [4.5, None, 0.0, 5.0, 3.2][:n],
            "country": ["GB", "US", "US", "DE", "AU"][:n],
        }
    )


def _scored(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [f"lead-{i}" for i in range(n)],
            "lead_score": pd.Series([91, 55, 0][:n], dtype="int64"),
            "priority_tier": ["A", "B", "C"][:n],
            "score_reasons": [["rating>=4.5", "has_phone"], ["has_domain"], []][:n],
        }
    )


GOOD: dict[str, Callable[[], pd.DataFrame]] = {
    "bronze.places_raw": lambda: _bronze("google_places"),
    "bronze.yelp_businesses_raw": lambda: _bronze("yelp"),
    "silver.source_records": _source_records,
    "silver.leads": _leads,
    "gold.scored_leads": _scored,
}


def _set(df: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    df = df.copy()
    df[column] = df[column].astype(object)
    df.at[row, column] = value
    return df


def test_every_table_has_a_suite_that_loads() -> None:
    files = {p.stem for p in quality.EXPECTATIONS_DIR.glob("*.json")}
    assert set(TABLES) <= files, f"missing suites: {set(TABLES) - files}"
    for table in TABLES:
        spec = json.loads(quality.suite_path(table).read_text())
        assert spec["name"] == table and spec["expectations"]
        assert all({"type", "kwargs", "meta"} <= e.keys() for e in spec["expectations"])
        suite = quality._suite(table)  # raises if GE drops any expectation it does not understand
        assert len(suite.expectations) == len(spec["expectations"])


def test_missing_suite_names_the_expected_file() -> None:
    with pytest.raises(FileNotFoundError, match=r"expectations/silver\.nope\.json"):
        quality.validate("silver.nope", _leads())


@pytest.mark.parametrize("table", TABLES)
def test_good_frames_pass(table: str) -> None:
    df = GOOD[table]()
    result = quality.enforce(table, df)
    assert result.success, result.failed
    assert result.failed == [] and result.unexpected_index == {} and result.rows == len(df)
    assert result.evaluated >= len(json.loads(quality.suite_path(table).read_text())["expectations"])
    good, bad = quality.split_valid(table, df)
    assert len(good) == len(df) and bad.empty and QUARANTINE_COLUMN in bad.columns


BAD_ROWS = [
    ("silver.leads", "lead_id", lambda df: _set(df, 1, "lead_id", None), False),
    ("bronze.places_raw", "provider_key", lambda df: _set(df, 2, "provider_key", None), False),
    ("silver.leads", "phone_e164", lambda df: _set(df, 0, "phone_e164", "0207 946 0000"), False),
    ("silver.source_records", "phone_e164", lambda df: _set(df, 1, "phone_e164", "+0123456789"), False),
    ("silver.leads", "rating", lambda df: _set(df, 3, "rating", 7.0), False),
    ("silver.source_records", "rating", lambda df: _set(df, 2, "rating", 7.0), False),
    ("silver.source_records", "domain", lambda df: _set(df, 1, "domain", "https://Biz.example.com/"), False),
    ("silver.leads", "lead_id", lambda df: _set(df, 4, "lead_id", "lead-0"), True),
    ("gold.scored_leads", "lead_score", lambda df: df.assign(lead_score=[120, 55, 0]), False),
    ("gold.scored_leads", "priority_tier", lambda df: _set(df, 2, "priority_tier", "D"), False),
    ("gold.scored_leads", "lead_score", lambda df: df.astype({"lead_score": "float64"}), True),
    ("bronze.yelp_businesses_raw", "content_hash", lambda df: _set(df, 0, "content_hash", "abc123"), False),
    ("bronze.yelp_businesses_raw", "payload", lambda df: _set(df, 3, "payload", "{not json"), False),
    ("bronze.places_raw", "provider_key", lambda df: pd.concat([df, df.iloc[[1]]], ignore_index=True), True),
]  # fmt: skip


@pytest.mark.parametrize(("table", "column", "corrupt", "stops_publish"), BAD_ROWS)
def test_each_kind_of_bad_row_fails_naming_the_column(
    table: str, column: str, corrupt: Callable[[pd.DataFrame], pd.DataFrame], stops_publish: bool
) -> None:
    result = quality.validate(table, corrupt(GOOD[table]()))
    assert not result.success
    assert any(f"{table} {column}" in line or f"{column}," in line for line in result.failed), result.failed
    if stops_publish:
        with pytest.raises(QualityGateFailed, match=column):
            quality.enforce(table, corrupt(GOOD[table]()))
    else:
        assert result.gate_failed == []
        assert quality.enforce(table, corrupt(GOOD[table]())).failed == result.failed


def test_split_valid_quarantines_exactly_the_bad_rows() -> None:
    df = _source_records(50)
    df.index = [f"row{i}" for i in range(50)]  # labels, not positions: split_valid must keep them
    df = _set(df, "row3", "name", None)
    df = _set(df, "row7", "phone_e164", "555-1234")
    df = _set(df, "row7", "rating", 7.0)
    df = _set(df, "row20", "lat", 123.0)
    df = _set(df, "row41", "provider", "foursquare")
    good, bad = quality.split_valid("silver.source_records", df)
    assert list(bad.index) == ["row3", "row7", "row20", "row41"]
    assert len(good) == 46 and set(good.index).isdisjoint(bad.index)
    reasons = bad[QUARANTINE_COLUMN].to_dict()
    assert reasons["row3"] == "name: expect_column_values_to_not_be_null"
    assert "phone_e164" in reasons["row7"] and "rating" in reasons["row7"]
    assert "lat" in reasons["row20"] and "provider" in reasons["row41"]
    assert quality.validate("silver.source_records", good).success
    assert list(bad.columns) == [*df.columns, QUARANTINE_COLUMN]


def test_unexpected_index_positions_on_10k_rows() -> None:
    df = _source_records(10_000)
    bad_rows = [0, 4_999, 9_999]
    for pos in bad_rows:
        df = _set(df, pos, "review_count", -1)
    result = quality.validate("silver.source_records", df)
    assert result.unexpected_index == {"review_count: expect_column_values_to_be_between": bad_rows}
    assert result.failed == [
        "silver.source_records review_count: expect_column_values_to_be_between(min_value=0.0) failed: "
        "3 of 10000 rows, e.g. [-1, -1, -1]"
    ]


def test_missing_column_stops_both_enforce_and_split_valid() -> None:
    df = _leads().drop(columns=["country"])
    with pytest.raises(QualityGateFailed, match="country"):
        quality.enforce("silver.leads", df)
    with pytest.raises(QualityGateFailed, match="country"):
        quality.split_valid("silver.leads", df)
