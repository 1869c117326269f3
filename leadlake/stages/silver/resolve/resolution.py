"""resolve(): prepare, link (deterministic, then Splink), veto far pairs, cluster one record per provider."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from leadlake.stages.silver.resolve.cluster import best_pairs, cluster, links_from_roots
from leadlake.stages.silver.resolve.link import deterministic_pairs, splink_pairs, veto_far_pairs
from leadlake.stages.silver.resolve.prepare import prepare
from leadlake.stages.silver.resolve.settings import MODEL_COLUMNS, PAIR_COLUMNS, ResolveSettings


@dataclass(frozen=True)
class Resolution:
    """What resolve() found: a lead per record, the linking pairs, and how long it took on which backend."""

    links: pd.DataFrame
    pairs: pd.DataFrame
    duplicates_merged: int
    seconds: float
    backend: str
    training: str = "none"  # what actually trained the model: "em", "priors" or "none"


def resolve(records: pd.DataFrame, cfg: ResolveSettings = ResolveSettings(), spark: Any = None) -> Resolution:
    """Resolve source records into leads: deterministic keys, then Splink, then one-per-provider clusters."""
    started = time.perf_counter()
    if len(records) and records["record_id"].duplicated().any():
        raise ValueError("record_id must be unique")
    prep = prepare(records, cfg) if len(records) else pd.DataFrame(columns=MODEL_COLUMNS)
    exact = deterministic_pairs(prep, cfg) if len(prep) > 1 else pd.DataFrame(columns=PAIR_COLUMNS)
    scored, training = splink_pairs(prep, cfg, spark) if len(prep) > 1 else (exact.iloc[0:0], "none")
    pairs = veto_far_pairs(best_pairs(exact, scored), prep, cfg.max_match_km)
    roots = cluster(list(prep["record_id"]), list(prep["provider"]), pairs, cfg.one_record_per_provider)
    links = links_from_roots(roots)
    leads = links["lead_id"].nunique() if len(links) else 0
    return Resolution(
        links=links,
        pairs=pairs,
        duplicates_merged=len(links) - leads,
        seconds=time.perf_counter() - started,
        backend=cfg.backend,
        training=training,
    )
