"""Gold's model step: the champion's scores replace the rules' ones; without a usable champion the rules'
scores stay exactly as they were, with one warning and no exception."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support.pipeline import silver_lead

import leadlake.stages.gold.model as gold_model
from leadlake.ml.drift import reference_stats
from leadlake.ml.registry import Champion
from leadlake.ml.score import to_points
from leadlake.ml.spec import FS1, build_features
from leadlake.ml.train import fit_scorer
from leadlake.stages.gold.build import GOLD_COLUMNS, score_frame
from leadlake.stages.gold.features import FEATURES
from leadlake.stages.gold.model import apply_champion
from leadlake.stages.gold.score import MODEL_VERSION


def leads(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Silver leads joined to empty enrichment features, and a label that follows rating and website."""
    rng = np.random.default_rng(seed)
    empty = {f: None for f in FEATURES} | {"tech_signals": [], "email_verified_domain": False}
    rating = np.clip(rng.normal(4.0, 0.5, n), 1.0, 5.0).round(1)
    site = rng.random(n) < 0.5
    rows = [
        empty
        | silver_lead(
            f"L{i:04d}",
            f"Shop {i}",
            rating=float(rating[i]),
            review_count=int(rng.integers(1, 300)),
            website=f"https://shop{i}.example.com" if site[i] else None,
            domain=f"shop{i}.example.com" if site[i] else None,
            phone_e164=f"+1720555{i:04d}",
            categories=["plumber"],
        )
        for i in range(n)
    ]
    logit = 3.0 * (rating - 4.0) + 2.0 * (site - 0.5)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
    return pd.DataFrame(rows), y


@pytest.fixture(scope="module")
def champion() -> Champion:
    train, y = leads(300, seed=1)
    scorer = fit_scorer(train, y, FS1, {"num_boost_round": 30})
    feats = build_features(train, FS1)
    scorer.reference = reference_stats(
        feats, to_points(scorer.predict_proba(feats)), FS1, scorer.vocabularies
    )
    scorer.version = "7"
    return Champion(model=scorer, version="7", run_id="run-7")


@pytest.fixture
def gold() -> pd.DataFrame:
    """What the gold stage built with the rules, before the model step."""
    return score_frame(leads(40, seed=2)[0], {})


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_no_registry_leaves_the_rules_scores_untouched_with_one_warning(
    gold: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = gold.copy()
    with caplog.at_level(logging.WARNING):
        result = apply_champion(gold, f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}")
    assert result.frame is gold
    pd.testing.assert_frame_equal(result.frame, before)
    assert set(result.frame["model_version"]) == {MODEL_VERSION}
    assert result.champion is None and result.model_version is None
    assert result.psi.empty and result.flagged == []
    assert "no model registry" in (result.fallback or "")
    assert len(_warnings(caplog)) == 1, _warnings(caplog)
    assert not (tmp_path / "none").exists(), "looking for a champion creates no registry"


def test_a_registry_that_raises_falls_back_to_the_rules_with_one_warning(
    gold: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(uri: str) -> Any:
        raise RuntimeError("registry exploded")

    monkeypatch.setattr(gold_model, "load_champion", broken)
    monkeypatch.setattr(gold_model, "registry_exists", lambda uri: False)
    before = gold.copy()
    with caplog.at_level(logging.WARNING):
        result = apply_champion(gold, "sqlite:////nowhere/mlflow.db")
    pd.testing.assert_frame_equal(result.frame, before)
    assert result.champion is None and "registry exploded" in (result.fallback or "")
    assert len(_warnings(caplog)) == 1, _warnings(caplog)


def test_a_champion_that_cannot_score_falls_back_to_the_rules_with_one_warning(
    gold: pd.DataFrame,
    champion: Champion,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(gold_model, "load_champion", lambda uri: champion)
    monkeypatch.setattr(gold_model, "registry_exists", lambda uri: False)
    before = gold.copy()
    with caplog.at_level(logging.WARNING):
        result = apply_champion(gold.drop(columns=["lead_id"]), "sqlite:////nowhere/mlflow.db")
    pd.testing.assert_frame_equal(result.frame, before.drop(columns=["lead_id"]))
    assert result.champion is None
    assert "champion v7 failed to score" in (result.fallback or "")
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "failed to score" in warnings[0], warnings


def test_the_champion_replaces_the_scores_and_reports_psi(
    gold: pd.DataFrame, champion: Champion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gold_model, "load_champion", lambda uri: champion)
    monkeypatch.setattr(gold_model, "registry_exists", lambda uri: False)
    before = gold.copy()
    result = apply_champion(gold, "sqlite:////nowhere/mlflow.db")
    out = result.frame
    assert list(out.columns) == GOLD_COLUMNS and len(out) == len(gold)
    pd.testing.assert_frame_equal(gold, before)  # the input is not modified
    assert result.champion == "7" and result.model_version == "xgb-fs1-v7" and result.fallback is None
    assert set(out["model_version"]) == {"xgb-fs1-v7"}
    assert out["lead_score"].dtype == "int64" and out["lead_score"].between(0, 100).all()
    assert set(out["priority_tier"]) <= {"A", "B", "C"}
    assert all(isinstance(r, list) and r for r in out["score_reasons"])
    expected = champion.model.predict_proba(gold)
    assert out["lead_score"].tolist() == to_points(expected).tolist()
    untouched = [c for c in GOLD_COLUMNS if c not in gold_model.SCORED_COLUMNS]
    pd.testing.assert_frame_equal(out[untouched], gold[untouched])
    assert list(result.psi.columns) == ["feature", "psi", "flagged"]
    assert {"rating", "lead_score"} <= set(result.psi["feature"])


@pytest.mark.spark
def test_a_spark_frame_is_scored_per_partition_like_pandas(
    spark: Any, gold: pd.DataFrame, champion: Champion, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadlake.lakehouse.stage_io import to_spark
    from leadlake.stages.gold.features import FEATURE_TYPES

    monkeypatch.setattr(gold_model, "load_champion", lambda uri: champion)
    monkeypatch.setattr(gold_model, "registry_exists", lambda uri: False)
    expected = apply_champion(gold, "sqlite:////nowhere/mlflow.db")
    sdf = to_spark(spark, gold, FEATURE_TYPES).repartition(3)
    result = apply_champion(sdf, "sqlite:////nowhere/mlflow.db")
    assert result.champion == "7" and result.fallback is None
    got = result.frame.toPandas().sort_values("lead_id").reset_index(drop=True)
    assert list(got.columns) == GOLD_COLUMNS
    want = expected.frame.sort_values("lead_id").reset_index(drop=True)
    assert got["lead_score"].tolist() == want["lead_score"].tolist()
    assert got["priority_tier"].tolist() == want["priority_tier"].tolist()
    assert [list(r) for r in got["score_reasons"]] == want["score_reasons"].tolist()
    assert set(got["model_version"]) == {"xgb-fs1-v7"}
    pd.testing.assert_frame_equal(
        result.psi.sort_values("feature").reset_index(drop=True),
        expected.psi.sort_values("feature").reset_index(drop=True),
    )
