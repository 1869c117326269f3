"""The vertical slice for real: sandbox HTTP -> bronze (delta-rs) -> silver/gold (Spark) -> HubSpot upsert."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadlake.connectors.registry import connector
from leadlake.connectors.sources import build_adapter
from leadlake.core.campaign import load_campaign, passes_filters
from leadlake.core.settings import get_settings
from leadlake.lakehouse import Lakehouse
from leadlake.runtime.resources import Resources
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.sandbox.server import Faults, SandboxServer
from leadlake.sandbox.world import World
from leadlake.stages.bronze.landing import ingest

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = ROOT / "campaigns" / "denver_home_services.yaml"
KEYS = {p: connector(p).sandbox_key for p in ("google_places", "yelp")}


def stage(res: Resources, name: str, run_id: str = "r") -> Any:
    """Run one registered stage on `res` and return the stage's own report."""
    return run_stage(get_stage(name), res, run_id).details


def resources_for(
    lake_root: str, sandbox_url: str = "http://127.0.0.1:9", campaigns: tuple = ()
) -> Resources:
    """Resources on a scratch lakehouse; nothing in os.environ changes."""
    settings = get_settings().model_copy(update={"lakehouse_uri": lake_root})
    return Resources.for_sandbox(sandbox_url, settings, campaigns)


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=11, businesses=4000)


def adapters(url: str) -> list:
    return [build_adapter(p, api_key=KEYS[p], base_url=url) for p in ("google_places", "yelp")]


def bronze_keys(lake: Lakehouse) -> set[tuple[str, str, str]]:
    keys = set()
    for table in ("bronze.places_raw", "bronze.yelp_businesses_raw"):
        for r in lake.read(table, columns=["provider", "provider_key", "content_hash"]).to_pylist():
            keys.add((r["provider"], r["provider_key"], r["content_hash"]))
    return keys


