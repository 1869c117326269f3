"""Silver: normalise the latest bronze payloads into source records, resolve them into canonical leads."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadlake.connectors.sources import ADAPTERS
from leadlake.core.settings import Settings
from leadlake.lakehouse.catalog import (
    SILVER_LEAD_ID_HISTORY,
    SILVER_LEAD_LINKS,
    SILVER_LEAD_MATCHES,
    SILVER_LEAD_MERGES,
    SILVER_LEADS,
    SILVER_QUARANTINE,
    SILVER_RESOLVE_MODELS,
    SILVER_SOURCE_RECORDS,
)
from leadlake.lakehouse.stage_io import StageIO, to_spark
from leadlake.quality.gates import split_valid
from leadlake.quality.quarantine import QUARANTINE_KEYS, quarantine_row, quarantine_table
from leadlake.stages.silver.resolve import ResolveSettings, build_leads, resolve
from leadlake.stages.silver.resolve.identity import assign_ids

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
    resolution: str = ""  # "full" (model trained, every pair scored) or "incremental" (new records only)
    new_records: int = 0  # records resolved against the existing leads this run
    leads_minted: int = 0
    leads_merged: int = 0
    leads_split: int = 0
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
    if is_dataclass(record):
        # A shallow read of the fields: asdict() deep-copies every value and was a quarter of normalise.
        return {name: getattr(record, name) for name in _field_names(type(record))}
    return dict(record)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


# What normalize_partition reads of a latest-bronze row, and the columns it returns.
_PARTITION_INPUTS = ("provider", "provider_key", "payload", "content_hash", "fetched_at", "campaign_ids")
_PARTITION_COLUMNS = [*RECORD_COLUMNS, "campaign_ids", "content_hash", "fetched_at", "error", "payload"]


def normalize_partition(
    batches: Iterator[pd.DataFrame], by_provider: dict[str, Normalizer] | None = None
) -> Iterator[pd.DataFrame]:
    """mapInPandas body: payload JSON -> source record columns; failures carry the reason in `error`."""
    by_provider = by_provider if by_provider is not None else {n: c.normalize for n, c in ADAPTERS.items()}
    for pdf in batches:
        # Rows as tuples in _PARTITION_COLUMNS order: a third cheaper to frame than dicts, and no merging.
        out: list[tuple[Any, ...]] = []
        for provider, key, payload, content_hash, fetched_at, campaign_ids in zip(
            *(pdf[c] for c in _PARTITION_INPUTS), strict=True
        ):
            try:
                if provider not in by_provider:
                    raise ValueError(f"no normaliser for provider {provider!r}")
                rec = _normalize_one(by_provider[provider], payload)
                values, error, kept_payload = tuple(map(rec.get, RECORD_COLUMNS)), None, None
            except Exception as exc:  # noqa: BLE001 - any bad payload goes to quarantine with its reason
                known = {"record_id": f"{provider}:{key}", "provider": provider, "provider_key": key}
                values = tuple(map(known.get, RECORD_COLUMNS))
                error, kept_payload = f"{type(exc).__name__}: {exc}", payload
            out.append((*values, list(campaign_ids), content_hash, fetched_at, error, kept_payload))
        yield pd.DataFrame(out, columns=_PARTITION_COLUMNS)


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


# Retrain the resolver when the records grew this much since its model was trained, or a source appeared.
RETRAIN_GROWTH = 1.5
MATCH_DDL = {"match_probability": "double"}


@dataclass(frozen=True)
class PriorIdentity:
    """What earlier runs decided: lead per record, kept pairs, the stored model, lead ages, ids ever used."""

    links: dict[str, str]
    matches: pd.DataFrame
    model: dict[str, Any] | None
    model_records: int
    model_sources: tuple[str, ...]
    model_fingerprint: str
    created: dict[str, Any]
    used: set[str]


def settings_fingerprint(cfg: ResolveSettings) -> str:
    """A hash of the settings that shape the model; the backend and its tuning knobs are not among them."""
    skip = {"backend", "spark_partitions", "spark_break_lineage", "splink_log_level"}
    data = {k: v for k, v in asdict(cfg).items() if k not in skip}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _pandas(io: StageIO, name: str, columns: list[str]) -> pd.DataFrame | None:
    """These columns of a table, or None when the table (or a column: an older silver) is not there."""
    df = io.read(name)
    return None if df is None or not set(columns) <= set(df.columns) else df.select(*columns).toPandas()


def prior_identity(io: StageIO) -> PriorIdentity:
    """Read the identity state earlier runs left: empty on a new lakehouse."""
    links = _pandas(io, SILVER_LEAD_LINKS, ["record_id", "lead_id"])
    matches = io.read(SILVER_LEAD_MATCHES)
    models = _pandas(
        io, SILVER_RESOLVE_MODELS, ["trained_at", "model_json", "records", "sources", "fingerprint"]
    )
    leads = _pandas(io, SILVER_LEADS, ["lead_id", "created_at"])
    history = _pandas(io, SILVER_LEAD_ID_HISTORY, ["lead_id"])
    model, records, sources, fingerprint = None, 0, (), ""
    if models is not None and len(models):
        row = models.sort_values("trained_at").iloc[-1]
        model, records = json.loads(row["model_json"]), int(row["records"])
        sources, fingerprint = tuple(json.loads(row["sources"])), str(row["fingerprint"])
    used = set(links["lead_id"]) if links is not None else set()
    if history is not None:
        used |= set(history["lead_id"])
    return PriorIdentity(
        links=dict(zip(links["record_id"], links["lead_id"], strict=True)) if links is not None else {},
        matches=matches.toPandas() if matches is not None else pd.DataFrame(),
        model=model,
        model_records=records,
        model_sources=sources,
        model_fingerprint=fingerprint,
        created=dict(zip(leads["lead_id"], leads["created_at"], strict=True)) if leads is not None else {},
        used=used,
    )


def needs_training(
    prior: PriorIdentity, records: pd.DataFrame, cfg: ResolveSettings, full: bool
) -> str | None:
    """Why the resolver must train and score every pair this run, or None to resolve incrementally."""
    if full:
        return "full re-resolution asked for"
    if prior.model is None or not prior.links:
        return "no stored model yet"
    if prior.model_fingerprint != settings_fingerprint(cfg):
        return "the resolve settings changed"
    sources = set(records["provider"].dropna().unique())
    if sources - set(prior.model_sources):
        return f"new source(s) {sorted(sources - set(prior.model_sources))}"
    if len(records) > RETRAIN_GROWTH * max(prior.model_records, 1):
        return f"records grew from {prior.model_records} to {len(records)}"
    return None


def build_silver(
    spark: SparkSession,
    settings: Settings,
    resolve_cfg: ResolveSettings | None = None,
    *,
    full: bool = False,
    run_id: str = "",
) -> SilverReport:
    """Normalise, validate, resolve and publish silver's records, leads, links, matches and id history.

    New or changed records are resolved against the existing leads with the stored model; `full` (or a
    reason to retrain) scores every pair again. Either way existing leads keep their ids.
    """
    io = StageIO(spark, settings)
    cfg = resolve_cfg or ResolveSettings(backend=settings.resolve_backend)
    report = SilverReport(resolve_backend=cfg.backend, delta_backend=io.backend, seconds={})
    t0 = time.perf_counter()
    latest = latest_bronze(io)
    if latest is None:
        log.warning("no bronze tables yet: run ingestion first")
        return report
    existing = io.read(SILVER_SOURCE_RECORDS)
    # Bronze is read and windowed once: cached only when a second plan (the kept records) reads it again,
    # and counted from what normalise and the kept records return rather than by a pass of its own.
    if existing is not None:
        latest = latest.persist()
    todo, kept = split_unchanged(latest, existing)
    shipped = normalizers()
    normalized = todo.mapInPandas(lambda b: normalize_partition(b, shipped), schema=RECORD_DDL).toPandas()
    report.normalized = len(normalized)
    kept_records = None
    if kept is not None:
        kept_records = kept.select(*RECORD_COLUMNS, "campaign_ids", "content_hash", "fetched_at").toPandas()
        latest.unpersist()
    # Every latest bronze row is either normalised now (new, changed, or quarantined before) or kept.
    report.bronze_records = report.normalized + (len(kept_records) if kept_records is not None else 0)
    report.seconds["normalize"] = time.perf_counter() - t0

    t_valid = time.perf_counter()
    ok = normalized["error"].isna()
    failed = normalized[~ok]
    record_columns = [c for c in normalized.columns if c not in ("error", "payload")]
    # One copy of the records, and the normalised frame let go: at a million records each copy is gigabytes.
    records = normalized.loc[ok, record_columns].reset_index(drop=True)
    del normalized, ok
    records, bad = split_valid(SILVER_SOURCE_RECORDS, records)
    fresh_ids = set(records["record_id"])
    if kept_records is not None:
        records = pd.concat([kept_records[list(records.columns)], records], ignore_index=True)
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
    report.seconds["validate"] = time.perf_counter() - t_valid

    t1 = time.perf_counter()
    prior = prior_identity(io)
    # The resolver sees the record columns only (lineage columns are not evidence of identity); the copy is
    # passed, not kept, so resolve() frees it once prepared.
    match_columns = [c for c in RECORD_COLUMNS if c in records.columns]
    retrain = needs_training(prior, records, cfg, full)
    now = pd.Timestamp.now(tz="UTC")
    if retrain is None:
        present = set(records["record_id"])
        known = prior.matches
        if len(known):
            keep = known["record_id_l"].isin(present - fresh_ids) & known["record_id_r"].isin(
                present - fresh_ids
            )
            known = known[keep]
        report.resolution, report.new_records = "incremental", len(fresh_ids)
        resolution = resolve(
            records[match_columns],
            cfg,
            spark=spark if cfg.backend == "spark" else None,
            model=prior.model,
            new_record_ids=fresh_ids,
            known_pairs=known.drop(columns=["run_id", "matched_at"], errors="ignore") if len(known) else None,
        )
    else:
        log.info("resolving every record: %s", retrain)
        report.resolution, report.new_records = "full", len(records)
        resolution = resolve(records[match_columns], cfg, spark=spark if cfg.backend == "spark" else None)
        known = prior.matches

    clusters = dict(zip(resolution.links["record_id"], resolution.links["lead_id"], strict=True))
    ids = assign_ids(
        clusters,
        prior.links,
        created=prior.created,
        used=prior.used,
        pairs=resolution.pairs,
        run_id=run_id,
        at=now.to_pydatetime(),
    )
    links = resolution.links.copy()
    links["lead_id"] = links["lead_id"].map(ids.lead_ids)
    links["cluster_size"] = links.groupby("lead_id")["record_id"].transform("size").astype("int64")
    leads = build_leads(records, links)
    leads["campaign_ids"] = leads["lead_id"].map(lead_campaigns(records, links))
    leads["created_at"] = [prior.created.get(lid, now) for lid in leads["lead_id"]]
    leads["created_at"] = pd.to_datetime(leads["created_at"], utc=True)
    leads["updated_at"] = now
    counts = ids.counts()
    report.leads = len(leads)
    report.duplicates_merged = len(links) - len(leads)
    report.leads_minted, report.leads_merged, report.leads_split = (
        counts["minted"],
        counts["merged"],
        counts["split"],
    )
    matches = _matches(resolution.pairs, known, run_id, now)
    report.seconds["resolve"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    io.publish(SILVER_SOURCE_RECORDS, to_spark(spark, records), ["record_id"], delete_missing=True)
    io.publish(SILVER_LEAD_LINKS, to_spark(spark, links), ["record_id"], delete_missing=True)
    # updated_at is stamped now on every run: a lead whose fields did not change keeps the old stamp.
    io.publish(
        SILVER_LEADS, to_spark(spark, leads), ["lead_id"], delete_missing=True, ignore_columns=["updated_at"]
    )
    if len(matches) or io.read(SILVER_LEAD_MATCHES) is not None:
        io.publish(
            SILVER_LEAD_MATCHES, to_spark(spark, matches), ["record_id_l", "record_id_r"], delete_missing=True
        )
    if len(ids.merges):
        io.publish(SILVER_LEAD_MERGES, to_spark(spark, ids.merges), ["merged_lead_id"])
    if len(ids.history):
        io.publish(SILVER_LEAD_ID_HISTORY, to_spark(spark, ids.history), ["lead_id", "event", "run_id"])
    if retrain is not None and resolution.model is not None:
        io.publish(
            SILVER_RESOLVE_MODELS,
            to_spark(spark, _model_row(resolution, records, cfg, run_id, now, retrain)),
            ["run_id"],
        )
    if quarantine:
        io.publish(
            SILVER_QUARANTINE,
            spark.createDataFrame(quarantine_table(quarantine)),
            QUARANTINE_KEYS,
            ignore_columns=["run_id", "quarantined_at"],  # a row rejected again keeps its first rejection
        )
    report.seconds["publish"] = time.perf_counter() - t2
    return report


def lead_campaigns(records: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    """lead_id -> the sorted campaign ids of its records; vectorised, since a lambda per lead cost seconds."""
    pairs = (
        records[["record_id", "campaign_ids"]]
        .merge(links[["record_id", "lead_id"]], on="record_id")
        .explode("campaign_ids")[["lead_id", "campaign_ids"]]
    )
    listed = pairs.dropna().drop_duplicates().sort_values(["lead_id", "campaign_ids"], kind="stable")
    out = listed.groupby("lead_id", sort=False)["campaign_ids"].agg(list)
    # A lead whose records carry no campaign keeps an empty list, as before.
    return out.reindex(pairs["lead_id"].unique()).apply(lambda v: v if isinstance(v, list) else [])


def _matches(pairs: pd.DataFrame, known: pd.DataFrame, run_id: str, now: pd.Timestamp) -> pd.DataFrame:
    """silver.lead_matches: every pair that linked, why, and the run that first scored it."""
    out = pairs.copy()
    if "match_rule" not in out:
        out["match_rule"] = None
    out = out[["record_id_l", "record_id_r", "match_probability", "match_rule"]]
    first: dict[tuple[str, str], tuple[str, Any]] = {}
    if len(known) and "run_id" in known:
        first = {
            (a, b): (r, t)
            for a, b, r, t in zip(
                known["record_id_l"], known["record_id_r"], known["run_id"], known["matched_at"], strict=True
            )
        }
    keys = list(zip(out["record_id_l"], out["record_id_r"], strict=True))
    out["run_id"] = [first.get(k, (run_id, now))[0] for k in keys]
    out["matched_at"] = pd.to_datetime([first.get(k, (run_id, now))[1] for k in keys], utc=True)
    out["match_probability"] = out["match_probability"].astype(float)
    return out.reset_index(drop=True)


def _model_row(
    resolution: Any, records: pd.DataFrame, cfg: ResolveSettings, run_id: str, now: pd.Timestamp, why: str
) -> pd.DataFrame:
    """silver.resolve_models: the model a full run trained, saved so incremental runs score with it."""
    sources = sorted(set(records["provider"].dropna()))
    return pd.DataFrame(
        [
            {
                "run_id": run_id or f"silver-{now.strftime('%Y%m%dT%H%M%S')}",
                "trained_at": now,
                "training": resolution.training,
                "reason": why,
                "records": len(records),
                "sources": json.dumps(sources),
                "fingerprint": settings_fingerprint(cfg),
                "model_json": json.dumps(resolution.model, sort_keys=True),
            }
        ]
    )
