"""Enrichment: look silver leads up at firmographic, email and company-registry providers, into bronze.

Only what can matter is paid for (see `targeting.py` for the rules, which are data):
- targeting: a lead is looked up only when its campaign's filters pass and its best possible rules score
  still reaches a destination's min tier;
- waterfall: providers are asked cheapest first, each only for fields the lead still lacks;
- never twice: a lookup bronze already answered within the provider's freshness window
  (`enrich_fresh_days`) is not sent again, in any run or campaign (`bronze.ingest_log` is the cache index:
  every answered lookup has an "ok" row with its request fingerprint, a no-match too);
- bulk: a provider with a bulk endpoint (PDL, up to 100 lookups a request) gets its lookups in batches;
  requests run concurrently up to the provider's burst, the rate limiter holding its documented rate.

Every lookup is paid from the budget of the campaign(s) whose leads it serves (see `budget.py`); the
targeted plan is counted against those budgets before any call. What was called, saved and spent per
provider lands in the report and in `ops.enrichment_costs`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from leadlake.connectors.http import BudgetExhausted, CircuitOpenError, ProviderAuthError, ProviderError
from leadlake.connectors.sources import ENRICHMENT_ADAPTERS
from leadlake.core.campaign import CampaignSpec
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import BRONZE_CAMPAIGNS, BRONZE_INGEST_LOG, OPS_ENRICHMENT_COSTS, SILVER_LEADS
from leadlake.stages.bronze.budget import Payer, PayingAdapter, SpendLedger, guard_enrichment
from leadlake.stages.bronze.landing import ProviderReport, _Buffer, _describe, ingest_queries, page_rows
from leadlake.stages.bronze.targeting import (
    EnrichPolicy,
    ScoreRule,
    TierRule,
    default_steps,
    target,
    wanted_fields,
)

log = logging.getLogger("leadlake.stages.bronze.enrichment")

ENRICHMENT_CAMPAIGN = "_enrichment"  # bronze partition for lookups driven by leads, not by one campaign
LEAD_COLUMNS = [
    "lead_id", "name", "website", "domain", "city", "region", "country", "campaign_ids",
    # what the rules score reads before enrichment (targeting's upper bound)
    "rating", "review_count", "lat", "lon", "phone_e164", "phone_is_toll_free",
]  # fmt: skip
MAX_WORKERS = 8  # threads per provider; the provider's burst (its documented concurrency) caps it lower

COSTS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("provider", pa.string()),
        ("leads", pa.int64()),
        ("leads_targeted", pa.int64()),
        ("lookups_all", pa.int64()),  # what enriching every lead of the asking campaigns would look up
        ("lookups_planned", pa.int64()),  # after targeting and the waterfall
        ("lookups_cached", pa.int64()),
        ("lookups_sent", pa.int64()),
        ("calls", pa.int64()),  # HTTP requests made (retries included), all paid
        ("calls_saved_cache", pa.int64()),
        ("calls_saved_targeting", pa.int64()),
        ("matches", pa.int64()),
        ("est_cost_usd", pa.float64()),
        ("est_saved_usd", pa.float64()),
        ("cost_per_enriched_lead_usd", pa.float64()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass
class ProviderCost:
    """One provider's enrichment economics in one run."""

    provider: str
    leads_targeted: int = 0
    lookups_all: int = 0
    lookups_planned: int = 0
    lookups_cached: int = 0
    lookups_sent: int = 0
    calls: int = 0
    calls_saved_cache: int = 0
    calls_saved_targeting: int = 0
    matches: int = 0
    billed: int = 0  # what the provider charges for: requests, or matches where it bills those (PDL)
    est_cost_usd: float = 0.0
    est_saved_usd: float = 0.0


