"""Held-out metrics of a lead score, shared by training, promotion and the rules-vs-model benchmark."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

METRICS: tuple[str, ...] = ("auc", "pr_auc", "precision_at_top_n", "brier")
HIGHER_IS_BETTER: dict[str, bool] = {"auc": True, "pr_auc": True, "precision_at_top_n": True, "brier": False}


def _arrays(labels: Sequence[int] | pd.Series, probs: Sequence[float] | pd.Series) -> tuple:
    y = np.asarray(labels, dtype="int64")
    p = np.asarray(probs, dtype="float64")
    if y.shape != p.shape:
        raise ValueError(f"{len(y)} labels but {len(p)} scores")
    return y, p


def auc(labels: Sequence[int] | pd.Series, probs: Sequence[float] | pd.Series) -> float:
    """ROC AUC; NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y, p = _arrays(labels, probs)
    return float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else float("nan")


def pr_auc(labels: Sequence[int] | pd.Series, probs: Sequence[float] | pd.Series) -> float:
    """Area under the precision-recall curve (average precision); NaN without a positive."""
    from sklearn.metrics import average_precision_score

    y, p = _arrays(labels, probs)
    return float(average_precision_score(y, p)) if y.sum() > 0 else float("nan")


def precision_at_top_n(
    labels: Sequence[int] | pd.Series, probs: Sequence[float] | pd.Series, n: int
) -> float:
    """Share of positives among the n best-scored rows (what sales works first); ties broken by row order."""
    y, p = _arrays(labels, probs)
    if len(y) == 0 or n <= 0:
        return float("nan")
    top = np.argsort(-p, kind="stable")[: min(n, len(y))]
    return float(y[top].mean())


def brier(labels: Sequence[int] | pd.Series, probs: Sequence[float] | pd.Series) -> float:
    """Mean squared error of the probabilities (lower is better)."""
    y, p = _arrays(labels, probs)
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def metrics(
    labels: Sequence[int] | pd.Series, probs: Sequence[float] | pd.Series, top_n: int
) -> dict[str, float]:
    """The four METRICS of probabilities in [0, 1] against 0/1 labels."""
    return {
        "auc": auc(labels, probs),
        "pr_auc": pr_auc(labels, probs),
        "precision_at_top_n": precision_at_top_n(labels, probs, top_n),
        "brier": brier(labels, probs),
    }


def _rank_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank sum (ties share their average rank), as roc_auc_score computes it."""
    from scipy.stats import rankdata

    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def auc_gain_lower_bound(
    labels: Sequence[int] | pd.Series,
    new: Sequence[float] | pd.Series,
    old: Sequence[float] | pd.Series,
    *,
    confidence: float = 0.9,
    resamples: int = 1000,
    seed: int = 0,
) -> float:
    """A one-sided lower confidence bound of AUC(new) - AUC(old) on the same rows: the (1 - confidence)
    quantile of the difference over paired bootstrap resamples of the rows (seeded). On a few dozen rows a
    modest lead has a bound below zero; NaN when no resample holds both classes."""
    y, p_new = _arrays(labels, new)
    _, p_old = _arrays(labels, old)
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        gain = _rank_auc(y[idx], p_new[idx]) - _rank_auc(y[idx], p_old[idx])
        if not np.isnan(gain):
            gains.append(gain)
    return float(np.quantile(gains, 1.0 - confidence)) if gains else float("nan")


def baseline_metrics(
    labels: Sequence[int] | pd.Series, rule_scores: Sequence[float] | pd.Series, top_n: int
) -> dict[str, float]:
    """The rules baseline's METRICS from its 0-100 lead scores (read as probabilities score/100; its Brier
    score is therefore only a rough comparison: the rules were never calibrated)."""
    p = np.clip(np.asarray(rule_scores, dtype="float64") / 100.0, 0.0, 1.0)
    return metrics(labels, p, top_n)


def compare(model: dict[str, float], baseline: dict[str, float]) -> pd.DataFrame:
    """One row per metric: model, baseline, and the model's lead (positive = model better)."""
    rows = []
    for m in METRICS:
        a, b = model.get(m, float("nan")), baseline.get(m, float("nan"))
        rows.append(
            {"metric": m, "model": a, "baseline": b, "lead": (a - b) if HIGHER_IS_BETTER[m] else (b - a)}
        )
    return pd.DataFrame(rows, columns=["metric", "model", "baseline", "lead"])
