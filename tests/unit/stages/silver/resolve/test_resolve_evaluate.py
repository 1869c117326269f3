"""evaluate_links: pairwise precision and recall on literal leads, and no score for nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from leadlake.stages.silver.resolve import evaluate_links


def _links(leads: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"record_id": list(leads), "lead_id": list(leads.values())})


def test_scores_count_pairs_of_records() -> None:
    truth = {"g:1": "biz-1", "y:1": "biz-1", "g:2": "biz-2", "y:2": "biz-2", "g:3": "biz-3", "y:3": "biz-4"}
    # biz-1 found, biz-2 missed, g:3 and y:3 (two businesses) wrongly merged.
    links = _links({"g:1": "L1", "y:1": "L1", "g:2": "L2", "y:2": "L3", "g:3": "L4", "y:3": "L4"})
    assert evaluate_links(links, truth) == {
        "precision": 0.5, "recall": 0.5, "f1": 0.5,
        "true_pairs": 2.0, "predicted_pairs": 2.0, "correct_pairs": 1.0,
    }  # fmt: skip


def test_records_outside_the_truth_are_not_scored() -> None:
    links = _links({"g:1": "L1", "y:1": "L1", "x:9": "L1"})
    scores = evaluate_links(links, {"g:1": "biz-1", "y:1": "biz-1"})
    assert (scores["precision"], scores["recall"], scores["predicted_pairs"]) == (1.0, 1.0, 1.0)


def test_nothing_to_score_is_an_error_not_a_perfect_score() -> None:
    singletons = _links({"g:1": "L1", "y:1": "L2"})
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_links(singletons, {"g:1": "biz-1", "y:1": "biz-2"})
    with pytest.raises(ValueError, match="0 of 2 linked records are in the truth"):
        evaluate_links(singletons, {"other:1": "biz-1"})
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_links(_links({}), {})


def test_missing_every_true_pair_scores_zero_recall() -> None:
    scores = evaluate_links(_links({"g:1": "L1", "y:1": "L2"}), {"g:1": "biz-1", "y:1": "biz-1"})
    assert (scores["recall"], scores["f1"], scores["predicted_pairs"]) == (0.0, 0.0, 0.0)