@dataclass
class EnrichReport:
    """What each enrichment provider looked up and landed, what was saved, and what each campaign spent."""

    run_id: str
    leads: int = 0
    leads_targeted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> leads not enriched
    providers: dict[str, object] = field(default_factory=dict)
    costs: dict[str, ProviderCost] = field(default_factory=dict)
    spend: dict[str, dict[str, Any]] = field(default_factory=dict)  # campaign_id -> RunSpend.as_dict()
    over_budget: list[str] = field(default_factory=list)  # budget guard: campaign plans that do not fit

    @property
    def calls(self) -> int:
        return sum(c.calls for c in self.costs.values())

    @property
    def calls_per_lead(self) -> float:
        return self.calls / self.leads if self.leads else 0.0

    @property
    def paid_per_lead(self) -> float:
        """Billed lookups per silver lead (a PDL bulk request is billed per match, not once)."""
        return sum(c.billed for c in self.costs.values()) / self.leads if self.leads else 0.0

    def summary(self) -> dict[str, Any]:
        """Calls made and saved and estimated cost, per source and per enriched lead (the run summary)."""
        cost = sum(c.est_cost_usd for c in self.costs.values())
        return {
            "leads": self.leads,
            "leads_targeted": self.leads_targeted,
            "skipped": dict(self.skipped),
            "calls": self.calls,
            "calls_per_lead": round(self.calls_per_lead, 4),
            "paid_per_lead": round(self.paid_per_lead, 4),
            "calls_saved_cache": sum(c.calls_saved_cache for c in self.costs.values()),
            "calls_saved_targeting": sum(c.calls_saved_targeting for c in self.costs.values()),
            "est_cost_usd": round(cost, 4),
            "cost_per_enriched_lead_usd": round(cost / max(1, self.leads_targeted), 6),
            "providers": {p: asdict(c) for p, c in self.costs.items()},
        }


@dataclass(frozen=True)
class CampaignBudget:
    """What enrichment needs to know of a recorded campaign."""

    campaign_id: str
    enrichment: tuple[str, ...]
    max_cost_usd: float | None


def recorded_specs(lake: Lakehouse) -> dict[str, CampaignSpec]:
    """The campaign specs bronze recorded (their last version), by id."""
    if not lake.exists(BRONZE_CAMPAIGNS):
        return {}
    rows = lake.read(BRONZE_CAMPAIGNS, columns=["campaign_id", "spec"]).to_pylist()
    return {r["campaign_id"]: CampaignSpec.model_validate_json(r["spec"]) for r in rows}


def recorded_campaigns(lake: Lakehouse) -> dict[str, CampaignBudget]:
    """The campaigns bronze recorded (their last spec): enrichment providers and budget."""
    if not lake.exists(BRONZE_CAMPAIGNS):
        return {}
    out = {}
    for row in lake.read(BRONZE_CAMPAIGNS, columns=["campaign_id", "spec"]).to_pylist():
        spec = json.loads(row["spec"])
        out[row["campaign_id"]] = CampaignBudget(
            row["campaign_id"], tuple(spec.get("enrichment", [])), spec.get("max_cost_usd")
        )
    return out


def requested_providers(lake: Lakehouse) -> list[str]:
    """Enrichment providers named by any recorded campaign, in a stable order."""
    wanted: set[str] = set()
    for c in recorded_campaigns(lake).values():
        wanted.update(c.enrichment)
    return [p for p in ENRICHMENT_ADAPTERS if p in wanted]


def _lead_campaigns(lead: Mapping[str, Any], every: list[str]) -> list[str]:
    ids = lead.get("campaign_ids")
    if ids is None:  # a silver table from before leads carried their campaigns
        return every
    return [c for c in ids if c]


def answered_lookups(lake: Lakehouse) -> pa.Table | None:
    """The "ok" rows of bronze.ingest_log (provider, fingerprint, when): every lookup bronze answered."""
    if not lake.exists(BRONZE_INGEST_LOG):
        return None
    t = lake.read(BRONZE_INGEST_LOG, columns=["provider", "request_fingerprint", "status", "finished_at"])
    return t.filter(pc.equal(t["status"], "ok"))


