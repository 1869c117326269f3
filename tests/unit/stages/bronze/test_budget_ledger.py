"""One budget per campaign run: the spend ledger, the per-task guard over the whole campaign, and the
ingest and enrichment paths against the sandbox stopping at the budget.

Amounts come from the connector registry (`price`); the sandbox counts what it was actually sent, so
"cannot exceed the budget" is checked against requests received, not only against the ledger's own sums.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from support.provider_workers import spend_until_refused
from support.providers import GOOGLE, YELP, adapter, price

from leadlake.connectors.http import BudgetExhausted
from leadlake.core.campaign import Area, CampaignSpec
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import SILVER_LEADS
from leadlake.sandbox.server import SandboxServer
from leadlake.sandbox.world import World
from leadlake.stages.bronze.budget import Payer, SpendLedger, guard_ingest, meter_adapter
from leadlake.stages.bronze.enrichment import enrich_leads
from leadlake.stages.bronze.landing import ingest, record_campaign
from leadlake.stages.bronze.planning import BudgetExceeded, plan_campaign

PDL, HUNTER, OC = "pdl", "hunter", "opencorporates"
DENVER = Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=20)


def campaign(cid: str = "c1", budget: float | None = 5.0, **kw: Any) -> CampaignSpec:
    values: dict[str, Any] = {
        "campaign_id": cid,
        "name": cid,
        "vertical": "local_services",
        "areas": [DENVER],
        "keywords": ["plumber", "electrician"],
        "sources": [GOOGLE, YELP],
        "max_cost_usd": budget,
    }
    return CampaignSpec(**(values | kw))


@pytest.fixture
def ledger(tmp_path: Path) -> SpendLedger:
    return SpendLedger(tmp_path / "spend.sqlite")


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=21, businesses=400)


@pytest.fixture
def sandbox(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world=world) as sb:
        yield sb


ROUTE_PREFIX = {GOOGLE: "google.", YELP: "yelp.", PDL: "pdl.", HUNTER: "hunter.", OC: "opencorporates."}


def sent(sb: SandboxServer, provider: str) -> int:
    """Requests the sandbox received for one provider (its routes are named "<api>.<endpoint>")."""
    return sum(n for route, n in sb.stats()["routes"].items() if route.startswith(ROUTE_PREFIX[provider]))


# ---- the ledger ------------------------------------------------------------------------------------------
def test_a_run_pays_until_the_budget_and_a_retry_keeps_the_spend(ledger: SpendLedger) -> None:
    p = ledger.open_run("c1", "r1", 0.10)
    for _ in range(2):
        ledger.charge([p], GOOGLE, 0.035)
    with pytest.raises(BudgetExhausted) as info:
        ledger.charge([p], GOOGLE, 0.035)  # $0.03 left
    msg = str(info.value)
    assert "budget exhausted" in msg and "'c1'" in msg and "'r1'" in msg and "$0.0300 left" in msg
    assert "budget.max_cost_usd" in msg
    ledger.charge([p], YELP, 0.00999)  # a cheaper call still fits
    ledger.open_run("c1", "r1", 99.0)  # a retried task: the first budget and its spend stand
    run = ledger.run("c1", "r1")
    assert run.budget_usd == 0.10 and run.spent_usd == pytest.approx(0.07999)
    assert run.providers[GOOGLE] == {"calls": 2, "usd": pytest.approx(0.07), "refused": 1}
    assert run.calls == 3 and run.exhausted
    fresh = ledger.open_run("c1", "r2", 0.10)  # the next run starts a new budget
    ledger.charge([fresh], GOOGLE, 0.035)
    assert ledger.runs("c1") == ["r1", "r2"]


def test_sums_are_exact_in_micro_dollars(ledger: SpendLedger) -> None:
    p = ledger.open_run("c1", "r1", 1.0)
    for _ in range(100):
        ledger.charge([p], YELP, 0.01)
    assert ledger.run("c1", "r1").spent_usd == 1.0
    with pytest.raises(BudgetExhausted):
        ledger.charge([p], YELP, 0.000001)


def test_no_budget_means_no_cap_but_spend_is_recorded(ledger: SpendLedger) -> None:
    p = ledger.open_run("bench", "r1", None)
    for _ in range(50):
        ledger.charge([p], PDL, 0.10)
    assert ledger.run("bench", "r1").spent_usd == pytest.approx(5.0)
    with pytest.raises(BudgetExhausted, match="no budget opened"):
        ledger.charge([Payer("bench", "never-opened")], PDL, 0.10)


def test_a_shared_lookup_is_split_and_a_spent_campaign_drops_out(ledger: SpendLedger) -> None:
    a, b = ledger.open_run("a", "r", 0.15), ledger.open_run("b", "r", 1.0)
    assert ledger.charge([a, b], PDL, 0.10) == {a: 0.05, b: 0.05}
    assert ledger.charge([a, b], PDL, 0.10) == {a: 0.05, b: 0.05}
    assert ledger.charge([a, b], PDL, 0.10) == {a: 0.05, b: 0.05}  # a is now spent out
    assert ledger.charge([a, b], PDL, 0.10) == {b: 0.10}  # b, which also wants the lead, pays in full
    assert ledger.run("a", "r").spent_usd == pytest.approx(0.15)
    assert ledger.run("b", "r").spent_usd == pytest.approx(0.25)


def test_enrichment_pays_from_this_run_else_the_latest_else_a_new_one(ledger: SpendLedger) -> None:
    ledger.open_run("c1", "ingest-1", 5.0)
    ledger.open_run("c1", "ingest-2", 5.0)
    ledger.open_run("c2", "cli-run", 5.0)
    assert ledger.payer_for("c1", "gold-7", 5.0) == Payer("c1", "ingest-2")  # Airflow: another DAG run
    assert ledger.payer_for("c2", "cli-run", 5.0) == Payer("c2", "cli-run")  # the CLI: one run id
    assert ledger.payer_for("c3", "gold-7", 2.0) == Payer("c3", "gold-7")  # never ingested here
    assert ledger.run("c3", "gold-7").budget_usd == 2.0


def test_processes_racing_for_one_budget_never_overspend(tmp_path: Path) -> None:
    path = str(tmp_path / "spend.sqlite")
    budget, cost = 1.0, price(GOOGLE)
    SpendLedger(path).open_run("c1", "r1", budget)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=spend_until_refused, args=(path, "c1", "r1", GOOGLE, cost, out)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    allowed = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    run = SpendLedger(path).run("c1", "r1")
    assert sum(allowed) == run.calls == int(budget // cost)  # 28 calls of $0.035 fit in $1.00
    assert run.spent_usd <= budget and run.refused == 4


def test_threads_racing_for_one_budget_never_overspend(tmp_path: Path) -> None:
    """Threads of one process (bronze's workers) queue on the ledger; two ledgers on one file share it."""
    path = tmp_path / "spend.sqlite"
    budget, cost = 1.0, price(GOOGLE)
    ledgers = [SpendLedger(path), SpendLedger(path)]
    payer = ledgers[0].open_run("c1", "r1", budget)
    allowed: list[int] = []

    def spend(ledger: SpendLedger) -> None:
        n = 0
        while True:
            try:
                ledger.charge([payer], GOOGLE, cost)
            except BudgetExhausted:
                break
            n += 1
        allowed.append(n)

    threads = [threading.Thread(target=spend, args=(ledgers[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    run = ledgers[1].run("c1", "r1")
    assert sum(allowed) == run.calls == int(budget // cost)
    assert run.spent_usd <= budget and run.refused == 6


def test_a_failed_charge_frees_the_ledger_for_the_next(ledger: SpendLedger) -> None:
    with pytest.raises(BudgetExhausted, match="has no budget opened"):
        ledger.charge([Payer("c1", "never-opened")], GOOGLE, 0.01)
    payer = ledger.open_run("c1", "r1", 1.0)  # would block forever if the failed charge kept the lock
    assert ledger.charge([payer], GOOGLE, 0.01) == {payer: 0.01}


def test_an_adapter_without_http_cannot_be_metered() -> None:
    with pytest.raises(TypeError, match="no ProviderHttp"):
        meter_adapter(object(), None)


# ---- the per-task guard checks the whole campaign ------------------------------------------------------
def test_each_provider_task_checks_the_whole_campaign(ledger: SpendLedger, sandbox: SandboxServer) -> None:
    whole = plan_campaign(campaign())
    google_share = next(p.cost_usd for p in whole.providers if p.provider == GOOGLE)
    # A budget that fits Google's share alone but not the campaign: the old per-task check let it through.
    spec = campaign(budget=(google_share + whole.discovery_cost_usd) / 2)
    with adapter(GOOGLE, sandbox) as g:
        with pytest.raises(BudgetExceeded, match="worst-case discovery cost"):
            guard_ingest(spec, [g], "r1", ledger)
    assert sandbox.stats()["requests"] == 0
    with pytest.raises(KeyError):
        ledger.run("c1", "r1")  # refused before a budget was even opened


# ---- the ingest path: two providers, one budget ---------------------------------------------------------
def run_provider_tasks(spec: CampaignSpec, sb: SandboxServer, lake: Lakehouse, ledger: SpendLedger) -> dict:
    """What the ingest DAG does for one run: a task per provider, concurrently, each guarded and metered."""
    reports: dict[str, Any] = {}

    def task(provider: str) -> None:
        with adapter(provider, sb) as ad:
            guard_ingest(spec, [ad], "run-1", ledger)
            reports[provider] = ingest(spec, [ad], lake, "run-1").providers[provider]

    threads = [threading.Thread(target=task, args=(p,)) for p in spec.sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return reports


def test_two_providers_together_cannot_exceed_the_budget(
    ledger: SpendLedger, sandbox: SandboxServer, tmp_path: Path
) -> None:
    spec = campaign(budget=plan_campaign(campaign()).discovery_cost_usd)  # the guard passes, just
    lake = Lakehouse(str(tmp_path / "lake"))
    # An earlier attempt of this run (a retried task) spent all but two Google calls' worth: less than the
    # four queries' first pages (two each) cost, so one provider at least must stop.
    ledger.open_run(spec.campaign_id, "run-1", spec.max_cost_usd)
    ledger.charge(
        [Payer(spec.campaign_id, "run-1")], "earlier-attempt", spec.max_cost_usd - 2 * price(GOOGLE)
    )
    reports = run_provider_tasks(spec, sandbox, lake, ledger)
    run = ledger.run(spec.campaign_id, "run-1")
    paid_to_sandbox = sent(sandbox, GOOGLE) * price(GOOGLE) + sent(sandbox, YELP) * price(YELP)
    assert run.spent_usd <= spec.max_cost_usd + 1e-9
    assert paid_to_sandbox <= 2 * price(GOOGLE) + 1e-9  # what was left is all that was sent
    assert paid_to_sandbox == pytest.approx(run.spent_usd - (spec.max_cost_usd - 2 * price(GOOGLE)))
    stopped = [p for p, r in reports.items() if any("budget exhausted" in e for e in r.errors)]
    assert stopped, "at least one provider stopped at the budget"
    assert set(reports) == {GOOGLE, YELP}, "a provider out of budget does not kill the other"


def test_retried_runs_of_both_providers_stop_at_the_budget(
    ledger: SpendLedger, sandbox: SandboxServer, tmp_path: Path
) -> None:
    spec = campaign(budget=plan_campaign(campaign()).discovery_cost_usd)
    lake = Lakehouse(str(tmp_path / "lake"))
    first = run_provider_tasks(spec, sandbox, lake, ledger)
    one_pass = ledger.run(spec.campaign_id, "run-1").spent_usd
    assert one_pass > 0 and not any(r.errors for r in first.values())
    for _ in range(int(spec.max_cost_usd / one_pass) + 2):  # Airflow retries the same run's tasks
        run_provider_tasks(spec, sandbox, lake, ledger)
    run = ledger.run(spec.campaign_id, "run-1")
    paid_to_sandbox = sent(sandbox, GOOGLE) * price(GOOGLE) + sent(sandbox, YELP) * price(YELP)
    assert run.exhausted and run.spent_usd <= spec.max_cost_usd + 1e-9
    assert paid_to_sandbox == pytest.approx(run.spent_usd)


# ---- enrichment stops at the budget -------------------------------------------------------------------
def silver(lake: Lakehouse, world: World, campaigns_of: Any, n: int = 60) -> list[str]:
    """A silver.leads table of `n` world businesses with websites; campaigns_of(i) names each's campaigns."""
    rows = [b for b in world.businesses if b.website][:n]
    table = pa.table(
        {
            "lead_id": [f"L{i:03d}" for i in range(len(rows))],
            "name": [b.name for b in rows],
            "website": [b.website for b in rows],
            "domain": [None] * len(rows),
            "city": [b.city for b in rows],
            "region": [b.region for b in rows],
            "campaign_ids": pa.array([campaigns_of(i) for i in range(len(rows))], pa.list_(pa.string())),
        }
    )
    lake.overwrite(SILVER_LEADS, table)
    return [b.website for b in rows]


def enrichment_adapters(sb: SandboxServer, *names: str) -> list[Any]:
    return [adapter(n, sb, backoff_base_s=0.01) for n in names]


def test_enrichment_stops_at_the_budget(
    ledger: SpendLedger, sandbox: SandboxServer, world: World, tmp_path: Path
) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    budget = 10 * price(PDL) + 5 * price(HUNTER)  # far less than 60 leads x 2 providers
    spec = campaign(budget=budget, enrichment=[PDL, HUNTER])
    record_campaign(lake, spec)
    silver(lake, world, lambda i: [spec.campaign_id])
    ads = enrichment_adapters(sandbox, PDL, HUNTER)
    try:
        report = enrich_leads(lake, ads, "gold-1", ledger=ledger, workers=3)
    finally:
        for a in ads:
            a.close()
    paid_to_sandbox = sent(sandbox, PDL) * price(PDL) + sent(sandbox, HUNTER) * price(HUNTER)
    spend = report.spend[spec.campaign_id]
    assert spend["budget_usd"] == pytest.approx(budget) and spend["spent_usd"] <= budget + 1e-9
    assert paid_to_sandbox == pytest.approx(spend["spent_usd"])
    assert paid_to_sandbox > budget - max(price(PDL), price(HUNTER)), "it spent the budget, then stopped"
    pdl = report.providers[PDL]
    assert pdl.failed_queries > 0 and all("budget exhausted" in e for e in pdl.errors)
    assert spend["refused_calls"] > 0


def test_enrichment_charges_the_campaigns_of_each_lead(
    ledger: SpendLedger, sandbox: SandboxServer, world: World, tmp_path: Path
) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    a = campaign("camp_a", budget=5.0, enrichment=[PDL])
    b = campaign("camp_b", budget=5.0, enrichment=[PDL])
    c = campaign("camp_c", budget=5.0, enrichment=[])  # asks for no lookups: its leads cost it nothing
    for spec in (a, b, c):
        record_campaign(lake, spec)
    ledger.open_run("camp_a", "ingest-a", 5.0)  # a's leads came from its Airflow ingest run
    # Leads 0-9 only a's, 10-19 shared by a and b, 20-29 only c's.
    owners = {range(0, 10): ["camp_a"], range(10, 20): ["camp_a", "camp_b"], range(20, 30): ["camp_c"]}
    sites = silver(lake, world, lambda i: next(o for r, o in owners.items() if i in r), n=30)
    assert len(set(sites)) == 30, "one lookup per lead keeps the arithmetic readable"
    ads = enrichment_adapters(sandbox, PDL)
    try:
        report = enrich_leads(lake, ads, "gold-1", ledger=ledger, workers=2)
    finally:
        ads[0].close()
    assert report.providers[PDL].queries == 20  # c's leads were not looked up
    assert sent(sandbox, PDL) == 1  # the 20 lookups went as one bulk request, each paid by its own leads
    assert set(report.spend) == {"camp_a", "camp_b"}
    assert report.spend["camp_a"]["run_id"] == "ingest-a" and report.spend["camp_b"]["run_id"] == "gold-1"
    assert report.spend["camp_a"]["spent_usd"] == pytest.approx(10 * price(PDL) + 10 * price(PDL) / 2)
    assert report.spend["camp_b"]["spent_usd"] == pytest.approx(10 * price(PDL) / 2)
    assert json.dumps(report.spend)  # printable in a run report
