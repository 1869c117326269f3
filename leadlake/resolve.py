"""Entity resolution: which source records are the same business (Splink 5), and their golden rows.

Deterministic rules run first (exact identifying domain or phone), then a Splink model links records
across providers. Clusters allow at most one record per provider, since a provider never lists a
place twice; that is what keeps chain branches apart.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.internals.exceptions import EMTrainingException, SplinkException

from leadlake.normalize import normalize_name, normalize_street

if TYPE_CHECKING:
    from splink.internals.comparison_creator import ComparisonCreator

logger = logging.getLogger(__name__)

LEAD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/leadlake/leadlake/lead")

LINK_COLUMNS = ["record_id", "lead_id", "cluster_size"]
PAIR_COLUMNS = ["record_id_l", "record_id_r", "match_probability"]
LEAD_COLUMNS = [
    "lead_id", "name", "name_norm", "website", "domain", "phone_e164", "phone_is_toll_free",
    "address_line1", "city", "region", "postal", "country", "lat", "lon", "rating", "review_count",
    "categories", "providers", "source_record_ids", "source_count", "provenance",
]  # fmt: skip

# Columns the Splink model sees; everything else is pass-through for build_leads.
MODEL_COLUMNS = [
    "record_id", "provider", "name_norm", "phone_key", "domain_key", "website_key", "address_norm",
    "postal", "lat", "lon", "geo_cell",
]  # fmt: skip

# Hosting and social domains say nothing about which business a website belongs to.
GENERIC_DOMAINS = frozenset(
    {
        "facebook.com", "instagram.com", "yelp.com", "google.com", "business.site", "wixsite.com",
        "squarespace.com", "godaddysites.com", "linktr.ee", "square.site", "weebly.com", "x.com",
        "twitter.com", "linkedin.com", "nextdoor.com", "tiktok.com", "youtube.com",
    }
)  # fmt: skip

# Unit designators and what follows them: one provider puts the suite in line 1, another in line 2.
_UNIT_RE = re.compile(r"\s(?:ste|suite|unit|apt|rm|fl|bldg|#)\s?#?\s*[\w-]*$")


@dataclass(frozen=True)
class ComparisonSpec:
    """One Splink comparison as data: kind, columns, thresholds and the m/u priors of its levels."""

    name: str
    kind: str  # "exact" | "exact_cascade" (exact on each column in turn) | "jaro_winkler" | "distance_km"
    columns: tuple[str, ...]
    thresholds: tuple[float, ...] = ()
    m_priors: tuple[float, ...] = ()  # non-null levels, most similar first, ELSE last
    u_priors: tuple[float, ...] = ()
    term_frequency: bool = False


# Priors follow the tech spec's ER weight ordering (19.2): domain > phone > name+address > geo < 50 m
# with a similar name > fuzzy name (Jaro-Winkler > 0.92). EM replaces the m values when it can train.
DEFAULT_COMPARISONS: tuple[ComparisonSpec, ...] = (
    ComparisonSpec(
        "name", "jaro_winkler", ("name_norm",), (0.92, 0.80),
        m_priors=(0.70, 0.17, 0.08, 0.05), u_priors=(0.001, 0.004, 0.03, 0.965), term_frequency=True,
    ),
    ComparisonSpec("phone", "exact", ("phone_key",), m_priors=(0.80, 0.20), u_priors=(0.0002, 0.9998)),
    ComparisonSpec(
        "website", "exact_cascade", ("website_key", "domain_key"),
        m_priors=(0.60, 0.30, 0.10), u_priors=(0.00005, 0.0001, 0.99985),
    ),
    ComparisonSpec(
        "address", "jaro_winkler", ("address_norm",), (0.92,),
        m_priors=(0.70, 0.22, 0.08), u_priors=(0.0005, 0.005, 0.9945),
    ),
    ComparisonSpec("postal", "exact", ("postal",), m_priors=(0.95, 0.05), u_priors=(0.08, 0.92)),
    ComparisonSpec(
        "geo", "distance_km", ("lat", "lon"), (0.05, 0.15, 1.0),
        m_priors=(0.75, 0.20, 0.04, 0.01), u_priors=(0.0002, 0.001, 0.02, 0.9788),
    ),
)  # fmt: skip

# Per (golden field group, provider): how much we trust that provider for it. Order = precedence.
DEFAULT_FIELD_CONFIDENCE: Mapping[str, Mapping[str, float]] = {
    "name": {"google_places": 0.95, "yelp": 0.90},
    "website": {"google_places": 0.95, "yelp": 0.85},
    "phone": {"google_places": 0.98, "yelp": 0.90},
    "address": {"google_places": 0.97, "yelp": 0.90},
    "geo": {"google_places": 0.98, "yelp": 0.90},
    "rating": {"google_places": 0.90, "yelp": 0.90},
    "review_count": {"google_places": 0.90, "yelp": 0.90},
    "categories": {"google_places": 0.85, "yelp": 0.90},
}
UNKNOWN_PROVIDER_CONFIDENCE = 0.5

# Golden field groups: the fields of a group come from one record, so an address is never a mix.
FIELD_GROUPS: Mapping[str, tuple[str, ...]] = {
    "name": ("name", "name_norm"),
    "website": ("website", "domain"),
    "phone": ("phone_e164", "phone_is_toll_free"),
    "address": ("address_line1", "city", "region", "postal", "country"),
    "geo": ("lat", "lon"),
}


@dataclass(frozen=True)
class ResolveSettings:
    """Entity-resolution settings as data; the backend is one of them, the model is the same on both."""

    match_threshold: float = 0.9
    backend: str = "duckdb"  # "duckdb" | "spark"
    link_type: str = "link_only"  # records of one provider are distinct businesses
    comparisons: tuple[ComparisonSpec, ...] = DEFAULT_COMPARISONS
    # Candidate pairs: any one rule puts a pair up for scoring (Splink dedupes across rules).
    blocking_rules: tuple[tuple[str, ...], ...] = (
        ("phone_key",), ("domain_key",), ("name_norm",), ("postal", "address_norm"), ("geo_cell",),
    )  # fmt: skip
    # Deterministic rules (spec 9.3): an exact identifying website, domain or local phone links outright.
    deterministic_rules: tuple[tuple[str, ...], ...] = (
        ("website_key",),
        ("domain_key",),
        ("phone_local_key",),
    )
    # No link, deterministic or scored, between records whose coordinates are further apart than this.
    max_match_km: float | None = 2.0
    training: str = "em"  # "em" (u by sampling, m by EM, priors as fallback) | "priors"
    em_blocking_rules: tuple[tuple[str, ...], ...] = (("phone_key",), ("name_norm",))
    min_records_for_em: int = 200  # below this EM is noise: use the priors
    u_max_pairs: float = 5e5  # ~1 s on DuckDB for 7k records; u of rare levels is stable from here
    u_num_chunks: int = 1
    m_floor: float = 0.01  # see regularize()
    seed: int = 42
    # Share of the smaller provider's records expected to have a twin in another: sets the prior odds.
    expected_overlap: float = 0.6
    geo_cell_degrees: float = 0.01
    one_record_per_provider: bool = True
    spark_partitions: int = 4
    spark_break_lineage: str = "persist"
    splink_log_level: int = logging.ERROR  # EM warns about unobserved levels on small data: noise here


@dataclass(frozen=True)
class Resolution:
    """What resolve() found: a lead per record, the linking pairs, and how long it took on which backend."""

    links: pd.DataFrame
    pairs: pd.DataFrame
    duplicates_merged: int
    seconds: float
    backend: str
    training: str = "none"  # what actually trained the model: "em", "priors" or "none"


def lead_id_for(record_ids: Iterable[str]) -> str:
    """Deterministic lead id: uuid5 of the cluster's smallest record_id."""
    ids = list(record_ids)
    if not ids:
        raise ValueError("a lead needs at least one record_id")
    return str(uuid.uuid5(LEAD_NAMESPACE, min(ids)))


