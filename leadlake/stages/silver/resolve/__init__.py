"""Entity resolution: which source records are the same business (Splink 5), and their golden rows.

Deterministic rules run first (exact identifying domain or phone), then a Splink model links records
across providers. Clusters allow at most one record per provider, since a provider never lists a
place twice; that is what keeps chain branches apart.

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
    haversine_km,
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
    geo_cell,
    name_key,
    postal_key,
    prepare,
    website_key,
)
from leadlake.stages.silver.resolve.resolution import Resolution, resolve
from leadlake.stages.silver.resolve.settings import (
    DEFAULT_COMPARISONS,
    MODEL_COLUMNS,
    PAIR_COLUMNS,
    ComparisonSpec,
    ResolveSettings,
)

__all__ = [
    "DEFAULT_COMPARISONS",
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
    "cluster",
    "db_api",
    "deterministic_pairs",
    "domain_value",
    "evaluate_links",
    "geo_cell",
    "haversine_km",
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
