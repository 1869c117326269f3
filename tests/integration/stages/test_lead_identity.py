"""Lead ids for life, end to end on the sandbox (issue 13's scenario).

One campaign runs with Yelp alone and is delivered to the sandbox HubSpot; the same campaign runs again
with Google Places added; then a third time with nothing new. Every lead keeps its id (or is recorded
as merged into the lead that absorbed it), and the CRM ends with one live company per gold lead.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.pipeline import campaign, resources_for, stage

from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import (
    GOLD_SCORED_LEADS,
    SILVER_LEAD_ID_HISTORY,
    SILVER_LEAD_LINKS,
    SILVER_LEAD_MATCHES,
    SILVER_LEAD_MERGES,
    SILVER_RESOLVE_MODELS,
)
from leadlake.runtime.stages import get_stage, run_stage
from leadlake.sandbox.server import SandboxServer
from leadlake.sandbox.world import NoiseProfile, World

pytestmark = pytest.mark.spark

STAGES = ("bronze", "silver", "gold", "delivery")


def _rows(lake: Lakehouse, table: str) -> list[dict[str, Any]]:
    return lake.read(table).to_pylist() if lake.exists(table) else []


def live_companies(sandbox: SandboxServer) -> list[dict[str, Any]]:
    """Companies the CRM still shows (a merged-away company is archived and not listed)."""
    return sandbox.crm.companies()


@pytest.fixture(scope="module")
def rounds(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = str(tmp_path_factory.mktemp("identity") / "lake")
    trades = {"keywords": ["plumber", "electrician", "hvac", "roofing"]}
    yelp_only = campaign("denver_identity", "local_services", sources=("yelp",)).model_copy(update=trades)
    both = campaign("denver_identity", "local_services", sources=("yelp", "google_places")).model_copy(
        update=trades
    )
    out = []
    # Realistic provider overlap: name variants, moves, duplicate listings, shared phones.
    with SandboxServer(World.generate(seed=11, businesses=3000, noise=NoiseProfile())) as sb:
        for n, spec in enumerate((yelp_only, both, both), start=1):
            res = resources_for(root, sb.url, campaigns=(spec,), spark=spark)
            reports = {name: stage(res, name, f"run{n}") for name in STAGES}
            lake = res.lakehouse
            out.append(
                {
                    "silver": reports["silver"],
                    "delivery": reports["delivery"],
                    "links": {r["record_id"]: r["lead_id"] for r in _rows(lake, SILVER_LEAD_LINKS)},
                    "gold": {r["lead_id"] for r in _rows(lake, GOLD_SCORED_LEADS)},
                    "merges": _rows(lake, SILVER_LEAD_MERGES),
                    "history": _rows(lake, SILVER_LEAD_ID_HISTORY),
                    "matches": _rows(lake, SILVER_LEAD_MATCHES),
                    "models": _rows(lake, SILVER_RESOLVE_MODELS),
                    "crm": live_companies(sb),
                    "crm_all": sb.crm.companies(include_archived=True),
                }
            )
        # A full re-resolution (retrain, rescore every pair) on the same data.
        full = run_stage(get_stage("silver"), res, "run4-full", options={"full": True}).details
        lake = res.lakehouse
        out.append(
            {
                "silver": full,
                "links": {r["record_id"]: r["lead_id"] for r in _rows(lake, SILVER_LEAD_LINKS)},
                "models": _rows(lake, SILVER_RESOLVE_MODELS),
            }
        )
    return out


def test_the_second_provider_joins_existing_leads_without_renaming_them(rounds: list[dict[str, Any]]) -> None:
    first, second = rounds[0], rounds[1]
    assert first["links"] and any(r.startswith("google_places:") for r in second["links"])
    merged_into = {m["merged_lead_id"]: m["survivor_lead_id"] for m in second["merges"]}
    for record_id, lead_id in first["links"].items():
        now = second["links"][record_id]
        assert now == lead_id or merged_into.get(lead_id) == now, (record_id, lead_id, now)
    joined = [
        r for r, lid in second["links"].items() if r.startswith("google_places:") and lid in first["gold"]
    ]
    assert joined, "some Google records joined leads that Yelp found first"


def test_the_crm_holds_one_live_company_per_gold_lead(rounds: list[dict[str, Any]]) -> None:
    for n, snap in enumerate(rounds[:3], start=1):
        ids = [c["properties"].get("leadlake_id") for c in snap["crm"]]
        assert len(ids) == len(set(ids)), f"round {n}: duplicate companies"
        assert set(ids) == snap["gold"], f"round {n}: CRM and gold differ"


def test_a_run_with_nothing_new_changes_no_id_and_sends_nothing(rounds: list[dict[str, Any]]) -> None:
    second, third = rounds[1], rounds[2]
    assert third["links"] == second["links"]
    assert third["silver"].resolution == "incremental" and third["silver"].new_records == 0
    assert third["silver"].leads_minted == third["silver"].leads_merged == 0
    (delivery,) = third["delivery"]
    assert delivery.sent == 0 and delivery.failed == 0


def test_every_id_event_is_recorded(rounds: list[dict[str, Any]]) -> None:
    last = rounds[2]
    minted = {h["lead_id"] for h in last["history"] if h["event"] in ("minted", "split")}
    assert set(last["links"].values()) <= minted, "every live lead id has a minted (or split) event"
    merged = {h["lead_id"]: h["related_lead_id"] for h in last["history"] if h["event"] == "merged"}
    assert merged == {m["merged_lead_id"]: m["survivor_lead_id"] for m in last["merges"]}
    assert all(lid not in last["gold"] for lid in merged)


def test_the_match_graph_explains_every_multi_record_lead(rounds: list[dict[str, Any]]) -> None:
    last = rounds[2]
    linked = {r for m in last["matches"] for r in (m["record_id_l"], m["record_id_r"])}
    sizes: dict[str, int] = {}
    for lead_id in last["links"].values():
        sizes[lead_id] = sizes.get(lead_id, 0) + 1
    for record_id, lead_id in last["links"].items():
        if sizes[lead_id] > 1:
            assert record_id in linked, f"{record_id} is in a {sizes[lead_id]}-record lead with no match row"
    assert all(0.0 < m["match_probability"] <= 1.0 for m in last["matches"])


def test_the_model_is_trained_when_a_source_appears_and_reused_otherwise(
    rounds: list[dict[str, Any]],
) -> None:
    assert [r["silver"].resolution for r in rounds] == ["full", "full", "incremental", "full"]
    assert len(rounds[2]["models"]) == len(rounds[1]["models"])
    assert len(rounds[3]["models"]) == len(rounds[2]["models"]) + 1


def test_a_full_re_resolution_gives_the_same_leads_on_unchanged_data(rounds: list[dict[str, Any]]) -> None:
    assert rounds[3]["links"] == rounds[2]["links"]
    assert rounds[3]["silver"].leads_minted == rounds[3]["silver"].leads_merged == 0


def test_figures(rounds: list[dict[str, Any]]) -> None:
    """Not an assertion of accuracy: the scenario's figures, printed for the issue note (-s)."""
    for n, snap in enumerate(rounds[:3], start=1):
        s = snap["silver"]
        print(
            f"round {n}: {len(snap['links'])} records, {len(snap['gold'])} leads, {s.resolution}, "
            f"minted {s.leads_minted}, merged {s.leads_merged}, split {s.leads_split}, "
            f"crm live {len(snap['crm'])} of {len(snap['crm_all'])}"
        )
    assert len(rounds) == 4
