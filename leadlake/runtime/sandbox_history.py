"""Past leads of a sandbox world and what sales made of them: the sandbox's stand-in for a team's CRM export.

A seeded world's provider payloads go through the pipeline's own code (each adapter's `normalize`, golden
leads clustered by the world's truth, the sandbox PDL's, Hunter's and the register's answers joined the way
gold joins them, gold's rules score and feature rows); each lead is delivered on one of `days` days and the
sandbox CRM's `OutcomeSimulator` plays out its life. `leadlake sandbox history` writes the result as the CSV
that `leadlake train --labels` reads, so a first model trains before any feedback arrives; bench_score
measures the learning loop on the same rows.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from leadlake.connectors.sources import ADAPTERS, ENRICHMENT_ADAPTERS
from leadlake.core.campaign import Area, CampaignSpec
from leadlake.lakehouse import Lakehouse
from leadlake.ml.spec import DEFAULT_FEATURE_SET
from leadlake.sandbox.enrichment import HUNTER, OPENCORPORATES, PDL, EnrichmentData
from leadlake.sandbox.outcomes import OutcomeSimulator, Traits
from leadlake.sandbox.world import CITIES, PROVIDERS, NoiseProfile, World
from leadlake.stages.gold.build import context_rows, score_frame
from leadlake.stages.gold.features import enrichment_features
from leadlake.stages.gold.lead_features import lead_features
from leadlake.stages.silver.outcomes import STAGE_COLUMNS, parse_label_rules
from leadlake.stages.silver.resolve.golden import build_leads

LABEL = "qualified_or_won_90d"
CAMPAIGN_ID = "bench_local_services"
START = datetime(2026, 1, 5, tzinfo=UTC)
HISTORY_SEED_OFFSET = 1000  # the past world of a sandbox seeded S is seeded S + this: no business is in both
# What the CSV keeps of a lead: its canonical columns (no emails or legal names: a model needs neither),
# the campaign context gold measured (distance_km), the rules score, when it was delivered and its outcome.
CSV_COLUMNS = (
    "lead_id", "name", "website", "domain", "phone_e164", "address_line1", "city", "region", "postal",
    "country", "lat", "lon", "rating", "review_count", "categories", "providers", "source_count", "vertical",
    "employees_range", "employee_count", "industry", "founded_year", "tech_signals", "email_verified_domain",
    "company_status", "distance_km", "rules_score", "delivered_at", "outcome",
)  # fmt: skip
LIST_COLUMNS = ("categories", "providers", "tech_signals")
# The vertical of the past campaign that found a lead of each category, as the sample campaigns name them
# (campaigns/*.yaml); every other category was a local-services campaign's.
PAST_VERTICALS = {
    "dentist": "healthcare", "cafe": "other", "bakery": "other", "law_firm": "professional_services",
}  # fmt: skip


def campaign() -> CampaignSpec:
    """One local-services campaign over every world city, 25 km around each centre."""
    return CampaignSpec(
        campaign_id=CAMPAIGN_ID,
        name="Local services, every metro",
        vertical="local_services",
        areas=[Area(city=c.name, region=c.state, lat=c.lat, lon=c.lon, radius_km=25) for c in CITIES],
        keywords=["local services"],
        sources=list(PROVIDERS),
        enrichment=[PDL, HUNTER, OPENCORPORATES],
    )


def silver_leads(world: World) -> pd.DataFrame:
    """Golden leads from every provider record an adapter can normalise (the rest silver quarantines)."""
    rows, links = [], []
    for provider in PROVIDERS:
        normalize = ADAPTERS[provider].normalize
        for rec in world.records(provider):
            try:
                r = normalize(rec)
            except Exception:  # noqa: BLE001 - a drifted payload silver would quarantine
                continue
            row = dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r)
            rows.append(row)
            links.append({"record_id": row["record_id"], "lead_id": world.truth[(provider, rec["id"])]})
    leads = build_leads(pd.DataFrame(rows), pd.DataFrame(links))
    leads["campaign_ids"] = [[CAMPAIGN_ID] for _ in range(len(leads))]
    return leads


def _land(lake: Lakehouse, provider: str, payloads: dict[str, dict[str, Any]]) -> None:
    table = ENRICHMENT_ADAPTERS[provider].bronze_table
    now = datetime.now(UTC)
    rows = [
        {"provider_key": k, "run_id": "history", "payload": json.dumps(p), "fetched_at": now}
        for k, p in sorted(payloads.items())
    ]
    schema = pa.schema(
        [
            ("provider_key", pa.string()),
            ("run_id", pa.string()),
            ("payload", pa.string()),
            ("fetched_at", pa.timestamp("us", tz="UTC")),
        ]
    )
    lake.append(table, pa.Table.from_pylist(rows, schema=schema))


def gold_rows(world: World, leads: pd.DataFrame, lake_root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gold's rules-scored rows and its feature rows (gold.lead_features, the default feature set) of the
    leads, with the sandbox PDL's, Hunter's and OpenCorporates' answers landed in bronze and joined the way
    gold joins them."""
    data = EnrichmentData.build(world)
    pdl, hunter, register = {}, {}, {}
    for lead in leads.to_dict("records"):
        search = ENRICHMENT_ADAPTERS[OPENCORPORATES].search_params(lead)
        if search is not None:  # GET /v0.4/companies/search, its first page: exact names come first
            for i in data.search_entities(search["q"], search.get("jurisdiction_code"))[: search["per_page"]]:
                company = data.oc_records[i]
                register[f"{company['jurisdiction_code']}/{company['company_number']}"] = {"company": company}
        found = data.pdl_match(lead["website"], lead["name"], lead["city"], lead["region"])
        if found is not None:  # what GET /v5/company/enrich answers
            record = data.pdl_records[found[0]]
            pdl[record["id"]] = {**record, "likelihood": found[1]}
        if lead["domain"] and (h := data.hunter(lead["domain"])) is not None:  # GET /v2/domain-search
            hunter[lead["domain"]] = dict(h)
    lake = Lakehouse(str(lake_root))
    _land(lake, PDL, pdl)
    _land(lake, HUNTER, hunter)
    _land(lake, OPENCORPORATES, register)
    enriched = leads.merge(enrichment_features(lake, leads), on="lead_id", how="left")
    campaigns = {CAMPAIGN_ID: campaign()}
    scored = score_frame(enriched, campaigns)
    scored["rules_score"] = scored["lead_score"]  # as gold keeps it beside the champion's score
    features = lead_features(context_rows(enriched, scored), campaigns, [DEFAULT_FEATURE_SET], "history")
    return scored, features


