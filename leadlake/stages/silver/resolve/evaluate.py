"""Evaluation: pairwise precision, recall and F1 of the leads against a known truth."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd


def within_pairs(groups: Mapping[str, list[str]]) -> set[tuple[str, str]]:
    """Every unordered pair (a < b) of ids inside the same group."""
    return {
        (a, b) for ids in groups.values() for i, a in enumerate(sorted(ids)) for b in sorted(ids)[i + 1 :]
    }


def _group(record_ids: Iterable[str], keys: Iterable[str]) -> dict[str, list[str]]:
    """record ids grouped by their key."""
    groups: dict[str, list[str]] = {}
    for rid, key in zip(record_ids, keys, strict=True):
        groups.setdefault(key, []).append(rid)
    return groups


def evaluate_links(links: pd.DataFrame, truth: Mapping[str, str]) -> dict[str, float]:
    """Pairwise precision/recall/F1 of the leads against known entities (record_id -> entity id).

    Raises ValueError when there is nothing to score: no predicted pair and no true pair."""
    known = links[links["record_id"].isin(truth.keys())]
    rids = list(known["record_id"])
    got = within_pairs(_group(rids, known["lead_id"]))
    want = within_pairs(_group(rids, [truth[r] for r in rids]))
    if not got and not want:
        raise ValueError(
            f"nothing to evaluate: {len(known)} of {len(links)} linked records are in the truth, "
            "and they form no predicted pair and no true pair"
        )
    hits = len(got & want)
    precision = hits / len(got) if got else 1.0
    recall = hits / len(want) if want else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision, "recall": recall, "f1": f1,
        "true_pairs": float(len(want)), "predicted_pairs": float(len(got)), "correct_pairs": float(hits),
    }  # fmt: skip
