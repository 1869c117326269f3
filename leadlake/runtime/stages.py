"""The stage registry: each stage's name, the tables it reads and writes, and how to run it.

The CLI's `run` and `demo`, `bench`, the Airflow DAGs and `jobs/` iterate this one list; adding a stage is
one `Stage(...)` entry. Stages never import each other: they meet through the tables named here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from leadlake.connectors.registry import Kind, connector, connectors, default_destinations, names
from leadlake.core.campaign import CampaignSpec
from leadlake.lakehouse import catalog
from leadlake.observe.reports import Outcome, StageReport, failed_report, from_outcome, now, record
from leadlake.runtime.resources import Resources

log = logging.getLogger("leadlake.runtime.stages")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Stage:
    """One stage: what it reads and writes, how it runs on resources, how its report reads."""

    name: str
    title: str
    dag_id: str  # the Airflow DAG whose task(s) run it
    reads: Callable[[], tuple[str, ...]]
    writes: Callable[[], tuple[str, ...]]
    run: Callable[..., Any]  # run(resources, run_id, *, only=None, progress=None) -> the stage's own report
    outcome: Callable[[Any], Outcome]
    fan_out: Kind | None = None  # one task per provider of this kind (its own Airflow pool)
    spark: bool = False  # runs as a Spark job (jobs/<name>.py)


# ---- bronze: discovery ------------------------------------------------------------------------------------
def _discovery_tables() -> tuple[str, ...]:
    return tuple(s.bronze_table for s in connectors("discovery") if s.bronze_table)


def _enrichment_tables() -> tuple[str, ...]:
    return tuple(s.bronze_table for s in connectors("enrichment") if s.bronze_table)


def spend_ledger(resources: Resources) -> Any:
    """The one spend ledger of this lakehouse on this machine (every paid call draws from it)."""
    from leadlake.stages.bronze.budget import SpendLedger

    return SpendLedger.for_lakehouse(resources.settings.resolved_state_dir, resources.lakehouse.root_uri)


def ingest_campaign(
    resources: Resources,
    campaign: CampaignSpec,
    run_id: str,
    *,
    only: str | None = None,
    progress: Progress | None = None,
) -> Any:
    """Land one campaign's provider payloads in bronze (delta-rs, no JVM), after the budget guard."""
    from leadlake.stages.bronze.budget import guard_ingest
    from leadlake.stages.bronze.landing import ingest

    resources.lakehouse.check_reachable()
    names = [p for p in campaign.sources if only in (None, p)]
    adapters = [resources.connector(name) for name in names]
    try:
        # The whole campaign's plan (every source and its enrichment) against its one budget, before any
        # call; then every request of this task pays from that budget in the ledger.
        guard_ingest(campaign, adapters, run_id, spend_ledger(resources))
        return ingest(
            campaign,
            adapters,
            resources.lakehouse,
            run_id,
            flush_rows=resources.settings.bronze_flush_rows,
            on_query_done=progress,
        )
    finally:
        for a in adapters:
            a.close()


def _run_bronze(
    resources: Resources, run_id: str, *, only: str | None = None, progress: Progress | None = None
) -> list[Any]:
    return [ingest_campaign(resources, c, run_id, only=only, progress=progress) for c in resources.campaigns]


def _providers_outcome(providers: dict[str, Any]) -> Outcome:
    """Rows and failures of provider reports: a provider whose every query failed refused us."""
    out = Outcome()
    refused = 0
    for name, pr in providers.items():
        out.rows_in += pr.items
        out.rows_out += pr.landed
        out.rows_quarantined += pr.quarantined
        if pr.failed_queries:
            skipped = getattr(pr, "skipped_queries", 0)  # enrichment reports have no skipped count
            stopped = pr.failed_queries + skipped >= pr.queries
            what = (
                "every query failed or was stopped"
                if stopped
                else f"{pr.failed_queries} of {pr.queries} queries failed"
            )
            out.failures.append(f"{name}: {what}: {pr.errors[0] if pr.errors else 'no detail'}")
            refused += stopped
    out.failed = bool(providers) and refused == len(providers)
    return out


def _bronze_outcome(reports: list[Any]) -> Outcome:
    out = Outcome()
    for r in reports:
        part = _providers_outcome(r.providers)
        out.rows_in += part.rows_in
        out.rows_out += part.rows_out
        out.rows_quarantined += part.rows_quarantined
        out.failures += [f"{r.campaign_id}/{f}" for f in part.failures]
        out.failed = out.failed or part.failed
    return out


