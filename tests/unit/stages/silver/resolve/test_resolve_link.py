"""link: deterministic pairs, the distance veto and regularize, on literal frames."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from leadlake.core.geo import haversine_km
from leadlake.stages.silver.resolve import (
    PAIR_COLUMNS,
    ResolveSettings,
    db_api,
    deterministic_pairs,
    jaro_winkler,
    regularize,
    veto_far_pairs,
)

KEYS = ["record_id", "provider", "website_key", "domain_key", "phone_local_key", "lat", "lon"]
NAMED = [*KEYS, "name_norm", "name_sorted", "address_number"]


def _prep(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=KEYS, dtype=object).where(lambda f: f.notna(), None)


def _named(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=NAMED, dtype=object).where(lambda f: f.notna(), None)


def test_deterministic_pairs_need_a_shared_key_and_a_similar_name() -> None:
    prep = _named(
        [
            ("google_places:1", "google_places", None, "example.com", None, None, None, "ace", "ace", None),
            ("google_places:2", "google_places", "shop.com/a", "shop.com", "+13035550123", None, None,
             "oak bakery", "bakery oak", "12"),
            ("google_places:3", "google_places", None, None, "+13035550123", None, None, "oak bakery",
             "bakery oak", "12"),
            ("yelp:1", "yelp", None, "example.com", None, None, None, "ace", "ace", None),
            ("yelp:2", "yelp", "shop.com/a", "shop.com", None, None, None, "bakery oak", "bakery oak", None),
            ("yelp:3", "yelp", None, None, "+13035550123", None, None, "golden dragon", "dragon golden",
             None),
        ]
    )  # fmt: skip
    pairs = deterministic_pairs(prep, ResolveSettings())
    assert list(pairs.columns) == PAIR_COLUMNS
    # google 2 and 3 (one provider listing a place twice) share a phone and a name; google 2 - yelp 2
    # share a website and a domain (word order aside) and appear once; yelp 3 shares the phone only.
    assert pairs.to_dict("records") == [
        {"record_id_l": "google_places:2", "record_id_r": "yelp:2", "match_probability": 1.0,
         "match_rule": "exact website + name"},
        {"record_id_l": "google_places:1", "record_id_r": "yelp:1", "match_probability": 1.0,
         "match_rule": "exact domain + name"},
        {"record_id_l": "google_places:2", "record_id_r": "google_places:3", "match_probability": 1.0,
         "match_rule": "exact phone + name"},
    ]  # fmt: skip


def test_deterministic_pairs_leave_far_apart_or_other_street_numbers_to_the_model() -> None:
    prep = _named(
        [
            ("g:1", "g", None, "chain.com", None, 39.70, -104.99, "chain", "chain", "10"),
            ("g:2", "g", None, "chain.com", None, 39.72, -104.99, "chain", "chain", "10"),  # 2 km away
            ("y:1", "y", None, "chain.com", None, None, None, "chain", "chain", "99"),  # other number
        ]
    )
    assert deterministic_pairs(prep).empty


def test_deterministic_pairs_incremental_only_pairs_with_a_new_record() -> None:
    prep = _named(
        [
            ("a", "g", None, "x.com", None, None, None, "x", "x", None),
            ("b", "y", None, "x.com", None, None, None, "x", "x", None),
            ("c", "y", None, "x.com", None, None, None, "x", "x", None),
        ]
    )
    full = deterministic_pairs(prep)
    assert len(full) == 3
    new = deterministic_pairs(prep, new_record_ids={"c"})
    assert sorted(zip(new["record_id_l"], new["record_id_r"], strict=True)) == [("a", "c"), ("b", "c")]


def test_deterministic_pairs_of_nothing_shared_is_an_empty_frame() -> None:
    prep = _prep([("google_places:1", "google_places", None, None, None, None, None)])
    pairs = deterministic_pairs(prep)
    assert pairs.empty and list(pairs.columns) == PAIR_COLUMNS


def test_haversine_one_degree_of_latitude_is_111_km() -> None:
    assert haversine_km(39.0, -105.0, 40.0, -105.0) == pytest.approx(111.195, abs=0.001)
    assert haversine_km(39.7392, -104.9903, 39.7392, -104.9903) == 0.0


def test_veto_drops_pairs_far_apart_and_keeps_pairs_without_coordinates() -> None:
    prep = _prep(
        [
            ("g:near", "g", None, None, None, 39.7392, -104.9903),
            ("y:near", "y", None, None, None, 39.7401, -104.9903),  # 100 m north
            ("g:far", "g", None, None, None, 39.8000, -104.9000),
            ("y:far", "y", None, None, None, 39.5500, -105.1000),  # ~30 km away
            ("y:nowhere", "y", None, None, None, None, None),
        ]
    )
    pairs = pd.DataFrame(
        [("g:near", "y:near", 0.99, "r"), ("g:far", "y:far", 1.0, "r"), ("g:far", "y:nowhere", 0.95, "r")],
        columns=PAIR_COLUMNS,
    )
    kept = veto_far_pairs(pairs, prep, max_km=2.0)
    assert kept.to_dict("records") == [
        {"record_id_l": "g:near", "record_id_r": "y:near", "match_probability": 0.99, "match_rule": "r"},
        {"record_id_l": "g:far", "record_id_r": "y:nowhere", "match_probability": 0.95, "match_rule": "r"},
    ]
    assert len(veto_far_pairs(pairs, prep, max_km=None)) == 3


def test_regularize_floors_m_and_renormalises_leaving_null_levels_and_untrained_comparisons() -> None:
    model = {
        "comparisons": [
            {"comparison_levels": [
                {"is_null_level": True},
                {"m_probability": 0.99},
                {"m_probability": 1e-20},
            ]},
            {"comparison_levels": [{"m_probability": 0.5}, {}]},  # not trained: left alone
        ]
    }  # fmt: skip
    out = regularize(model, floor=0.01)
    levels = out["comparisons"][0]["comparison_levels"]
    assert levels[0] == {"is_null_level": True}
    assert [lvl["m_probability"] for lvl in levels[1:]] == pytest.approx([0.99, 0.01])
    assert out["comparisons"][1] == {"comparison_levels": [{"m_probability": 0.5}, {}]}
    assert model["comparisons"][0]["comparison_levels"][2]["m_probability"] == 1e-20  # input untouched


def test_db_api_refuses_unknown_backends_and_spark_without_a_session() -> None:
    with pytest.raises(ValueError, match="unknown backend 'sqlite'"):
        db_api(replace(ResolveSettings(), backend="sqlite"))
    with pytest.raises(ValueError, match="SparkSession"):
        db_api(replace(ResolveSettings(), backend="spark"), spark=None)


def test_jaro_winkler_matches_the_textbook_values() -> None:
    assert jaro_winkler("martha", "marhta") == pytest.approx(0.9611, abs=1e-4)
    assert jaro_winkler("dwayne", "duane") == pytest.approx(0.84, abs=1e-4)
    assert (
        jaro_winkler("abc", "abc") == 1.0
        and jaro_winkler("", "abc") == 0.0
        and jaro_winkler("ab", "xy") == 0.0
    )


def test_guard_model_restores_priors_where_em_learnt_nonsense() -> None:
    from leadlake.stages.silver.resolve import guard_model

    def comp(name: str, m: list[float], u: list[float]) -> dict[str, object]:
        levels = [{"m_probability": a, "u_probability": b} for a, b in zip(m, u, strict=True)]
        return {"output_column_name": name, "comparison_levels": [{"is_null_level": True}, *levels]}

    priors = {"comparisons": [comp("a", [0.9, 0.1], [0.01, 0.99]), comp("b", [0.8, 0.2], [0.1, 0.9])]}
    trained = {"comparisons": [comp("a", [0.005, 0.995], [0.01, 0.99])]}  # a inverted, b lost
    out = guard_model(trained, priors)
    assert [lvl["m_probability"] for lvl in out["comparisons"][0]["comparison_levels"][1:]] == [0.9, 0.1]
    assert out["comparisons"][1] == priors["comparisons"][1]


def test_guard_model_makes_an_extra_column_matches_never_agree_on_weigh_nothing() -> None:
    from leadlake.stages.silver.resolve import guard_model

    def comp(name: str, m: list[float], u: list[float]) -> dict[str, object]:
        levels = [{"m_probability": a, "u_probability": b} for a, b in zip(m, u, strict=True)]
        return {"output_column_name": name, "comparison_levels": [{"is_null_level": True}, *levels]}

    prior = [0.85, 0.10, 0.05]
    priors = {"comparisons": [comp(n, prior, [0.001, 0.01, 0.989]) for n in ("created_at", "dob", "phone")]}
    trained = {
        "comparisons": [
            comp("created_at", [0.01, 0.36, 0.63], [0.001, 0.35, 0.649]),  # matches never agree: m at floor
            comp("dob", [0.6, 0.1, 0.3], [0.004, 0.005, 0.991]),  # an identifier: kept as trained
            comp("phone", [0.01, 0.36, 0.63], [0.001, 0.35, 0.649]),  # not an extra: kept as trained
        ]
    }
    out = guard_model(trained, priors, neutral=("created_at", "dob"), m_floor=0.01)
    m = {
        c["output_column_name"]: [lvl["m_probability"] for lvl in c["comparison_levels"][1:]]
        for c in out["comparisons"]
    }
    assert m == {"created_at": [0.001, 0.35, 0.649], "dob": [0.6, 0.1, 0.3], "phone": [0.01, 0.36, 0.63]}
    # Made meaningless (ELSE evidence for a match): an extra weighs nothing, any other takes its priors.
    inverted = {"comparisons": [comp(n, [0.5, 0.1, 0.4], [0.1, 0.6, 0.3]) for n in ("created_at", "phone")]}
    out = guard_model(inverted, {"comparisons": priors["comparisons"][::2]}, neutral=("created_at",))
    m = {
        c["output_column_name"]: [lvl["m_probability"] for lvl in c["comparison_levels"][1:]]
        for c in out["comparisons"]
    }
    assert m == {"created_at": [0.1, 0.6, 0.3], "phone": prior}


def test_blocked_pairs_are_the_rules_pairs_once_each_without_far_ones() -> None:
    import duckdb

    from leadlake.stages.silver.resolve.link import blocked_pairs_sql

    rows = [
        ("a", "g", "ace", "800", 39.7392, -104.9903, 1),
        ("b", "y", "ace", "800", 39.7401, -104.9903, 1),  # 100 m from a: name and postal3 both block
        ("c", "y", "ace", "800", 39.9000, -104.9903, 1),  # 18 km away: never a candidate
        ("d", "y", "ace", "800", None, None, 1),  # no coordinates: a candidate
        ("e", "y", "bob", "801", 39.7392, -104.9903, 1),  # shares nothing
    ]
    frame = pd.DataFrame(
        rows, columns=["record_id", "provider", "name_norm", "postal3", "lat", "lon", "batch_new"]
    )
    cfg = replace(ResolveSettings(), blocking_rules=(("name_norm",), ("postal3", "name_norm")))
    sql = blocked_pairs_sql("frame", "{side}.provider || '-__-' || {side}.record_id", cfg, frame, False)
    got = duckdb.connect().execute(sql + " order by 2, 3").fetchall()
    assert got == [("0", "g-__-a", "y-__-b"), ("0", "g-__-a", "y-__-d"), ("0", "y-__-b", "y-__-d"),
                   ("0", "y-__-c", "y-__-d")]  # fmt: skip


def test_em_rule_sql_samples_only_a_rule_over_the_cap() -> None:
    from leadlake.stages.silver.resolve.link import em_rule_sql

    cfg = replace(ResolveSettings(), em_max_pairs=100)
    assert em_rule_sql(("phone_key",), 100, cfg) == "l.phone_key = r.phone_key"
    sampled = em_rule_sql(("phone_key",), 250, cfg)  # 250 pairs: keep about one in three
    assert sampled == f"(l.phone_key = r.phone_key) and hash(l.record_id, r.record_id, {cfg.seed}) % 3 = 0"
    spark = em_rule_sql(("phone_key",), 250, replace(cfg, backend="spark"))
    assert "pmod(hash(l.record_id, r.record_id" in spark  # Spark's hash is signed
    assert em_rule_sql(("phone_key",), 10**6, replace(cfg, em_max_pairs=0)) == "l.phone_key = r.phone_key"


def test_em_sample_keeps_about_the_cap_in_duckdb() -> None:
    import duckdb

    from leadlake.stages.silver.resolve.link import em_rule_sql

    n = 300  # one phone: 44,850 pairs; capped at 10,000 -> one in five kept
    frame = pd.DataFrame({"record_id": [f"r{i:04d}" for i in range(n)], "phone_key": ["+1"] * n})
    rule = em_rule_sql(("phone_key",), n * (n - 1) // 2, replace(ResolveSettings(), em_max_pairs=10_000))
    con = duckdb.connect()
    con.register("t", frame)
    kept = con.execute(
        f"select count(*) from t l join t r on {rule} where l.record_id < r.record_id"
    ).fetchone()
    assert kept is not None and 0.8 * 44_850 / 5 < kept[0] < 1.2 * 44_850 / 5


def test_name_similarity_is_duckdbs_jaro_winkler_either_word_order() -> None:
    import numpy as np

    from leadlake.stages.silver.resolve.link import name_similarity

    a = np.array(["martha", "the steak house", None, "ace"], dtype=object)
    b = np.array(["marhta", "steak house the", "ace", ""], dtype=object)
    sa = np.array(["martha", "house steak", None, "ace"], dtype=object)
    sb = np.array(["marhta", "house steak", "ace", None], dtype=object)
    got = name_similarity(a, b, sa, sb, ResolveSettings())
    assert got[0] == pytest.approx(0.9611, abs=1e-4)  # the textbook value
    assert got[1] == 1.0  # the same words in another order
    assert np.isnan(got[2]) and np.isnan(got[3])  # a missing or blank name says nothing


def _placed(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    columns = ["record_id", "provider", "name_norm", "address_norm", "address_number", "postal", "city_key",
               "lat", "lon", "batch_new"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns, dtype=object).where(lambda f: f.notna(), None)


# One street address, five ways: g:a and y:a agree (y:a at the city centre, 20 km off); y:street is the
# same street line in another postcode and town; y:nonumber has no house number; y:far shares only the name.
PLACED = [
    ("g:a", "g", "ace", "100 oak ave", "100", "80202", "denver", 39.9200, -104.9903, 1),
    ("y:a", "y", "ace", "100 oak ave", "100", "80202", "denver", 39.7392, -104.9903, 1),
    ("y:street", "y", "ace", "100 oak ave", "100", "80401", "golden", 39.7555, -105.2211, 1),
    ("y:nonumber", "y", "ace", "oak ave", None, "80202", "denver", 39.7392, -104.9903, 1),
    ("y:far", "y", "ace", "7 elm st", "7", "80202", "denver", 39.7392, -104.9903, 1),
]


def test_a_shared_street_address_outweighs_the_distance_veto() -> None:
    prep = _placed(PLACED)
    pairs = pd.DataFrame(
        [("g:a", other, 0.99, "r") for other in ("y:a", "y:street", "y:nonumber", "y:far")],
        columns=PAIR_COLUMNS,
    )
    kept = veto_far_pairs(pairs, prep, max_km=2.0)
    assert kept["record_id_r"].tolist() == ["y:a"]
    # Only the city in common still counts as the same address (a ZIP written differently by one source).
    prep.loc[1, "postal"] = "80202-1234"
    assert veto_far_pairs(pairs, prep, max_km=2.0)["record_id_r"].tolist() == ["y:a"]


def test_the_sql_and_the_coded_blocking_agree_on_shared_addresses() -> None:
    """blocked_pairs_sql (Spark's way) and coded_blocked_pairs (DuckDB's) keep the same far pairs."""
    import duckdb

    from leadlake.stages.silver.resolve.link import blocked_pairs_sql, coded_blocked_pairs

    frame = _placed(PLACED)
    cfg = replace(ResolveSettings(), blocking_rules=(("name_norm",),))
    sql = blocked_pairs_sql("frame", "{side}.provider || '-__-' || {side}.record_id", cfg, frame, False)
    by_sql = duckdb.connect().execute(sql + " order by 2, 3").fetchall()
    coded = coded_blocked_pairs(frame, ["provider", "record_id"], cfg, frame, False)
    by_codes = sorted(zip(coded["match_key"], coded["join_key_l"], coded["join_key_r"], strict=True))
    assert by_sql == by_codes
    # g:a pairs with its twin only: the others are 20 km away (y:a's neighbours at the centre pair).
    assert [p for p in by_sql if p[1] == "g-__-g:a"] == [("0", "g-__-g:a", "y-__-y:a")]


def test_a_block_over_the_cap_makes_no_pairs_by_its_rule_in_sql_and_in_codes() -> None:
    """Four records on one switchboard phone (cap 3): that rule pairs none of them; the postcode rule
    still pairs the two that share one. Spark's SQL and DuckDB's codes agree."""
    import duckdb

    from leadlake.stages.silver.resolve.link import blocked_pairs_sql, coded_blocked_pairs

    rows = [("a", "+1800", "800"), ("b", "+1800", "800"), ("c", "+1800", "801"), ("d", "+1800", "802"),
            ("e", "+1303", "900"), ("f", "+1303", "901")]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["record_id", "phone_key", "postal3"])
    frame = frame.assign(provider="g", lat=None, lon=None, batch_new=1)
    rules = (("phone_key",), ("postal3",))
    uid = "{side}.provider || '-__-' || {side}.record_id"
    for cap, expected in (
        (3, [("0", "g-__-e", "g-__-f"), ("1", "g-__-a", "g-__-b")]),
        (None, [(key, f"g-__-{x}", f"g-__-{y}") for key, x, y in
                [("0", "a", "b"), ("0", "a", "c"), ("0", "a", "d"), ("0", "b", "c"), ("0", "b", "d"),
                 ("0", "c", "d"), ("0", "e", "f")]]),
    ):  # fmt: skip
        cfg = replace(ResolveSettings(), blocking_rules=rules, max_block_size=cap)
        by_sql = duckdb.connect().execute(
            blocked_pairs_sql("frame", uid, cfg, frame, False) + " order by 2, 3"
        )
        coded = coded_blocked_pairs(frame, ["provider", "record_id"], cfg, frame, False)
        by_codes = sorted(zip(coded["match_key"], coded["join_key_l"], coded["join_key_r"], strict=True))
        assert sorted(by_sql.fetchall(), key=lambda p: (p[1], p[2])) == sorted(
            expected, key=lambda p: (p[1], p[2])
        )
        assert sorted(by_codes, key=lambda p: (p[1], p[2])) == sorted(expected, key=lambda p: (p[1], p[2]))


def test_identical_heads_only_for_blocks_over_the_cap_and_records_with_an_anchor() -> None:
    from leadlake.stages.silver.resolve.link import identical_heads, identical_pairs

    rows = [(f"r{i}", "Ace", "ace", "1 main st", "80202", "denver") for i in range(5)]
    rows += [("s0", "Ace", "ace", None, "80202", "denver"), ("s1", "Ace", "ace", None, "80202", "denver")]
    prep = pd.DataFrame(
        rows, columns=["record_id", "name", "name_norm", "address_norm", "postal", "city_key"]
    )
    prep = prep.assign(provider="list", phone_key=["+18005550100"] * 5 + ["+18005550199"] * 2)
    cfg = replace(ResolveSettings(), blocking_rules=(("name_norm", "city_key"),), max_block_size=6)
    heads = identical_heads(prep, cfg)
    # r1..r4 are r0; s0 and s1 have a name, a town and one switchboard phone, as a chain's branches do:
    # no street or point, not enough to call them one.
    assert heads == {"r1": "r0", "r2": "r0", "r3": "r0", "r4": "r0"}
    assert identical_heads(prep, replace(cfg, max_block_size=7)) == {}  # no block over the cap
    assert identical_heads(prep, replace(cfg, one_record_per_provider=True)) == {}
    assert identical_heads(prep, replace(cfg, link_type="link_only")) == {}
    pairs = identical_pairs(heads, new_record_ids=["r3"])
    assert pairs[["record_id_l", "record_id_r"]].values.tolist() == [["r0", "r3"]]
    assert pairs["match_rule"].tolist() == ["identical records"]


def test_same_name_pairs_only_without_places_and_never_across_an_identifier() -> None:
    from leadlake.stages.silver.resolve.link import SAME_NAME_RULE, placeless, same_name_pairs

    prep = pd.DataFrame(
        {
            "record_id": ["a", "b", "c", "d", "e", "f"],
            "name_sorted": [
                "acme plumbing",
                "acme plumbing",
                "acme plumbing",
                "dental door",
                "dental door",
                None,
            ],
            "phone_key": [None, None, "+1", "+2", "+3", None],
            "website_key": [None, "acme.com", None, None, None, None],
            "city_key": [None] * 6,
        }
    )
    assert placeless(prep)
    got = same_name_pairs(prep, ResolveSettings())
    assert sorted(zip(got["record_id_l"], got["record_id_r"], strict=True)) == [
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
    ]
    assert (got["match_rule"] == SAME_NAME_RULE).all() and (got["match_probability"] == 1.0).all()
    # d and e differ by phone; f has no name. Only pairs with a new record, incrementally.
    assert sorted(same_name_pairs(prep, ResolveSettings(), ["c"])["record_id_r"]) == ["c", "c"]
    # A name more records share than the block cap pairs nothing, as a block would.
    assert same_name_pairs(prep, replace(ResolveSettings(), max_block_size=2)).empty
    # One record with a town: the names meet within towns only, and no other record gives one.
    placed = prep.assign(city_key=["denver", None, None, None, None, None])
    assert not placeless(placed) and same_name_pairs(placed, ResolveSettings()).empty


def test_same_name_pairs_in_a_list_of_names_and_towns() -> None:
    """Names and towns only: one name in one town pairs when no source lists it twice there (a source's two
    listings are two branches); another town or an identifier against it keeps records apart."""
    from leadlake.stages.silver.resolve.link import SAME_NAME_TOWN_RULE, placeless, same_name_pairs, town_only

    prep = pd.DataFrame(
        {
            "record_id": ["a", "b", "c", "d", "e", "f", "g"],
            "provider": ["crm", "web", "crm", "crm", "web", "crm", "web"],
            "name_sorted": ["acme plumbing", "acme plumbing", "acme plumbing", "dental door", "dental door",
                            "cafe sol", "cafe sol"],
            "city_key": ["denver", "denver", "boulder", "aurora", "aurora", "golden", "golden"],
            "phone_key": [None, None, None, None, None, "+1", "+2"],
        }
    )  # fmt: skip
    assert town_only(prep) and not placeless(prep)
    got = same_name_pairs(prep, ResolveSettings())
    assert sorted(zip(got["record_id_l"], got["record_id_r"], strict=True)) == [("a", "b"), ("d", "e")]
    assert (got["match_rule"] == SAME_NAME_TOWN_RULE).all()
    # The crm lists Dental Door twice in Aurora: two branches, neither paired with the web's listing.
    twice = pd.concat([prep, prep.iloc[[3]].assign(record_id="h")], ignore_index=True)
    assert sorted(same_name_pairs(twice, ResolveSettings())["record_id_l"]) == ["a"]
    # A postcode or a street anywhere: the input has places, and the names meet by the model's rules.
    assert same_name_pairs(prep.assign(postal=["80202", *[None] * 6]), ResolveSettings()).empty
    assert not town_only(prep.assign(address_norm=[None, "1 main st", *[None] * 5]))


def test_records_no_rule_can_pair_are_found() -> None:
    from leadlake.stages.silver.resolve.link import unpairable

    prep = pd.DataFrame(
        {
            "record_id": ["a", "b", "c", "d"],
            "name_norm": ["acme", "acme", "zenith", "blue"],
            "name_sorted": ["acme", "acme", "zenith", "blue"],
            "city_key": ["denver", None, None, "denver"],
            "phone_key": [None, None, None, "+13035550100"],
        }
    )
    # a has a name and a town (name_norm + city_key), d a phone; b and c only a name, in a file with places.
    assert unpairable(prep, ResolveSettings()).tolist() == [False, True, True, False]
    # With no place anywhere, a name is enough (same_name_pairs).
    assert not unpairable(prep.assign(city_key=None), ResolveSettings()).any()


def test_one_street_and_postcode_outweigh_the_distance_veto_without_the_street_type() -> None:
    """ "2126 East Cactus" (one provider drops "Rd") is 2126 E Cactus Rd in the same ZIP: a pin 6 km off is
    what is wrong. The same house number and street in another ZIP, or another house number, stay apart."""
    prep = _placed(
        [
            ("y:1", "y", "carolinas", "2126 e cactus rd", "2126", "85022", "phoenix", 33.5968, -112.0362, 1),
            ("z:1", "z", "carolinas", "2126 e cactus", "2126", "85022", "phoenix", 33.5454, -112.0477, 1),
            ("z:2", "z", "carolinas", "2126 e cactus", "2126", "85032", "phoenix", 33.5454, -112.0477, 1),
            ("z:3", "z", "carolinas", "2162 e cactus", "2162", "85022", "phoenix", 33.5454, -112.0477, 1),
        ]
    )
    prep["street_key"] = ["2126 cactus", "2126 cactus", "2126 cactus", "2162 cactus"]
    pairs = pd.DataFrame([("y:1", other, 0.99, "r") for other in ("z:1", "z:2", "z:3")], columns=PAIR_COLUMNS)
    assert veto_far_pairs(pairs, prep, max_km=2.0)["record_id_r"].tolist() == ["z:1"]


def test_a_name_inside_the_other_without_its_article_is_not_unlike() -> None:
    """ "The Edinburgh Larder" and "Edinburgh Larder Cafe" at one door: Jaro-Winkler 0.73 either way, but
    without "the" one name's words are inside the other's. A dentist's name at the same door stays unlike."""
    from leadlake.stages.silver.resolve.resolution import veto_unlike_names

    prep = pd.DataFrame(
        {
            "record_id": ["y:1", "z:1", "z:2"],
            "name_norm": ["the edinburgh larder", "edinburgh larder cafe", "mile high dental"],
            "name_sorted": ["edinburgh larder", "cafe edinburgh larder", "dental high mile"],
        }
    )
    pairs = pd.DataFrame([("y:1", "z:1", 0.99, "r"), ("y:1", "z:2", 0.99, "r")], columns=PAIR_COLUMNS)
    kept = veto_unlike_names(pairs, prep, ResolveSettings())
    assert kept["record_id_r"].tolist() == ["z:1"]


