"""A batch the CRM refuses stays out of the ledger (gold.crm_deliveries) and the next run sends it again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from support.pipeline import gold_leads, write_gold_leads

from leadlake.connectors.destinations.hubspot import BATCH_LIMIT, DeliveryError, UpsertResult
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES
from leadlake.stages.delivery.deliver import deliver


class ScriptedCrm:
    """A destination that refuses the batches whose (0-based, per instance) call numbers it is given."""

    name = "hubspot"

    def __init__(self, refuse: set[int] = frozenset()) -> None:
        self.refuse = set(refuse)
        self.calls: list[list[str]] = []

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        ids = [lead["lead_id"] for lead in leads]
        self.calls.append(ids)
        if len(self.calls) - 1 in self.refuse:
            raise DeliveryError("hubspot batch upsert failed: HTTP 400: Property values were not valid")
        return UpsertResult({i: f"crm-{i}" for i in ids}, created=len(ids), updated=0)


def ledger(lake: Lakehouse) -> dict[str, str]:
    return {r["lead_id"]: r["run_id"] for r in lake.read(GOLD_CRM_DELIVERIES).to_pylist()}


def test_a_refused_batch_is_not_recorded_and_is_resent_by_the_next_run(tmp_path: Path) -> None:
    assert BATCH_LIMIT == 100  # HubSpot's documented batch maximum: 250 leads are batches of 100, 100, 50
    lake = Lakehouse(str(tmp_path / "lake"))
    write_gold_leads(lake, gold_leads(250))

    first_crm = ScriptedCrm(refuse={1})
    first = deliver(lake, first_crm, "d1")
    refused = first_crm.calls[1]
    assert [len(c) for c in first_crm.calls] == [100, 100, 50]
    assert (first.eligible, first.sent, first.failed) == (250, 150, 100)
    assert first.errors == ["hubspot batch upsert failed: HTTP 400: Property values were not valid"]
    recorded = ledger(lake)
    assert len(recorded) == 150 and not set(refused) & set(recorded)

    second_crm = ScriptedCrm()
    second = deliver(lake, second_crm, "d2")
    assert second_crm.calls == [refused], "only the refused batch goes out again"
    assert (second.sent, second.failed, second.unchanged) == (100, 0, 150)
    recorded = ledger(lake)
    assert len(recorded) == 250
    assert {lead for lead, run in recorded.items() if run == "d2"} == set(refused)

    third_crm = ScriptedCrm()
    assert deliver(lake, third_crm, "d3").sent == 0 and third_crm.calls == []


def test_a_run_whose_every_batch_is_refused_records_nothing(tmp_path: Path) -> None:
    lake = Lakehouse(str(tmp_path / "lake"))
    write_gold_leads(lake, gold_leads(120))
    report = deliver(lake, ScriptedCrm(refuse={0, 1}), "d1")
    assert (report.sent, report.failed, len(report.errors)) == (0, 120, 2)
    assert not lake.exists(GOLD_CRM_DELIVERIES) or lake.read(GOLD_CRM_DELIVERIES).num_rows == 0
    again = ScriptedCrm()
    assert deliver(lake, again, "d2").sent == 120 and sum(map(len, again.calls)) == 120
