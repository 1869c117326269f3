"""Linking: deterministic pairs, the geographic veto, and Splink 5 scoring on DuckDB or Spark.

The Splink settings are built from ResolveSettings (data), the same for every backend.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.internals.exceptions import EMTrainingException, SplinkException

from leadlake.stages.silver.resolve.settings import (
    MODEL_COLUMNS,
    PAIR_COLUMNS,
    ComparisonSpec,
    ResolveSettings,
)

if TYPE_CHECKING:
    from splink.internals.comparison_creator import ComparisonCreator

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------
# Splink settings: pure, from our data.


def _comparison(spec: ComparisonSpec, term_frequency: bool) -> ComparisonCreator:
    """One comparison from its spec, its levels starting at the spec's m/u priors."""
    if spec.kind == "exact":
        comparison: ComparisonCreator = cl.ExactMatch(spec.columns[0])
    elif spec.kind == "exact_cascade":
        levels = [
            cll.NullLevel(spec.columns[-1]),
            *(cll.ExactMatchLevel(c) for c in spec.columns),
            cll.ElseLevel(),
        ]
        comparison = cl.CustomComparison(levels, output_column_name=spec.name)
    elif spec.kind == "jaro_winkler":
        comparison = cl.JaroWinklerAtThresholds(spec.columns[0], list(spec.thresholds))
    elif spec.kind == "distance_km":
        comparison = cl.DistanceInKMAtThresholds(spec.columns[0], spec.columns[1], list(spec.thresholds))
    else:
        raise ValueError(f"unknown comparison kind {spec.kind!r} for {spec.name!r}")
    options: dict[str, Any] = {}
    if spec.term_frequency and term_frequency:
        options["term_frequency_adjustments"] = True
    if spec.m_priors:
        options["m_probabilities"] = list(spec.m_priors)
        options["u_probabilities"] = list(spec.u_priors)
    return comparison.configure(**options) if options else comparison


def splink_settings(
    cfg: ResolveSettings, probability_two_random_records_match: float = 1e-4, term_frequencies: bool = True
) -> SettingsCreator:
    """The Splink settings for our data, the same for every backend; m/u start from the priors.

    Term frequencies (chain names are common) only mean something on more than a handful of records."""
    return SettingsCreator(
        link_type=cfg.link_type,  # type: ignore[arg-type]
        unique_id_column_name="record_id",
        source_dataset_column_name="provider",
        comparisons=[_comparison(spec, term_frequencies) for spec in cfg.comparisons],
        blocking_rules_to_generate_predictions=[block_on(*cols) for cols in cfg.blocking_rules],
        probability_two_random_records_match=probability_two_random_records_match,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def prior_match_probability(prep: pd.DataFrame, cfg: ResolveSettings) -> float:
    """Prior odds that two cross-provider records match, from sizes and the expected overlap."""
    sizes = prep["provider"].value_counts().tolist()
    total_pairs = (sum(sizes) ** 2 - sum(s * s for s in sizes)) / 2
    if total_pairs <= 0:
        return 1e-4
    expected_matches = cfg.expected_overlap * min(sizes) * (len(sizes) - 1)
    return min(max(expected_matches / total_pairs, 1e-9), 0.5)


# ---------------------------------------------------------------------------------------------------
# Deterministic pass and the geographic veto.


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def deterministic_pairs(prep: pd.DataFrame, cfg: ResolveSettings = ResolveSettings()) -> pd.DataFrame:
    """Cross-provider pairs sharing an identifying key (spec 9.3): exact website, domain, local phone."""
    found: list[pd.DataFrame] = []
    for cols in cfg.deterministic_rules:
        side = prep.dropna(subset=list(cols))[["record_id", "provider", *cols]]
        joined = side.merge(side, on=list(cols), suffixes=("_l", "_r"))
        keep = (joined["record_id_l"] < joined["record_id_r"]) & (
            joined["provider_l"] != joined["provider_r"]
        )
        found.append(joined[keep])
    pairs = pd.concat([pd.DataFrame(columns=["record_id_l", "record_id_r"]), *found], ignore_index=True)
    pairs = pairs.drop_duplicates(["record_id_l", "record_id_r"]).assign(match_probability=1.0)
    return pairs[PAIR_COLUMNS].reset_index(drop=True)


def veto_far_pairs(pairs: pd.DataFrame, prep: pd.DataFrame, max_km: float | None) -> pd.DataFrame:
    """Drop pairs whose records both have coordinates more than max_km apart: a place is where it is,
    whatever its name, website or (reassigned) phone say."""
    if max_km is None or pairs.empty:
        return pairs
    where = {rid: (la, lo) for rid, la, lo in zip(prep["record_id"], prep["lat"], prep["lon"], strict=True)}

    def near(left: str, right: str) -> bool:
        (la, lo), (ra, ro) = where[left], where[right]
        return None in (la, lo, ra, ro) or haversine_km(la, lo, ra, ro) <= max_km

    keep = [near(a, b) for a, b in zip(pairs["record_id_l"], pairs["record_id_r"], strict=True)]
    return pairs[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
# Probabilistic pass: the backend, training, scoring.


def db_api(cfg: ResolveSettings, spark: Any = None) -> Any:
    """The Splink database API for cfg.backend: DuckDB in-process, or SparkAPI on the given session."""
    if cfg.backend == "duckdb":
        from splink import DuckDBAPI

        return DuckDBAPI()
    if cfg.backend == "spark":
        if spark is None:
            raise ValueError("backend 'spark' needs a SparkSession: resolve(records, cfg, spark=session)")
        from splink import SparkAPI

        return SparkAPI(
            spark_session=spark,
            break_lineage_method=cfg.spark_break_lineage,
            num_partitions_on_repartition=cfg.spark_partitions,
        )
    raise ValueError(f"unknown backend {cfg.backend!r}: use 'duckdb' or 'spark'")


def _backend_table(prep: pd.DataFrame, cfg: ResolveSettings, spark: Any) -> Any:
    """The input as the backend wants it; Spark gets an explicit schema so all-null columns work."""
    if cfg.backend != "spark":
        return prep
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField(c, T.DoubleType() if c in ("lat", "lon") else T.StringType(), c != "record_id")
            for c in MODEL_COLUMNS
        ]
    )
    rows = [tuple(r) for r in prep[MODEL_COLUMNS].itertuples(index=False, name=None)]
    return spark.createDataFrame(rows, schema=schema)


