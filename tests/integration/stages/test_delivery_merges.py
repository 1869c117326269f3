"""Delivery makes the CRM follow lead merges: one live company per business, against the sandbox HubSpot.

silver.lead_merges says lead X stopped living and its business is lead Y's. Delivery then merges the two
CRM companies (both delivered), re-keys X's company to Y (only X delivered) or does nothing (neither), once
per destination, recorded in gold.crm_deliveries. Also here: the sandbox's merge endpoint itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from support.pipeline import gold_leads, write_gold_leads

from leadlake.connectors.destinations.hubspot import HubSpotDestination
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, SILVER_LEAD_MERGES
from leadlake.sandbox.server import Faults, SandboxKeys, SandboxServer
from leadlake.stages.delivery.deliver import DeliveryReport, deliver

KEYS = SandboxKeys()
HEADERS = {"Authorization": f"Bearer {KEYS.hubspot}"}
COMPANIES = "/crm/v3/objects/companies"
MERGE_SCHEMA = pa.schema(
    [
        ("merged_lead_id", pa.string()),
        ("survivor_lead_id", pa.string()),
        ("run_id", pa.string()),
        ("merged_at", pa.timestamp("us", tz="UTC")),
        ("reason", pa.string()),
        ("record_ids", pa.list_(pa.string())),
    ]
)
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def write_merges(lake: Lakehouse, pairs: list[tuple[str, str]], hour: int = 0) -> None:
    """Record merges (merged, survivor) as silver does: upserted on merged_lead_id."""
    rows = [
        {
            "merged_lead_id": merged,
            "survivor_lead_id": survivor,
            "run_id": f"s{hour}",
            "merged_at": T0 + timedelta(hours=hour),
            "reason": f"its records joined lead {survivor}",
            "record_ids": [f"yelp:{merged}"],
        }
        for merged, survivor in pairs
    ]
    lake.merge(SILVER_LEAD_MERGES, pa.Table.from_pylist(rows, schema=MERGE_SCHEMA), keys=["merged_lead_id"])


def lead(lead_id: str, name: str | None = None) -> dict[str, Any]:
    """A gold row for a lead id outside gold_leads' L0000... range."""
    return gold_leads(1)[0] | {"lead_id": lead_id, "name": name or f"Business {lead_id}"}


def live(sb: SandboxServer) -> dict[str, dict]:
    """Live CRM companies by leadlake_id (each id at most once)."""
    companies = sb.crm.companies()
    ids = [c["properties"]["leadlake_id"] for c in companies]
    assert len(ids) == len(set(ids)), f"a leadlake_id on two live companies: {sorted(ids)}"
    return {c["properties"]["leadlake_id"]: c for c in companies}


def ledger(lake: Lakehouse) -> dict[str, dict]:
    return {r["lead_id"]: r for r in lake.read(GOLD_CRM_DELIVERIES).to_pylist()}


def merge_calls(sb: SandboxServer) -> int:
    return sb.stats()["routes"].get("hubspot.merge", 0)


@pytest.fixture()
def sb() -> Iterator[SandboxServer]:
    with SandboxServer(seed=3, businesses=20) as server:
        yield server


@pytest.fixture()
def lake(tmp_path: Path) -> Lakehouse:
    return Lakehouse(str(tmp_path / "lake"))


def run(lake: Lakehouse, sb: SandboxServer, run_id: str) -> DeliveryReport:
    return deliver(lake, HubSpotDestination(KEYS.hubspot, sb.url), run_id)


