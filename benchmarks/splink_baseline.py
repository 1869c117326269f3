"""A plain Splink 5 / DuckDB dedupe of a records CSV: Splink's own documented deduplication example,
applied to the CSV `leadlake resolve` reads. bench_er.py measures it beside `leadlake resolve`.

It follows "Linking a dataset of real historical persons" (Splink docs, demos/examples/duckdb/
deduplicate_50k_synthetic: `historical_50k`, dedupe_only, DuckDB) step by step, docs -> here:

  blocking_rules_to_generate_predictions, 10 block_on rules
      -> block_on(phone), block_on(website), block_on(name), block_on(postal, address)
  cl.ForenameSurnameComparison(first_name, surname) -> cl.NameComparison("name") (one name column)
  cl.DateOfBirthComparison("dob") -> cl.JaroWinklerAtThresholds("address") (default thresholds 0.9, 0.7)
  cl.PostcodeComparison("postcode_fake") -> cl.PostcodeComparison("postal")
  cl.ExactMatch("birth_place"), term frequencies -> cl.ExactMatch("city"), term frequencies
  cl.ExactMatch("occupation"), term frequencies -> cl.ExactMatch("category"), term frequencies
  (persons have no phone or website) -> cl.ExactMatch("phone"), cl.ExactMatch("website")
  estimate_probability_two_random_records_match(3 deterministic rules, recall=0.6)
      -> the same on block_on(phone, name), block_on(website, name), block_on(postal, address)
  estimate_u_using_random_sampling(max_pairs=1e7) -> the same, seeded (seed=42) for repeatable runs
  EM on block_on(first_name, surname), then on block_on(dob), estimate_without_term_frequencies=True
      -> EM on block_on(phone), then on block_on(postal, address), the same flag
  retain_intermediate_calculation_columns=True -> the same
  predict() -> the same (every blocked pair, with its intermediate columns)
  cluster_pairwise_predictions_at_threshold(predictions, 0.95) -> the same

Deviations, all of them:
  - Input cleaning (the docs' data come clean): names, addresses, city and category lower case with
    punctuation as spaces; phone as its last 10 digits (none when fewer than 7); website as its host
    without scheme and "www."; postal as its first 5 characters. Columns absent from the CSV are null.
  - Blocking and deterministic rules use this data's identifiers (there is no dob here): the rules a user
    would write for name, address, postal, phone and website.
  - EM blocks on phone and on postal + address, not on the name: EM blocked on the name alone (the docs'
    first rule) meets chain branches (same name, other place) and learns that a matching phone says
    little (pairwise F1 0.08 on the sandbox world).
  - PostcodeComparison is kept as in the docs, but its sector, district and area levels are UK patterns:
    on US ZIP codes they never fire, so it acts as exact match / else.
  - The notebook's charts, dashboards and accuracy analyses are left out (nothing is drawn).

--lean is the same script tuned by someone who knows Splink well: predict() thresholded at the clustering
threshold (the same clusters: clustering drops the edges below it, with far fewer rows held) and
retain_intermediate_calculation_columns off. bench_er.py measures both.

Usage: python benchmarks/splink_baseline.py records.csv clusters.csv [--threshold 0.95] [--lean]
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
            "city": _clean(col("city")),
            "category": _clean(col("category")),
        }
    )


BLOCKING_RULES = [
    block_on("phone"),
    block_on("website"),
    block_on("name"),
    block_on("postal", "address"),
]
DETERMINISTIC_RULES = [
    block_on("phone", "name"),
    block_on("website", "name"),
    block_on("postal", "address"),
]
EM_RULES = [block_on("phone"), block_on("postal", "address")]


def settings(lean: bool = False) -> SettingsCreator:
    """The docs' SettingsCreator with this data's columns (see the module docstring); lean: without the
    intermediate calculation columns."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        blocking_rules_to_generate_predictions=BLOCKING_RULES,
        comparisons=[
            cl.NameComparison("name"),
            cl.JaroWinklerAtThresholds("address"),
            cl.PostcodeComparison("postal"),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.ExactMatch("category").configure(term_frequency_adjustments=True),
            cl.ExactMatch("phone"),
            cl.ExactMatch("website"),
        ],
        retain_intermediate_calculation_columns=not lean,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-pairs", type=float, default=1e7, help="u sampling pairs (the docs: 1e7)")
    parser.add_argument(
        "--lean", action="store_true", help="predict at the threshold, no intermediate columns (not the docs)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("splink").setLevel(logging.ERROR)

    df = load(args.input)
    db = DuckDBAPI()
    linker = Linker(db.register(df), settings(args.lean))
    linker.training.estimate_probability_two_random_records_match(DETERMINISTIC_RULES, recall=0.6)
    linker.training.estimate_u_using_random_sampling(max_pairs=args.max_pairs, seed=args.seed)
    for rule in EM_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )
    predictions = linker.inference.predict(threshold_match_probability=args.threshold if args.lean else None)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=args.threshold
    ).as_pandas_dataframe()
    clusters[["record_id", "cluster_id"]].to_csv(args.output, index=False, lineterminator="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