def fresh_answers(
    lake: Lakehouse,
    provider: str,
    fresh_days: float,
    now: datetime | None = None,
    answered: pa.Table | None = None,
) -> set[str]:
    """Request fingerprints bronze answered ("ok", a no-match included) within the freshness window:
    the cache of answers, by the lookup's key (its domain or name), across runs and campaigns.
    `answered`: answered_lookups(lake), read once for several providers."""
    t = answered if answered is not None else answered_lookups(lake)
    if fresh_days <= 0 or t is None:
        return set()
    since = (now or datetime.now(UTC)) - timedelta(days=fresh_days)
    mask = pc.and_(
        pc.equal(t["provider"], provider),
        pc.greater_equal(t["finished_at"], pa.scalar(since, pa.timestamp("us", tz="UTC"))),
    )
    return set(t.filter(mask)["request_fingerprint"].to_pylist())


@dataclass
class _Plan:
    """One provider's lookups for this run: every lead's (all) and the targeted leads' (planned)."""

    adapter: Any
    queries_all: dict[str, Any] = field(default_factory=dict)
    queries: dict[str, Any] = field(default_factory=dict)  # fingerprint -> query, targeted leads only
    payers: dict[str, set[str]] = field(default_factory=dict)
    by_lead: dict[int, list[str]] = field(default_factory=dict)  # targeted lead -> its lookups here
    leads: int = 0  # targeted leads this provider serves


def _calls_for(adapter: Any, lookups: int) -> int:
    """Requests `lookups` cost at this provider: one each, or one per bulk batch."""
    size = getattr(adapter, "bulk_size", 0)
    return math.ceil(lookups / size) if size and hasattr(adapter, "fetch_bulk") else lookups


def _workers(adapter: Any) -> int:
    """Concurrent requests: the provider's burst (what its limit lets go at once), at most MAX_WORKERS."""
    burst = getattr(getattr(adapter, "rate_limit", None), "burst", 1) or 1
    return max(1, min(MAX_WORKERS, int(burst)))


