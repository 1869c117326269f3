"""Silver: normalise the latest bronze payloads into source records, resolve them into canonical leads."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, is_dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadlake.connectors.sources import ADAPTERS
from leadlake.core.settings import Settings
from leadlake.lakehouse.catalog import (
    SILVER_LEAD_LINKS,
    SILVER_LEADS,
    SILVER_QUARANTINE,
    SILVER_SOURCE_RECORDS,
)
from leadlake.lakehouse.stage_io import StageIO, to_spark
from leadlake.quality.gates import split_valid
from leadlake.quality.quarantine import QUARANTINE_KEYS, quarantine_row, quarantine_table
from leadlake.stages.silver.resolve import ResolveSettings, build_leads, resolve

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("leadlake.stages.silver.build")


RECORD_COLUMNS = [
    "record_id",
    "provider",
    "provider_key",
    "name",
    "name_norm",
    "phone_e164",
    "phone_is_toll_free",
    "website",
    "domain",
    "address_line1",
    "city",
    "region",
    "postal",
    "country",
    "lat",
    "lon",
    "rating",
    "review_count",
    "categories",
]
RECORD_DDL = (
    "record_id string, provider string, provider_key string, name string, name_norm string, "
    "phone_e164 string, phone_is_toll_free boolean, website string, domain string, address_line1 string, "
    "city string, region string, postal string, country string, lat double, lon double, rating double, "
    "review_count long, categories array<string>, campaign_ids array<string>, content_hash string, "
    "fetched_at timestamp, error string, payload string"
)


@dataclass
class SilverReport:
    """What the silver stage read, quarantined and published."""

    bronze_records: int = 0
    normalized: int = 0  # new or changed payloads normalised this run; the rest were unchanged
    source_records: int = 0
    quarantined: int = 0
    leads: int = 0
    duplicates_merged: int = 0
    resolve_backend: str = ""
    delta_backend: str = ""
    seconds: dict[str, float] | None = None


Normalizer = Callable[[Any], Any]


def normalizers() -> dict[str, Normalizer]:
    """Each discovery provider's pure `normalize`, taken in the driver and shipped to the Spark workers.

    A connector registered at run time (not by importing leadlake) is unknown in a worker process, so its
    module is pickled by value; built-in ones are imported there by reference.
    """
    from pyspark import cloudpickle

    out: dict[str, Normalizer] = {}
    for name, cls in ADAPTERS.items():
        module = sys.modules[cls.__module__]
        if not cls.__module__.startswith("leadlake."):
            cloudpickle.register_pickle_by_value(module)
        out[name] = cls.normalize
    return out


def _normalize_one(normalize: Normalizer, payload: str) -> dict[str, Any]:
    record = normalize(json.loads(payload))
    return asdict(record) if is_dataclass(record) else dict(record)


def normalize_partition(
    batches: Iterator[pd.DataFrame], by_provider: dict[str, Normalizer] | None = None
) -> Iterator[pd.DataFrame]:
    """mapInPandas body: payload JSON -> source record columns; failures carry the reason in `error`."""
    by_provider = by_provider if by_provider is not None else {n: c.normalize for n, c in ADAPTERS.items()}
    for pdf in batches:
        out = []
        for row in pdf.itertuples(index=False):
            base = {
                "campaign_ids": list(row.campaign_ids),
                "content_hash": row.content_hash,
                "fetched_at": row.fetched_at,
                "payload": None,
                "error": None,
            }
            try:
                if row.provider not in by_provider:
                    raise ValueError(f"no normaliser for provider {row.provider!r}")
                rec = _normalize_one(by_provider[row.provider], row.payload)
                out.append({c: rec.get(c) for c in RECORD_COLUMNS} | base)
            except Exception as exc:  # noqa: BLE001 - any bad payload goes to quarantine with its reason
                empty = {c: None for c in RECORD_COLUMNS}
                empty |= {"provider": row.provider, "provider_key": row.provider_key}
                empty["record_id"] = f"{row.provider}:{row.provider_key}"
                out.append(empty | base | {"payload": row.payload, "error": f"{type(exc).__name__}: {exc}"})
        yield pd.DataFrame(
            out, columns=[*RECORD_COLUMNS, "campaign_ids", "content_hash", "fetched_at", "error", "payload"]
        )


def latest_bronze(io: StageIO) -> DataFrame | None:
    """One row per provider record: its newest payload and every campaign that found it."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    frames = [df for a in ADAPTERS.values() if (df := io.read(a.bronze_table)) is not None]
    if not frames:
        return None
    bronze = frames[0]
    for df in frames[1:]:
        bronze = bronze.unionByName(df)
    by_key = Window.partitionBy("provider", "provider_key")
    newest = Window.partitionBy("provider", "provider_key").orderBy(
        F.col("fetched_at").desc(), "content_hash"
    )
    return (
        bronze.withColumn("campaign_ids", F.array_sort(F.collect_set("campaign_id").over(by_key)))
        .withColumn("_rn", F.row_number().over(newest))
        .where("_rn = 1")
        .select("provider", "provider_key", "payload", "content_hash", "fetched_at", "campaign_ids")
    )


