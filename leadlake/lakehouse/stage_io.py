"""How a Spark stage reads and publishes Delta tables: delta-spark when its jars are there, else delta-rs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from leadlake.core.settings import Settings
from leadlake.lakehouse import Lakehouse, MergeStats
from leadlake.lakehouse.spark import delta_unavailable_reason

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("leadlake.lakehouse.stage_io")


def use_delta_spark(settings: Settings) -> bool:
    """delta-spark when asked for, on a cluster, or locally when its jars are present ('auto').

    Local Spark on S3 uses delta-rs (no hadoop-aws locally)."""
    if settings.delta_backend == "delta-rs":
        return False
    reason = delta_unavailable_reason()
    if settings.delta_backend == "delta-spark" and reason:
        raise RuntimeError(f"LEADLAKE_DELTA_BACKEND=delta-spark but {reason}")
    local = settings.spark_master.startswith("local")
    if not local:
        # A cluster (EMR, Databricks, any Spark 4.2) has Delta on its classpath; session_conf relies on it.
        return True
    # Local Spark has no hadoop-aws on its classpath, so S3 goes through delta-rs unless forced.
    if settings.is_s3:
        return settings.delta_backend == "delta-spark"
    return reason is None


class StageIO:
    """Read tables into Spark and publish Spark DataFrames with a Delta MERGE on primary keys."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.spark = spark
        self.settings = settings
        self.lake = Lakehouse(settings.lakehouse_root, settings.storage_options())
        self.delta_spark = use_delta_spark(settings)
        if self.delta_spark:
            from leadlake.lakehouse import SparkLakehouse

            self.spark_lake = SparkLakehouse(spark, settings.lakehouse_root)

    @property
    def backend(self) -> str:
        return "delta-spark" if self.delta_spark else "delta-rs"

    def read(self, name: str) -> DataFrame | None:
        """The table as a Spark DataFrame, or None when it does not exist yet."""
        if not self.lake.exists(name):
            return None
        if self.delta_spark:
            return self.spark_lake.read(name)
        return self.spark.createDataFrame(self.lake.read(name))

    def publish(
        self,
        name: str,
        df: DataFrame,
        keys: list[str],
        delete_missing: bool = False,
        ignore_columns: Sequence[str] = (),
    ) -> MergeStats:
        """MERGE df into the table on keys; delete_missing also removes rows no longer produced.

        A matched row is rewritten only when a non-key column outside `ignore_columns` changed: pass the
        columns stamped anew on every run (an `updated_at` of now), so they keep the time of the last change.
        """
        if self.delta_spark:
            return self.spark_lake.merge(
                name, df, keys, delete_missing=delete_missing, ignore_columns=ignore_columns
            )
        import pyarrow as pa

        arrow = pa.Table.from_pandas(df.toPandas(), preserve_index=False)
        return self.lake.merge(
            name, arrow, keys, delete_missing=delete_missing, ignore_columns=ignore_columns
        )


def to_spark(spark: SparkSession, pdf: pd.DataFrame, types: dict[str, Any] | None = None) -> DataFrame:
    """A pandas frame as a Spark DataFrame via Arrow; list columns stay arrays.

    Columns that are empty in this batch have no type (Delta refuses NullType): `types` names theirs,
    else they become strings (or arrays of strings).
    """
    import pyarrow as pa

    arrow = pa.Table.from_pandas(pdf.reset_index(drop=True), preserve_index=False)
    fields = []
    for f in arrow.schema:
        declared = (types or {}).get(f.name)
        if declared is not None:
            f = f.with_type(declared)
        elif pa.types.is_null(f.type):
            f = f.with_type(pa.string())
        elif pa.types.is_list(f.type) and pa.types.is_null(f.type.value_type):
            f = f.with_type(pa.list_(pa.string()))
        fields.append(f)
    return spark.createDataFrame(arrow.cast(pa.schema(fields)))
