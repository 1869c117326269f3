"""Entity resolution: which source records are the same business (Splink 5), and their golden rows.

Deterministic rules run first (a shared website, domain or local phone AND a similar name, with no
distance or street number against them), then a Splink model links records within and across sources
(link_and_dedupe; dedupe_only on one source). Chain branches are kept apart by evidence (address, geo,
phone), and clustering joins two clusters only when enough of their cross pairs are links.

Modules, in dependency order: settings (data) <- prepare, link, cluster, golden, evaluate <- resolution.
"""

from __future__ import annotations

from leadlake.stages.silver.resolve.cluster import (
    LEAD_NAMESPACE,
    LINK_COLUMNS,
    best_pairs,
    cluster,
    lead_id_for,
    links_from_roots,
)
from leadlake.stages.silver.resolve.evaluate import evaluate_links, within_pairs
from leadlake.stages.silver.resolve.golden import (
    FIELD_GROUPS,
    LEAD_COLUMNS,
    UNKNOWN_PROVIDER_CONFIDENCE,
    build_leads,
    default_field_confidence,
)
from leadlake.stages.silver.resolve.link import (
    db_api,
    deterministic_pairs,
    estimated_match_probability,
    guard_model,
    jaro_winkler,
    link_type_for,
    model_rules,
    prior_match_probability,
    regularize,
    splink_pairs,
    splink_settings,
    veto_far_pairs,
)
from leadlake.stages.silver.resolve.prepare import (
    GENERIC_DOMAINS,
    address_key,
    domain_value,
    extra_key,
    geo_cell,
    name_key,
    postal_key,
    prepare,
    website_key,
)
from leadlake.stages.silver.resolve.resolution import Resolution, check_columns, resolve
from leadlake.stages.silver.resolve.settings import (
    DEFAULT_COMPARISONS,
    KNOWN_COLUMNS,
    MODEL_COLUMNS,
    PAIR_COLUMNS,
    ComparisonSpec,
    ResolveSettings,
    extra_comparison,
)

__all__ = [
    "DEFAULT_COMPARISONS",
    "KNOWN_COLUMNS",
    "default_field_confidence",
    "FIELD_GROUPS",
    "GENERIC_DOMAINS",
    "LEAD_COLUMNS",
    "LEAD_NAMESPACE",
    "LINK_COLUMNS",
    "MODEL_COLUMNS",
    "PAIR_COLUMNS",
    "UNKNOWN_PROVIDER_CONFIDENCE",
    "ComparisonSpec",
    "Resolution",
    "ResolveSettings",
    "address_key",
    "best_pairs",
    "build_leads",
    "check_columns",
    "cluster",
    "db_api",
    "deterministic_pairs",
    "domain_value",
    "estimated_match_probability",
    "extra_comparison",
    "extra_key",
    "guard_model",
    "jaro_winkler",
    "link_type_for",
    "model_rules",
    "evaluate_links",
    "geo_cell",
    "lead_id_for",
    "links_from_roots",
    "name_key",
    "postal_key",
    "prepare",
    "prior_match_probability",
    "regularize",
    "resolve",
    "splink_pairs",
    "splink_settings",
    "veto_far_pairs",
    "website_key",
    "within_pairs",
]