# ---- silver -----------------------------------------------------------------------------------------------
def _run_silver(resources: Resources, run_id: str, *, full: bool = False, **_: Any) -> Any:
    """Resolve new records against the existing leads; `full` retrains and rescores every pair."""
    from leadlake.stages.silver.build import build_silver

    return build_silver(resources.spark, resources.settings, full=full, run_id=run_id)


def _silver_outcome(r: Any) -> Outcome:
    return Outcome(rows_in=r.bronze_records, rows_out=r.leads, rows_quarantined=r.quarantined)


# ---- enrichment -------------------------------------------------------------------------------------------
def _run_enrich(resources: Resources, run_id: str, *, only: str | None = None, **_: Any) -> Any:
    """Look the targeted silver leads up with the enrichment providers the campaigns ask for (or just `only`):
    targeting, waterfall, bronze as the cache, bulk endpoints; see stages/bronze/enrichment.py."""
    from leadlake.stages.bronze.enrichment import champion_registered, enrich_leads, requested_providers
    from leadlake.stages.gold.score import score_lead, tier_for  # the rules the targeting bound follows

    lake = resources.lakehouse
    names = [n for n in requested_providers(lake) if only in (None, n)]
    adapters = [resources.connector(name) for name in names]
    try:
        return enrich_leads(
            lake,
            adapters,
            run_id,
            flush_rows=resources.settings.bronze_flush_rows,
            ledger=spend_ledger(resources),
            fresh_days=resources.settings.enrich_fresh_days,
            fields=resources.settings.enrich_fields,
            model_scores=champion_registered(resources.settings.tracking_uri),
            rules=(score_lead, tier_for),
        )
    finally:
        for a in adapters:
            a.close()


def _enrich_outcome(r: Any) -> Outcome:
    return _providers_outcome(r.providers)


# ---- gold -------------------------------------------------------------------------------------------------
def _run_gold(resources: Resources, run_id: str, **_: Any) -> Any:
    from leadlake.stages.gold.build import build_gold

    return build_gold(resources.spark, resources.settings, run_id)


def _gold_outcome(r: Any) -> Outcome:
    return Outcome(rows_in=r.leads, rows_out=r.leads)


# ---- delivery ---------------------------------------------------------------------------------------------
def destination_tiers(resources: Resources) -> dict[str, dict[str, Any]] | None:
    """destination -> {campaign id -> Route (min tier, field mapping)}, from the campaign specs ingestion
    recorded.

    None when no campaign was recorded (gold written by hand): every destination takes every lead at C."""
    import json

    from leadlake.stages.delivery.select import Route

    lake = resources.lakehouse
    if not lake.exists(catalog.BRONZE_CAMPAIGNS):
        return None
    out: dict[str, dict[str, Any]] = {name: {} for name in names("destination")}
    for row in lake.read(catalog.BRONZE_CAMPAIGNS, columns=["campaign_id", "spec"]).to_pylist():
        spec = json.loads(row["spec"])
        for dest in spec.get("destinations") or []:
            route = Route(
                dest.get("min_tier") or "C",
                dest.get("mapping"),
                spec.get("min_rating"),
                spec.get("min_reviews"),
            )
            out.setdefault(dest["type"], {})[row["campaign_id"]] = route
    return out


def _run_delivery(
    resources: Resources,
    run_id: str,
    *,
    only: str | None = None,
    dry_run: bool = False,
    replay: bool = False,
    **_: Any,
) -> list[Any]:
    """Push new or changed gold leads to each destination (or just `only`) exactly once: the leads of the
    campaigns that name it, at the campaign's min tier, never a suppressed one."""
    from leadlake.governance.suppression import entries
    from leadlake.stages.delivery.deliver import deliver

    tiers = destination_tiers(resources)
    listed = entries(resources.lakehouse)
    if only:
        dests = [only]
    elif tiers is None:  # gold written without campaigns: the default destination takes it
        dests = default_destinations()
    else:  # only the destinations some campaign names
        dests = [n for n in names("destination") if tiers.get(n)]
    return [
        deliver(
            resources.lakehouse,
            resources.destination(d),
            run_id,
            tiers=None if tiers is None else tiers.get(d, {}),
            suppressions=listed,
            dry_run=dry_run,
            replay=replay,
        )
        for d in dests
    ]


