"""The silver stage on hand-written Yelp payloads: newest payload wins, quarantine and its reasons, and a
record that leaves silver leaves gold.

One lakehouse goes through two rounds (bronze -> silver -> gold each); the fixture keeps what every table
held after each round, and the tests read those snapshots.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.pipeline import at, bronze_row, land, resources_for, stage, yelp_business

from leadlake.connectors.registry import connector
from leadlake.lakehouse import Lakehouse

pytestmark = pytest.mark.spark

YELP = connector("yelp").bronze_table
TABLES = (
    "silver.source_records",
    "silver.lead_links",
    "silver.leads",
    "silver.quarantine",
    "gold.scored_leads",
)


def snapshot(lake: Lakehouse) -> dict[str, list[dict[str, Any]]]:
    return {t: lake.read(t).to_pylist() for t in TABLES}


def by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in rows}


@pytest.fixture(scope="module")
def rounds(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = str(tmp_path_factory.mktemp("silver") / "lake")
    res = resources_for(root, spark=spark)
    lake = res.lakehouse
    land(
        lake,
        YELP,
        [
            # Two payloads for one Yelp id: the later fetch is the current one, whatever order they land in.
            bronze_row("yelp", "ace-plumbing", yelp_business("ace-plumbing", "Ace Plumbing & Heating",
                       phone="+13035550199"), at(2)),
            bronze_row("yelp", "ace-plumbing", yelp_business("ace-plumbing", "Ace Plumbing",
                       phone="+13035550101"), at(1)),
            bronze_row("yelp", "bolt-electric", yelp_business("bolt-electric", "Bolt Electric",
                       phone="+13035550102", address="200 Oak St"), at(1)),
            bronze_row("yelp", "cedar-roofing", yelp_business("cedar-roofing", "Cedar Roofing",
                       phone="+13035550103", address="300 Elm St"), at(1)),
            # Quarantined by normalisation (the payload is kept) ...
            bronze_row("yelp", "drift-hvac", {"name": "Drift HVAC", "rating": 4.0}, at(1)),
            bronze_row("yelp", "torn-page", '{"id": "torn-page", "name": "Torn', at(1)),
            # ... and by the silver.source_records row checks (rating above Yelp's 5 stars).
            bronze_row("yelp", "star-inflation", yelp_business("star-inflation", "Seven Star Dental",
                       rating=7.5, address="400 Pine St"), at(1)),
        ],
    )  # fmt: skip
    first = {"silver": stage(res, "silver"), "gold": stage(res, "gold")}
    after_first = snapshot(lake)

    # Round two: an erasure request removes Bolt Electric's payload from bronze; Cedar moved its phone.
    lake.delete(YELP, "provider_key = 'bolt-electric'")
    land(
        lake,
        YELP,
        [bronze_row("yelp", "cedar-roofing", yelp_business("cedar-roofing", "Cedar Roofing",
                    phone="+13035550133", address="300 Elm St"), at(3))],
    )  # fmt: skip
    second = {"silver": stage(res, "silver", "r2"), "gold": stage(res, "gold", "r2")}
    return {"first": first, "second": second, "after_first": after_first, "after_second": snapshot(lake)}


def test_the_newest_payload_of_a_provider_key_is_the_record(rounds: dict) -> None:
    records = by(rounds["after_first"]["silver.source_records"], "record_id")
    ace = records["yelp:ace-plumbing"]
    assert (ace["name"], ace["phone_e164"]) == ("Ace Plumbing & Heating", "+13035550199")
    assert sum(r["provider_key"] == "ace-plumbing" for r in records.values()) == 1


def test_a_newer_payload_in_a_later_run_replaces_the_record_and_its_gold_row(rounds: dict) -> None:
    before = by(rounds["after_first"]["silver.source_records"], "record_id")["yelp:cedar-roofing"]
    after = by(rounds["after_second"]["silver.source_records"], "record_id")["yelp:cedar-roofing"]
    assert (before["phone_e164"], after["phone_e164"]) == ("+13035550103", "+13035550133")
    gold = rounds["after_second"]["gold.scored_leads"]
    assert [r["phone_e164"] for r in gold if r["name"] == "Cedar Roofing"] == ["+13035550133"]


def test_what_lands_in_silver_quarantine_and_why(rounds: dict) -> None:
    quarantine = by(rounds["after_first"]["silver.quarantine"], "record_key")
    assert set(quarantine) == {"yelp:drift-hvac", "yelp:torn-page", "yelp:star-inflation"}
    assert quarantine["yelp:drift-hvac"]["reason"] == "ValueError: yelp payload has no 'id'"
    assert quarantine["yelp:torn-page"]["reason"].startswith("JSONDecodeError: ")
    # A payload that failed to normalise is kept for replay; a row-check failure names the column and rule.
    assert quarantine["yelp:drift-hvac"]["payload"] == '{"name": "Drift HVAC", "rating": 4.0}'
    assert quarantine["yelp:star-inflation"]["reason"] == "rating: expect_column_values_to_be_between"
    assert all(r["provider"] == "yelp" for r in quarantine.values())
    records = {r["record_id"] for r in rounds["after_first"]["silver.source_records"]}
    assert records == {"yelp:ace-plumbing", "yelp:bolt-electric", "yelp:cedar-roofing"}
    report = rounds["first"]["silver"]
    assert (report.bronze_records, report.source_records, report.quarantined) == (6, 3, 3)


def test_a_record_that_left_silver_leaves_gold(rounds: dict) -> None:
    first, second = rounds["after_first"], rounds["after_second"]
    bolt = by(first["silver.lead_links"], "record_id")["yelp:bolt-electric"]["lead_id"]
    assert bolt in {r["lead_id"] for r in first["gold.scored_leads"]}
    assert "yelp:bolt-electric" not in {r["record_id"] for r in second["silver.source_records"]}
    assert "yelp:bolt-electric" not in {r["record_id"] for r in second["silver.lead_links"]}
    assert bolt not in {r["lead_id"] for r in second["silver.leads"]}
    assert bolt not in {r["lead_id"] for r in second["gold.scored_leads"]}
    assert sorted(r["name"] for r in second["gold.scored_leads"]) == [
        "Ace Plumbing & Heating",
        "Cedar Roofing",
    ]
    assert rounds["second"]["gold"].leads == 2
