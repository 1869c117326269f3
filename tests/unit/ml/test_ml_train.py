"""Training against a sqlite MLflow registry: logging, champion/challenger, loading, scoring, reasons."""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ml_support import Labelled, synthetic_leads

from leadlake.ml.evaluate import METRICS
from leadlake.ml.model import MODEL_NAME, LeadScorer
from leadlake.ml.registry import CHALLENGER, CHAMPION, client, load_champion
from leadlake.ml.score import SCORE_COLUMNS, TIER_THRESHOLDS, score_frame, tier_for
from leadlake.ml.spec import FS1
from leadlake.ml.train import TrainingRefused, TrainResult, train

DATA_VERSIONS = {"gold.scored_leads": 7, "silver.lead_outcomes": 3}


@dataclass
class Trained:
    uri: str
    root: Path
    first: TrainResult
    data: Labelled


def _train(uri: str, data: Labelled, **kw: object) -> TrainResult:
    return train(
        data.leads,
        data.labels,
        as_of=data.as_of,
        feature_set=FS1,
        tracking_uri=uri,
        data_versions=DATA_VERSIONS,
        top_n=20,
        promote_margin=0.005,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, labelled: Labelled) -> Trained:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return Trained(uri, root, _train(uri, labelled), labelled)


def _copy_registry(trained: Trained, dest: Path) -> str:
    """The registry's database alone, copied (its artifact paths still point at the original's files)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained.root / "mlflow.db", dest / "mlflow.db")
    return f"sqlite:///{dest / 'mlflow.db'}"


def test_the_first_train_logs_metrics_and_plots_and_becomes_champion(trained: Trained) -> None:
    r = trained.first
    assert (r.decision, r.promoted, r.version, r.champion_version) == ("first_champion", True, "1", "1")
    assert r.n_train == 480 and r.n_holdout == 120
    assert r.metrics["auc"] > 0.75, r.metrics  # the signal is learnable
    c = client(trained.uri)
    run = c.get_run(r.run_id)
    assert set(METRICS) <= set(run.data.metrics)
    assert run.data.metrics["auc"] == pytest.approx(r.metrics["auc"])
    assert run.data.params["data_version.gold.scored_leads"] == "7"
    assert run.data.params["feature_set"] == "fs1" and run.data.tags["promotion.decision"] == "first_champion"
    artifacts = {a.path for a in c.list_artifacts(r.run_id, "plots")}
    assert artifacts == {"plots/calibration.png", "plots/feature_importance.png"}
    assert {a.path for a in c.list_artifacts(r.run_id)} >= {"feature_set.json", "reference_stats.json"}
    assert str(c.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"
    assert str(c.get_model_version_by_alias(MODEL_NAME, CHALLENGER).version) == "1"
    import mlflow.models

    info = mlflow.models.get_model_info(f"models:/{MODEL_NAME}/1")
    assert info.signature is not None and info.saved_input_example_info is not None
    assert run.info.artifact_uri.startswith((trained.root / "mlartifacts").as_uri()), "beside the db"


def test_a_second_train_on_the_same_data_registers_a_challenger_but_keeps_the_champion(
    trained: Trained,
) -> None:
    r = _train(trained.uri, trained.data)
    assert (r.decision, r.promoted, r.version, r.champion_version) == ("kept_champion", False, "2", "1")
    assert r.champion_metrics is not None and r.champion_metrics["auc"] == pytest.approx(r.metrics["auc"])
    c = client(trained.uri)
    assert str(c.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"
    assert str(c.get_model_version_by_alias(MODEL_NAME, CHALLENGER).version) == "2"
    run = c.get_run(r.run_id)
    assert run.data.tags["promotion.decision"] == "kept_champion"
    assert {"challenger_auc", "champion_auc"} <= set(run.data.metrics)


def test_a_worse_model_is_not_promoted(trained: Trained) -> None:
    r = _train(trained.uri, trained.data, params={"max_depth": 1, "num_boost_round": 2})
    assert r.decision == "kept_champion" and not r.promoted
    assert r.champion_metrics is not None and r.metrics["auc"] < r.champion_metrics["auc"] - 0.005
    assert str(client(trained.uri).get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"


def test_a_better_model_is_promoted(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = synthetic_leads(400, seed=5)
    weak = _train(uri, data, params={"max_depth": 1, "num_boost_round": 1})
    strong = _train(uri, data)
    assert weak.decision == "first_champion"
    assert strong.decision == "promoted" and strong.champion_version == strong.version == "2"
    assert strong.previous_champion == "1"


def test_a_win_by_the_margin_on_a_few_dozen_held_out_rows_is_not_a_promotion(tmp_path: Path) -> None:
    """30 held-out rows: the better model's AUC lead over the champion is above the margin, yet its paired
    bootstrap lower bound is below zero; it is registered as challenger, the champion stays."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = synthetic_leads(600, seed=3)
    weak = _train(uri, data, params={"max_depth": 1, "num_boost_round": 1}, holdout_fraction=0.05)
    strong = _train(uri, data, holdout_fraction=0.05)
    assert weak.decision == "first_champion" and strong.n_holdout == 30
    assert strong.champion_metrics is not None
    assert strong.metrics["auc"] >= strong.champion_metrics["auc"] + 0.005
    assert strong.auc_gain_low < 0
    assert (strong.decision, strong.promoted, strong.champion_version) == ("kept_champion", False, "1")
    c = client(uri)
    assert str(c.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"
    assert str(c.get_model_version_by_alias(MODEL_NAME, CHALLENGER).version) == "2"
    run = c.get_run(strong.run_id)
    assert run.data.metrics["auc_gain_lower_bound"] == pytest.approx(strong.auc_gain_low)
    assert run.data.tags["promotion.confidence"] == "0.9"


def test_training_refuses_too_few_rows_or_one_class(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    small = synthetic_leads(40)
    with pytest.raises(TrainingRefused, match="at least 100"):
        _train(uri, small)
    data = synthetic_leads(200)
    with pytest.raises(TrainingRefused, match="one class"):
        train(data.leads, data.labels * 0, as_of=data.as_of, tracking_uri=uri, data_versions={})
    assert not (tmp_path / "mlflow.db").exists(), "refused before touching MLflow"


def test_training_refuses_rows_whose_features_say_nothing(tmp_path: Path) -> None:
    """Rows with no feature column (a file of ids and names) would train a model of the base rate alone,
    scoring every lead alike: refused, naming the columns it had, before MLflow is touched."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = synthetic_leads(200)
    bare = pd.DataFrame({"lead_id": data.leads["lead_id"], "name": "Acme"})
    with pytest.raises(TrainingRefused, match=r"no feature of fs2 varies .*lead_id, name"):
        train(bare, data.labels, as_of=data.as_of, tracking_uri=uri, data_versions={})
    assert not (tmp_path / "mlflow.db").exists()


def test_load_champion_returns_the_champion_scorer(trained: Trained) -> None:
    champ = load_champion(trained.uri)
    assert champ is not None and champ.version == "1" and champ.run_id == trained.first.run_id
    assert champ.feature_set == FS1 and "rating" in champ.reference and "lead_score" in champ.reference
    leads = trained.data.leads
    assert trained.first.scorer is not None
    np.testing.assert_array_equal(champ.model.predict_proba(leads), trained.first.scorer.predict_proba(leads))
    again = LeadScorer.from_bytes(champ.model.to_bytes())
    pd.testing.assert_frame_equal(score_frame(again, leads), score_frame(champ.model, leads))


def test_load_champion_is_none_without_a_registry_or_after_its_database_is_deleted(
    trained: Trained, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    never = f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}"
    deleted = _copy_registry(trained, tmp_path / "deleted")
    assert load_champion(deleted) is not None
    (tmp_path / "deleted" / "mlflow.db").unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING, "leadlake.ml.registry"):
        assert load_champion(never) is None
        assert load_champion(deleted) is None
    assert not (tmp_path / "none").exists(), "looking did not create a registry"
    assert [r.getMessage() for r in caplog.records if r.name == "leadlake.ml.registry"] == [
        f"no model registry at {never}: no champion to score with",
        f"no model registry at {deleted}: no champion to score with",
    ]


def test_load_champion_is_none_when_the_model_or_its_alias_is_deleted(
    trained: Trained, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    no_alias = _copy_registry(trained, tmp_path / "no_alias")
    client(no_alias).delete_registered_model_alias(MODEL_NAME, CHAMPION)
    deleted = _copy_registry(trained, tmp_path / "deleted")
    client(deleted).delete_registered_model(MODEL_NAME)
    with caplog.at_level(logging.WARNING, "leadlake.ml.registry"):
        assert load_champion(no_alias) is None
        assert load_champion(deleted) is None
    messages = [r.getMessage() for r in caplog.records if r.name == "leadlake.ml.registry"]
    assert len(messages) == 2 and all(m.startswith(f"no champion of {MODEL_NAME}") for m in messages)


def test_load_champion_is_none_when_the_model_is_broken(
    trained: Trained, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uri = _copy_registry(trained, tmp_path / "broken")
    import mlflow.artifacts

    good = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL_NAME}/1", tracking_uri=trained.uri))
    broken = shutil.copytree(good, tmp_path / "broken_model")
    (broken / "model.ubj").write_bytes(b"not a model")
    c = client(uri)
    mv = c.create_model_version(MODEL_NAME, source=str(broken))
    c.set_registered_model_alias(MODEL_NAME, CHAMPION, mv.version)
    with caplog.at_level(logging.WARNING, "leadlake.ml.registry"):
        assert load_champion(uri) is None
    messages = [r.getMessage() for r in caplog.records if r.name == "leadlake.ml.registry"]
    assert len(messages) == 1 and f"version {mv.version} failed to load" in messages[0], messages


def test_scores_tiers_and_reasons_in_words(trained: Trained) -> None:
    scorer = trained.first.scorer
    assert scorer is not None
    common = {"vertical": "ecommerce", "source_count": 2, "distance_km": 10.0, "categories": ["roofer"]}
    star = common | {"rating": 4.9, "review_count": 800, "website": "https://star.com"}
    poor = common | {"rating": 3.0, "review_count": 2, "website": None}
    leads = pd.DataFrame([{"lead_id": "star"} | star, {"lead_id": "poor"} | poor])
    out = score_frame(scorer, leads, FS1)
    assert list(out.columns) == SCORE_COLUMNS
    by_id = out.set_index("lead_id")
    assert by_id.loc["star", "lead_score"] > by_id.loc["poor", "lead_score"]
    assert out["lead_score"].between(0, 100).all() and out["lead_score"].dtype == "int64"
    assert all(tier_for(s) == t for s, t in zip(out["lead_score"], out["priority_tier"], strict=True))
    assert by_id.loc["star", "model_version"] == "xgb-fs1-v1"
    star_reasons, poor_reasons = by_id.loc["star", "score_reasons"], by_id.loc["poor", "score_reasons"]
    assert 1 <= len(star_reasons) <= 3 and all(re.match(r"^[+-]\d+: \S", r) for r in star_reasons)
    assert any(r.startswith("+") and "4.9 stars from 800 reviews" in r for r in star_reasons), star_reasons
    assert any(r.startswith("-") and "3.0 stars from 2 reviews" in r for r in poor_reasons), poor_reasons
    words = [*star_reasons, *poor_reasons]
    assert not any("=" in r for r in words), f"phrased in words, not feature=value: {words}"
    assert TIER_THRESHOLDS[0][0] == "A"


def test_a_different_feature_set_is_refused(trained: Trained) -> None:
    from leadlake.ml.spec import FeatureSet

    assert trained.first.scorer is not None
    with pytest.raises(ValueError, match="feature set 'fs1'"):
        score_frame(trained.first.scorer, trained.data.leads, FeatureSet("fs2", ("rating",), ()))