def test_a_deterministic_key_over_the_block_cap_pairs_nothing() -> None:
    """Six listings on one phone with one name (cap 5) pair nothing by that key, as a block would
    (20,000 copies of one record were 200 million pairs); two on another phone still pair."""
    rows = [(f"r{i}", "list", None, None, "+13035550123", None, None, "oak bakery", "bakery oak", "12")
            for i in range(6)]  # fmt: skip
    rows += [(f"s{i}", "list", None, None, "+13035550199", None, None, "elm cafe", "cafe elm", "4")
             for i in range(2)]  # fmt: skip
    prep = _named(rows)
    capped_cfg = replace(ResolveSettings(), max_block_size=5)
    got = deterministic_pairs(prep, capped_cfg)
    assert got[["record_id_l", "record_id_r"]].values.tolist() == [["s0", "s1"]]
    assert len(deterministic_pairs(prep, replace(capped_cfg, max_block_size=6))) == 15 + 1


def test_the_prior_counts_the_pairs_a_join_would_without_making_them() -> None:
    """_union_pair_count (inclusion-exclusion over group sizes) equals the distinct pairs agreeing on the
    name and on at least one second key, counted one by one; with providers, only cross-provider pairs."""
    import itertools

    import numpy as np

    from leadlake.stages.silver.resolve.link import _union_pair_count

    rng = np.random.default_rng(7)
    size = 300

    def column(values: list[object]) -> list[object]:
        return [values[i] for i in rng.integers(0, len(values), size)]

    prep = pd.DataFrame(
        {
            "name_norm": column(["ace", "oak", "elm", None]),
            "phone_key": column(["+1", "+2", "+3", None, None]),
            "address_norm": column(["1 main st", "2 main st", None]),
            "website_key": column(["a.com", None, None, None]),
        }
    )
    providers = np.array(column([0, 1, 2]))
    seconds = ["phone_key", "address_norm", "website_key"]

    def agree(i: int, j: int, col: str) -> bool:
        return prep.at[i, col] is not None and prep.at[i, col] == prep.at[j, col]

    pairs = [
        (i, j)
        for i, j in itertools.combinations(range(size), 2)
        if agree(i, j, "name_norm") and any(agree(i, j, c) for c in seconds)
    ]
    assert _union_pair_count(prep, "name_norm", seconds, {}) == len(pairs) > 0
    across = sum(providers[i] != providers[j] for i, j in pairs)
    assert _union_pair_count(prep, "name_norm", seconds, {}, providers) == across < len(pairs)