def _train(linker: Linker, cfg: ResolveSettings) -> dict[str, Any] | None:
    """u by seeded random sampling, then m by EM on each training rule that yields pairs.

    Returns the trained model as a settings dict, or None when no EM rule could train."""
    linker.training.estimate_u_using_random_sampling(
        max_pairs=cfg.u_max_pairs, seed=cfg.seed, num_chunks=cfg.u_num_chunks, min_count_per_level=None
    )
    trained = 0
    for cols in cfg.em_blocking_rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*cols), estimate_without_term_frequencies=True
            )
            trained += 1
        except EMTrainingException as exc:  # e.g. no pairs share a phone: the other rules still train
            logger.info("EM on %s skipped: %s", cols, str(exc).splitlines()[0])
    return linker.misc.save_model_to_json() if trained else None


def regularize(model: Mapping[str, Any], floor: float) -> dict[str, Any]:
    """Floor the m probabilities of a trained model: EM on clean data learns "a ZIP never differs"
    (m ~ 1e-20), and one moved shop or mistyped ZIP must not veto a match by itself."""
    out = json.loads(json.dumps(model))
    for comparison in out["comparisons"]:
        levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
        values = [lvl.get("m_probability") for lvl in levels]
        if any(v is None for v in values):
            continue
        floored = [max(float(v), floor) for v in values]
        for lvl, v in zip(levels, floored, strict=True):
            lvl["m_probability"] = v / sum(floored)
    return out


def _ordered_pairs(predictions: pd.DataFrame) -> pd.DataFrame:
    """Splink's predictions as PAIR_COLUMNS with record_id_l < record_id_r."""
    left, right = predictions["record_id_l"].astype(str), predictions["record_id_r"].astype(str)
    return pd.DataFrame(
        {
            "record_id_l": left.where(left < right, right),
            "record_id_r": right.where(left < right, left),
            "match_probability": predictions["match_probability"].astype(float),
        }
    )


def splink_pairs(
    prep: pd.DataFrame, cfg: ResolveSettings = ResolveSettings(), spark: Any = None
) -> tuple[pd.DataFrame, str]:
    """Score candidate pairs with Splink; returns pairs above the threshold and how it was trained."""
    if prep["provider"].nunique() < 2 and cfg.link_type == "link_only":
        return pd.DataFrame(columns=PAIR_COLUMNS), "none"
    trainable = cfg.training == "em" and len(prep) >= cfg.min_records_for_em
    settings = splink_settings(cfg, prior_match_probability(prep, cfg), term_frequencies=trainable)
    table = db_api(cfg, spark).register(_backend_table(prep[MODEL_COLUMNS], cfg, spark))
    model: SettingsCreator | dict[str, Any] = settings
    if trainable:
        try:
            trained = _train(Linker(table, settings, log_level=cfg.splink_log_level), cfg)
        except SplinkException as exc:  # degenerate data (one value everywhere, say): the priors still hold
            logger.warning("Splink training failed (%s); scoring with the prior weights", exc)
            trained = None
        model = regularize(trained, cfg.m_floor) if trained else settings
    linker = Linker(table, model, log_level=cfg.splink_log_level)
    training = "em" if isinstance(model, dict) else "priors"
    try:
        predictions = linker.inference.predict(
            threshold_match_probability=cfg.match_threshold, warning_mode="never"
        ).as_pandas_dataframe()
    finally:
        # A long-lived Spark session would otherwise keep every intermediate view of every run.
        linker.table_management.delete_tables_created_by_splink_from_db()
    if predictions.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS), training
    return _ordered_pairs(predictions), training
