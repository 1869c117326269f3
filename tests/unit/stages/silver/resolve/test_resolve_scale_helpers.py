"""The helpers that keep resolve() lean at scale agree with the plain ways they replace."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd

from leadlake.stages.silver.resolve import ResolveSettings, cluster, prepare
from leadlake.stages.silver.resolve.prepare import text_order

link = importlib.import_module("leadlake.stages.silver.resolve.link")


def test_text_order_is_pythons_string_order_stable_on_ties() -> None:
    values = np.array(["b", "a", "é", "z", "\U0001f600", "a", "ab", "", "\uffff", "A", "a"], dtype=object)
    expected = sorted(range(len(values)), key=lambda i: (values[i], i))
    assert text_order(values).tolist() == expected
    # A value Arrow cannot hold (a lone surrogate) still sorts, the numpy way.
    odd = np.array(["b", "\ud800x", "a"], dtype=object)
    assert text_order(odd).tolist() == [2, 0, 1]


def test_model_frame_has_none_for_every_missing_value_and_leaves_prep_alone() -> None:
    prep = pd.DataFrame(
        {
            "record_id": ["a", "b"],
            "provider": ["p", "p"],
            "name_norm": ["x", np.nan],
            "lat": [1.5, np.nan],
        },
        index=[7, 9],
    )
    frame = link.model_frame(prep, ResolveSettings())
    assert list(frame.columns) == [c for c in link.model_columns(ResolveSettings()) if c != link.BATCH_COLUMN]
    assert list(frame.index) == [7, 9]
    assert all(dtype == np.dtype(object) for dtype in frame.dtypes)
    assert frame.loc[9, "name_norm"] is None and frame.loc[9, "lat"] is None
    assert frame.loc[7, "lat"] == 1.5
    assert frame["phone_key"].tolist() == [None, None]  # absent: all None
    assert np.isnan(prep.loc[9, "lat"])  # the input is not changed


def test_prediction_sql_reads_ids_probability_and_levels_only() -> None:
    settings = {"comparisons": [{"output_column_name": "name"}, {"output_column_name": "tax_id"}]}
    sql = link._prediction_sql("__splink__predict", settings)
    assert sql == (
        "select record_id_l, record_id_r, match_probability, gamma_name, gamma_tax_id from __splink__predict"
    )
    odd = {"comparisons": [{"output_column_name": "tax id"}]}
    assert link._prediction_sql("t", odd) == "select * from t"


def test_cluster_on_unsorted_ids_roots_at_the_smallest_id() -> None:
    ids = ["z", "m", "a", "q"]
    pairs = pd.DataFrame(
        {
            "record_id_l": ["m", "a", "q"],
            "record_id_r": ["z", "z", "unknown"],
            "match_probability": [0.99, 0.95, 1.0],
            "match_rule": ["", "", ""],
        }
    )
    assert cluster(ids, ["p"] * 4, pairs) == {"z": "a", "m": "a", "a": "a", "q": "q"}


def test_shared_column_codes_give_the_same_pairs_as_fresh_ones() -> None:
    records = pd.DataFrame(
        {
            "record_id": ["a", "b", "c", "d"],
            "provider": ["p", "q", "p", "q"],
            "name": ["Joe's Pizza", "Joes Pizza", "Ann's Cafe", "Anns Cafe"],
            "website": ["https://joes.com", "joes.com/menu", None, None],
            "domain": ["joes.com", "joes.com", None, None],
            "phone_e164": ["+12125550101", "+12125550101", "+12125550199", "+12125550199"],
            "address_line1": ["1 Main St", "1 Main Street", "5 Elm St", "5 Elm St"],
            "postal": ["10001", "10001", "10002", "10002"],
        }
    )
    cfg = ResolveSettings()
    prep = prepare(records, cfg)
    codes: dict = {}
    shared = link.deterministic_pairs(prep, cfg, codes=codes)
    assert codes  # the pass filled the cache
    pd.testing.assert_frame_equal(shared, link.deterministic_pairs(prep, cfg))
    frame = link.model_frame(prep, cfg)
    frame[link.BATCH_COLUMN] = 1
    ids = ["provider", "record_id"]
    pd.testing.assert_frame_equal(
        link.coded_blocked_pairs(frame, ids, cfg, prep, False, codes),
        link.coded_blocked_pairs(frame, ids, cfg, prep, False),
    )