def _delivery_outcome(reports: list[Any]) -> Outcome:
    out = Outcome()
    for r in reports:
        out.rows_in += r.eligible
        out.rows_out += r.sent
        out.rows_quarantined += getattr(r, "dead_lettered", 0)
        if r.failed:
            why = r.errors[0] if r.errors else "no detail"
            out.failures.append(f"{r.destination}: {r.failed} leads not delivered: {why}")
        elif r.errors:  # e.g. a merge the CRM refused: the leads went, but the CRM holds a duplicate
            out.failures.append(f"{r.destination}: {r.errors[0]}")
    out.failed = bool(reports) and all(r.failed and not r.sent for r in reports)
    return out


# ---- feedback ---------------------------------------------------------------------------------------------
def _run_feedback(resources: Resources, run_id: str, *, only: str | None = None, **_: Any) -> dict[str, Any]:
    """Pull CRM changes since each destination's watermark into bronze, then rebuild silver.lead_outcomes."""
    from leadlake.connectors.destinations.base import reports_outcomes
    from leadlake.stages.bronze.feedback import pull_feedback
    from leadlake.stages.silver.outcomes import build_outcomes

    pulls = []
    # Only CRMs that report outcomes (a pull_feedback: HubSpot today); others are not even built.
    for name in [only] if only else names("destination"):
        if reports_outcomes(connector(name).load()):
            pulls.append(pull_feedback(resources.lakehouse, resources.destination(name), run_id))
    return {"pulls": pulls, "outcomes": build_outcomes(resources.lakehouse, run_id)}


def _feedback_outcome(r: dict[str, Any]) -> Outcome:
    out = Outcome(rows_out=r["outcomes"].leads)
    for p in r["pulls"]:
        out.rows_in += p.fetched
        out.failures += [f"{p.destination}: {e}" for e in p.errors]
    return out


# ---- train ------------------------------------------------------------------------------------------------
def _run_train(
    resources: Resources,
    run_id: str,
    *,
    label: str | None = None,
    margin: float | None = None,
    labels_csv: str | None = None,
    labels_encoding: str | None = None,
    labels_sheet: str | None = None,
    labels_campaign: str | None = None,
    **_: Any,
) -> Any:
    """Train the lead scorer on labelled gold.lead_features (or a labels CSV), register it in MLflow and
    promote it if it beats the champion; a run with too few labels trains nothing and says why."""
    from leadlake.stages.gold.train import DEFAULT_LABEL, run_train

    return run_train(
        resources.lakehouse,
        resources.tracking_uri,
        run_id,
        label=label or DEFAULT_LABEL,
        margin=margin,
        labels_csv=labels_csv,
        labels_encoding=labels_encoding,
        labels_sheet=labels_sheet,
        labels_campaign=labels_campaign,
    )


def _train_outcome(r: Any) -> Outcome:
    return Outcome(rows_in=r.labelled, rows_out=1 if r.trained else 0)