def split_unchanged(latest: DataFrame, existing: DataFrame | None) -> tuple[DataFrame, DataFrame | None]:
    """(bronze rows to normalise, silver records to keep): unchanged content is not normalised again.

    A kept record takes the campaign list of its bronze row, since a new campaign may have found it.
    """
    if existing is None:
        return latest, None
    key = ["provider", "provider_key", "content_hash"]
    todo = latest.join(existing.select(*key), key, "left_anti")
    kept = existing.drop("campaign_ids").join(latest.select(*key, "campaign_ids"), key, "inner")
    return todo, kept


def build_silver(
    spark: SparkSession, settings: Settings, resolve_cfg: ResolveSettings | None = None
) -> SilverReport:
    """Normalise, validate, resolve and publish silver.source_records, silver.lead_links and silver.leads."""
    io = StageIO(spark, settings)
    cfg = resolve_cfg or ResolveSettings(backend=settings.resolve_backend)
    report = SilverReport(resolve_backend=cfg.backend, delta_backend=io.backend, seconds={})
    t0 = time.perf_counter()
    latest = latest_bronze(io)
    if latest is None:
        log.warning("no bronze tables yet: run ingestion first")
        return report
    latest = latest.persist()
    report.bronze_records = latest.count()
    todo, kept = split_unchanged(latest, io.read(SILVER_SOURCE_RECORDS))
    shipped = normalizers()
    normalized = todo.mapInPandas(lambda b: normalize_partition(b, shipped), schema=RECORD_DDL).toPandas()
    report.normalized = len(normalized)
    report.seconds["normalize"] = time.perf_counter() - t0

    failed = normalized[normalized["error"].notna()]
    records = normalized[normalized["error"].isna()].drop(columns=["error", "payload"])
    records, bad = split_valid(SILVER_SOURCE_RECORDS, records.reset_index(drop=True))
    if kept is not None:
        records = pd.concat([kept.select(*records.columns).toPandas(), records], ignore_index=True)
    latest.unpersist()
    quarantine = [
        quarantine_row(
            stage="silver",
            target_table=SILVER_SOURCE_RECORDS,
            reason=reason,
            record_key=rid,
            provider=provider,
            provider_key=rid.split(":", 1)[1],
            payload=payload,
            content_hash=chash,
        )
        for rid, provider, reason, payload, chash in [
            *zip(
                failed["record_id"],
                failed["provider"],
                failed["error"],
                failed["payload"],
                failed["content_hash"],
                strict=True,
            ),
            *zip(
                bad["record_id"],
                bad["provider"],
                bad["quarantine_reason"],
                [None] * len(bad),
                bad["content_hash"],
                strict=True,
            ),
        ]
    ]
    report.quarantined = len(quarantine)
    report.source_records = len(records)

    t1 = time.perf_counter()
    resolution = resolve(records, cfg, spark=spark if cfg.backend == "spark" else None)
    leads = build_leads(records, resolution.links)
    campaigns = (
        records[["record_id", "campaign_ids"]]
        .merge(resolution.links[["record_id", "lead_id"]], on="record_id")
        .explode("campaign_ids")
        .groupby("lead_id")["campaign_ids"]
        .agg(lambda s: sorted(set(s.dropna())))
    )
    leads["campaign_ids"] = leads["lead_id"].map(campaigns)
    leads["updated_at"] = pd.Timestamp.now(tz="UTC")
    report.leads = len(leads)
    report.duplicates_merged = resolution.duplicates_merged
    report.seconds["resolve"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    links = resolution.links.copy()
    io.publish(SILVER_SOURCE_RECORDS, to_spark(spark, records), ["record_id"], delete_missing=True)
    io.publish(SILVER_LEAD_LINKS, to_spark(spark, links), ["record_id"], delete_missing=True)
    io.publish(SILVER_LEADS, to_spark(spark, leads), ["lead_id"], delete_missing=True)
    if quarantine:
        io.publish(SILVER_QUARANTINE, spark.createDataFrame(quarantine_table(quarantine)), QUARANTINE_KEYS)
    report.seconds["publish"] = time.perf_counter() - t2
    return report
