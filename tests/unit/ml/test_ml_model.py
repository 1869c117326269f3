"""The scorer bundle with list features: an input per known value, unseen ones ignored; bytes round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
from ml_support import Labelled

from leadlake.ml.model import LeadScorer, encode, learn_vocabularies
from leadlake.ml.spec import FS2, FeatureSet, build_features
from leadlake.ml.train import fit_scorer

TINY = FeatureSet("t1", numeric=("rating",), categorical=(), multi=("tech_signals",))


def test_list_features_encode_one_column_per_known_value() -> None:
    train = build_features(
        pd.DataFrame({"rating": [4.0, 3.0, 5.0], "tech_signals": [["stripe", "wix"], ["stripe"], None]}), TINY
    )
    vocab = learn_vocabularies(train, TINY, min_count=1, max_values=10)
    assert vocab == {"tech_signals": ["stripe", "wix"]}, "most frequent first"
    new = build_features(pd.DataFrame({"rating": [4.5], "tech_signals": [["wix", "shopify"]]}), TINY)
    x = encode(new, TINY, vocab)
    assert list(x.columns) == ["rating", "tech_signals__0", "tech_signals__1"]
    assert x.iloc[0].tolist() == [4.5, 0.0, 1.0], "shopify was never seen in training: no column, no error"
    assert learn_vocabularies(train, TINY, min_count=1, max_values=10, multi_max_values=1) == {
        "tech_signals": ["stripe"]
    }


def test_a_fs2_bundle_scores_the_same_after_a_round_trip_through_bytes(labelled: Labelled) -> None:
    leads = labelled.leads.assign(
        tech_signals=[["stripe"] if i % 3 else ["wix", "stripe"] for i in range(len(labelled.leads))],
        providers=[["yelp"] if i % 2 else ["google_places", "yelp"] for i in range(len(labelled.leads))],
    )
    scorer = fit_scorer(leads, labelled.labels, FS2, {"num_boost_round": 30})
    again = LeadScorer.from_bytes(scorer.to_bytes())
    assert again.feature_set == FS2 and "tech_signals__0" in again.columns
    np.testing.assert_array_equal(again.predict_proba(leads), scorer.predict_proba(leads))
    contributions, _ = again.contributions(leads.head(5))
    assert {"tech_signals", "providers", "categories"} <= set(contributions.columns)


def test_more_stars_never_lower_the_score(labelled: Labelled) -> None:
    """The monotone constraints hold on any row: rating and review count only push the odds up."""
    scorer = fit_scorer(labelled.leads, labelled.labels, FS2)
    row = labelled.leads.iloc[[0] * 41].reset_index(drop=True)
    row["rating"] = np.linspace(1.0, 5.0, 41)
    assert np.all(np.diff(scorer.predict_proba(row)) >= 0)
    row["review_count"] = np.linspace(0, 2000, 41)
    row["rating"] = 4.0
    assert np.all(np.diff(scorer.predict_proba(row)) >= 0)
