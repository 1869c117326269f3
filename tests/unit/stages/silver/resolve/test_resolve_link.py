"""link: deterministic pairs, the distance veto and regularize, on literal frames."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from leadlake.stages.silver.resolve import (
    PAIR_COLUMNS,
    ResolveSettings,
    db_api,
    deterministic_pairs,
    haversine_km,
    regularize,
    veto_far_pairs,
)

KEYS = ["record_id", "provider", "website_key", "domain_key", "phone_local_key", "lat", "lon"]


def _prep(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=KEYS, dtype=object).where(lambda f: f.notna(), None)


def test_deterministic_pairs_link_only_across_providers_on_a_shared_key() -> None:
    prep = _prep(
        [
            ("google_places:1", "google_places", None, "example.com", None, None, None),
            ("google_places:2", "google_places", "shop.com/a", "shop.com", "+13035550123", None, None),
            ("google_places:3", "google_places", None, None, "+13035550123", None, None),
            ("yelp:1", "yelp", None, "example.com", None, None, None),
            ("yelp:2", "yelp", "shop.com/a", "shop.com", None, None, None),
            ("yelp:3", "yelp", None, None, None, None, None),
        ]
    )
    pairs = deterministic_pairs(prep, ResolveSettings())
    assert list(pairs.columns) == PAIR_COLUMNS
    # google 2 and 3 share a phone but one provider never links to itself; google 2 - yelp 2 share a
    # website and a domain and appear once.
    assert pairs.to_dict("records") == [
        {"record_id_l": "google_places:2", "record_id_r": "yelp:2", "match_probability": 1.0},
        {"record_id_l": "google_places:1", "record_id_r": "yelp:1", "match_probability": 1.0},
    ]


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
        [("g:near", "y:near", 0.99), ("g:far", "y:far", 1.0), ("g:far", "y:nowhere", 0.95)],
        columns=PAIR_COLUMNS,
    )
    kept = veto_far_pairs(pairs, prep, max_km=2.0)
    assert kept.to_dict("records") == [
        {"record_id_l": "g:near", "record_id_r": "y:near", "match_probability": 0.99},
        {"record_id_l": "g:far", "record_id_r": "y:nowhere", "match_probability": 0.95},
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