# ---- delivery follows merges ------------------------------------------------------------------------------
def test_two_delivered_leads_merge_into_one_company_and_a_rerun_merges_nothing(
    sb: SandboxServer, lake: Lakehouse
) -> None:
    write_gold_leads(lake, gold_leads(4))
    assert run(lake, sb, "d1").sent == 4
    before = {k: c["id"] for k, c in live(sb).items()}

    write_merges(lake, [("L0001", "L0000")])
    write_gold_leads(lake, [g for g in gold_leads(4) if g["lead_id"] != "L0001"])  # silver dropped L0001
    report = run(lake, sb, "d2")
    assert (report.merged, report.rekeyed, report.errors) == (1, 0, [])
    assert (report.eligible, report.sent, report.unchanged) == (3, 0, 3)

    companies = live(sb)
    assert sorted(companies) == ["L0000", "L0002", "L0003"]
    primary = companies["L0000"]
    assert primary["id"] == before["L0000"]
    assert primary["properties"]["hs_merged_object_ids"] == before["L0001"]
    assert primary["properties"]["name"] == "Business 0"  # the survivor's values are kept

    with httpx.Client(base_url=sb.url, headers=HEADERS, timeout=10) as c:
        gone = c.get(f"{COMPANIES}/L0001", params={"idProperty": "leadlake_id"})
        assert gone.status_code == 404
        redirected = c.get(f"{COMPANIES}/{before['L0001']}")
        assert redirected.status_code == 200 and redirected.json()["id"] == before["L0000"]
        listed = c.get(COMPANIES, params={"limit": 100}).json()["results"]
        assert before["L0001"] not in {r["id"] for r in listed}

    rows = ledger(lake)
    assert (rows["L0001"]["merged_into"], rows["L0001"]["merge_outcome"]) == ("L0000", "merged")
    assert rows["L0001"]["merge_applied_at"] is not None
    assert rows["L0000"]["merged_into"] is None and rows["L0000"]["crm_id"] == before["L0000"]

    calls = merge_calls(sb)
    again = run(lake, sb, "d3")
    assert (again.merged, again.rekeyed, again.sent, again.errors) == (0, 0, 0, [])
    assert merge_calls(sb) == calls, "a re-run applies no merge twice"
    assert len(sb.crm) == 3


def test_only_the_merged_lead_delivered_rekeys_its_company_to_the_survivor(
    sb: SandboxServer, lake: Lakehouse
) -> None:
    write_gold_leads(lake, gold_leads(3))
    run(lake, sb, "d1")
    old = live(sb)["L0001"]["id"]

    write_merges(lake, [("L0001", "L9000")])  # L9000 is new: never delivered
    write_gold_leads(lake, [gold_leads(3)[0], gold_leads(3)[2], lead("L9000", "Business One Merged")])
    report = run(lake, sb, "d2")
    assert (report.merged, report.rekeyed, report.errors) == (0, 1, [])
    assert (report.sent, report.created, report.updated) == (1, 0, 1), "the upsert updates, not creates"

    companies = live(sb)
    assert sorted(companies) == ["L0000", "L0002", "L9000"]
    assert companies["L9000"]["id"] == old
    assert companies["L9000"]["properties"]["name"] == "Business One Merged"
    assert merge_calls(sb) == 0

    rows = ledger(lake)
    assert (rows["L0001"]["merged_into"], rows["L0001"]["merge_outcome"]) == ("L9000", "rekeyed")
    assert rows["L9000"]["crm_id"] == old and rows["L9000"]["payload_hash"] != ""  # the upsert recorded it
    assert rows["L9000"]["merged_into"] is None

    again = run(lake, sb, "d3")
    assert (again.rekeyed, again.sent) == (0, 0) and len(sb.crm) == 3


def test_a_merge_of_two_undelivered_leads_needs_nothing_from_the_crm(
    sb: SandboxServer, lake: Lakehouse
) -> None:
    write_merges(lake, [("L9001", "L9002")])
    write_gold_leads(lake, [lead("L9002")])
    report = run(lake, sb, "d1")
    assert (report.merged, report.rekeyed, report.created, report.errors) == (0, 0, 1, [])
    assert sorted(live(sb)) == ["L9002"]
    assert "L9001" not in ledger(lake)
    assert sb.stats()["routes"].get("hubspot.update", 0) == 0 and merge_calls(sb) == 0


def test_a_merged_lead_still_in_gold_is_not_delivered(sb: SandboxServer, lake: Lakehouse) -> None:
    write_merges(lake, [("L0001", "L0000")])
    write_gold_leads(lake, gold_leads(2))  # gold not rebuilt yet: L0001 is still there
    report = run(lake, sb, "d1")
    assert (report.eligible, report.sent) == (1, 1)
    assert sorted(live(sb)) == ["L0000"]


