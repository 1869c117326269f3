"""The lakehouse: Delta tables through delta-rs (no JVM) or delta-spark, and the catalog of their names.

- `base`: errors, TableInfo, MergeStats, table names, commit retries (shared by both backends)
- `delta_rs`: `Lakehouse`, delta-rs over Arrow; `sql`: the read-only DuckDB layer of `Lakehouse.sql`
- `delta_spark`: `SparkLakehouse`, delta-spark over DataFrames
- `catalog`: layers and table names; `spark`: the Spark session; `stage_io`: how Spark stages publish
"""

from leadlake.lakehouse.base import (
    DEFAULT_ROOT,
    LAYERS,
    CommitConflict,
    LakehouseError,
    LakehouseUnreachable,
    MergeStats,
    QueryRefused,
    QueryTimeout,
    TableInfo,
    TableNotFound,
    TableUnreadable,
    parse_name,
    publish,
    with_retries,
)
from leadlake.lakehouse.delta_rs import Lakehouse
from leadlake.lakehouse.delta_spark import SparkLakehouse
from leadlake.lakehouse.sql import DEFAULT_SQL_TIMEOUT_S

__all__ = [
    "DEFAULT_ROOT",
    "DEFAULT_SQL_TIMEOUT_S",
    "LAYERS",
    "CommitConflict",
    "Lakehouse",
    "LakehouseError",
    "LakehouseUnreachable",
    "MergeStats",
    "QueryRefused",
    "QueryTimeout",
    "SparkLakehouse",
    "TableInfo",
    "TableNotFound",
    "TableUnreadable",
    "parse_name",
    "publish",
    "with_retries",
]
