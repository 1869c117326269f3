"""The Spark session factory: local mode by default, Delta and Splink's similarity jar wired in."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from leadlake.core.settings import jvm_size

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout: leadlake/lakehouse/spark.py
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
LOG4J_CONF = Path(__file__).with_name("log4j2.properties")  # errors only: no start-up chatter on stderr
DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"

# Local mode runs on a laptop or CI box: few shuffle partitions, no UI, no progress bars, UTC.
_LOCAL_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
    # Delta's VACUUM lists files with this many tasks (default 10000): ~110 s instead of ~10 s locally.
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",
}
_COMMON_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    # Let VACUUM take retentions below a week when a caller asks for it explicitly.
    "spark.databricks.delta.retentionDurationCheck.enabled": "false",
    # delta-rs's Arrow readers (the light path) cannot apply deletion vectors; some clusters enable them.
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    # toPandas frees each Arrow column once converted: a collect then peaks at about one copy, not two.
    "spark.sql.execution.arrow.pyspark.selfDestruct.enabled": "true",
}


def jars_dir() -> Path:
    """Where `make jars` puts Delta's jars: $LEADLAKE_JARS_DIR or <repo>/.jars."""
    env = os.environ.get("LEADLAKE_JARS_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / ".jars"


def delta_jars() -> list[Path]:
    """The jar files in jars_dir(), sorted; [] when the folder is absent."""
    folder = jars_dir()
    return sorted(folder.glob("*.jar")) if folder.is_dir() else []


def delta_unavailable_reason() -> str | None:
    """None when delta-spark's jars are present, else why not (the fetch failure or 'run make jars')."""
    jars = delta_jars()
    if any(j.name.startswith("delta-spark_") for j in jars):
        return None
    marker = jars_dir() / ".unavailable"
    if marker.is_file() and marker.read_text().strip():
        return marker.read_text().strip().splitlines()[0]
    return f"Delta's Spark jars are not in {jars_dir()}: run `make jars`"


def splink_jar() -> Path | None:
    """Splink's Scala similarity UDF jar for this Spark version, when splink is installed."""
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        return None
    path = Path(similarity_jar_location())
    return path if path.is_file() else None


def default_driver_memory(total_bytes: int | None = None) -> str:
    """A sixth of this machine's memory, 1g to 8g: Spark's own 1g default cannot collect a million records."""
    if total_bytes is None:
        import psutil

        total_bytes = psutil.virtual_memory().total
    return f"{min(8, max(1, total_bytes // 6 // 2**30))}g"


def users_log4j_conf() -> Path | None:
    """The log4j2.properties Spark itself would read from $SPARK_CONF_DIR or $SPARK_HOME/conf, if any."""
    for env, sub in (("SPARK_CONF_DIR", ""), ("SPARK_HOME", "conf")):
        folder = os.environ.get(env)
        path = Path(folder) / sub / "log4j2.properties" if folder else None
        if path is not None and path.is_file():
            return path
    return None


def _quiet_driver_log(conf: dict[str, str]) -> None:
    """Point the local driver's log4j at LOG4J_CONF, unless the user configured log4j their own way."""
    options = conf.get(DRIVER_JAVA_OPTIONS, "")
    if "log4j2.configurationFile" in options or users_log4j_conf() is not None:
        return
    # A file: URI has no spaces, which the launcher would split the options on.
    conf[DRIVER_JAVA_OPTIONS] = f"-Dlog4j2.configurationFile={LOG4J_CONF.as_uri()} {options}".strip()


def _is_local(master: str) -> bool:
    return master.startswith("local")


def _launched_by_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands the Python driver its gateway through the environment.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def session_conf(
    master: str | None, extra_conf: dict[str, str] | None = None, driver_memory: str | None = None
) -> dict[str, str]:
    """Every setting get_spark applies; master None means spark-submit chose it. extra_conf wins.

    Locally the driver is the only JVM, so its heap (`driver_memory`, else default_driver_memory()) also
    bounds what one collect may return."""
    local = master is not None and _is_local(master)
    conf = dict(_COMMON_CONF)
    if local:
        conf.update(_LOCAL_CONF)
        heap = jvm_size(driver_memory) if driver_memory else default_driver_memory()
        conf["spark.driver.memory"] = heap
        conf["spark.driver.maxResultSize"] = heap
        # Under spark-submit or on a cluster the submitter owns the classpath (Delta is already on it).
        jars = [str(p) for p in delta_jars()]
        splink = splink_jar()
        if splink is not None:
            jars.append(str(splink))
        if jars:
            conf["spark.jars"] = ",".join(jars)
    if not local or delta_unavailable_reason() is None:
        conf["spark.sql.extensions"] = DELTA_EXTENSION
        conf["spark.sql.catalog.spark_catalog"] = DELTA_CATALOG
    conf.update(extra_conf or {})
    if local:
        _quiet_driver_log(conf)
    return conf


def get_spark(
    app_name: str = "leadlake",
    master: str | None = None,
    extra_conf: dict[str, str] | None = None,
    driver_memory: str | None = None,
) -> SparkSession:
    """The active SparkSession, or a new one.

    Master: `master`, else $LEADLAKE_SPARK_MASTER, else spark-submit's choice, else local[*]. A local
    driver's heap: `driver_memory`, else $LEADLAKE_SPARK_DRIVER_MEMORY, else default_driver_memory().
    """
    from pyspark.sql import SparkSession

    master = master or os.environ.get("LEADLAKE_SPARK_MASTER")
    if master is None and not _launched_by_spark_submit():
        master = "local[*]"
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
        if _is_local(master):
            # The JVM binds to loopback only; the launcher reads this from the environment.
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            # Python workers must run this interpreter (the virtualenv), not whatever python3 is on PATH.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    driver_memory = driver_memory or os.environ.get("LEADLAKE_SPARK_DRIVER_MEMORY")
    for key, value in session_conf(master, extra_conf, driver_memory).items():
        builder = builder.config(key, value)
    # py4j logs every connection close at INFO, even from interpreter shutdown when streams are closed.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
