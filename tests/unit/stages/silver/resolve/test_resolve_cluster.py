"""cluster: transitive closure, singletons, one record per provider (opt-in), evidence check; lead ids."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from leadlake.stages.silver.resolve import (
    LINK_COLUMNS,
    PAIR_COLUMNS,
    best_pairs,
    cluster,
    lead_id_for,
    links_from_roots,
)

# The lead-id recipe, spelled out with the standard library: uuid5 in the project's namespace.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/leadlake/leadlake/lead")
ACE_LEAD = "11a7eb8e-0e93-5d73-80ba-91ae8fe29812"  # uuid5(NAMESPACE, "google_places:g1")


def _pairs(*rows: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame([(*r, "test") for r in rows], columns=PAIR_COLUMNS)


def test_links_are_transitive_a_b_and_b_c_make_one_cluster() -> None:
    ids, providers = ["g:a", "p:c", "y:b"], ["google", "pdl", "yelp"]
    roots = cluster(ids, providers, _pairs(("g:a", "y:b", 0.99), ("p:c", "y:b", 0.95)))
    assert roots == {"g:a": "g:a", "p:c": "g:a", "y:b": "g:a"}


def test_a_record_without_pairs_is_its_own_cluster() -> None:
    roots = cluster(["g:a", "y:b", "y:z"], ["google", "yelp", "yelp"], _pairs(("g:a", "y:b", 0.99)))
    assert roots == {"g:a": "g:a", "y:b": "g:a", "y:z": "y:z"}
    assert cluster(["y:z"], ["yelp"], _pairs()) == {"y:z": "y:z"}


def test_one_record_per_provider_and_the_strongest_link_wins() -> None:
    ids, providers = ["g:1", "g:2", "y:1"], ["google", "google", "yelp"]
    g2_stronger = _pairs(("g:1", "y:1", 0.95), ("g:2", "y:1", 0.99))
    assert cluster(ids, providers, g2_stronger, one_per_provider=True) == {
        "g:1": "g:1",
        "g:2": "g:2",
        "y:1": "g:2",
    }
    g1_stronger = _pairs(("g:1", "y:1", 0.99), ("g:2", "y:1", 0.95))
    assert cluster(ids, providers, g1_stronger, one_per_provider=True) == {
        "g:1": "g:1",
        "g:2": "g:2",
        "y:1": "g:1",
    }
    # Without the rule the two Google records end up together through Yelp.
    assert cluster(ids, providers, g1_stronger, one_per_provider=False) == {
        "g:1": "g:1",
        "g:2": "g:1",
        "y:1": "g:1",
    }


def test_pairs_naming_unknown_records_are_ignored() -> None:
    assert cluster(["g:a"], ["google"], _pairs(("g:a", "y:gone", 1.0))) == {"g:a": "g:a"}


def test_lead_id_is_uuid5_of_the_smallest_record_id_in_the_lead_namespace() -> None:
    # Persisted in silver and the CRM: this literal must never change.
    assert lead_id_for(["yelp:y1", "google_places:g1"]) == ACE_LEAD
    assert ACE_LEAD == str(uuid.uuid5(NAMESPACE, "google_places:g1"))
    with pytest.raises(ValueError, match="at least one"):
        lead_id_for([])


def test_links_from_roots_numbers_clusters_and_sorts_by_record_id() -> None:
    links = links_from_roots(
        {"yelp:y1": "google_places:g1", "google_places:g1": "google_places:g1", "yelp:z": "yelp:z"}
    )
    assert list(links.columns) == LINK_COLUMNS
    assert links.to_dict("records") == [
        {"record_id": "google_places:g1", "lead_id": ACE_LEAD, "cluster_size": 2},
        {"record_id": "yelp:y1", "lead_id": ACE_LEAD, "cluster_size": 2},
        {"record_id": "yelp:z", "lead_id": str(uuid.uuid5(NAMESPACE, "yelp:z")), "cluster_size": 1},
    ]
    assert links_from_roots({}).empty


def test_best_pairs_keeps_each_pair_once_at_its_highest_probability() -> None:
    exact = _pairs(("g:1", "y:1", 1.0))
    scored = _pairs(("g:2", "y:2", 0.97), ("g:1", "y:1", 0.93))
    assert best_pairs(exact, scored).to_dict("records") == [
        {"record_id_l": "g:1", "record_id_r": "y:1", "match_probability": 1.0, "match_rule": "test"},
        {"record_id_l": "g:2", "record_id_r": "y:2", "match_probability": 0.97, "match_rule": "test"},
    ]
    empty = best_pairs(_pairs(), _pairs())
    assert empty.empty and list(empty.columns) == PAIR_COLUMNS and empty["match_probability"].dtype == float


def test_the_evidence_check_keeps_a_chain_of_look_alikes_apart() -> None:
    """a-b and b-c are links, a-c is not, and c-d: with a share of 0.6 c does not join {a, b}."""
    ids, providers = ["a", "b", "c", "d"], ["s"] * 4
    pairs = _pairs(("a", "b", 0.99), ("b", "c", 0.98), ("c", "d", 0.97))
    assert cluster(ids, providers, pairs, min_link_share=0.6) == {"a": "a", "b": "a", "c": "c", "d": "c"}
    assert set(cluster(ids, providers, pairs).values()) == {"a"}  # no check: one chained cluster
    closed = _pairs(("a", "b", 0.99), ("b", "c", 0.98), ("a", "c", 0.95))
    assert set(cluster(ids[:3], providers[:3], closed, min_link_share=0.6).values()) == {"a"}


def test_two_websites_meet_only_where_records_with_them_are_linked_to_each_other() -> None:
    """a (acme.com) - b (no website) - c (acmeplumbing.net): b is like both, yet a and c are two
    businesses' sites, and no link says they are one. A direct link between two websites' records (a
    business that changed its domain) still joins them."""
    ids, providers = ["a", "b", "c", "d"], ["s"] * 4
    keys = ["acme.com", None, "acmeplumbing.net", None]
    chained = _pairs(("a", "b", 0.99), ("b", "c", 0.98), ("c", "d", 0.97))
    roots = cluster(ids, providers, chained, keys=keys)
    assert roots["a"] == roots["b"] and roots["c"] == roots["d"] and roots["a"] != roots["c"]
    assert set(cluster(ids, providers, chained).values()) == {"a"}  # without keys: one chained cluster
    direct = _pairs(("a", "b", 0.99), ("b", "c", 0.98), ("a", "c", 0.97))
    assert set(cluster(ids[:3], providers[:3], direct, keys=keys[:3]).values()) == {"a"}


def test_within_one_provider_records_cluster_by_default() -> None:
    assert cluster(["g:1", "g:2"], ["g", "g"], _pairs(("g:1", "g:2", 0.99))) == {"g:1": "g:1", "g:2": "g:1"}


def _greedy(ids: list[str], pairs: pd.DataFrame, min_link_share: float) -> dict[str, str]:
    """cluster()'s rule written plainly: links strongest first, a join needs min_link_share of the cross
    pairs to be links, a cluster's root is its smallest id."""
    root = {i: i for i in ids}
    edges = pairs.sort_values(
        ["match_probability", "record_id_l", "record_id_r"], ascending=[False, True, True], kind="stable"
    )[["record_id_l", "record_id_r"]].itertuples(index=False, name=None)
    linked = {frozenset(p) for p in pairs[["record_id_l", "record_id_r"]].itertuples(index=False, name=None)}
    for left, right in edges:
        a, b = root[left], root[right]
        group_a = [i for i in ids if root[i] == a]
        group_b = [i for i in ids if root[i] == b]
        if a == b:
            continue
        links = sum(1 for i in group_a for j in group_b if frozenset((i, j)) in linked)
        if len(group_a) * len(group_b) > 1 and links < min_link_share * len(group_a) * len(group_b):
            continue
        keep = min(a, b)
        for i in group_a + group_b:
            root[i] = keep
    return root