def enrich_leads(
    lake: Lakehouse,
    adapters: Iterable,
    run_id: str,
    *,
    flush_rows: int = 5000,
    workers: int | None = None,
    ledger: SpendLedger | None = None,
    policy: EnrichPolicy | None = None,
    fresh_days: Mapping[str, float] | None = None,
    fields: str | None = None,
    model_scores: bool = False,
    rules: tuple[ScoreRule, TierRule] | None = None,
    now: datetime | None = None,
    parallel_steps: bool = True,
) -> EnrichReport:
    """Look up the targeted silver leads at each adapter (waterfall order, cache first, bulk where the
    provider has it), paid from their campaigns' budgets; payloads land exactly once in bronze.
    `ledger` defaults to this lakehouse's under the state dir; `workers` overrides the per-provider
    concurrency; `fresh_days` maps provider -> days an answer stays fresh and `fields` picks the fields
    rule ("requested" or "score"), both from the settings by default. `model_scores`: a registered
    champion scores gold, so the rules' tier bound does not apply (see EnrichPolicy.tier_bound).
    `rules`: (score, tier) of the rules baseline; without them only the filters target. Steps that answer
    different fields run at once unless `parallel_steps` is False (see `waves`)."""
    from leadlake.core.settings import get_settings

    report = EnrichReport(run_id)
    if not lake.exists(SILVER_LEADS):
        return report
    settings = get_settings()
    if ledger is None:
        ledger = SpendLedger.for_lakehouse(settings.resolved_state_dir, lake.root_uri)
    fresh = {**settings.enrich_fresh_days, **(fresh_days or {})}
    fresh_default = settings.enrich_fresh_days_default
    adapters = {a.name: a for a in adapters}
    if policy is None:
        chosen = "requested" if model_scores else fields or settings.enrich_fields
        score, tier = rules or (None, None)
        policy = EnrichPolicy(
            default_steps(adapters), fields=chosen, tier_bound=not model_scores, score=score, tier=tier
        )
    leads = _read_leads(lake)
    report.leads = len(leads)
    specs = recorded_specs(lake)
    campaigns = recorded_campaigns(lake)
    plans, order, missing = _plan(leads, specs, campaigns, adapters, policy, report)
    steps = {s.provider: s for s in policy.steps}

    # The cache first: lookups bronze answered within the window are free.
    cached: dict[str, set[str]] = {}
    answered = answered_lookups(lake)
    for name in order:
        days = fresh.get(name, fresh_default)
        cached[name] = fresh_answers(lake, name, days, now, answered) & set(plans[name].queries)
    # The budget guard counts the targeted plan (uncached lookups at list price) before any call.
    runs: dict[str, Payer] = {}
    runs_lock = threading.Lock()  # independent steps run in threads of their own (see `waves`)

    def run_of(cid: str) -> Payer:
        with runs_lock:
            if cid not in runs:
                runs[cid] = ledger.payer_for(cid, run_id, campaigns[cid].max_cost_usd)
            return runs[cid]

    planned: dict[Payer, float] = {}
    for name in order:
        p = plans[name]
        for fp in set(p.queries) - cached[name]:
            ids = sorted(p.payers[fp])
            for cid in ids:
                share = p.adapter.price_per_call_usd / len(ids)
                planned[run_of(cid)] = planned.get(run_of(cid), 0.0) + share
    for payer, (cost, left) in guard_enrichment(ledger, planned).items():
        msg = (
            f"campaign {payer.campaign_id!r}: the targeted enrichment plan costs ${cost:.2f}, run "
            f"{payer.run_id!r} has ${left or 0:.2f} left; lookups go cheapest first until it is spent. Raise "
            "budget.max_cost_usd in the campaign file, or narrow its filters or destinations' min_tier"
        )
        report.over_budget.append(msg)
        log.warning("%s", msg)

    def run_step(i: int, name: str) -> None:
        p = plans[name]
        cost = report.costs[name]
        answers = set(steps[name].answers) if name in steps else set()
        if answers and any(set(steps[m].answers) & answers for m in order[:i] if m in steps):
            # The waterfall's stop rule: an earlier (cheaper) step may have found these fields already.
            needed = {fp for lead, fps in p.by_lead.items() if missing[lead] & answers for fp in fps}
            p.queries = {fp: q for fp, q in p.queries.items() if fp in needed}
            cached[name] &= needed
            cost.lookups_planned = len(p.queries)
            cost.calls_saved_targeting = _calls_for(p.adapter, cost.lookups_all - len(p.queries))
        send = [q for fp, q in p.queries.items() if fp not in cached[name]]
        payers = {q.fingerprint: [run_of(c) for c in sorted(p.payers[q.fingerprint])] for q in send}
        paying = PayingAdapter(p.adapter, ledger, payers)
        try:
            if hasattr(p.adapter, "fetch_bulk") and getattr(p.adapter, "bulk_size", 0) > 1:
                pr = _ingest_bulk(paying, send, lake, run_id, workers or _workers(p.adapter), flush_rows)
            else:
                pr = ingest_queries(
                    ENRICHMENT_CAMPAIGN,
                    paying,
                    send,
                    lake,
                    run_id,
                    workers=workers or _workers(p.adapter),
                    flush_rows=flush_rows,
                )
        finally:
            paying.close()
        report.providers[name] = pr
        cost.lookups_cached = len(cached[name])
        cost.lookups_sent = len(send)
        cost.calls = pr.calls
        cost.calls_saved_cache = _calls_for(p.adapter, len(cached[name]))
        cost.matches = pr.items - pr.quarantined
        price = p.adapter.price_per_call_usd
        # PDL bills matches, not requests (a bulk request costs one enrichment per 200 in it).
        billed = cost.matches if getattr(p.adapter, "bulk_size", 0) else pr.calls
        cost.billed = billed
        cost.est_cost_usd = round(billed * price, 6)
        cost.est_saved_usd = round((cost.lookups_all - cost.lookups_sent) * price, 6)
        exhausted = [e for e in pr.errors if "budget exhausted" in e]
        if exhausted:
            log.warning("%s stopped: %s", name, exhausted[0])
        later = {f for m in order[i + 1 :] if m in steps for f in steps[m].answers}
        if name in steps and steps[name].stop_when_found and answers & later:
            found = answered_fields(lake, p.adapter, set(p.queries))
            for lead, fps in p.by_lead.items():
                for fp in fps:
                    missing[lead] -= found.get(fp, set()) & answers

    position = {name: i for i, name in enumerate(order)}
    # A plan that does not fit the budget spends it cheapest first: one provider at a time, in the
    # waterfall's order (waves may start a later, independent step before an earlier dependent one).
    groups = waves(order, steps) if parallel_steps and not report.over_budget else [[n] for n in order]
    for wave in groups:
        if len(wave) == 1:
            run_step(position[wave[0]], wave[0])
            continue
        # Steps that answer different fields do not wait for each other: each keeps its own workers.
        with ThreadPoolExecutor(max_workers=len(wave), thread_name_prefix="enrich-step") as pool:
            for fut in [pool.submit(run_step, position[n], n) for n in wave]:
                fut.result()
    for cid, payer in sorted(runs.items()):
        report.spend[cid] = ledger.run(payer.campaign_id, payer.run_id).as_dict()
    _record_costs(lake, report)
    log.info("enrichment: %s", json.dumps(report.summary(), default=str))
    return report


