"""CSV / Parquet file destinations: one part file per batch, exactly once, read back, mapping checked; and
the real delivery stage writing to them (a re-run with nothing changed writes nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pipeline import gold_leads, write_gold_leads

from leadlake.connectors.destinations.base import Destination, MappingError
from leadlake.connectors.destinations.files import (
    CsvDestination,
    FileDestination,
    S3Destination,
    object_store_options,
)
from leadlake.core.settings import Settings
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, OPS_SYNC_LOG
from leadlake.stages.delivery.deliver import deliver


def parts(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("part-*"))


@pytest.mark.parametrize("cls", [CsvDestination, FileDestination])
def test_round_trip_and_exactly_once(tmp_path: Path, cls: type[FileDestination]) -> None:
    ext = "csv" if cls is CsvDestination else "parquet"
    dest = cls(tmp_path / "out", run_id="r1")
    assert isinstance(dest, Destination)
    dest.test_connection()
    assert parts(tmp_path / "out") == []  # the probe is gone
    leads = gold_leads(5)
    first = dest.upsert(leads)
    assert (first.created, first.updated) == (5, 0)
    assert first.crm_ids["L0002"] == f"run=r1/part-00001.{ext}#L0002"
    assert parts(tmp_path / "out") == [f"run=r1/part-00001.{ext}"]

    # The same batch again (a re-send after a crash between write and ledger): nothing new on disk.
    again = dest.upsert(leads)
    assert again.crm_ids == first.crm_ids and (again.created, again.updated) == (0, 5)
    assert parts(tmp_path / "out") == [f"run=r1/part-00001.{ext}"]

    leads[1]["name"] = "Renamed"
    changed = dest.upsert(leads)
    assert changed.crm_ids["L0001"] == f"run=r1/part-00002.{ext}#L0001"
    assert changed.crm_ids["L0000"] == first.crm_ids["L0000"]

    held = dest.read_back(["L0000", "L0001", "L9999"])
    assert set(held) == {"L0000", "L0001"}
    assert held["L0001"]["name"] == "Renamed" and held["L0001"]["leadlake_batch"] == 2
    assert held["L0000"]["phone"] == "+13035550000" and held["L0000"]["lead_score"] == 40
    assert held["L0000"]["crm_id"] == first.crm_ids["L0000"]
    sources = held["L0000"]["sources"]
    assert sources == ("yelp" if ext == "csv" else ["yelp"])
    assert set(held["L0000"]) - {"crm_id"} == dest.describe_fields()

    # A new instance (a new process) with the same run id neither rewrites nor reuses a part name.
    later = cls(tmp_path / "out", run_id="r1")
    assert later.upsert(leads).crm_ids == changed.crm_ids
    leads[2]["city"] = "Boulder"
    assert later.upsert(leads).crm_ids["L0002"] == f"run=r1/part-00003.{ext}#L0002"
    assert len(parts(tmp_path / "out")) == 3


def test_mapping_is_validated(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="twice"):
        CsvDestination(tmp_path, mapping={"key": "lead_id", "columns": {"name": "x", "city": "x"}})
    with pytest.raises(MappingError, match="reserved"):
        CsvDestination(tmp_path, mapping={"columns": {"name": "leadlake_run_id"}})
    with pytest.raises(MappingError, match="type"):
        CsvDestination(tmp_path, mapping={"columns": {"name": {"column": "n", "type": "blob"}}})
    with pytest.raises(MappingError, match="plain column name"):
        CsvDestination(tmp_path, mapping={"columns": {"name": "bad name"}})
    CsvDestination(tmp_path / "a", run_id="r").upsert(gold_leads(2))
    # Different columns than the files already there: refused before any write.
    narrow = CsvDestination(tmp_path / "a", mapping={"columns": {"name": "company"}})
    assert narrow.describe_fields() >= {"lead_id", "company", "leadlake_payload_hash"}
    with pytest.raises(MappingError, match="differ"):
        narrow.upsert(gold_leads(2))
    assert len(parts(tmp_path / "a")) == 1


def test_constructor_checks_and_object_store_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="s3://"):
        S3Destination(tmp_path)
    with pytest.raises(ValueError, match="format"):
        FileDestination(tmp_path, format="xlsx")
    dest = S3Destination("s3://bucket/some/prefix/", format="csv")
    assert (dest.root, dest.format, dest.name) == ("bucket/some/prefix", "csv", "s3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    local_lake = Settings(
        lakehouse_uri=str(tmp_path), s3_endpoint_url="http://127.0.0.1:9000", s3_region="eu-west-1"
    )
    assert object_store_options(local_lake) == {
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }


def test_delivery_stage_writes_once(lakehouse: Lakehouse, tmp_path: Path) -> None:
    out = tmp_path / "export"
    leads = gold_leads(7)
    write_gold_leads(lakehouse, leads)
    dest = CsvDestination(out, run_id="d1", batch_limit=3)
    report = deliver(lakehouse, dest, "d1", tiers=None)
    assert (report.sent, report.created, report.failed) == (7, 7, 0)
    assert parts(out) == [f"run=d1/part-0000{i}.csv" for i in (1, 2, 3)]  # one part per batch
    ledger = {r["lead_id"]: r["crm_id"] for r in lakehouse.read(GOLD_CRM_DELIVERIES).to_pylist()}
    held = dest.read_back(ledger)
    assert {lid: row["crm_id"] for lid, row in held.items()} == ledger
    assert {row["name"] for row in held.values()} == {lead["name"] for lead in leads}

    # Nothing changed: a new run sends nothing and writes nothing.
    again = deliver(lakehouse, CsvDestination(out, run_id="d2", batch_limit=3), "d2", tiers=None)
    assert (again.sent, again.unchanged) == (0, 7)
    assert len(parts(out)) == 3

    # One lead changed: one new part in the new run's folder, with that lead only.
    leads[4]["name"] = "Business Four"
    write_gold_leads(lakehouse, leads)
    third = CsvDestination(out, run_id="d3", batch_limit=3)
    report = deliver(lakehouse, third, "d3", tiers=None)
    assert (report.sent, report.updated, report.unchanged) == (1, 1, 6)
    assert parts(out)[-1] == "run=d3/part-00001.csv"
    assert third.read_back(["L0004"])["L0004"]["name"] == "Business Four"
    log = [r for r in lakehouse.read(OPS_SYNC_LOG).to_pylist() if r["run_id"] == "d3"]
    assert [(r["lead_id"], r["action"], r["crm_id"]) for r in log] == [
        ("L0004", "updated", "run=d3/part-00001.csv#L0004")
    ]


def test_resend_after_a_crash_before_the_ledger(lakehouse: Lakehouse, tmp_path: Path) -> None:
    """The parts were written but the ledger never heard: the next run re-sends, and nothing is duplicated."""
    out = tmp_path / "export"
    write_gold_leads(lakehouse, gold_leads(4))
    crashed = FileDestination(out, run_id="c1")
    crashed.upsert([dict(lead) for lead in gold_leads(4)])  # as if delivery died right after this
    assert not lakehouse.exists(GOLD_CRM_DELIVERIES)
    report = deliver(lakehouse, FileDestination(out, run_id="c2"), "c2", tiers=None)
    assert (report.sent, report.created, report.updated) == (4, 0, 4)
    assert parts(out) == ["run=c1/part-00001.parquet"]
    ledger = {r["lead_id"]: r["crm_id"] for r in lakehouse.read(GOLD_CRM_DELIVERIES).to_pylist()}
    assert ledger["L0003"] == "run=c1/part-00001.parquet#L0003"


def test_a_campaign_mapping_overlays_the_default_and_a_prefix_keeps_one_schema(
    tmp_path: Path,
) -> None:
    dest = CsvDestination(tmp_path / "out", run_id="m1")
    narrow = dest.with_mapping({"columns": {"phone_e164": None, "website": {"column": "site"}}})
    cols = narrow.mapping.output_columns()
    assert "phone" not in cols and "site" in cols and "website" not in cols and "name" in cols
    assert dest.mapping.output_columns() != cols  # the default is untouched
    lead = gold_leads(1)[0]
    assert narrow.payload(lead)["site"] == "https://business0.com" and "phone" not in narrow.payload(lead)
    narrow.validate_mapping()
    with pytest.raises(MappingError, match="two mappings write different columns to one prefix"):
        dest.validate_mapping()  # the same prefix and run, other columns: refused before any write
    with pytest.raises(MappingError, match="unknown key"):
        dest.with_mapping({"colums": {"name": "company"}})