def truth_row(lead_id: str, t: Traits) -> dict[str, Any]:
    """A lead's true attributes, named as the model's inputs."""
    return {
        "lead_id": lead_id,
        "rating": t.rating,
        "review_count": t.review_count,
        "has_website": float(t.has_website),
        "has_phone": float(t.has_phone),
        "chain": float(t.chain),
        "employee_count": t.employees,
        "distance_km": t.distance_km,
        "primary_category": t.category,
        "tech_signals": list(t.tech),
    }


def outcomes(world: World, gold: pd.DataFrame, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per lead: its delivery time (one of `days` days, seeded order), the propensity and the 0/1 label;
    and its business's true attributes (truth_row)."""
    sim = OutcomeSimulator(world)
    businesses = {b.business_id: b for b in world.businesses}
    rule = {r.name: r for r in parse_label_rules()}[LABEL]
    order = np.random.default_rng(seed).permutation(len(gold))
    as_of_all = START + timedelta(days=days + rule.within_days + 1)  # every window has closed
    rows, truth = [], []
    for rank, pos in enumerate(order):
        lead = gold.iloc[pos]
        props = {
            "name": lead["name"] or "",
            "city": lead["city"] or "",
            "phone": lead["phone_e164"] or "",
            "domain": lead["domain"] or "",
            "leadlake_id": lead["lead_id"],
        }
        # A lead's id is its business's (silver_leads clusters by the truth): its life is that business's.
        # The served CRM finds the business from the company's properties, and picks another for ~6% of
        # leads (a namesake in the same city, a stale phone): outcomes the lead's own features cannot explain.
        biz, key, traits = sim.company(props, lead["lead_id"], businesses.get(lead["lead_id"]))
        life = sim.life_of(biz, key, traits)
        truth.append(truth_row(lead["lead_id"], traits))
        delivered = START + timedelta(days=rank * days // len(gold), minutes=rank % 1440)
        record: dict[str, Any] = {"delivered_at": delivered}
        for stage, column in STAGE_COLUMNS.items():
            day = next((d for d, p in life.events if p.get("lifecyclestage") == stage), None)
            record[column] = None if day is None else delivered + timedelta(days=day)
        rows.append(
            {
                "lead_id": lead["lead_id"],
                "delivered_at": pd.Timestamp(delivered),
                "propensity": life.propensity,
                LABEL: int(bool(rule.label(record, as_of_all))),
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(truth)


@dataclass(frozen=True)
class History:
    """What `write_history` wrote: where, how many past leads, how many of them qualified."""

    path: Path
    leads: int
    positives: int
    seed: int


def history_frame(seed: int, businesses: int, days: int, lake_root: Path) -> pd.DataFrame:
    """Past leads of the world `seed` (CSV_COLUMNS), oldest delivery first, `outcome` 1 when the lead
    qualified or was won within 90 days of delivery."""
    world = World.generate(seed=seed, businesses=businesses, noise=NoiseProfile())
    gold, features = gold_rows(world, silver_leads(world), lake_root)
    out, _ = outcomes(world, gold, days, seed)
    rows = gold.merge(features[["lead_id", "distance_km"]], on="lead_id", validate="one_to_one")
    rows = rows.merge(out.rename(columns={LABEL: "outcome"}), on="lead_id", validate="one_to_one")
    # A team's export holds the leads of its several campaigns, each lead under its campaign's vertical.
    category = {b.business_id: b.category for b in world.businesses}
    rows["vertical"] = [PAST_VERTICALS.get(category.get(i, ""), "local_services") for i in rows["lead_id"]]
    rows = rows.sort_values(["delivered_at", "lead_id"], kind="stable").reset_index(drop=True)
    return rows[list(CSV_COLUMNS)]


def _json_list(value: Any) -> str:
    items = value if isinstance(value, list | tuple | np.ndarray) else []
    return json.dumps([str(x) for x in items])


def write_history(path: Path, *, seed: int, businesses: int = 3000, days: int = 365) -> History:
    """The CSV `leadlake train --labels` reads: list columns as JSON lists, times in ISO 8601 (UTC)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="leadlake-history-") as tmp:
        frame = history_frame(seed, businesses, days, Path(tmp) / "lake")
    for col in LIST_COLUMNS:
        frame[col] = frame[col].map(_json_list)
    frame["delivered_at"] = pd.to_datetime(frame["delivered_at"], utc=True).map(lambda t: t.isoformat())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp_path, index=False, lineterminator="\n")
    tmp_path.replace(path)  # a reader never sees half a file
    return History(path, len(frame), int(frame["outcome"].sum()), seed)