def waves(order: list[str], steps: Mapping[str, Any]) -> list[list[str]]:
    """The waterfall as groups that may run at once: a step waits only for the earlier steps answering a
    field it answers too (their stop rule decides what it is asked); a group keeps the waterfall's order."""
    level: dict[str, int] = {}
    for i, name in enumerate(order):
        mine = set(steps[name].answers) if name in steps else set()
        before = [level[m] for m in order[:i] if m in steps and mine & set(steps[m].answers)]
        level[name] = max(before) + 1 if before else 0
    return [[n for n in order if level[n] == k] for k in range(max(level.values(), default=-1) + 1)]


def champion_registered(tracking_uri: str) -> bool:
    """Whether the model registry holds a champion (gold then scores with it, not with the rules)."""
    from leadlake.ml.model import MODEL_NAME
    from leadlake.ml.registry import CHAMPION, alias_version, client, registry_exists

    if not registry_exists(tracking_uri):
        return False  # no MLflow import for a registry that is not there
    try:
        return alias_version(client(tracking_uri), CHAMPION, MODEL_NAME) is not None
    except Exception as exc:  # noqa: BLE001 - an unreadable registry: gold falls back to the rules too
        log.warning("model registry unreadable (%s): targeting with the rules' tier bound", exc)
        return False


def answered_fields(lake: Lakehouse, adapter: Any, fingerprints: set[str]) -> dict[str, set[str]]:
    """fingerprint -> the fields its answers in bronze hold (non-empty), normalised by the adapter."""
    if not fingerprints or not lake.exists(adapter.bronze_table):
        return {}
    t = lake.read(adapter.bronze_table, columns=["request_fingerprint", "payload"])
    t = t.filter(pc.is_in(t["request_fingerprint"], pa.array(sorted(fingerprints), pa.string())))
    out: dict[str, set[str]] = {}
    for row in t.to_pylist():
        try:
            rec = adapter.normalize(row["payload"]).asdict()
        except Exception:  # noqa: BLE001 - a payload that cannot be read answers nothing
            continue
        have = {f for f, v in rec.items() if v not in (None, [], "", False)}
        out.setdefault(row["request_fingerprint"], set()).update(have)
    return out


