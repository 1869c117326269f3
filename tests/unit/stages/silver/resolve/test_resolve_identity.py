"""assign_ids: existing leads keep their ids through joins, merges and splits; no id is ever reused."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from leadlake.stages.silver.resolve.identity import assign_ids, mint

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 2, 1, tzinfo=UTC)


def test_first_run_mints_one_id_per_cluster_from_its_smallest_record() -> None:
    got = assign_ids({"yelp:1": "c1", "yelp:2": "c2", "g:9": "c2"}, {})
    assert got.lead_ids == {"c1": mint("yelp:1", ()), "c2": mint("g:9", ())}
    assert got.counts() == {"minted": 2, "merged": 0, "split": 0, "retired": 0}
    assert got.merges.empty


def test_a_lead_keeps_its_id_when_a_smaller_record_of_another_provider_joins_it() -> None:
    # The bug of issue 13: google_places:* sorts before yelp:*, which used to rename the lead.
    got = assign_ids({"yelp:1": "c", "google_places:1": "c"}, {"yelp:1": "L-yelp"})
    assert got.lead_ids == {"c": "L-yelp"}
    assert got.counts()["minted"] == 0


def test_two_existing_leads_in_one_cluster_merge_into_the_one_with_more_records() -> None:
    clusters = {"a1": "c", "a2": "c", "b1": "c", "g1": "c"}
    previous = {"a1": "A", "a2": "A", "b1": "B"}
    pairs = pd.DataFrame(
        {
            "record_id_l": ["a1", "b1"],
            "record_id_r": ["g1", "g1"],
            "match_probability": [0.99, 0.97],
            "match_rule": ["exact phone", "model: name jw>=0.92"],
        }
    )
    got = assign_ids(clusters, previous, pairs=pairs, run_id="r2", at=T1)
    assert got.lead_ids == {"c": "A"}
    merge = got.merges.iloc[0]
    assert (merge["merged_lead_id"], merge["survivor_lead_id"], merge["run_id"]) == ("B", "A", "r2")
    assert merge["record_ids"] == ["b1"]
    assert "b1 ~ g1" in merge["reason"] and "model: name" in merge["reason"]


def test_ties_between_existing_leads_go_to_the_oldest() -> None:
    clusters = {"a1": "c", "b1": "c"}
    got = assign_ids(clusters, {"a1": "A", "b1": "B"}, created={"A": T1, "B": T0})
    assert got.lead_ids == {"c": "B"}
    assert list(got.merges["merged_lead_id"]) == ["A"]


def test_a_split_keeps_the_id_on_the_larger_part_and_mints_the_other() -> None:
    clusters = {"a1": "c1", "a2": "c1", "a3": "c2"}
    got = assign_ids(clusters, {"a1": "A", "a2": "A", "a3": "A"}, used={"A"})
    assert got.lead_ids["c1"] == "A"
    assert got.lead_ids["c2"] not in {"A"}
    split = got.history[got.history["event"] == "split"].iloc[0]
    assert (split["lead_id"], split["related_lead_id"]) == (got.lead_ids["c2"], "A")


def test_a_retired_id_is_never_minted_again() -> None:
    old = mint("a1", ())
    got = assign_ids({"a1": "c"}, {}, used={old})
    assert got.lead_ids["c"] != old
    assert got.lead_ids["c"] == mint("a1", {old})


def test_a_lead_whose_records_are_gone_is_retired() -> None:
    got = assign_ids({"b1": "c"}, {"a1": "A", "b1": "B"})
    assert got.lead_ids == {"c": "B"}
    retired = got.history[got.history["event"] == "retired"]
    assert list(retired["lead_id"]) == ["A"]


def test_same_clusters_same_ids() -> None:
    clusters = {"a1": "c", "b1": "c", "x": "d"}
    first = assign_ids(clusters, {})
    previous = {r: first.lead_ids[c] for r, c in clusters.items()}
    again = assign_ids(clusters, previous, used=set(previous.values()))
    assert again.lead_ids == first.lead_ids
    assert again.history.empty and again.merges.empty
