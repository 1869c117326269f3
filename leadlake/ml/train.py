"""Train a lead scorer on labelled leads, log it to MLflow, register it and promote it if it wins.

The split is by time: the oldest rows train, the newest (HOLDOUT_FRACTION) are held out, as the model
will meet leads newer than its training data. The new version becomes the `challenger`; it becomes the
`champion` when there is none, or when its AUC on the held-out rows beats the champion's AUC on the very
same rows by `promote_margin` (so retraining on unchanged data never flips the champion).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadlake.ml.drift import reference_stats
from leadlake.ml.evaluate import auc_gain_lower_bound, metrics
from leadlake.ml.model import MODEL_NAME, LeadScorer, encode, learn_vocabularies
from leadlake.ml.registry import (
    CHALLENGER,
    CHAMPION,
    SCORER_FILE,
    alias_version,
    artifact_location,
    client,
    load_version,
    tracking,
)
from leadlake.ml.score import to_points
from leadlake.ml.spec import DEFAULT_FEATURE_SET, FeatureSet, build_features

log = logging.getLogger("leadlake.ml.train")

EXPERIMENT = "leadlake_lead_scorer"
# Shallow, slow, regularised trees: a lead's odds are close to additive in its features, and a few thousand
# labelled leads overfit deeper trees. Tuned with benchmarks/bench_score.py on a world its figures do not
# use (seed 100, 12,000 businesses): held-out AUC 0.708 with depth 4 / eta 0.1 / 200 rounds, 0.734 with these.
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 2,
    "eta": 0.02,
    "min_child_weight": 10.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda": 5.0,
    "seed": 42,
    "nthread": 1,  # one thread: the same data gives the same trees, bit for bit
    "num_boost_round": 900,
}
# Features whose effect on the odds can only go one way (+1 up, -1 down), whatever the data says: more
# stars or reviews never hurt, a farther lead never helps. Applied to those the feature set has.
MONOTONE: dict[str, int] = {
    "rating": 1,
    "review_count": 1,
    "has_website": 1,
    "has_phone": 1,
    "distance_km": -1,
}
MIN_ROWS = 100  # fewer labelled leads than this: refuse to train
HOLDOUT_FRACTION = 0.2
TOP_N = 50
PROMOTE_MARGIN = 0.005
# A challenger replaces the champion only when it is better by PROMOTE_MARGIN and, at this confidence, better
# at all (a paired bootstrap of the held-out rows): a win on a few dozen rows is noise, not a better model.
PROMOTE_CONFIDENCE = 0.9
CATEGORY_MIN_COUNT = 5  # a categorical value rarer than this in training is "other"
CATEGORY_MAX_VALUES = 20
MULTI_MAX_VALUES = 64  # known values of a list feature (categories, technologies): one input each


class TrainingRefused(ValueError):
    """Training data the model cannot learn from (too few rows, one class); the message says what is wrong."""


@dataclass
class TrainResult:
    """What a training run produced and decided."""

    run_id: str
    version: str  # the registered version (alias challenger)
    metrics: dict[str, float]  # the challenger's, on the held-out rows
    promoted: bool
    decision: str  # first_champion | promoted | kept_champion | replaced_unloadable_champion
    champion_version: str  # after the decision
    previous_champion: str | None = None
    champion_metrics: dict[str, float] | None = None  # the previous champion's, on the same rows
    n_train: int = 0
    n_holdout: int = 0
    scorer: LeadScorer | None = field(default=None, repr=False)
    auc_gain_low: float = float("nan")  # lower confidence bound of auc minus the champion's


def time_split(as_of: pd.Series | np.ndarray, holdout_fraction: float = HOLDOUT_FRACTION) -> tuple:
    """Positions of the oldest (train) and newest (held-out) rows; equal times keep their row order."""
    t = pd.to_datetime(pd.Series(np.asarray(as_of)), utc=True)
    if t.isna().any():
        raise TrainingRefused(f"{int(t.isna().sum())} rows have no as_of time")
    order = np.argsort(t.to_numpy(), kind="stable")
    n_hold = max(1, math.ceil(len(order) * holdout_fraction))
    return order[: len(order) - n_hold], order[len(order) - n_hold :]


def _check(labels: np.ndarray, train_pos: np.ndarray, hold_pos: np.ndarray, min_rows: int) -> None:
    if len(labels) < min_rows:
        raise TrainingRefused(f"{len(labels)} labelled rows; training needs at least {min_rows}")
    if not set(np.unique(labels)) <= {0, 1}:
        raise TrainingRefused(f"labels must be 0/1, got {sorted(set(np.unique(labels).tolist()))}")
    for part, pos in (("all", np.arange(len(labels))), ("training", train_pos), ("held-out", hold_pos)):
        classes = set(labels[pos].tolist())
        if len(classes) < 2:
            raise TrainingRefused(
                f"the {part} rows hold one class only ({classes or 'none'}): "
                "the model needs both positives and negatives"
            )


def _check_informative(feats: pd.DataFrame, feature_set: FeatureSet, given: Iterable[str]) -> None:
    """TrainingRefused when every feature of the training rows holds one value (missing included): the
    model could only learn the base rate, and would score every lead alike."""
    for name in feature_set.columns:
        values = feats[name].map(lambda v: tuple(v) if isinstance(v, list) else v)
        if values.nunique(dropna=False) > 1:
            return
    shown = ", ".join(list(given)[:10]) + (", ..." if len(list(given)) > 10 else "")
    raise TrainingRefused(
        f"no feature of {feature_set.version} varies across the training rows (the rows' columns: {shown}); "
        f"give them lead columns such as {', '.join(feature_set.numeric[:5])}"
    )


def _fit(x: pd.DataFrame, y: np.ndarray, params: Mapping[str, Any]) -> Any:
    import xgboost as xgb

    p = dict(params)
    rounds = int(p.pop("num_boost_round"))
    if "monotone_constraints" not in p:
        p["monotone_constraints"] = {c: d for c, d in MONOTONE.items() if c in x.columns}
    dtrain = xgb.DMatrix(x.to_numpy(dtype="float32"), label=y, feature_names=list(x.columns), missing=np.nan)
    return xgb.train(p, dtrain, num_boost_round=rounds)


def fit_scorer(
    features: pd.DataFrame,
    labels: pd.Series | np.ndarray,
    feature_set: FeatureSet = DEFAULT_FEATURE_SET,
    params: Mapping[str, Any] | None = None,
) -> LeadScorer:
    """A scorer fitted on all the rows given (no split, no MLflow, no reference stats): the model part of
    `train`, for benchmarks and tests."""
    feats = build_features(features, feature_set)
    vocab = learn_vocabularies(feats, feature_set, CATEGORY_MIN_COUNT, CATEGORY_MAX_VALUES, MULTI_MAX_VALUES)
    y = np.asarray(labels, dtype="int64")
    booster = _fit(encode(feats, feature_set, vocab), y, DEFAULT_PARAMS | dict(params or {}))
    return LeadScorer(booster=booster, feature_set=feature_set, vocabularies=vocab)


def _calibration_figure(y: np.ndarray, p: np.ndarray) -> Any:
    from matplotlib.figure import Figure
    from sklearn.calibration import calibration_curve

    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    bins = max(2, min(10, len(y) // 10))
    frac, mean = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(mean, frac, marker="o", label="model (held-out rows)")
    ax.set(xlabel="predicted probability", ylabel="observed share of positives", title="Calibration")
    ax.legend(loc="upper left")
    return fig


def _importance_figure(scorer: LeadScorer) -> tuple[Any, dict[str, float]]:
    from matplotlib.figure import Figure

    gain = scorer.booster.get_score(importance_type="total_gain")
    per_feature: dict[str, float] = {}
    for col, g in gain.items():
        per_feature[scorer.source_of[col]] = per_feature.get(scorer.source_of[col], 0.0) + float(g)
    ranked = sorted(per_feature.items(), key=lambda kv: kv[1])
    fig = Figure(figsize=(6, max(2.5, 0.35 * len(ranked) + 1)))
    ax = fig.add_subplot()
    ax.barh([k for k, _ in ranked], [v for _, v in ranked])
    ax.set(xlabel="total gain", title="Feature importance")
    fig.tight_layout()
    return fig, dict(sorted(per_feature.items(), key=lambda kv: -kv[1]))


def _experiment_id(tracking_uri: str, experiment: str) -> str:
    c = client(tracking_uri)
    exp = c.get_experiment_by_name(experiment)
    if exp is not None:
        return str(exp.experiment_id)
    return str(c.create_experiment(experiment, artifact_location=artifact_location(tracking_uri, experiment)))


def _log_model(
    scorer: LeadScorer, x_example: pd.DataFrame, tags: Mapping[str, str], tracking_uri: str
) -> str:
    """Log the booster with the bundle header as an extra file, register it; the new version."""
    import mlflow
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    with tempfile.TemporaryDirectory(prefix="leadlake-scorer-") as tmp:
        header = Path(tmp) / SCORER_FILE
        header.write_text(json.dumps(scorer.meta(), sort_keys=True, default=str))
        example = x_example.astype("float64")
        info = mlflow.xgboost.log_model(
            scorer.booster,
            name="model",
            signature=infer_signature(example, scorer.booster.predict(xgb.DMatrix(example))),
            input_example=example,
            pip_requirements=[f"xgboost=={xgb.__version__}"],  # inferring them costs ~15 s
            extra_files=[str(header)],
            metadata={"feature_set": scorer.feature_set.version},
            tags=dict(tags),
        )
    return _register(client(tracking_uri), str(info.model_id), tags)


def _register(c: Any, model_id: str, tags: Mapping[str, str]) -> str:
    """A new version of MODEL_NAME from a logged model (the registered model made on first use), through the
    client: log_model(registered_model_name=...) prints each registry step to stderr."""
    from mlflow.exceptions import MlflowException

    try:
        c.create_registered_model(MODEL_NAME)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    version = c.create_model_version(MODEL_NAME, f"models:/{model_id}", tags=dict(tags), model_id=model_id)
    return str(version.version)


def train(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    as_of: pd.Series,
    feature_set: FeatureSet = DEFAULT_FEATURE_SET,
    params: Mapping[str, Any] | None = None,
    tracking_uri: str,
    data_versions: Mapping[str, int],
    top_n: int = TOP_N,
    promote_margin: float = PROMOTE_MARGIN,
    experiment: str = EXPERIMENT,
    holdout_fraction: float = HOLDOUT_FRACTION,
    min_rows: int = MIN_ROWS,
    tags: Mapping[str, str] | None = None,
) -> TrainResult:
    """Fit, evaluate on the newest rows, log to MLflow, register as challenger, promote if it wins.

    `features`, `labels` and `as_of` are aligned by position (one row per labelled lead; `features` holds
    raw lead columns or built features); `data_versions` are the Delta versions of the tables read.
    Raises TrainingRefused before touching MLflow when the data cannot train a model.
    """
    import mlflow

    if not (len(features) == len(labels) == len(as_of)):
        raise ValueError(f"{len(features)} feature rows, {len(labels)} labels, {len(as_of)} as_of times")
    y = pd.to_numeric(pd.Series(np.asarray(labels)), errors="coerce")
    if y.isna().any():
        raise TrainingRefused(f"{int(y.isna().sum())} labels are missing")
    y_arr = y.astype("int64").to_numpy()
    train_pos, hold_pos = time_split(as_of, holdout_fraction) if len(y_arr) >= min_rows else ([], [])
    _check(y_arr, np.asarray(train_pos, dtype="int64"), np.asarray(hold_pos, dtype="int64"), min_rows)
    hyper = DEFAULT_PARAMS | dict(params or {})

    feats = build_features(features.reset_index(drop=True), feature_set)
    _check_informative(feats.iloc[train_pos], feature_set, features.columns)
    f_train, f_hold = feats.iloc[train_pos], feats.iloc[hold_pos]
    y_train, y_hold = y_arr[train_pos], y_arr[hold_pos]
    scorer = fit_scorer(f_train, y_train, feature_set, hyper)
    x_train = encode(f_train, feature_set, scorer.vocabularies)
    p_hold = scorer.predict_proba(f_hold)
    m = metrics(y_hold, p_hold, top_n)
    train_scores = to_points(scorer.predict_proba(f_train))
    scorer.reference = reference_stats(f_train, train_scores, feature_set, scorer.vocabularies)
    scorer.info = {"metrics": m, "data_versions": dict(data_versions), "n_train": len(train_pos)}

    exp_id = _experiment_id(tracking_uri, experiment)
    with tracking(tracking_uri), mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_params({k: v for k, v in hyper.items()})
        mlflow.log_params(
            {
                "feature_set": feature_set.version,
                "n_train": len(train_pos),
                "n_holdout": len(hold_pos),
                "holdout_fraction": holdout_fraction,
                "top_n": top_n,
                "promote_margin": promote_margin,
                **{f"data_version.{t}": int(v) for t, v in data_versions.items()},
            }
        )
        mlflow.set_tags({"feature_set": feature_set.version, **dict(tags or {})})
        mlflow.log_dict(feature_set.asdict() | {"encoded_columns": scorer.columns}, "feature_set.json")
        mlflow.log_dict({t: int(v) for t, v in data_versions.items()}, "data_versions.json")
        mlflow.log_dict(scorer.reference, "reference_stats.json")
        mlflow.log_metrics({k: v for k, v in m.items() if not math.isnan(v)})
        mlflow.log_figure(_calibration_figure(y_hold, p_hold), "plots/calibration.png")
        fig, importance = _importance_figure(scorer)
        mlflow.log_figure(fig, "plots/feature_importance.png")
        mlflow.log_dict(importance, "feature_importance.json")

        version = _log_model(scorer, x_train.head(5), {"feature_set": feature_set.version}, tracking_uri)
        scorer.version = version
        result = _promote(tracking_uri, scorer, f_hold, y_hold, p_hold, m, top_n, promote_margin)
        result.run_id, result.n_train, result.n_holdout = run.info.run_id, len(train_pos), len(hold_pos)
    log.info(
        "trained %s v%s: auc %.4f on %d held-out rows; %s (champion v%s)",
        MODEL_NAME,
        version,
        m["auc"],
        len(hold_pos),
        result.decision,
        result.champion_version,
    )
    return result


def _promote(
    tracking_uri: str,
    scorer: LeadScorer,
    f_hold: pd.DataFrame,
    y_hold: np.ndarray,
    p_hold: np.ndarray,
    m: dict[str, float],
    top_n: int,
    margin: float,
) -> TrainResult:
    """Alias the new version challenger; make it champion if it wins; log the decision on the active run."""
    import mlflow

    c = client(tracking_uri)
    version = scorer.version
    c.set_registered_model_alias(MODEL_NAME, CHALLENGER, version)
    previous = alias_version(c, CHAMPION)
    champ_m: dict[str, float] | None = None
    gain_low = float("nan")
    if previous is None:
        decision = "first_champion"
    else:
        try:
            champ, _ = load_version(tracking_uri, previous)
            p_champ = champ.predict_proba(f_hold)
            champ_m = metrics(y_hold, p_champ, top_n)
            gain_low = auc_gain_lower_bound(y_hold, p_hold, p_champ, confidence=PROMOTE_CONFIDENCE)
            beats = m["auc"] >= champ_m["auc"] + margin and gain_low > 0
            decision = "promoted" if beats or math.isnan(champ_m["auc"]) else "kept_champion"
        except Exception as exc:  # noqa: BLE001 - a champion that no longer loads is replaced
            log.warning("champion v%s failed to load (%s): the challenger replaces it", previous, exc)
            decision = "replaced_unloadable_champion"
    promoted = decision != "kept_champion"
    if promoted:
        c.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    champion = version if promoted else str(previous)

    mlflow.log_metric("challenger_auc", m["auc"])
    if not math.isnan(gain_low):
        mlflow.log_metric("auc_gain_lower_bound", gain_low)
    if champ_m is not None:
        mlflow.log_metrics({f"champion_{k}": v for k, v in champ_m.items() if not math.isnan(v)})
    mlflow.set_tags(
        {
            "promotion.decision": decision,
            "promotion.promoted": str(promoted).lower(),
            "promotion.previous_champion": previous or "",
            "promotion.champion": champion,
            "promotion.margin": str(margin),
            "promotion.confidence": str(PROMOTE_CONFIDENCE),
            "registered_version": version,
        }
    )
    c.set_model_version_tag(MODEL_NAME, version, "promotion.decision", decision)
    return TrainResult(
        run_id="",
        version=version,
        metrics=m,
        promoted=promoted,
        decision=decision,
        champion_version=champion,
        previous_champion=previous,
        champion_metrics=champ_m,
        scorer=scorer,
        auc_gain_low=gain_low,
    )
