"""Reasons in words: templates per feature as data, groups, points, and the feature=value fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadlake.ml.explain import phrase, points, reasons_from


def test_phrases_use_templates_and_fall_back_to_feature_equals_value() -> None:
    row = {"rating": 4.7, "review_count": 310.0, "has_website": 0.0, "mystery": 0.25, "founded_year": None}
    assert phrase("rating", row) == "4.7 stars from 310 reviews"
    assert phrase("rating", row | {"review_count": float("nan")}) == "4.7 stars"
    assert phrase("has_website", row) == "no website"
    assert phrase("founded_year", row) == "founding year unknown"
    assert phrase("mystery", row) == "mystery=0.25"
    assert phrase("mystery", row | {"mystery": None}) == "mystery=missing"


def test_reasons_are_the_top_three_by_absolute_contribution_with_grouped_features() -> None:
    feats = pd.DataFrame(
        [{"rating": 4.7, "review_count": 310.0, "has_website": 0.0, "has_domain": 0.0, "source_count": 2.0}]
    )
    contrib = pd.DataFrame(
        [{"rating": 0.4, "review_count": 0.2, "has_website": -0.3, "has_domain": -0.1, "source_count": 0.01}]
    )
    reasons = reasons_from(contrib, np.array([0.0]), feats)
    assert reasons == [
        [f"+{points(0.6, 0.0)}: 4.7 stars from 310 reviews", f"{points(-0.4, 0.0)}: no website"]
    ], "source_count is worth 0 points and left out"
    assert points(0.6, 0.0) == 15 and points(-0.4, 0.0) == -10


def test_every_feature_of_the_default_set_has_words_for_a_value_and_for_missing() -> None:
    from leadlake.ml.explain import REASON_TEMPLATES
    from leadlake.ml.spec import DEFAULT_FEATURE_SET

    lacking = [
        f
        for f in DEFAULT_FEATURE_SET.columns
        if "missing" not in REASON_TEMPLATES.get(f, {})
        or not ({"value", "true"} & set(REASON_TEMPLATES.get(f, {})))
    ]
    assert lacking == []


def test_list_features_read_as_words() -> None:
    row = {"tech_signals": ["google analytics", "shopify", "stripe", "wix"], "categories": []}
    assert phrase("tech_signals", row) == "runs google analytics, shopify, stripe and 1 more"
    assert phrase("categories", row) == "no categories"
    assert phrase("mystery", {"mystery": np.array(["a", "b"])}) == "mystery=a, b"
