"""Delivery to an S3 prefix on a moto server, through the lakehouse's object-store settings: one Parquet
part per batch under run=<run_id>/, read back, and a re-run with nothing changed writes nothing."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest
from support.pipeline import gold_leads, write_gold_leads

from leadlake.connectors.destinations.base import DeliveryError
from leadlake.connectors.destinations.files import S3Destination
from leadlake.core.settings import get_settings, reset_settings
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES
from leadlake.runtime.resources import lakehouse as lakehouse_of
from leadlake.stages.delivery.deliver import deliver

if TYPE_CHECKING:
    from conftest import MotoS3


def keys_in(moto_server: MotoS3, bucket: str, prefix: str) -> list[str]:
    pages = moto_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    # pyarrow leaves a directory marker ("<prefix>/") after test_connection deletes its probe: not a file.
    return sorted(
        obj["Key"] for page in pages for obj in page.get("Contents", []) if not obj["Key"].endswith("/")
    )


def test_s3_export_through_lakehouse_settings(
    moto_server: MotoS3, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADLAKE_LAKEHOUSE_URI", f"s3://{s3_bucket}/lake")
    monkeypatch.setenv("LEADLAKE_S3_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("LEADLAKE_S3_REGION", moto_server.region)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset_settings()
    lake = lakehouse_of(get_settings())
    leads = gold_leads(5)
    write_gold_leads(lake, leads)
    prefix = f"s3://{s3_bucket}/exports/leads"

    dest = S3Destination.connect(prefix, None, run_id="d1")  # deliver does not pass its run id on (yet)
    dest.batch_limit = 2
    dest.test_connection()
    report = deliver(lake, dest, "d1", tiers=None)
    assert (report.sent, report.created, report.failed) == (5, 5, 0)
    expected = [f"exports/leads/run=d1/part-0000{i}.parquet" for i in (1, 2, 3)]
    assert keys_in(moto_server, s3_bucket, "exports/") == expected  # no probe, no temp objects left
    body = moto_server.client().get_object(Bucket=s3_bucket, Key=expected[0])["Body"].read()
    first = pq.read_table(io.BytesIO(body)).to_pylist()
    assert [r["lead_id"] for r in first] == ["L0000", "L0001"] and first[0]["sources"] == ["yelp"]

    ledger = {r["lead_id"]: r["crm_id"] for r in lake.read(GOLD_CRM_DELIVERIES).to_pylist()}
    held = S3Destination.connect(prefix, None).read_back(ledger)
    assert {lid: row["crm_id"] for lid, row in held.items()} == ledger
    assert held["L0004"]["name"] == "Business 4"

    again = deliver(lake, S3Destination.connect(prefix, None, run_id="d2"), "d2", tiers=None)
    assert (again.sent, again.unchanged) == (0, 5)
    assert keys_in(moto_server, s3_bucket, "exports/") == expected

    # A batch re-sent after a crash (written, never ledgered) lands nowhere twice.
    leads[0]["name"] = "Changed"
    write_gold_leads(lake, leads)
    crashed = S3Destination.connect(prefix, None, run_id="d3")
    crashed.upsert(leads[:1])
    resent = deliver(lake, S3Destination.connect(prefix, None, run_id="d4"), "d4", tiers=None)
    assert (resent.sent, resent.updated) == (1, 1)
    assert keys_in(moto_server, s3_bucket, "exports/") == [
        *expected,
        "exports/leads/run=d3/part-00001.parquet",
    ]
    assert S3Destination.connect(prefix, None).read_back(["L0000"])["L0000"]["name"] == "Changed"


def test_s3_missing_bucket_is_reported(moto_server: MotoS3) -> None:
    dest = S3Destination("s3://no-such-bucket-here/x", storage_options=moto_server.storage_options)
    with pytest.raises(DeliveryError, match="does not exist"):
        dest.test_connection()