def test_chained_merges_follow_the_chain_to_the_live_survivor(sb: SandboxServer, lake: Lakehouse) -> None:
    write_gold_leads(lake, gold_leads(6))
    run(lake, sb, "d1")
    ids = {k: c["id"] for k, c in live(sb).items()}

    # L0001 into L0000 in one run, then L0000 into L0002 later.
    write_merges(lake, [("L0001", "L0000")], hour=1)
    run(lake, sb, "d2")
    write_merges(lake, [("L0000", "L0002")], hour=2)
    # Both links of a chain pending in one run: L0003 into L0004 into L0005 lands on L0005 directly.
    write_merges(lake, [("L0003", "L0004")], hour=3)
    write_merges(lake, [("L0004", "L0005")], hour=4)
    write_gold_leads(lake, [g for g in gold_leads(6) if g["lead_id"] in ("L0002", "L0005")])
    report = run(lake, sb, "d3")
    assert (report.merged, report.errors) == (3, [])

    companies = live(sb)
    assert sorted(companies) == ["L0002", "L0005"]
    merged_ids = {k: set(c["properties"]["hs_merged_object_ids"].split(";")) for k, c in companies.items()}
    assert merged_ids == {
        "L0002": {ids["L0000"], ids["L0001"]},
        "L0005": {ids["L0003"], ids["L0004"]},
    }
    rows = ledger(lake)
    assert {k: rows[k]["merged_into"] for k in ("L0000", "L0001", "L0003", "L0004")} == {
        "L0000": "L0002",
        "L0001": "L0000",
        "L0003": "L0005",
        "L0004": "L0005",
    }
    calls = merge_calls(sb)
    assert run(lake, sb, "d4").merged == 0 and merge_calls(sb) == calls


def test_a_chain_onto_an_undelivered_survivor_rekeys_once(sb: SandboxServer, lake: Lakehouse) -> None:
    write_gold_leads(lake, gold_leads(1))
    run(lake, sb, "d1")
    write_merges(lake, [("L0000", "L9000")], hour=1)
    write_merges(lake, [("L9000", "L9001")], hour=2)
    write_gold_leads(lake, [lead("L9001")])
    report = run(lake, sb, "d2")
    assert (report.rekeyed, report.merged, report.created, report.updated) == (1, 0, 0, 1)
    assert sorted(live(sb)) == ["L9001"]


def test_a_refused_merge_is_reported_and_the_other_merges_and_upserts_go_on(
    sb: SandboxServer, lake: Lakehouse
) -> None:
    write_gold_leads(lake, gold_leads(6))
    run(lake, sb, "d1")
    ids = {k: c["id"] for k, c in live(sb).items()}
    assert sb.crm.archive(ids["L0001"])  # someone deleted L0001's company by hand
    with httpx.Client(base_url=sb.url, headers=HEADERS, timeout=10) as c:  # ... or over the API
        assert c.delete(f"{COMPANIES}/{ids['L0005']}").status_code == 204

    write_merges(lake, [("L0001", "L0000"), ("L0003", "L0002"), ("L0005", "L9000")])
    changed = [g | {"lead_score": 55} if g["lead_id"] == "L0004" else g for g in gold_leads(5)]
    write_gold_leads(lake, [g for g in changed if g["lead_id"] not in ("L0001", "L0003")] + [lead("L9000")])
    report = run(lake, sb, "d2")

    assert (report.merged, report.rekeyed) == (1, 0)
    assert len(report.errors) == 3  # the merge and the re-key of L0001's company, the re-key of L0005's
    assert all("HTTP 404: resource not found" in e for e in report.errors)
    assert any("merge of lead L0001 into L0000" in e for e in report.errors)
    assert (report.sent, report.created, report.updated, report.failed) == (2, 1, 1, 0)

    companies = live(sb)
    assert sorted(companies) == ["L0000", "L0002", "L0004", "L9000"]
    assert companies["L0004"]["properties"]["leadlake_score"] == "55"
    assert companies["L0002"]["properties"]["hs_merged_object_ids"] == ids["L0003"]
    rows = ledger(lake)
    assert rows["L0001"]["merge_outcome"] == "refused" and rows["L0005"]["merge_outcome"] == "refused"

    again = run(lake, sb, "d3")
    assert (again.merged, again.rekeyed, again.sent, again.errors) == (0, 0, 0, [])


def test_when_the_survivors_company_was_deleted_the_merged_one_is_rekeyed(
    sb: SandboxServer, lake: Lakehouse
) -> None:
    write_gold_leads(lake, gold_leads(2))
    run(lake, sb, "d1")
    ids = {k: c["id"] for k, c in live(sb).items()}
    sb.crm.archive(ids["L0000"])
    write_merges(lake, [("L0001", "L0000")])
    write_gold_leads(lake, gold_leads(1))
    report = run(lake, sb, "d2")
    assert (report.merged, report.rekeyed, len(report.errors)) == (0, 1, 1)
    assert (report.created, report.updated) == (0, 1)
    assert {k: c["id"] for k, c in live(sb).items()} == {"L0000": ids["L0001"]}


