"""Delivery selects as it sends: the first batch goes out before the rest of gold has been diffed, and the
counts (eligible, unchanged, suppressed) still cover every lead once the run ends. A destination that
maps no payload of its own is diffed on the lead's non-volatile gold columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from support.pipeline import gold_leads, write_gold_leads

from leadlake.connectors.destinations.base import UpsertResult, default_payload, payload_hash
from leadlake.governance.suppression import Entry
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_SCORED_LEADS
from leadlake.stages.delivery.deliver import deliver

LEADS = 2000


class CountingCrm:
    """Accepts every batch; records how many payloads delivery had asked for when each batch arrived."""

    name = "counting"
    batch_limit = 100

    def __init__(self) -> None:
        self.payloads = 0
        self.seen_at_upsert: list[int] = []

    def payload(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        self.payloads += 1
        return {"name": lead["name"], "domain": lead["domain"]}

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        self.seen_at_upsert.append(self.payloads)
        ids = [lead["lead_id"] for lead in leads]
        return UpsertResult({i: f"c-{i}" for i in ids}, created=len(ids), updated=0)


def test_the_first_batch_goes_before_the_whole_selection_is_hashed(tmp_path: Path) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    write_gold_leads(lake, gold_leads(LEADS))
    crm = CountingCrm()
    report = deliver(lake, crm, "s1", suppressions=[Entry("domain", "business1999.com", "")])
    assert crm.seen_at_upsert[0] <= 2 * crm.batch_limit < LEADS  # streamed, not diffed whole first
    assert crm.payloads == LEADS
    assert (report.eligible, report.sent, report.suppressed, report.unchanged) == (LEADS, LEADS - 1, 1, 0)
    ledger = {r["lead_id"]: r for r in lake.read(GOLD_CRM_DELIVERIES).to_pylist()}
    lead = gold_leads(1)[0]
    assert ledger["L0000"]["payload_hash"] == payload_hash({"name": lead["name"], "domain": lead["domain"]})

    again = deliver(lake, CountingCrm(), "s2", suppressions=[Entry("domain", "business1999.com", "")])
    assert (again.eligible, again.sent, again.unchanged, again.suppressed) == (LEADS, 0, LEADS - 1, 1)


def test_without_its_own_payload_a_destination_is_diffed_on_the_gold_columns(tmp_path: Path) -> None:
    class PlainCrm(CountingCrm):
        payload = None  # type: ignore[assignment]  # maps nothing of its own

    lake = Lakehouse(str(tmp_path / "lake"))
    rows = gold_leads(3)
    write_gold_leads(lake, rows)
    assert deliver(lake, PlainCrm(), "p1").sent == 3
    stored = {r["lead_id"]: r for r in lake.read(GOLD_CRM_DELIVERIES).to_pylist()}
    gold = lake.read(GOLD_SCORED_LEADS).to_pylist()
    assert all(stored[g["lead_id"]]["payload_hash"] == payload_hash(default_payload(g)) for g in gold)
    assert "scored_at" not in default_payload({"lead_id": "x", "scored_at": 1, "_payload_hash": "h"})

    rows[2]["city"] = "Aurora"  # any gold column counts for such a destination
    write_gold_leads(lake, rows)
    again = deliver(lake, PlainCrm(), "p2")
    assert (again.sent, again.unchanged) == (1, 2)