@pytest.mark.parametrize("seed", range(5))
def test_cluster_matches_the_greedy_rule_on_pairs_chains_and_stars(seed: int) -> None:
    import random

    rng = random.Random(seed)
    ids = [f"r{i:03d}" for i in range(120)]
    rows: set[tuple[str, str]] = set()
    for _ in range(70):  # lone pairs (most duplicates), chains and stars among 120 records
        a, b = sorted(rng.sample(ids[:60] if rng.random() < 0.5 else ids, 2))
        rows.add((a, b))
    pairs = _pairs(*((a, b, round(rng.uniform(0.9, 1.0), 2)) for a, b in sorted(rows)))
    for share in (0.0, 0.3, 0.6):
        assert cluster(ids, ["p"] * len(ids), pairs, min_link_share=share) == _greedy(ids, pairs, share)


# A dental chain's two branches, 0.9 km apart, each listed by Google and Yelp with the chain's one phone and
# website: every cross pair is a likely link, and only the doors tell the branches apart.
BRANCHES = {
    "g:a": ("google", "4375 market", 25.7289, -80.3139),
    "y:a": ("yelp", "4375 market", 25.7289, -80.3144),
    "g:b": ("google", "6301 water", 25.7227, -80.3194),
    "y:b": ("yelp", "6301 water", 25.7224, -80.3198),
}
EVERY_PAIR = _pairs(
    ("g:a", "y:a", 0.999), ("g:b", "y:b", 0.999), ("g:a", "g:b", 0.99), ("y:a", "y:b", 0.99),
    ("g:a", "y:b", 0.98), ("g:b", "y:a", 0.98),
)  # fmt: skip


