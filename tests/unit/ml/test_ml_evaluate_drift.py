"""Metrics against hand-computed values, and the PSI on same and shifted distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ml_support import synthetic_leads

from leadlake.ml.drift import PSI_THRESHOLD, SCORE, psi_table, reference_stats, unseen_in_training
from leadlake.ml.evaluate import _rank_auc, auc, auc_gain_lower_bound, baseline_metrics, compare, metrics
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


def test_the_rank_auc_of_the_bootstrap_is_roc_auc_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    p = np.round(rng.random(400), 1)  # many ties
    assert _rank_auc(y, p) == pytest.approx(auc(y, p), abs=1e-12)
    assert np.isnan(_rank_auc(np.ones(5, dtype="int64"), np.arange(5.0)))


def _scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a score that knows a little of them (true AUC gain about 0.14) and one that is noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, 0.5 * y + rng.normal(0, 1.0, n), rng.normal(0, 1.0, n)


def test_a_real_auc_gain_on_many_rows_has_a_lower_bound_above_zero() -> None:
    for seed in range(5):
        y, better, noise = _scores(3000, seed)
        low = auc_gain_lower_bound(y, better, noise, confidence=0.9)
        assert 0 < low < auc(y, better) - auc(y, noise), seed
        assert auc_gain_lower_bound(y, noise, better) < 0  # the other way round


def test_a_small_gain_on_a_few_dozen_rows_is_not_sure_and_equal_scores_gain_nothing() -> None:
    small = 0
    for seed in range(20):
        y, better, noise = _scores(30, seed)
        point = auc(y, better) - auc(y, noise)
        if 0 < point < 0.1:
            small += 1
            assert auc_gain_lower_bound(y, better, noise) < 0, seed
    assert small >= 3
    y, better, noise = _scores(300, 0)
    assert auc_gain_lower_bound(y, better, better) == 0.0
    assert auc_gain_lower_bound(y, better, noise, seed=4) == auc_gain_lower_bound(y, better, noise, seed=4)


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


def test_a_feature_the_training_data_never_held_moves_without_being_flagged() -> None:
    """Trained from an export with no industry column: the model never weighs industry, so its values in
    today's leads are reported (the PSI is kept) but not flagged as drift; rating moving still is."""
    train = build_features(synthetic_leads(2000, seed=1).leads, FS1)
    train["industry"] = None
    train["employee_count"] = np.nan
    ref = reference_stats(train, None, FS1)
    unseen = set(unseen_in_training(ref))
    assert {"industry", "employee_count"} <= unseen and not unseen & {"rating", "review_count", SCORE}
    today = build_features(synthetic_leads(2000, seed=3, rating_shift=-0.6).leads, FS1)
    today["industry"] = "construction"
    today["employee_count"] = 12.0
    t = psi_table(ref, today).set_index("feature")
    assert t.loc["industry", "psi"] > PSI_THRESHOLD and t.loc["employee_count", "psi"] > PSI_THRESHOLD
    assert not t.loc["industry", "flagged"] and not t.loc["employee_count", "flagged"]
    assert t.loc["rating", "flagged"]