STAGES: tuple[Stage, ...] = (
    Stage(
        name="bronze",
        title="land provider payloads",
        dag_id="leadlake_ingest",
        reads=lambda: (),
        writes=lambda: (
            *_discovery_tables(),
            catalog.BRONZE_INGEST_LOG,
            catalog.BRONZE_QUARANTINE,
            catalog.BRONZE_CAMPAIGNS,
        ),
        run=_run_bronze,
        outcome=_bronze_outcome,
        fan_out="discovery",
    ),
    Stage(
        name="silver",
        title="normalise + resolve (Spark, Splink)",
        dag_id="leadlake_silver",
        reads=_discovery_tables,
        writes=lambda: (
            catalog.SILVER_SOURCE_RECORDS,
            catalog.SILVER_LEAD_LINKS,
            catalog.SILVER_LEADS,
            catalog.SILVER_QUARANTINE,
            catalog.SILVER_LEAD_MATCHES,
            catalog.SILVER_LEAD_MERGES,
            catalog.SILVER_LEAD_ID_HISTORY,
            catalog.SILVER_RESOLVE_MODELS,
        ),
        run=_run_silver,
        outcome=_silver_outcome,
        spark=True,
    ),
    Stage(
        name="enrich",
        title="enrichment lookups",
        dag_id="leadlake_gold",
        reads=lambda: (catalog.SILVER_LEADS, catalog.BRONZE_CAMPAIGNS),
        writes=_enrichment_tables,
        run=_run_enrich,
        outcome=_enrich_outcome,
        fan_out="enrichment",
    ),
    Stage(
        name="gold",
        title="score",
        dag_id="leadlake_gold",
        reads=lambda: (catalog.SILVER_LEADS, catalog.BRONZE_CAMPAIGNS, *_enrichment_tables()),
        writes=lambda: (catalog.GOLD_SCORED_LEADS, catalog.GOLD_LEAD_FEATURES, catalog.GOLD_SCORE_DRIFT),
        run=_run_gold,
        outcome=_gold_outcome,
        spark=True,
    ),
    Stage(
        name="delivery",
        title="CRM upsert",
        dag_id="leadlake_delivery",
        reads=lambda: (
            catalog.GOLD_SCORED_LEADS,
            catalog.GOLD_CRM_DELIVERIES,
            catalog.SILVER_LEAD_MERGES,
            catalog.OPS_SUPPRESSIONS,
        ),
        writes=lambda: (
            catalog.GOLD_CRM_DELIVERIES,
            catalog.GOLD_DELIVERY_DEAD_LETTERS,
            catalog.OPS_SYNC_LOG,
        ),
        run=_run_delivery,
        outcome=_delivery_outcome,
        fan_out="destination",
    ),
    Stage(
        name="feedback",
        title="CRM outcomes",
        dag_id="leadlake_feedback",
        reads=lambda: (catalog.GOLD_CRM_DELIVERIES, catalog.OPS_WATERMARKS),
        writes=lambda: (catalog.BRONZE_CRM_OUTCOMES, catalog.OPS_WATERMARKS, catalog.SILVER_LEAD_OUTCOMES),
        run=_run_feedback,
        outcome=_feedback_outcome,
    ),
    Stage(
        name="train",
        title="train + promote (MLflow)",
        dag_id="leadlake_train",
        reads=lambda: (catalog.GOLD_LEAD_FEATURES, catalog.SILVER_LEAD_OUTCOMES, catalog.GOLD_SCORED_LEADS),
        writes=lambda: (catalog.OPS_MODEL_RUNS,),
        run=_run_train,
        outcome=_train_outcome,
    ),
)


def stage_names() -> list[str]:
    """Stage names in pipeline order."""
    return [s.name for s in STAGES]


def get_stage(name: str) -> Stage:
    """The stage called `name`; the error lists the known ones."""
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"unknown stage {name!r}; stages: {', '.join(stage_names())}")


def through(name: str) -> list[Stage]:
    """Stages from the first up to and including `name`."""
    order = stage_names()
    get_stage(name)
    return list(STAGES[: order.index(name) + 1])


def dag_ids() -> list[str]:
    """Airflow DAG ids in pipeline order (a DAG may run several stages)."""
    return list(dict.fromkeys(s.dag_id for s in STAGES))


def providers_for(stage: Stage, campaign: CampaignSpec | None = None) -> list[str]:
    """The providers a fanned-out stage runs one task for: the campaign's sources, or every enrichment one."""
    if stage.fan_out is None:
        return []
    if stage.fan_out == "discovery" and campaign is not None:
        return [p for p in campaign.sources if connector(p).kind == "discovery"]
    return [s.name for s in connectors(stage.fan_out)]


def run_stage(
    stage: Stage,
    resources: Resources,
    run_id: str,
    *,
    only: str | None = None,
    progress: Progress | None = None,
    scope: str = "",
    options: Mapping[str, Any] | None = None,
) -> StageReport:
    """Run one stage, record its report in ops.stage_runs and return it; a raising stage is recorded too."""
    started, t0 = now(), time.perf_counter()
    try:
        details = stage.run(resources, run_id, only=only, progress=progress, **(options or {}))
    except Exception as exc:
        record(
            resources.lakehouse,
            failed_report(stage.name, run_id, started, time.perf_counter() - t0, exc, scope),
        )
        raise
    report = from_outcome(
        stage.name,
        run_id,
        started,
        time.perf_counter() - t0,
        details,
        stage.outcome(details),
        scope or (only or ""),
    )
    record(resources.lakehouse, report)
    if report.failures:
        log.warning("%s: %s", stage.name, "; ".join(report.failures))
    return report
