"""The feature set and the label rule are data; features derive from raw lead columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadlake.ml.spec import FS1, LabelRule, build_features, label, labelled_rows


def test_features_derive_from_raw_lead_columns_and_building_twice_changes_nothing() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b"],
            "rating": [4.5, None],
            "website": ["https://a.com", None],
            "categories": [np.array(["plumber", "roofer"]), None],
            "email_verified_domain": [True, None],
        }
    )
    f = build_features(leads, FS1)
    assert list(f.columns) == ["lead_id", *FS1.columns]
    assert f["has_website"].tolist() == [1.0, 0.0]
    assert f["primary_category"].tolist() == ["plumber", None]
    assert f["category_count"].tolist() == [2.0, 0.0]
    assert f["email_verified_domain"][0] == 1.0 and np.isnan(f["email_verified_domain"][1])
    assert np.isnan(f["rating"][1]) and np.isnan(f["employee_count"]).all()
    pd.testing.assert_frame_equal(build_features(f, FS1), f)


def test_label_rule_counts_positive_stages_within_the_window() -> None:
    rule = LabelRule("qualified_or_won_90d", ("qualified", "won"), 90)
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    outcomes = pd.DataFrame(
        {
            "lead_id": ["a", "a", "b", "c", "d"],
            "stage": ["contacted", "Won", "qualified", "lost", "won"],
            "stage_at": [t0, t0 + pd.Timedelta(days=30), t0 + pd.Timedelta(days=120), t0, t0],
            "delivered_at": [t0] * 5,
        }
    )
    y = label(outcomes, rule)
    assert y.name == "qualified_or_won_90d"
    assert y.to_dict() == {"a": 1, "b": 0, "c": 0, "d": 1}


def test_labelled_rows_align_delivered_leads_labels_and_times() -> None:
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    leads = pd.DataFrame({"lead_id": ["a", "b", "c"], "rating": [4.0, 3.0, 5.0]})
    outcomes = pd.DataFrame(
        {
            "lead_id": ["b", "a", "a"],
            "stage": ["won", "contacted", "lost"],
            "stage_at": [t0 + pd.Timedelta(days=3), t0, t0 + pd.Timedelta(days=9)],
            "delivered_at": [t0 + pd.Timedelta(days=1), t0, t0],
        }
    )
    rows, y, as_of = labelled_rows(leads, outcomes)
    assert rows["lead_id"].tolist() == ["a", "b"], "c was never delivered; oldest first"
    assert y.tolist() == [0, 1] and as_of.tolist() == [t0, t0 + pd.Timedelta(days=1)]