def test_a_ledger_written_before_merges_existed_gains_the_merge_columns(
    sb: SandboxServer, lake: Lakehouse
) -> None:
    write_gold_leads(lake, gold_leads(3))
    run(lake, sb, "d1")
    old_columns = ["destination", "lead_id", "payload_hash", "crm_id", "run_id", "delivered_at"]
    lake.overwrite(GOLD_CRM_DELIVERIES, lake.read(GOLD_CRM_DELIVERIES, columns=old_columns))
    assert lake.read(GOLD_CRM_DELIVERIES).column_names == old_columns

    write_merges(lake, [("L0001", "L0000")])
    write_gold_leads(lake, [g for g in gold_leads(3) if g["lead_id"] != "L0001"])
    assert run(lake, sb, "d2").merged == 1
    rows = ledger(lake)
    assert rows["L0001"]["merge_outcome"] == "merged" and rows["L0002"]["merge_outcome"] is None
    assert run(lake, sb, "d3").merged == 0 and sorted(live(sb)) == ["L0000", "L0002"]


@pytest.mark.slow  # retried 5xx answers back off for real (urllib3)
def test_under_faults_the_crm_ends_with_one_live_company_per_lead(lake: Lakehouse) -> None:
    n = 300
    with SandboxServer(seed=5, businesses=20, faults=Faults.from_rate(0.3, retry_after_s=0)) as sb:
        write_gold_leads(lake, gold_leads(n))
        for i in range(8):
            if run(lake, sb, f"d{i}").failed == 0:
                break
        assert sorted(live(sb)) == [f"L{i:04d}" for i in range(n)]

        # 40 pairs of delivered leads become one, 20 delivered leads join new (undelivered) leads, and
        # 10 merges chain onto leads merged in the same run.
        both = [(f"L{i:04d}", f"L{i + 1:04d}") for i in range(0, 80, 2)]
        rekey = [(f"L{i:04d}", f"L9{i:03d}") for i in range(100, 120)]
        chained = [(f"L{i:04d}", f"L{i + 1:04d}") for i in range(200, 220, 2)]
        write_merges(lake, both + rekey, hour=1)
        write_merges(lake, [(f"L{i + 1:04d}", f"L{i + 50:04d}") for i in range(200, 220, 2)], hour=2)
        write_merges(lake, chained, hour=1)
        merged = {m for m, _ in both + rekey + chained} | {f"L{i + 1:04d}" for i in range(200, 220, 2)}
        survivors = [g for g in gold_leads(n) if g["lead_id"] not in merged]
        write_gold_leads(lake, survivors + [lead(s) for _, s in rekey])

        reports = []
        for i in range(10):
            reports.append(run(lake, sb, f"m{i}"))
            if not reports[-1].failed and not reports[-1].errors:
                break
        assert not reports[-1].errors and not reports[-1].failed
        assert sb.stats()["faults"], "faults were served"
        assert sum(r.merged for r in reports) == 40 + 10 + 10
        assert sum(r.rekeyed for r in reports) == 20
        expected = sorted(g["lead_id"] for g in survivors) + sorted(s for _, s in rekey)
        assert sorted(live(sb)) == sorted(expected)
        assert len(sb.crm) == n - 40 - 20

        calls = merge_calls(sb)
        final = run(lake, sb, "final")
        assert (final.merged, final.rekeyed, final.sent, final.errors) == (0, 0, 0, [])
        assert merge_calls(sb) == calls


# ---- the sandbox's merge endpoint -------------------------------------------------------------------------
def _upsert(c: httpx.Client, *lead_ids: str) -> dict[str, str]:
    inputs = [
        {"idProperty": "leadlake_id", "id": i, "properties": {"leadlake_id": i, "name": f"Co {i}"}}
        for i in lead_ids
    ]
    resp = c.post(f"{COMPANIES}/batch/upsert", json={"inputs": inputs})
    return {r["properties"]["leadlake_id"]: r["id"] for r in resp.json()["results"]}