def _doors(records: dict[str, tuple[str, str, float, float]]) -> tuple[list[str], list[str], list]:
    from leadlake.stages.silver.resolve.cluster import door_of

    ids = list(records)
    return ids, [records[i][0] for i in ids], [door_of(*records[i]) for i in ids]


def test_two_branches_each_confirmed_at_its_own_door_stay_apart() -> None:
    ids, providers, doors = _doors(BRANCHES)
    roots = cluster(ids, providers, EVERY_PAIR, min_link_share=0.3, doors=doors)
    assert roots == {"g:a": "g:a", "y:a": "g:a", "g:b": "g:b", "y:b": "g:b"}
    assert len(set(cluster(ids, providers, EVERY_PAIR, min_link_share=0.3).values())) == 1  # without doors


def test_a_door_written_as_a_range_or_a_unit_is_confirmed_by_its_plain_number() -> None:
    """The clustering reads doors as the two-doors veto does (cluster.door_key): Yelp's "4375-4377 market"
    and "5/6301 water" are Google's "4375 market" and "6301 water", so each branch is confirmed and they
    stay apart; read as other numbers, neither was, and the chain's branches became one lead."""
    written = dict(
        BRANCHES,
        **{
            "y:a": ("yelp", "4375-4377 market", 25.7289, -80.3144),
            "y:b": ("yelp", "5/6301 water", 25.7224, -80.3198),
        },
    )
    ids, providers, doors = _doors(written)
    roots = cluster(ids, providers, EVERY_PAIR, min_link_share=0.3, doors=doors)
    assert roots == {"g:a": "g:a", "y:a": "g:a", "g:b": "g:b", "y:b": "g:b"}
    assert [d[1:3] for d in doors] == [("4375", "mar"), ("4375", "mar"), ("6301", "wat"), ("6301", "wat")]


def test_a_move_a_stale_listing_a_typo_and_one_building_still_join() -> None:
    moved = {"g:a": BRANCHES["g:a"], "y:b": BRANCHES["y:b"]}  # each source knows one address
    ids, providers, doors = _doors(moved)
    assert len(set(cluster(ids, providers, _pairs(("g:a", "y:b", 0.97)), doors=doors).values())) == 1
    stale = {k: BRANCHES[k] for k in ("g:a", "y:a", "y:b")}  # Yelp's second door: nobody confirms it
    ids, providers, doors = _doors(stale)
    pairs = _pairs(("g:a", "y:a", 0.999), ("y:a", "y:b", 0.99), ("g:a", "y:b", 0.98))
    assert len(set(cluster(ids, providers, pairs, doors=doors).values())) == 1
    typo = dict(
        BRANCHES,
        **{
            "g:b": ("google", "4357 markte", 25.7289, -80.3139),
            "y:b": ("yelp", "4357 markte", 25.7289, -80.3144),
        },
    )
    ids, providers, doors = _doors(typo)  # another number on the "same" street: a typo, not a door
    assert len(set(cluster(ids, providers, EVERY_PAIR, doors=doors).values())) == 1
    corner = dict(
        BRANCHES,
        **{"g:b": ("google", "2 oak", 25.7290, -80.3140), "y:b": ("yelp", "2 oak", 25.7290, -80.3141)},
    )
    ids, providers, doors = _doors(corner)  # two fronts of one building, 20 m apart
    assert len(set(cluster(ids, providers, EVERY_PAIR, doors=doors).values())) == 1