def _plan(
    leads: list[dict[str, Any]],
    specs: dict[str, CampaignSpec],
    campaigns: dict[str, CampaignBudget],
    adapters: dict[str, Any],
    policy: EnrichPolicy,
    report: EnrichReport,
) -> tuple[dict[str, _Plan], list[str], dict[int, set[str]]]:
    """Targeting and the waterfall over every lead: each provider's lookups, in the order to send them,
    and each targeted lead's wanted fields (the execution's stop rule removes those found)."""
    order = [s.provider for s in policy.ordered() if s.provider in adapters]
    order += [n for n in adapters if n not in order]  # an adapter without a step still runs, last
    plans = {n: _Plan(adapters[n]) for n in order}
    steps = {s.provider: s for s in policy.steps}
    asking = {n: sorted(c.campaign_id for c in campaigns.values() if n in c.enrichment) for n in order}
    every = sorted(campaigns)
    skipped: dict[str, int] = {}
    wanted: dict[int, set[str]] = {}
    for idx, lead in enumerate(leads):
        ids = _lead_campaigns(lead, every)
        queries = {}
        for n in order:
            payers = [c for c in ids if c in asking[n]]
            qs = adapters[n].lookup_queries([lead]) if payers else []
            if qs:
                queries[n] = (qs, payers)
                for q in qs:
                    plans[n].queries_all.setdefault(q.fingerprint, q)
        answerable = {f for n in queries for f in (steps[n].answers if n in steps else ())}
        lead_specs = [specs[c] for c in ids if c in specs]
        decision = target(lead, lead_specs, answerable, policy)
        if not decision.targeted:
            skipped[decision.reason] = skipped.get(decision.reason, 0) + 1
            continue
        report.leads_targeted += 1
        missing = wanted[idx] = wanted_fields(queries, policy, lead, lead_specs)
        for n in order:  # a step only for fields the lead wants (the stop rule acts as answers land)
            if n not in queries:
                continue
            useful = missing & set(steps[n].answers) if n in steps else {"*"}
            if not useful:
                continue
            qs, payers = queries[n]
            plans[n].leads += 1
            plans[n].by_lead[idx] = [q.fingerprint for q in qs]
            for q in qs:
                plans[n].queries.setdefault(q.fingerprint, q)
                plans[n].payers.setdefault(q.fingerprint, set()).update(payers)
    report.skipped = skipped
    for n in order:
        p = plans[n]
        report.costs[n] = ProviderCost(
            n,
            leads_targeted=p.leads,
            lookups_all=len(p.queries_all),
            lookups_planned=len(p.queries),
            calls_saved_targeting=_calls_for(p.adapter, len(p.queries_all) - len(p.queries)),
        )
    return plans, order, wanted