# ---------------------------------------------------------------------------------------------------
# Preparation: derived comparison columns, computed once in pandas so both backends see the same data.


def address_key(value: object) -> str | None:
    """Street line for comparison: USPS abbreviations, no unit ("Suite 200" lives in line 2 at Yelp)."""
    if not isinstance(value, str) or not value.strip():
        return None
    street = normalize_street(value)
    return _UNIT_RE.sub("", street).strip() or None


def website_key(value: object) -> str | None:
    """Website without scheme, "www." and trailing slash: chain branches differ by path, not domain."""
    text = _clean_str(value)
    if text is None:
        return None
    text = re.sub(r"^[a-z]+://", "", text.lower()).removeprefix("www.")
    return text.split("?")[0].split("#")[0].rstrip("/") or None


def _clean_str(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _clean_float(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _identifying(values: pd.Series, providers: pd.Series, excluded: pd.Series) -> pd.Series:
    """Keep a value only where it names one business: used once per provider and not excluded."""
    frame = pd.DataFrame({"v": values, "p": providers})
    uses = frame.groupby(["p", "v"], dropna=True)["v"].transform("size")
    keep = values.notna() & (uses == 1) & ~excluded
    return values.where(keep, None)


def _column(df: pd.DataFrame, name: str) -> list[object]:
    return df[name].tolist() if name in df else [None] * len(df)


def prepare(records: pd.DataFrame, cfg: ResolveSettings = ResolveSettings()) -> pd.DataFrame:
    """The model's input: sorted by record id, derived comparison keys, identical for every backend."""
    df = records.sort_values("record_id", kind="stable").reset_index(drop=True)
    out = pd.DataFrame({"record_id": df["record_id"].astype(str), "provider": df["provider"].astype(str)})
    names = [
        _clean_str(n) or _clean_str(raw)
        for n, raw in zip(_column(df, "name_norm"), _column(df, "name"), strict=True)
    ]
    out["name_norm"] = [normalize_name(n) or None if n else None for n in names]
    providers = out["provider"]
    phone = pd.Series([_clean_str(v) for v in _column(df, "phone_e164")], dtype=object)
    toll_free = pd.Series(
        [bool(v) if _clean_str(v) is not None else False for v in _column(df, "phone_is_toll_free")]
    )
    domain = pd.Series([(_clean_str(v) or "").lower() or None for v in _column(df, "domain")], dtype=object)
    website = pd.Series([website_key(v) for v in _column(df, "website")], dtype=object)
    no = pd.Series(False, index=df.index)
    out["phone_key"] = _identifying(phone, providers, no)
    # A call-centre number can front many businesses: evidence for the model, never proof on its own.
    out["phone_local_key"] = out["phone_key"].where(~toll_free, None)
    out["domain_key"] = _identifying(domain, providers, domain.isin(GENERIC_DOMAINS))
    out["website_key"] = _identifying(website, providers, domain.isin(GENERIC_DOMAINS))
    out["address_norm"] = [address_key(v) for v in _column(df, "address_line1")]
    # ZIP+4 and ZIP5 are the same place: compare the part before the dash.
    postal = [(_clean_str(v) or "").split("-")[0].replace(" ", "").upper() for v in _column(df, "postal")]
    out["postal"] = [p or None for p in postal]
    lats, lons = [_clean_float(v) for v in _column(df, "lat")], [_clean_float(v) for v in _column(df, "lon")]
    out["lat"], out["lon"] = pd.Series(lats, dtype=object), pd.Series(lons, dtype=object)
    step = cfg.geo_cell_degrees
    out["geo_cell"] = [
        f"{math.floor(la / step)}:{math.floor(lo / step)}" if la is not None and lo is not None else None
        for la, lo in zip(lats, lons, strict=True)
    ]
    return out.astype(object).where(out.notna(), None)


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


def _prior_match_probability(prep: pd.DataFrame, cfg: ResolveSettings) -> float:
    """Prior odds that two cross-provider records match, from sizes and the expected overlap."""
    sizes = prep["provider"].value_counts().tolist()
    total_pairs = (sum(sizes) ** 2 - sum(s * s for s in sizes)) / 2
    if total_pairs <= 0:
        return 1e-4
    expected_matches = cfg.expected_overlap * min(sizes) * (len(sizes) - 1)
    return min(max(expected_matches / total_pairs, 1e-9), 0.5)


# ---------------------------------------------------------------------------------------------------
# Deterministic pass.


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
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
        return None in (la, lo, ra, ro) or _haversine_km(la, lo, ra, ro) <= max_km

    keep = [near(a, b) for a, b in zip(pairs["record_id_l"], pairs["record_id_r"], strict=True)]
    return pairs[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
# Probabilistic pass.


def _db_api(cfg: ResolveSettings, spark: Any) -> Any:
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


def splink_pairs(
    prep: pd.DataFrame, cfg: ResolveSettings = ResolveSettings(), spark: Any = None
) -> tuple[pd.DataFrame, str]:
    """Score candidate pairs with Splink; returns pairs above the threshold and how it was trained."""
    if prep["provider"].nunique() < 2 and cfg.link_type == "link_only":
        return pd.DataFrame(columns=PAIR_COLUMNS), "none"
    trainable = cfg.training == "em" and len(prep) >= cfg.min_records_for_em
    settings = splink_settings(cfg, _prior_match_probability(prep, cfg), term_frequencies=trainable)
    table = _db_api(cfg, spark).register(_backend_table(prep[MODEL_COLUMNS], cfg, spark))
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
    left, right = predictions["record_id_l"].astype(str), predictions["record_id_r"].astype(str)
    pairs = pd.DataFrame(
        {
            "record_id_l": left.where(left < right, right),
            "record_id_r": right.where(left < right, left),
            "match_probability": predictions["match_probability"].astype(float),
        }
    )
    return pairs, training


# ---------------------------------------------------------------------------------------------------
# Clustering: greedy best-first links, never two records of one provider in a lead.


def cluster(
    record_ids: Sequence[str], providers: Sequence[str], pairs: pd.DataFrame, one_per_provider: bool = True
) -> dict[str, str]:
    """Map each record to its cluster's smallest record id; strongest links are taken first."""
    parent = {rid: rid for rid in record_ids}
    members: dict[str, set[str]] = {rid: {prov} for rid, prov in zip(record_ids, providers, strict=True)}

    def root(rid: str) -> str:
        while parent[rid] != rid:
            parent[rid] = parent[parent[rid]]
            rid = parent[rid]
        return rid

    ordered = pairs.sort_values(
        ["match_probability", "record_id_l", "record_id_r"], ascending=[False, True, True], kind="stable"
    )
    for left, right in zip(ordered["record_id_l"], ordered["record_id_r"], strict=True):
        if left not in parent or right not in parent:
            continue
        a, b = root(left), root(right)
        if a == b or (one_per_provider and members[a] & members[b]):
            continue
        keep, drop = (a, b) if a < b else (b, a)
        parent[drop] = keep
        members[keep] |= members.pop(drop)
    return {rid: root(rid) for rid in record_ids}


def _links(roots: Mapping[str, str]) -> pd.DataFrame:
    """links frame: lead id from the cluster's smallest record id, which is its root."""
    frame = pd.DataFrame({"record_id": list(roots), "root": list(roots.values())}, dtype=object)
    frame["lead_id"] = [lead_id_for([r]) for r in frame["root"]]
    frame["cluster_size"] = frame.groupby("root")["record_id"].transform("size").astype("int64")
    return frame.sort_values("record_id", kind="stable").reset_index(drop=True)[LINK_COLUMNS]


def _best_pairs(*frames: pd.DataFrame) -> pd.DataFrame:
    usable = [f for f in frames if not f.empty]
    if not usable:
        return pd.DataFrame(columns=PAIR_COLUMNS).astype({"match_probability": float})
    pairs = pd.concat(usable, ignore_index=True)
    pairs = pairs.sort_values("match_probability", ascending=False, kind="stable")
    pairs = pairs.drop_duplicates(["record_id_l", "record_id_r"])
    return pairs.sort_values(["record_id_l", "record_id_r"], kind="stable").reset_index(drop=True)


def resolve(records: pd.DataFrame, cfg: ResolveSettings = ResolveSettings(), spark: Any = None) -> Resolution:
    """Resolve source records into leads: deterministic keys, then Splink, then one-per-provider clusters."""
    started = time.perf_counter()
    if len(records) and records["record_id"].duplicated().any():
        raise ValueError("record_id must be unique")
    prep = prepare(records, cfg) if len(records) else pd.DataFrame(columns=MODEL_COLUMNS)
    exact = deterministic_pairs(prep, cfg) if len(prep) > 1 else pd.DataFrame(columns=PAIR_COLUMNS)
    scored, training = splink_pairs(prep, cfg, spark) if len(prep) > 1 else (exact.iloc[0:0], "none")
    pairs = veto_far_pairs(_best_pairs(exact, scored), prep, cfg.max_match_km)
    roots = cluster(list(prep["record_id"]), list(prep["provider"]), pairs, cfg.one_record_per_provider)
    links = _links(roots) if roots else pd.DataFrame(columns=LINK_COLUMNS)
    leads = links["lead_id"].nunique() if len(links) else 0
    return Resolution(
        links=links,
        pairs=pairs,
        duplicates_merged=len(links) - leads,
        seconds=time.perf_counter() - started,
        backend=cfg.backend,
        training=training,
    )


def _within_pairs(groups: Mapping[str, list[str]]) -> set[tuple[str, str]]:
    return {
        (a, b) for ids in groups.values() for i, a in enumerate(sorted(ids)) for b in sorted(ids)[i + 1 :]
    }


def evaluate_links(links: pd.DataFrame, truth: Mapping[str, str]) -> dict[str, float]:
    """Pairwise precision/recall/F1 of the leads against known entities (record_id -> entity id)."""
    known = links[links["record_id"].isin(truth.keys())]
    predicted: dict[str, list[str]] = {}
    actual: dict[str, list[str]] = {}
    for rid, lead in zip(known["record_id"], known["lead_id"], strict=True):
        predicted.setdefault(lead, []).append(rid)
        actual.setdefault(truth[rid], []).append(rid)
    got, want = _within_pairs(predicted), _within_pairs(actual)
    hits = len(got & want)
    precision = hits / len(got) if got else 1.0
    recall = hits / len(want) if want else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision, "recall": recall, "f1": f1,
        "true_pairs": float(len(want)), "predicted_pairs": float(len(got)), "correct_pairs": float(hits),
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Golden records.


def _present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    if isinstance(value, str) and not value.strip():
        return False
    return True


def _plain(value: object) -> object:
    """numpy scalars to Python, NaN to None: golden rows are JSON-friendly."""
    if not _present(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _completeness(record: Mapping[str, object]) -> int:
    return sum(_present(record.get(f)) for group in FIELD_GROUPS.values() for f in group)


def _choose(
    group: str,
    fields: tuple[str, ...],
    members: list[dict[str, Any]],
    confidence: Mapping[str, Mapping[str, float]],
) -> tuple[dict[str, Any] | None, float]:
    """The most confident record with this group's lead field present; completeness, then id, break ties."""
    trust = confidence.get(group, {})
    candidates = [m for m in members if _present(m.get(fields[0]))]
    if not candidates:
        return None, 0.0
    best = min(
        candidates,
        key=lambda m: (
            -trust.get(m["provider"], UNKNOWN_PROVIDER_CONFIDENCE),
            -_completeness(m),
            m["record_id"],
        ),
    )
    return best, trust.get(best["provider"], UNKNOWN_PROVIDER_CONFIDENCE)


def _golden(
    lead_id: str, members: list[dict[str, Any]], confidence: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    row: dict[str, Any] = {"lead_id": lead_id}
    provenance: list[dict[str, Any]] = []
    for group, fields in FIELD_GROUPS.items():
        chosen, conf = _choose(group, fields, members, confidence)
        for f in fields:
            row[f] = _plain(chosen.get(f)) if chosen else None
        if chosen:
            provenance.append({"field": group, "provider": chosen["provider"], "confidence": conf})
    row["phone_is_toll_free"] = bool(row["phone_is_toll_free"]) if row["phone_e164"] else False

    rated = [m for m in members if _present(m.get("rating"))]
    weights = [max(int(_plain(m.get("review_count")) or 0), 0) for m in rated]
    if rated:
        total = sum(weights)
        ratings = [float(m["rating"]) for m in rated]
        mean = (
            sum(r * w for r, w in zip(ratings, weights, strict=True)) / total
            if total
            else sum(ratings) / len(ratings)
        )
        row["rating"] = round(mean, 3)
    else:
        row["rating"] = None
    counts = [int(_plain(m.get("review_count"))) for m in members if _present(m.get("review_count"))]  # type: ignore[arg-type]
    row["review_count"] = max(counts) if counts else None
    cats = {str(c) for m in members for c in (m.get("categories") if m.get("categories") is not None else [])}
    row["categories"] = sorted(cats)
    for group, contributors in (
        ("rating", rated),
        ("review_count", [m for m in members if _present(m.get("review_count"))]),
        ("categories", [m for m in members if m.get("categories") is not None and len(m["categories"]) > 0]),
    ):
        trust = confidence.get(group, {})
        for provider in sorted({m["provider"] for m in contributors}):
            provenance.append(
                {
                    "field": group,
                    "provider": provider,
                    "confidence": trust.get(provider, UNKNOWN_PROVIDER_CONFIDENCE),
                }
            )
    row["providers"] = sorted({m["provider"] for m in members})
    row["source_record_ids"] = sorted(m["record_id"] for m in members)
    row["source_count"] = len(members)
    row["provenance"] = json.dumps(provenance, sort_keys=True)
    return row


def build_leads(
    records: pd.DataFrame,
    links: pd.DataFrame,
    confidence: Mapping[str, Mapping[str, float]] = DEFAULT_FIELD_CONFIDENCE,
) -> pd.DataFrame:
    """One golden row per lead: per field group the most trusted non-null value, with provenance."""
    if records.empty:
        return pd.DataFrame(columns=LEAD_COLUMNS)
    joined = records.merge(
        links[["record_id", "lead_id"]], on="record_id", how="inner", validate="one_to_one"
    )
    if len(joined) != len(records):
        raise ValueError("every record needs exactly one link")
    by_lead: dict[str, list[dict[str, Any]]] = {}
    for rec in joined.sort_values("record_id", kind="stable").to_dict("records"):
        by_lead.setdefault(rec["lead_id"], []).append(rec)
    rows = [_golden(lead_id, by_lead[lead_id], confidence) for lead_id in sorted(by_lead)]
    leads = pd.DataFrame(rows, columns=LEAD_COLUMNS)
    return leads.astype({"source_count": "int64", "phone_is_toll_free": bool})


__all__ = [
    "ComparisonSpec",
    "DEFAULT_COMPARISONS",
    "DEFAULT_FIELD_CONFIDENCE",
    "Resolution",
    "ResolveSettings",
    "build_leads",
    "cluster",
    "deterministic_pairs",
    "evaluate_links",
    "lead_id_for",
    "prepare",
    "resolve",
    "splink_pairs",
    "splink_settings",
    "veto_far_pairs",
]
