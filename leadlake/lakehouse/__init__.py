"""The lakehouse: Delta tables through delta-rs (no JVM) or delta-spark, and the catalog of their names."""

from leadlake.lakehouse.delta import (
    CommitConflict,
    Lakehouse,
    LakehouseError,
    LakehouseUnreachable,
    MergeStats,
    SparkLakehouse,
    TableInfo,
    TableNotFound,
    _rs_conflict,
    parse_name,
    publish,
    with_retries,
)

__all__ = [
    "CommitConflict",
    "Lakehouse",
    "LakehouseError",
    "LakehouseUnreachable",
    "MergeStats",
    "SparkLakehouse",
    "TableInfo",
    "TableNotFound",
    "parse_name",
    "publish",
    "with_retries",
]
