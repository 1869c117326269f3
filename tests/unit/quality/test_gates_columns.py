"""Great Expectations sees only the columns a suite reads: the verdicts are those of the whole frame."""

from __future__ import annotations

import pandas as pd
import pytest

from leadlake.quality import gates


def _records(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [f"yelp:{i}" for i in range(n)],
            "provider": ["yelp"] * n,
            "name": [f"Biz {i}" for i in range(n)],
            "phone_e164": ["+14155550123"] * n,
            "rating": [4.5] * n,
            "review_count": [10] * n,
            "lat": [37.7] * n,
            "lon": [-122.4] * n,
            "domain": ["biz.example.com"] * n,
        }
    )


def test_columns_no_expectation_reads_do_not_change_the_verdicts() -> None:
    # GE sees unchecked columns only as names (a filler), so lists and extra text cannot change a verdict.
    df = _records(6)
    df.loc[2, "phone_e164"] = "555-1234"
    df.loc[4, "rating"] = 7.0
    wide = df.assign(categories=[["cafe", "bar"]] * 6, website=["https://biz.example.com/"] * 6)
    wide.index = [f"r{i}" for i in range(6)]
    narrow, full = gates.validate("silver.source_records", df), gates.validate("silver.source_records", wide)
    assert full.failed == narrow.failed and full.unexpected_index == narrow.unexpected_index == {
        "phone_e164: expect_column_values_to_match_regex": [2],
        "rating: expect_column_values_to_be_between": [4],
    }
    good, bad = gates.split_valid("silver.source_records", wide)
    assert list(bad.index) == ["r2", "r4"] and good["categories"].tolist() == [["cafe", "bar"]] * 4
    suite, _ = gates._setup("silver.source_records")
    frame = gates._ge_frame(wide, gates._value_columns(suite))
    assert list(frame.columns) == list(wide.columns) and list(frame.index) == list(range(6))
    assert frame["categories"].dtype == "int8" and frame["phone_e164"].tolist() == df["phone_e164"].tolist()
    # A missing checked column still stops the publish, as before.
    with pytest.raises(gates.QualityGateFailed, match="domain"):
        gates.split_valid("silver.source_records", wide.drop(columns=["domain"]))
