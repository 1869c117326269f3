"""Population stability: how far today's leads (and their scores) moved from the champion's training data.

The reference is taken at train time (`reference_stats`) and stored with the model: per numeric feature the
training quantile edges and the share of rows per bin (missing values are a bin of their own), per
categorical feature the share of each known value, plus "other" and "missing".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from leadlake.ml.spec import FeatureSet

PSI_THRESHOLD = 0.2  # > 0.2: a significant shift (0.1-0.2 moderate), the usual credit-scoring rule
QUANTILE_BINS = 10
EPSILON = 1e-4  # floor of a bin share, so an empty bin does not make the PSI infinite
SCORE = "lead_score"  # the reference entry of the model's score
OTHER, MISSING = "__other__", "__missing__"


def _numeric_ref(values: pd.Series, bins: int) -> dict[str, Any]:
    v = pd.to_numeric(values, errors="coerce").astype("float64")
    present = v.dropna().to_numpy()
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if len(present) else []
    ref = {"kind": "numeric", "edges": [float(e) for e in edges]}
    return ref | {"shares": _numeric_shares(v, ref)}


def _numeric_shares(values: pd.Series, ref: Mapping[str, Any]) -> list[float]:
    """Shares of rows per bin (right-closed bins between the edges), the last entry the missing share."""
    v = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    n = len(v)
    edges = np.asarray(ref["edges"], dtype="float64")
    missing = np.isnan(v)
    idx = np.searchsorted(edges, v[~missing], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype("float64")
    out = [*counts.tolist(), float(missing.sum())]
    return [c / n for c in out] if n else [0.0] * len(out)


def _categorical_ref(values: pd.Series, vocabulary: list[str] | None) -> dict[str, Any]:
    vocab = vocabulary if vocabulary is not None else sorted({str(x) for x in values.dropna()})
    ref = {"kind": "categorical", "values": list(vocab)}
    return ref | {"shares": _categorical_shares(values, ref)}


def _categorical_shares(values: pd.Series, ref: Mapping[str, Any]) -> list[float]:
    """Shares per known value, then OTHER, then MISSING."""
    known = list(ref["values"])
    keys = values.map(lambda x: MISSING if x is None or x != x else (str(x) if str(x) in known else OTHER))
    counts = keys.value_counts()
    n = len(values)
    return [float(counts.get(k, 0)) / n if n else 0.0 for k in [*known, OTHER, MISSING]]


def reference_stats(
    features: pd.DataFrame,
    scores: pd.Series | np.ndarray | None,
    feature_set: FeatureSet,
    vocabularies: Mapping[str, list[str]] | None = None,
    bins: int = QUANTILE_BINS,
) -> dict[str, dict[str, Any]]:
    """The reference distribution of each feature (and of the 0-100 score under SCORE), JSON-ready."""
    out: dict[str, dict[str, Any]] = {}
    for name in feature_set.numeric:
        out[name] = _numeric_ref(features[name], bins)
    for name in feature_set.categorical:
        out[name] = _categorical_ref(features[name], (vocabularies or {}).get(name))
    if scores is not None:
        out[SCORE] = _numeric_ref(pd.Series(np.asarray(scores, dtype="float64")), bins)
    return out


def psi(expected: list[float] | np.ndarray, actual: list[float] | np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype="float64"), EPSILON)
    a = np.maximum(np.asarray(actual, dtype="float64"), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def current_shares(values: pd.Series, ref: Mapping[str, Any]) -> list[float]:
    """Shares of `values` over the reference's bins."""
    if ref["kind"] == "numeric":
        return _numeric_shares(values, ref)
    return _categorical_shares(values, ref)


def unseen_in_training(reference: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The features the training data never held a value of (every row missing): the model learned nothing
    from them, so however their values move now, what the model weighs has not drifted."""
    return [
        name
        for name, ref in reference.items()
        if name != SCORE and ref.get("shares") and ref["shares"][-1] >= 1.0 - 1e-9
    ]


def psi_table(
    reference: Mapping[str, Mapping[str, Any]],
    features: pd.DataFrame,
    scores: pd.Series | np.ndarray | None = None,
    threshold: float = PSI_THRESHOLD,
) -> pd.DataFrame:
    """[feature, psi, flagged] for each referenced feature `features` holds (and the score when given),
    flagged when the PSI exceeds `threshold` and the training data held the feature (unseen_in_training).
    An empty current frame gives no rows."""
    rows = []
    unseen = set(unseen_in_training(reference))
    if len(features):
        for name, ref in reference.items():
            if name == SCORE or name not in features.columns:
                continue
            rows.append((name, psi(ref["shares"], current_shares(features[name], ref))))
    if scores is not None and SCORE in reference and len(scores):
        cur = pd.Series(np.asarray(scores, dtype="float64"))
        rows.append((SCORE, psi(reference[SCORE]["shares"], current_shares(cur, reference[SCORE]))))
    out = pd.DataFrame(rows, columns=["feature", "psi"])
    out["flagged"] = (out["psi"] > threshold) & ~out["feature"].isin(unseen)
    return out
