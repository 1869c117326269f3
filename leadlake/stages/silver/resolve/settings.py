"""Entity-resolution settings as data, and the column shapes the resolve modules pass to each other.

A leaf module: prepare, link, cluster and golden all read it, it reads none of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

# Columns the Splink model sees; everything else is pass-through for build_leads.
MODEL_COLUMNS = [
    "record_id", "provider", "name_norm", "phone_key", "domain_key", "website_key", "address_norm",
    "postal", "lat", "lon", "geo_cell",
]  # fmt: skip

# A scored or deterministic link between two records, record_id_l < record_id_r.
PAIR_COLUMNS = ["record_id_l", "record_id_r", "match_probability"]


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
    m_floor: float = 0.01  # see link.regularize()
    seed: int = 42
    # Share of the smaller provider's records expected to have a twin in another: sets the prior odds.
    expected_overlap: float = 0.6
    geo_cell_degrees: float = 0.01
    one_record_per_provider: bool = True
    spark_partitions: int = 4
    spark_break_lineage: str = "persist"
    splink_log_level: int = logging.ERROR  # EM warns about unobserved levels on small data: noise here