def test_the_sandbox_merge_endpoint_speaks_hubspot(sb: SandboxServer) -> None:
    with httpx.Client(base_url=sb.url, headers=HEADERS, timeout=10) as c:
        ids = _upsert(c, "a", "b", "c")
        url = f"{COMPANIES}/merge"

        assert c.post(url, json={"primaryObjectId": ids["a"]}).json()["category"] == "VALIDATION_ERROR"
        itself = c.post(url, json={"primaryObjectId": ids["a"], "objectIdToMerge": ids["a"]})
        assert (itself.status_code, itself.json()["category"]) == (400, "VALIDATION_ERROR")
        unknown = c.post(url, json={"primaryObjectId": ids["a"], "objectIdToMerge": "123"})
        assert (unknown.status_code, unknown.json()["category"]) == (404, "OBJECT_NOT_FOUND")
        no_auth = httpx.post(sb.url + url, json={"primaryObjectId": ids["a"], "objectIdToMerge": ids["b"]})
        assert no_auth.status_code == 401 and len(sb.crm) == 3

        done = c.post(url, json={"primaryObjectId": ids["a"], "objectIdToMerge": ids["b"]})
        assert done.status_code == 200
        body = done.json()
        assert (body["id"], body["archived"], body["properties"]["hs_merged_object_ids"]) == (
            ids["a"],
            False,
            ids["b"],
        )
        assert {"createdAt", "updatedAt", "properties"} <= set(body)
        again = c.post(url, json={"primaryObjectId": ids["a"], "objectIdToMerge": ids["b"]})
        assert again.status_code == 200 and again.json()["id"] == ids["a"], "merging again is harmless"

        read = c.post(f"{COMPANIES}/batch/read", json={"inputs": [{"id": ids["a"]}, {"id": ids["b"]}]})
        assert read.status_code == 207 and [r["id"] for r in read.json()["results"]] == [ids["a"]]
        assert c.get(f"{COMPANIES}/b", params={"idProperty": "leadlake_id"}).status_code == 404
        assert c.get(f"{COMPANIES}/{ids['b']}").json()["id"] == ids["a"]
        assert c.patch(f"{COMPANIES}/{ids['b']}", json={"properties": {"name": "x"}}).status_code == 404

        # a chain: a (holding b) into c; c remembers both
        c.post(url, json={"primaryObjectId": ids["c"], "objectIdToMerge": ids["a"]})
        assert c.get(f"{COMPANIES}/{ids['b']}").json()["id"] == ids["c"]
        (only,) = sb.crm.companies()
        assert set(only["properties"]["hs_merged_object_ids"].split(";")) == {ids["a"], ids["b"]}
        everything = sb.crm.companies(include_archived=True)
        assert [x["mergedInto"] for x in everything if x.get("archived")] == [ids["c"], ids["a"]]
        assert c.get("/_sandbox/crm/companies").json() == sb.crm.companies()

        # re-key: a unique value another company holds is refused; a free one moves the lookup
        ids |= _upsert(c, "d")
        taken = c.patch(f"{COMPANIES}/{ids['d']}", json={"properties": {"leadlake_id": "c"}})
        assert taken.status_code == 400
        moved = c.patch(f"{COMPANIES}/{ids['d']}", json={"properties": {"leadlake_id": "e"}})
        assert moved.status_code == 200 and moved.json()["properties"]["leadlake_id"] == "e"
        assert c.get(f"{COMPANIES}/e", params={"idProperty": "leadlake_id"}).json()["id"] == ids["d"]
        assert c.get(f"{COMPANIES}/d", params={"idProperty": "leadlake_id"}).status_code == 404

        c.post("/_sandbox/reset")
        assert sb.crm.companies(include_archived=True) == [] and sb.crm.merged_into(ids["b"]) is None


def test_the_sandbox_merge_endpoint_gets_faults_and_a_faulted_merge_is_not_applied() -> None:
    with SandboxServer(seed=1, businesses=20, faults=Faults(rate_malformed=1.0)) as sb:
        a, b = (str(x["id"]) for x in sb.crm.upsert(
            [{"idProperty": "leadlake_id", "id": i, "properties": {}} for i in ("a", "b")]
        ))  # fmt: skip
        with httpx.Client(base_url=sb.url, headers=HEADERS, timeout=10) as c:
            resp = c.post(f"{COMPANIES}/merge", json={"primaryObjectId": a, "objectIdToMerge": b})
        assert resp.status_code == 200
        with pytest.raises(ValueError):
            resp.json()
        assert len(sb.crm) == 2 and sb.stats()["faults"] == {"malformed": 1}
    for faults, status in ((Faults(rate_429=1.0), 429), (Faults(rate_5xx=1.0), None)):
        with SandboxServer(seed=1, businesses=20, faults=faults) as sb:
            with httpx.Client(base_url=sb.url, headers=HEADERS, timeout=10) as c:
                resp = c.post(f"{COMPANIES}/merge", json={"primaryObjectId": "1", "objectIdToMerge": "2"})
            assert resp.status_code == status if status else resp.status_code >= 500