def _ingest_bulk(
    adapter: PayingAdapter, queries: list[Any], lake: Lakehouse, run_id: str, workers: int, flush_rows: int
) -> ProviderReport:
    """Send lookups in bulk batches (concurrently up to `workers`) and land each lookup's answer as if it
    had been sent alone: its rows and its own ingest-log row, so the cache sees every lookup."""
    pr = ProviderReport(adapter.name, queries=len(queries))
    buf = _Buffer(lake, adapter.bronze_table, flush_rows)
    size = adapter.bulk_size
    batches = [queries[i : i + size] for i in range(0, len(queries), size)]

    def run(batch: list[Any]) -> tuple[list[Any], dict, dict, str | None]:
        try:
            pages, errors = adapter.fetch_bulk(batch)
            return batch, pages, errors, None
        except (ProviderAuthError, CircuitOpenError):
            raise
        except BudgetExhausted as exc:
            return batch, {}, {}, f"budget_exhausted:{exc}"
        except ProviderError as exc:
            return batch, {}, {q.fingerprint: str(exc) for q in batch}, None

    stop = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bulk-{adapter.name}") as pool:
        futures = [pool.submit(run, b) for b in batches]
        for fut in as_completed(futures):
            if fut.cancelled():
                pr.skipped_queries += size
                continue
            try:
                batch, pages, errors, halted = fut.result()
            except (ProviderAuthError, CircuitOpenError) as exc:
                for other in futures:
                    other.cancel()
                pr.failed_queries += 1
                pr.errors.append(str(exc))
                continue
            if halted:  # nothing of this batch was sent: no log row, so a re-run asks again
                if not stop:
                    stop = True
                    for other in futures:
                        other.cancel()
                    pr.errors.append(halted.partition(":")[2])
                pr.failed_queries += len(batch)
                continue
            now = datetime.now(UTC)
            for q in batch:
                page = pages.get(q.fingerprint)
                rows, bad = [], []
                if page is not None:
                    rows, bad = page_rows(page, adapter.name, ENRICHMENT_CAMPAIGN, run_id)
                error = errors.get(q.fingerprint)
                if page is None and error is None:  # never logged "ok" without an answer: asked again
                    error = f"{adapter.name}: no answer for this lookup in the bulk response"
                calls = page.calls if page is not None else 0
                pr.pages += page is not None
                pr.calls += calls
                pr.items += len(rows) + len(bad)
                pr.quarantined += len(bad)
                if error:
                    pr.failed_queries += 1
                    pr.errors.append(error)
                log_row = {
                    "run_id": run_id,
                    "campaign_id": ENRICHMENT_CAMPAIGN,
                    "provider": adapter.name,
                    "request_fingerprint": q.fingerprint,
                    "query": _describe(q),
                    "pages": int(page is not None),
                    "calls": calls,
                    "items": len(rows) + len(bad),
                    "quarantined": len(bad),
                    "status": "failed" if error else "ok",
                    "error": error,
                    "finished_at": now,
                }
                buf.add(rows, bad, log_row)
            if errors and not pages:  # a whole batch failed: the one request's attempts are not on a page
                pr.calls += 1
            if not stop and any("budget exhausted" in e for e in errors.values()):
                stop = True  # the budget is spent: later batches are not sent
                for other in futures:
                    other.cancel()
    buf.flush()
    pr.landed = buf.landed
    pr.already_seen = pr.items - pr.quarantined - pr.landed
    return pr


def _record_costs(lake: Lakehouse, report: EnrichReport) -> None:
    """One ops.enrichment_costs row per provider of this run."""
    if not report.costs:
        return
    at = datetime.now(UTC)
    rows = []
    for c in report.costs.values():
        rows.append(
            {
                "run_id": report.run_id,
                "provider": c.provider,
                "leads": report.leads,
                "leads_targeted": c.leads_targeted,
                "lookups_all": c.lookups_all,
                "lookups_planned": c.lookups_planned,
                "lookups_cached": c.lookups_cached,
                "lookups_sent": c.lookups_sent,
                "calls": c.calls,
                "calls_saved_cache": c.calls_saved_cache,
                "calls_saved_targeting": c.calls_saved_targeting,
                "matches": c.matches,
                "est_cost_usd": c.est_cost_usd,
                "est_saved_usd": c.est_saved_usd,
                "cost_per_enriched_lead_usd": c.est_cost_usd / c.leads_targeted if c.leads_targeted else 0.0,
                "recorded_at": at,
            }
        )
    lake.append(OPS_ENRICHMENT_COSTS, pa.Table.from_pylist(rows, schema=COSTS_SCHEMA))


def _read_leads(lake: Lakehouse) -> list[dict[str, Any]]:
    """Silver leads with the columns lookups and targeting need (campaign_ids only when the table has it)."""
    names = lake.read(SILVER_LEADS, filter="false").schema.names  # the schema, no rows
    columns = [c for c in LEAD_COLUMNS if c in names]
    if "campaign_ids" not in columns:
        log.warning("silver.leads has no campaign_ids: every lead is charged to every asking campaign")
    return lake.read(SILVER_LEADS, columns=columns).to_pylist()
