"""Metrics against hand-computed values, and the PSI on same and shifted distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_leads

from leadlake.ml.drift import PSI_THRESHOLD, SCORE, psi_table, reference_stats
from leadlake.ml.evaluate import baseline_metrics, compare, metrics
from leadlake.ml.spec import FS1, build_features


def test_metrics_of_a_perfect_and_a_known_ranking() -> None:
    y = [0, 0, 1, 1]
    assert metrics(y, [0.1, 0.2, 0.8, 0.9], top_n=2) == pytest.approx(
        {"auc": 1.0, "pr_auc": 1.0, "precision_at_top_n": 1.0, "brier": (0.01 + 0.04 + 0.04 + 0.01) / 4}
    )
    m = metrics(y, [0.9, 0.2, 0.8, 0.1], top_n=1)
    assert m["auc"] == pytest.approx(0.25) and m["precision_at_top_n"] == 0.0
    b = baseline_metrics(y, [0, 25, 60, 75], top_n=2)
    assert b["auc"] == 1.0 and b["brier"] == pytest.approx((0 + 0.0625 + 0.16 + 0.0625) / 4)
    table = compare(metrics(y, [0.1, 0.2, 0.8, 0.9], 2), b)
    assert table.set_index("metric").loc["brier", "lead"] > 0  # lower Brier counts as the model's lead


def test_psi_is_near_zero_on_the_same_distribution_and_flagged_on_a_shifted_one() -> None:
    ref_data = build_features(synthetic_leads(3000, seed=1).leads, FS1)
    same = build_features(synthetic_leads(3000, seed=2).leads, FS1)
    shifted = build_features(synthetic_leads(3000, seed=3, rating_shift=-0.6).leads, FS1)
    ref = reference_stats(ref_data, ref_data["rating"] * 20, FS1, {"vertical": ["ecommerce", "b2b_saas"]})

    t_same = psi_table(ref, same, same["rating"] * 20).set_index("feature")
    assert t_same.loc["rating", "psi"] < 0.05 and t_same.loc[SCORE, "psi"] < 0.05
    assert not t_same["flagged"].any(), t_same[t_same["flagged"]]

    t_shift = psi_table(ref, shifted, shifted["rating"] * 20).set_index("feature")
    assert t_shift.loc["rating", "psi"] > PSI_THRESHOLD and t_shift.loc["rating", "flagged"]
    assert t_shift.loc[SCORE, "flagged"]
    assert not t_shift.loc["review_count", "flagged"]
    assert list(t_shift.columns) == ["psi", "flagged"]


def test_psi_of_an_empty_frame_is_an_empty_table() -> None:
    f = build_features(synthetic_leads(200).leads, FS1)
    out = psi_table(reference_stats(f, None, FS1), f.iloc[:0])
    assert out.empty and list(out.columns) == ["feature", "psi", "flagged"]
    assert np.isfinite(psi_table(reference_stats(f, None, FS1), f)["psi"]).all()
    assert isinstance(out, pd.DataFrame)