@pytest.fixture(scope="module")
def clean_and_faulty(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same campaign ingested twice from the same world: once clean, once through injected faults."""
    tmp = tmp_path_factory.mktemp("faults")
    spec = load_campaign(CAMPAIGN)
    clean, faulty = Lakehouse(str(tmp / "clean")), Lakehouse(str(tmp / "faulty"))
    with SandboxServer(world) as sb:
        first = ingest(spec, adapters(sb.url), clean, "run-clean")
    faults = Faults(rate_429=0.1, rate_5xx=0.1, rate_malformed=0.1, truncated_pages=0.2, retry_after_s=0)
    with SandboxServer(world, faults=faults) as sb:
        ingest(spec, adapters(sb.url), faulty, "run-faulty-1")
        served = sb.stats()["faults"]
        again = ingest(spec, adapters(sb.url), faulty, "run-faulty-2")
    return {"clean": clean, "faulty": faulty, "first": first, "again": again, "served": served}


def test_bronze_is_the_same_with_faults_and_reruns_add_nothing(clean_and_faulty: dict) -> None:
    clean, faulty, first, again = (clean_and_faulty[k] for k in ("clean", "faulty", "first", "again"))
    assert sum(clean_and_faulty["served"].values()) > 0, "the sandbox really injected faults"
    assert first.landed > 50
    assert bronze_keys(clean) == bronze_keys(faulty)
    assert again.landed == 0 and again.items == first.items
    log = faulty.sql(
        "select count(*) as n, count(distinct run_id) as runs from bronze.ingest_log"
    ).to_pylist()[0]
    assert log["runs"] == 2 and log["n"] == 2 * sum(p.queries for p in first.providers.values())


def test_faults_change_nothing_in_gold(clean_and_faulty: dict) -> None:
    """Silver and gold built from the clean and the faulty bronze hold the same leads and scores."""
    gold = {}
    for name in ("clean", "faulty"):
        res = resources_for(clean_and_faulty[name].root_uri)
        stage(res, "silver")
        stage(res, "gold")
        rows = clean_and_faulty[name].read("gold.scored_leads").to_pylist()
        gold[name] = {(r["lead_id"], r["lead_score"], r["priority_tier"]) for r in rows}
    assert gold["clean"] and gold["clean"] == gold["faulty"]


def test_schema_drift_is_quarantined_and_the_run_goes_on(tmp_path: Path) -> None:
    drifted = World.generate(seed=5, businesses=3000, malformed_rate=0.2)
    spec = load_campaign(CAMPAIGN)
    lake = Lakehouse(str(tmp_path / "lake"))
    with SandboxServer(drifted) as sb:
        report = ingest(spec, adapters(sb.url), lake, "r1")
    q = lake.read("bronze.quarantine").to_pylist()
    assert q and report.landed > 0
    assert all(r["reason"] for r in q)
    quarantined = {(r["provider"], r["provider_key"]) for r in q if r["provider_key"]}
    assert quarantined <= drifted.malformed
    assert not quarantined & {(p, k) for p, k, _ in bronze_keys(lake)}


def test_bad_key_stops_that_provider_only(world: World, tmp_path: Path) -> None:
    spec = load_campaign(CAMPAIGN)
    lake = Lakehouse(str(tmp_path / "lake"))
    with SandboxServer(world) as sb:
        bad = build_adapter("google_places", api_key="wrong-key", base_url=sb.url)
        good = build_adapter("yelp", api_key=KEYS["yelp"], base_url=sb.url)
        report = ingest(spec, [bad, good], lake, "r1")
        calls = sb.stats()["routes"]
    g = report.providers["google_places"]
    assert g.landed == 0 and g.failed_queries >= 1 and "key" in g.errors[0].lower()
    assert report.providers["yelp"].landed > 0
    google_calls = sum(n for route, n in calls.items() if "google" in route or "places" in route)
    assert google_calls <= len(spec.keywords), "an invalid key is not retried"


@pytest.fixture()
def sandbox_env(world: World) -> Iterator[SandboxServer]:
    """A sandbox serving `world`."""
    with SandboxServer(world) as sb:
        yield sb


def test_end_to_end_to_the_crm_exactly_once(sandbox_env: SandboxServer, world: World, tmp_path: Path) -> None:
    spec = load_campaign(CAMPAIGN)
    res = resources_for(str(tmp_path / "lake"), sandbox_env.url, (spec,))
    stage(res, "bronze", "r1")
    silver = stage(res, "silver")
    enriched = stage(res, "enrich", "e1")
    gold = stage(res, "gold")
    lake = res.lakehouse

    # The campaign asks for PDL, Hunter and OpenCorporates: each looked leads up and landed payloads once.
    assert set(enriched.providers) == {"pdl", "hunter", "opencorporates"}
    assert all(pr.landed > 0 and pr.failed_queries == 0 for pr in enriched.providers.values())
    again = stage(res, "enrich", "e2")
    assert all(pr.landed == 0 for pr in again.providers.values()), "unchanged answers are not re-landed"

    # Every provider record is in exactly one lead, and duplicates across providers were merged.
    assert silver.source_records + silver.quarantined == silver.bronze_records
    assert 0 < silver.leads < silver.source_records
    links = lake.read("silver.lead_links").to_pylist()
    assert len(links) == len({r["record_id"] for r in links}) == silver.source_records

    # Resolution agrees with the sandbox's ground truth on most merges.
    truth = {f"{p}:{k}": b for (p, k), b in world.truth.items()}
    by_lead: dict[str, set[str]] = {}
    for r in links:
        by_lead.setdefault(r["lead_id"], set()).add(truth[r["record_id"]])
    pure = sum(len(b) == 1 for b in by_lead.values())
    assert pure / len(by_lead) >= 0.97

    scored = lake.read("gold.scored_leads").to_pylist()
    assert len(scored) == gold.leads == silver.leads
    assert all(0 <= r["lead_score"] <= 100 and r["priority_tier"] in "ABC" for r in scored)
    assert any(r["score_reasons"] for r in scored)
    assert any(r["employees_range"] for r in scored) and any(r["legal_name"] for r in scored)
    verified = [r for r in scored if r["email_verified_domain"]]
    assert verified and all(any("verified email" in x for x in r["score_reasons"]) for r in verified)

    # The campaign's filters (min rating, min reviews) decide which scored leads are its leads to deliver.
    wanted = [r for r in scored if passes_filters(r, spec.min_rating, spec.min_reviews)]
    assert 0 < len(wanted) < len(scored)
    (first,) = stage(res, "delivery", "d1")
    assert first.sent == len(wanted) and first.failed == 0
    companies = sandbox_env.crm.companies()
    assert len(companies) == len(wanted)
    assert all(c["writes"] == 1 for c in companies)
    ids = {c["properties"]["leadlake_id"] for c in companies}
    assert ids == {r["lead_id"] for r in wanted}
    # Hunter's emails became HubSpot contacts, each associated to the company of the lead it came from.
    company_of = {c["id"]: c["properties"]["leadlake_id"] for c in companies}
    emails_of = {r["lead_id"]: set(r["emails"] or []) for r in wanted}
    contacts = sandbox_env.crm.contacts()
    assert contacts and len(contacts) == len({e for es in emails_of.values() for e in es})
    assert all(c["properties"]["email"] in emails_of[company_of[i]] for c in contacts for i in c["companies"])
    assert all(len(c["companies"]) == 1 for c in contacts)

    (second,) = stage(res, "delivery", "d2")
    assert second.sent == 0 and second.unchanged == len(wanted)
    assert all(c["writes"] == 1 for c in sandbox_env.crm.companies())

    # Re-running silver and gold on unchanged bronze normalises nothing again and changes nothing downstream.
    assert silver.normalized == silver.bronze_records
    rerun = stage(res, "silver")
    assert rerun.normalized == rerun.quarantined, "only payloads that failed before are looked at again"
    assert rerun.source_records == silver.source_records and rerun.leads == silver.leads
    stage(res, "gold")
    assert sorted(r["lead_id"] for r in lake.read("gold.scored_leads").to_pylist()) == sorted(
        r["lead_id"] for r in scored
    )
    assert stage(res, "delivery", "d3")[0].sent == 0
