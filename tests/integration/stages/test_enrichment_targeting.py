"""Enrichment that pays for itself, against the served sandbox: a re-run within the freshness window makes no
paid call, targeting skips leads that cannot reach a destination, and the leads that do reach one score in
gold exactly as they would had every lead been enriched."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.pipeline import campaign, record_campaigns, resources_for, silver_lead, write_silver_leads

from leadlake.core.campaign import Area
from leadlake.core.normalize import registered_domain
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_SCORED_LEADS, OPS_ENRICHMENT_COSTS, SILVER_LEADS
from leadlake.runtime.resources import Resources
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.sandbox.server import SandboxServer
from leadlake.sandbox.world import World
from leadlake.stages.bronze.enrichment import answered_fields, enrich_leads
from leadlake.stages.bronze.targeting import EnrichPolicy, WaterfallStep, default_steps

PROVIDERS = ("pdl", "hunter", "opencorporates")
ENRICH_ROUTES = ("pdl.", "hunter.", "opencorporates.")


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=11, businesses=400)


def paid_requests(sb: SandboxServer) -> int:
    """Requests the sandbox's enrichment providers received (every one of them is billed)."""
    return sum(n for route, n in sb.stats()["routes"].items() if route.startswith(ENRICH_ROUTES))


def shop_campaign(world: World, min_tier: str) -> Any:
    """An ecommerce campaign over the world's first city (Shopify and a verified email both score)."""
    city = world.cities()[0]
    area = Area(city=city.name, region=city.state, lat=city.lat, lon=city.lon, radius_km=40)
    spec = campaign(
        "shops", "ecommerce", areas=[area], enrichment=list(PROVIDERS), destinations=[("hubspot", min_tier)]
    )
    return spec.model_copy(update={"min_reviews": 5})


def prepare(root: Path, world: World, min_tier: str, n: int = 200) -> Lakehouse:
    """silver.leads for `n` of the world's businesses as discovery saw them, and the campaign."""
    lake = Lakehouse(str(root))
    rows = []
    for i, b in enumerate(world.businesses[:n]):
        rows.append(
            silver_lead(
                f"L{i:04d}",
                b.name,
                website=b.website,
                domain=registered_domain(b.website) if b.website else None,
                phone_e164=b.phone,
                city=b.city,
                region=b.region,
                lat=b.lat,
                lon=b.lon,
                rating=b.rating,
                review_count=b.review_count,
                campaign_ids=["shops"],
            )
        )
    write_silver_leads(lake, rows)
    record_campaigns(lake, [shop_campaign(world, min_tier)])
    return lake


def with_settings(lake_root: str, url: str, spark: Any = None, **update: Any) -> Resources:
    base = resources_for(lake_root, url)
    res = Resources.for_sandbox(url, base.settings.model_copy(update=update), ())
    return replace(res, _spark=spark) if spark is not None else res


@pytest.mark.slow
def test_a_rerun_within_the_freshness_window_makes_no_paid_call(world: World, tmp_path: Path) -> None:
    lake = prepare(tmp_path / "lake", world, min_tier="C")
    with SandboxServer(world) as sb:
        res = resources_for(lake.root_uri, sb.url)
        first = run_stage(get_stage("enrich"), res, "e1")
        sent_first = paid_requests(sb)
        second = run_stage(get_stage("enrich"), res, "e2")
        sent_second = paid_requests(sb) - sent_first
        # A window of 0 days for Hunter: its answers are stale, only Hunter is asked again.
        stale = with_settings(
            lake.root_uri, sb.url, enrich_fresh_days={"pdl": 90, "hunter": 0, "opencorporates": 90}
        )
        third = run_stage(get_stage("enrich"), stale, "e3")

    assert first.status == "success" and second.status == "success"
    d1, d2, d3 = first.details, second.details, third.details
    assert d1.calls == sent_first > 0
    assert d1.costs["pdl"].calls < d1.costs["pdl"].lookups_sent, "PDL went in bulk"
    assert sent_second == 0 and d2.calls == 0, "every answer came from bronze"
    for p in PROVIDERS:
        assert d2.costs[p].lookups_cached == d1.costs[p].lookups_sent > 0
        assert d2.costs[p].calls_saved_cache > 0 and d2.costs[p].est_cost_usd == 0
    assert d3.costs["hunter"].calls > 0 and d3.costs["pdl"].calls == d3.costs["opencorporates"].calls == 0

    costs = Lakehouse(lake.root_uri).read(OPS_ENRICHMENT_COSTS).to_pylist()
    by_run = {(r["run_id"], r["provider"]): r for r in costs}
    assert by_run[("e2", "hunter")]["calls"] == 0 and by_run[("e1", "hunter")]["calls"] > 0
    assert by_run[("e1", "pdl")]["est_cost_usd"] > 0 and by_run[("e2", "pdl")]["est_cost_usd"] == 0
    assert second.details.summary()["calls_saved_cache"] > 0


