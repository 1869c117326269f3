"""The learning loop through the stage registry on a small lakehouse: gold writes gold.lead_features, the
`train` stage trains on those rows and promotes a champion in a real sqlite MLflow registry, the next gold run
scores with it in Spark (mapInPandas) exactly as in-process scoring of the same table rows, records the
run's drift in gold.score_drift, and a shifted population is flagged."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from support.pipeline import campaign, record_campaigns, resources_for, silver_lead, stage, write_silver_leads

from leadlake.lakehouse.catalog import (
    GOLD_LEAD_FEATURES,
    GOLD_SCORE_DRIFT,
    GOLD_SCORED_LEADS,
    OPS_MODEL_RUNS,
    SILVER_LEAD_OUTCOMES,
)
from leadlake.ml.registry import load_champion
from leadlake.ml.score import score_frame
from leadlake.ml.spec import DEFAULT_FEATURE_SET
from leadlake.observe.summary import summarize
from leadlake.quality.gates import QualityGateFailed
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.stages.gold.lead_features import read_features
from leadlake.stages.gold.score import MODEL_VERSION
from leadlake.stages.silver.outcomes import outcomes_schema, parse_label_rules

pytestmark = [pytest.mark.spark, pytest.mark.integration]

N = 240


def leads(n: int = N, seed: int = 4, shift: bool = False) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Denver silver leads and a label that follows rating, reviews and a website; `shift` moves every lead
    to low ratings and few reviews (a population the model never saw)."""
    rng = np.random.default_rng(seed)
    rating = np.clip(rng.normal(2.0 if shift else 4.0, 0.5, n), 1.0, 5.0).round(1)
    reviews = rng.lognormal(1.0 if shift else 3.5, 1.0, n).astype("int64")
    site = rng.random(n) < 0.6
    rows = [
        silver_lead(
            f"L{i:04d}",
            f"Shop {i}",
            rating=float(rating[i]),
            review_count=int(reviews[i]),
            website=f"https://shop{i}.example.com" if site[i] else None,
            domain=f"shop{i}.example.com" if site[i] else None,
            phone_e164=f"+1720555{i:04d}",
            lat=39.74 + rng.normal(0, 0.1),
            lon=-104.99 + rng.normal(0, 0.1),
            categories=[str(rng.choice(["plumber", "electrician", "roofer"]))],
        )
        for i in range(n)
    ]
    logit = 3.0 * (rating - 4.0) + 1.0 * (np.log1p(reviews) - 3.5) + 1.5 * (site - 0.6) - 0.5
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return rows, y


def write_outcomes(lake: Any, y: np.ndarray) -> None:
    """silver.lead_outcomes: lead i delivered i hours after a start, its 90-day label known."""
    schema = outcomes_schema(parse_label_rules())
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {f.name: None for f in schema}
        | {
            "destination": "hubspot",
            "lead_id": f"L{i:04d}",
            "crm_id": f"c{i}",
            "delivered_at": start + timedelta(hours=i),
            "qualified_or_won_90d": bool(label),
        }
        for i, label in enumerate(y)
    ]
    lake.overwrite(SILVER_LEAD_OUTCOMES, pa.Table.from_pylist(rows, schema=schema))


@pytest.fixture(scope="module")
def loop(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """gold (rules), train, gold (champion) on one lakehouse and one sqlite registry."""
    tmp = tmp_path_factory.mktemp("gold-loop")
    res = resources_for(str(tmp / "lake"), spark=spark)
    tracking = f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}"
    res = replace(res, settings=res.settings.model_copy(update={"mlflow_tracking_uri": tracking}))
    lake = res.lakehouse
    record_campaigns(lake, [campaign("denver_home_services", "local_services")])
    rows, y = leads()
    write_silver_leads(lake, rows)
    out: dict[str, Any] = {"res": res, "lake": lake, "tracking": tracking, "tmp": tmp}
    out["gold_rules"] = stage(res, "gold", "g1")
    out["features_v1"] = lake.version(GOLD_LEAD_FEATURES)
    write_outcomes(lake, y)
    out["train"] = stage(res, "train", "t1")
    out["gold_champion"] = stage(res, "gold", "g2")
    return out


def test_gold_writes_one_feature_row_per_lead_and_feature_set(loop: dict[str, Any]) -> None:
    lake = loop["lake"]
    assert loop["gold_rules"].model_version == MODEL_VERSION and loop["gold_rules"].champion is None
    assert "no model registry" in loop["gold_rules"].fallback
    rows = lake.read(GOLD_LEAD_FEATURES).to_pylist()
    keys = [(r["lead_id"], r["feature_set_version"]) for r in rows]
    assert len(keys) == len(set(keys)) == N  # one feature set so far: the default
    assert {r["feature_set_version"] for r in rows} == {DEFAULT_FEATURE_SET.version}
    assert len({r["run_id"] for r in rows}) == 1  # each gold run MERGEs over the last one's rows
    first = next(r for r in rows if r["lead_id"] == "L0000")
    assert first["scored_campaign_id"] == "denver_home_services"
    assert first["distance_km"] is not None and 0 <= first["distance_km"] < 60  # campaign context
    assert first["has_phone"] == 1.0
    assert not lake.exists(GOLD_SCORE_DRIFT) or not [
        r for r in lake.read(GOLD_SCORE_DRIFT).to_pylist() if r["run_id"] == "g1"
    ]  # the rules have no training data to drift from


