"""A plain Splink 5 / DuckDB dedupe of a records CSV: the routine setup a user would write by hand.

Reads the CSV `leadlake resolve` reads (record_id, name, address, postal, phone, website, ...), lightly
cleans the text, trains (u by random sampling, m by EM on phone and on postal + address), predicts at 0.9,
clusters at 0.9 and writes `record_id, cluster_id`. bench_er.py measures it beside `leadlake resolve`.

Usage: python benchmarks/splink_baseline.py records.csv clusters.csv [--threshold 0.9]
"""

from __future__ import annotations

import argparse
import logging

import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on


def _clean(series: pd.Series) -> pd.Series:
    """Lower case, punctuation to spaces, one space between words; blanks as None."""
    text = series.fillna("").astype(str).str.lower().str.replace(r"[^a-z0-9 ]+", " ", regex=True)
    text = text.str.split().str.join(" ")
    return text.where(text != "", None)


def load(path: str) -> pd.DataFrame:
    """The CSV's comparison columns, cleaned the way a routine script would."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [c.strip().lower() for c in raw.columns]

    def col(name: str) -> pd.Series:
        return raw[name] if name in raw.columns else pd.Series([""] * len(raw), index=raw.index)

    phone = col("phone").str.replace(r"\D", "", regex=True).str[-10:]
    website = (
        col("website")
        .str.lower()
        .str.replace(r"^[a-z]+://", "", regex=True)
        .str.replace(r"^www\.", "", regex=True)
        .str.split("/")
        .str[0]
    )
    return pd.DataFrame(
        {
            "record_id": raw["record_id"].astype(str),
            "name": _clean(col("name")),
            "address": _clean(col("address")),
            "postal": col("postal").str.strip().str[:5].replace("", None),
            "phone": phone.where(phone.str.len() >= 7, None),
            "website": website.where(website != "", None),
        }
    )


def settings() -> SettingsCreator:
    """Name, address, postal, phone and website comparisons; a few exact blocking rules."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            cl.JaroWinklerAtThresholds("name", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("address", [0.92]),
            cl.ExactMatch("postal"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("website"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("phone"),
            block_on("website"),
            block_on("name"),
            block_on("postal", "address"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("splink").setLevel(logging.ERROR)

    df = load(args.input)
    db = DuckDBAPI()
    linker = Linker(db.register(df), settings(), log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("phone", "name"), block_on("website", "name")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=args.seed)
    # EM on two rules whose pairs are mostly matches (EM blocked on the name alone meets chain branches
    # and learns that a matching phone says little: F1 0.08 on the sandbox world).
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postal", "address"))
    predictions = linker.inference.predict(threshold_match_probability=args.threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=args.threshold
    ).as_pandas_dataframe()
    clusters[["record_id", "cluster_id"]].to_csv(args.output, index=False, lineterminator="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