@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.parametrize("fields", ["requested", "score"])
def test_delivered_leads_score_as_if_every_lead_was_enriched(
    spark: Any, world: World, tmp_path: Path, fields: str
) -> None:
    """Targeting (and, with `fields="score"`, buying only the fields the score reads) changes no score of
    a lead the campaign delivers."""
    targeted = prepare(tmp_path / "targeted", world, min_tier="A")
    shutil.copytree(tmp_path / "targeted", tmp_path / "everything")
    everything = Lakehouse(str(tmp_path / "everything"))
    with SandboxServer(world) as sb:
        res_t = with_settings(targeted.root_uri, sb.url, spark=spark, enrich_fields=fields)
        report_t = run_stage(get_stage("enrich"), res_t, "t1").details
        res_all = resources_for(everything.root_uri, sb.url, spark=spark)
        adapters = [res_all.connector(p) for p in PROVIDERS]
        try:
            report_all = enrich_leads(
                everything, adapters, "a1", policy=EnrichPolicy(default_steps(PROVIDERS), target_leads=False)
            )
        finally:
            for a in adapters:
                a.close()
    assert report_t.skipped.get("tier", 0) > 0 and report_t.skipped.get("filters", 0) > 0
    assert 0 < report_t.calls < report_all.calls
    run_stage(get_stage("gold"), res_t, "t1")
    run_stage(get_stage("gold"), res_all, "a1")

    spec = shop_campaign(world, "A")
    gold_t = {r["lead_id"]: r for r in targeted.read(GOLD_SCORED_LEADS).to_pylist()}
    gold_all = {r["lead_id"]: r for r in everything.read(GOLD_SCORED_LEADS).to_pylist()}
    # The leads the campaign delivers when everything is enriched: tier A, passing its filters.
    delivered = [
        lid
        for lid, r in gold_all.items()
        if r["priority_tier"] == "A" and (r["review_count"] or 0) >= spec.min_reviews
    ]
    assert len(delivered) >= 3, "the world gives the campaign something to deliver"
    for lid in delivered:
        assert (gold_t[lid]["lead_score"], gold_t[lid]["score_reasons"]) == (
            gold_all[lid]["lead_score"],
            gold_all[lid]["score_reasons"],
        ), lid
    # And targeting delivers exactly those leads: none lost, none gained.
    reach_t = {
        lid for lid, r in gold_t.items() if r["priority_tier"] == "A" and (r["review_count"] or 0) >= 5
    }
    assert reach_t == set(delivered)


@pytest.mark.slow
def test_the_waterfall_asks_the_pricier_source_only_for_what_the_cheaper_did_not_find(
    world: World, tmp_path: Path
) -> None:
    """Both OpenCorporates (incorporation date) and PDL answer a founding year: cheapest first, and PDL is
    asked only for the leads whose register answer held none."""
    lake = prepare(tmp_path / "lake", world, min_tier="C")
    policy = EnrichPolicy(
        (
            WaterfallStep("pdl", ("founded_year",), 0.10),
            WaterfallStep("opencorporates", ("founded_year",), 0.01),
        )
    )
    with SandboxServer(world) as sb:
        res = resources_for(lake.root_uri, sb.url)
        adapters = [res.connector(p) for p in ("pdl", "opencorporates")]
        try:
            report = enrich_leads(lake, adapters, "w1", policy=policy)
            pdl_ad, oc_ad = adapters
            oc_found = answered_fields(lake, oc_ad, set(report_fps(lake, "opencorporates")))
            # What the waterfall should have asked PDL: the targeted leads whose register answer is undated.
            expected = set()
            for lead in lake.read(SILVER_LEADS).to_pylist():
                if (lead["review_count"] or 0) < 5:
                    continue  # the campaign's filter
                oc_fps = [q.fingerprint for q in oc_ad.lookup_queries([lead])]
                if not any("founded_year" in oc_found.get(fp, set()) for fp in oc_fps):
                    expected |= {q.fingerprint for q in pdl_ad.lookup_queries([lead])}
        finally:
            for a in adapters:
                a.close()
    oc, pdl = report.costs["opencorporates"], report.costs["pdl"]
    assert oc.lookups_sent == oc.lookups_planned > 0, "the cheap source is asked for every targeted lead"
    assert set(report_fps(lake, "pdl")) == expected, "PDL asked exactly where the register gave no year"
    assert 0 < pdl.lookups_sent == len(expected) < pdl.lookups_all


def report_fps(lake: Lakehouse, provider: str) -> list[str]:
    log = lake.read("bronze.ingest_log", columns=["provider", "request_fingerprint"]).to_pylist()
    return [r["request_fingerprint"] for r in log if r["provider"] == provider]


@pytest.mark.slow
def test_providers_asked_at_once_buy_and_land_what_one_at_a_time_would(world: World, tmp_path: Path) -> None:
    """The default providers answer different fields, so they run concurrently: same lookups, same answers
    landed once, same costs and spend as asking them one after the other."""
    seen: dict[bool, dict[str, Any]] = {}
    keys = ["provider_key", "content_hash"]
    with SandboxServer(world) as sb:
        for parallel in (True, False):
            lake = prepare(tmp_path / f"lake_{parallel}", world, min_tier="C")
            res = resources_for(lake.root_uri, sb.url)
            adapters = [res.connector(p) for p in PROVIDERS]
            try:
                report = enrich_leads(lake, adapters, "p1", parallel_steps=parallel)
            finally:
                for a in adapters:
                    a.close()
            log = lake.read("bronze.ingest_log").to_pylist()
            seen[parallel] = {
                "log": sorted((r["provider"], r["request_fingerprint"], r["status"]) for r in log),
                "landed": {
                    a.name: sorted(
                        (r["provider_key"], r["content_hash"])
                        for r in lake.read(a.bronze_table, columns=keys).to_pylist()
                    )
                    for a in adapters
                },
                "costs": {
                    p: (c.lookups_sent, c.calls, c.matches, c.est_cost_usd) for p, c in report.costs.items()
                },
                "spend": {cid: s["spent_usd"] for cid, s in report.spend.items()},
            }
    concurrent, sequential = seen[True], seen[False]
    assert all(concurrent["costs"][p][0] > 0 for p in PROVIDERS), "every provider was asked"
    assert len(concurrent["log"]) == len(set(concurrent["log"])), "one log row per lookup"
    assert concurrent == sequential