def test_the_train_stage_reads_gold_lead_features_and_promotes_a_first_champion(loop: dict[str, Any]) -> None:
    r = loop["train"]
    assert r.trained, r.reason
    assert r.decision == "first_champion" and r.promoted and r.champion_version == r.version == "1"
    assert r.labelled == N and r.n_train + r.n_holdout == N
    assert set(r.metrics) == {"auc", "pr_auc", "precision_at_top_n", "brier"}
    assert r.metrics["auc"] > 0.7  # the signal is learnable
    assert r.rules_metrics is not None and set(r.rules_metrics) == set(r.metrics)
    assert r.data_versions == {GOLD_LEAD_FEATURES: loop["features_v1"], SILVER_LEAD_OUTCOMES: 0}
    runs = loop["lake"].read(OPS_MODEL_RUNS).to_pylist()
    assert [(x["run_id"], x["trained"], x["version"], x["decision"]) for x in runs] == [
        ("t1", True, "1", "first_champion")
    ]
    assert json.loads(runs[0]["metrics_json"])["model"]["auc"] == pytest.approx(r.metrics["auc"])


def test_gold_scores_with_the_champion_in_spark_as_in_process(loop: dict[str, Any]) -> None:
    """Scores published by the Spark job equal scoring the same gold.lead_features rows in-process."""
    lake, g = loop["lake"], loop["gold_champion"]
    champion = load_champion(loop["tracking"])
    assert champion is not None and champion.version == "1"
    want_version = champion.model.model_version
    assert g.champion == "1" and g.model_version == want_version and g.fallback is None
    gold = {r["lead_id"]: r for r in lake.read(GOLD_SCORED_LEADS).to_pylist()}
    assert {r["model_version"] for r in gold.values()} == {want_version}
    assert all(r["rules_score"] is not None for r in gold.values())  # the baseline stays beside it

    features, _ = read_features(lake, champion.feature_set)
    expected = score_frame(champion.model, features)
    assert len(expected) == len(gold) == N
    for e in expected.to_dict("records"):
        got = gold[e["lead_id"]]
        assert (got["lead_score"], got["priority_tier"]) == (e["lead_score"], e["priority_tier"])
        assert list(got["score_reasons"]) == list(e["score_reasons"])


def test_each_champion_scoring_run_records_its_drift(loop: dict[str, Any]) -> None:
    lake = loop["lake"]
    drift = [r for r in lake.read(GOLD_SCORE_DRIFT).to_pylist() if r["run_id"] == "g2"]
    features = {r["feature"] for r in drift}
    assert "lead_score" in features and "rating" in features
    assert {r["champion_version"] for r in drift} == {"1"}
    assert all(r["psi"] >= 0 and r["leads"] == N and r["threshold"] > 0 for r in drift)
    assert all(r["flagged"] == (r["psi"] > r["threshold"]) for r in drift)
    summary = summarize(lake)
    assert summary.drift is not None and summary.drift.run_id == "g2"
    assert summary.scored_by == {loop["gold_champion"].model_version: N}


def test_a_shifted_population_is_flagged_and_a_failed_gate_publishes_no_features(
    loop: dict[str, Any],
) -> None:
    res, lake = loop["res"], loop["lake"]
    shifted, _ = leads(shift=True, seed=8)
    write_silver_leads(lake, shifted)
    report = stage(res, "gold", "g3")
    assert report.champion == "1"
    assert "rating" in report.drift_flagged and "review_count" in report.drift_flagged
    flagged = {
        r["feature"] for r in lake.read(GOLD_SCORE_DRIFT).to_pylist() if r["run_id"] == "g3" and r["flagged"]
    }
    assert {"rating", "review_count"} <= flagged
    summary = summarize(lake)
    assert summary.drift is not None and {"rating", "review_count"} <= {f for f, _ in summary.drift.flagged}

    # A duplicate lead id upstream: the gate stops gold before any of its tables is written.
    before = {t: lake.version(t) for t in (GOLD_LEAD_FEATURES, GOLD_SCORED_LEADS, GOLD_SCORE_DRIFT)}
    write_silver_leads(lake, [*shifted, shifted[0] | {"name": "Shop 0 again"}])
    with pytest.raises(QualityGateFailed):
        run_stage(get_stage("gold"), res, "g4")
    assert {t: lake.version(t) for t in before} == before


def test_training_without_enough_labels_trains_nothing_and_says_why(
    loop: dict[str, Any], tmp_path: Path
) -> None:
    """A scheduled run before enough outcomes arrived is not a failure: it records why nothing trained."""
    res = loop["res"]
    lake = res.lakehouse
    _, y = leads()
    write_outcomes(lake, y[:30])
    done = run_stage(get_stage("train"), res, "t-few")
    assert done.status == "success" and done.rows_out == 0
    assert not done.details.trained and "30 labelled rows" in done.details.reason
    runs = {r["run_id"]: r for r in lake.read(OPS_MODEL_RUNS).to_pylist()}
    assert runs["t-few"]["trained"] is False and "30 labelled rows" in runs["t-few"]["reason"]
