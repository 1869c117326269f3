"""The Spark session configuration `session_conf`: local vs cluster keys, Delta wiring, extra_conf wins.

Pure: the jars folder and Splink's jar are patched per test, no session is started.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import leadlake.lakehouse.spark as spark_mod
from leadlake.core.settings import SettingsError
from leadlake.lakehouse.spark import session_conf

EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
LOCAL_ONLY = (
    "spark.sql.shuffle.partitions",
    "spark.ui.enabled",
    "spark.ui.showConsoleProgress",
    "spark.driver.host",
    "spark.driver.bindAddress",
    "spark.driver.memory",
    "spark.driver.maxResultSize",
)


@pytest.fixture
def jars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty jars folder, and no Splink jar unless a test adds one."""
    folder = tmp_path / "jars"
    folder.mkdir()
    monkeypatch.setattr(spark_mod, "jars_dir", lambda: folder)
    monkeypatch.setattr(spark_mod, "splink_jar", lambda: None)
    return folder


def add_delta_jars(folder: Path) -> list[str]:
    names = ["delta-spark_4.2_2.13-4.4.0.jar", "delta-storage-4.4.0.jar"]
    for n in names:
        (folder / n).write_bytes(b"")
    return [str(folder / n) for n in sorted(names)]


def test_every_session_is_utc_and_keeps_deletion_vectors_off(jars: Path) -> None:
    for master in ("local[*]", "spark://cluster:7077", None):
        conf = session_conf(master)
        assert conf["spark.sql.session.timeZone"] == "UTC"
        assert conf["spark.databricks.delta.properties.defaults.enableDeletionVectors"] == "false"
        assert conf["spark.sql.execution.arrow.pyspark.selfDestruct.enabled"] == "true"


def test_local_master_gets_the_local_settings(jars: Path) -> None:
    conf = session_conf("local[2]")
    assert conf["spark.sql.shuffle.partitions"] == "4"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.ui.showConsoleProgress"] == "false"
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"


def test_local_driver_heap_is_sized_from_the_machine_unless_set(jars: Path) -> None:
    gib = 2**30
    assert spark_mod.default_driver_memory(2 * gib) == "1g"
    assert spark_mod.default_driver_memory(24 * gib) == "4g"
    assert spark_mod.default_driver_memory(256 * gib) == "8g"
    default = session_conf("local[*]")
    assert default["spark.driver.memory"] == spark_mod.default_driver_memory()
    # One collect may return as much as the heap holds; Spark's own cap is 1g whatever the heap.
    assert default["spark.driver.maxResultSize"] == default["spark.driver.memory"]
    conf = session_conf("local[*]", driver_memory="6g")
    assert (conf["spark.driver.memory"], conf["spark.driver.maxResultSize"]) == ("6g", "6g")
    assert session_conf("local[2]", driver_memory=" 2048M ")["spark.driver.memory"] == "2048m"


@pytest.mark.parametrize("wrong", ["4 GB", "0g", "lots", "-1g"])
def test_a_wrong_driver_heap_names_the_variable_before_any_jvm_starts(wrong: str) -> None:
    # get_spark hands $LEADLAKE_SPARK_DRIVER_MEMORY here when no Settings validated it (a notebook, a job).
    with pytest.raises(SettingsError, match=r"LEADLAKE_SPARK_DRIVER_MEMORY: expected a JVM memory size"):
        session_conf("local[*]", driver_memory=wrong)


def test_local_with_jars_puts_them_on_the_classpath_and_enables_delta(jars: Path) -> None:
    expected = add_delta_jars(jars)
    conf = session_conf("local[*]")
    assert conf["spark.jars"] == ",".join(expected)
    assert conf["spark.sql.extensions"] == EXTENSION
    assert conf["spark.sql.catalog.spark_catalog"] == CATALOG


def test_local_without_jars_has_no_delta_and_no_classpath(jars: Path) -> None:
    conf = session_conf("local[*]")
    assert "spark.jars" not in conf
    assert "spark.sql.extensions" not in conf
    assert "spark.sql.catalog.spark_catalog" not in conf


def test_local_adds_splinks_jar_after_deltas(jars: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = add_delta_jars(jars)
    splink = jars.parent / "scala-udf-similarity-0.1.2_spark3.x.jar"
    monkeypatch.setattr(spark_mod, "splink_jar", lambda: splink)
    assert session_conf("local[*]")["spark.jars"] == ",".join([*expected, str(splink)])


@pytest.mark.parametrize("master", ["spark://cluster:7077", "yarn", None])
def test_cluster_or_spark_submit_leaves_the_classpath_to_the_submitter(
    jars: Path, master: str | None
) -> None:
    add_delta_jars(jars)
    conf = session_conf(master)
    assert "spark.jars" not in conf
    assert not set(LOCAL_ONLY) & set(conf)
    # Local jars are not shipped, but Delta's extension and catalog are configured: the cluster has Delta.
    assert conf["spark.sql.extensions"] == EXTENSION
    assert conf["spark.sql.catalog.spark_catalog"] == CATALOG


def test_cluster_without_local_jars_still_configures_delta(jars: Path) -> None:
    conf = session_conf("spark://cluster:7077")
    assert conf["spark.sql.extensions"] == EXTENSION


def test_extra_conf_wins_over_every_default(jars: Path) -> None:
    add_delta_jars(jars)
    extra = {
        "spark.sql.shuffle.partitions": "64",
        "spark.sql.session.timeZone": "America/Denver",
        "spark.jars": "/opt/mine.jar",
        "spark.sql.extensions": "my.Extension",
        "spark.executor.memory": "2g",
    }
    conf = session_conf("local[*]", extra)
    assert {k: conf[k] for k in extra} == extra
    cluster = session_conf("yarn", {"spark.sql.session.timeZone": "America/Denver"})
    assert cluster["spark.sql.session.timeZone"] == "America/Denver"


def test_session_conf_does_not_mutate_the_module_defaults(jars: Path) -> None:
    session_conf("local[*]", {"spark.sql.shuffle.partitions": "64", "spark.ui.enabled": "true"})
    assert session_conf("local[*]")["spark.sql.shuffle.partitions"] == "4"
    assert session_conf("local[*]")["spark.ui.enabled"] == "false"


def test_a_local_driver_logs_errors_only_unless_the_user_configured_log4j(
    jars: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    monkeypatch.delenv("SPARK_HOME", raising=False)
    ours = f"-Dlog4j2.configurationFile={spark_mod.LOG4J_CONF.as_uri()}"
    assert session_conf("local[2]")["spark.driver.extraJavaOptions"] == ours
    assert "rootLogger.level = error" in spark_mod.LOG4J_CONF.read_text()
    # Options of the user's own are kept beside ours; a log4j file of theirs, or a cluster, is left alone.
    mine = {"spark.driver.extraJavaOptions": "-Dfoo=1 -Xss4m"}
    assert session_conf("local[2]", mine)["spark.driver.extraJavaOptions"] == f"{ours} -Dfoo=1 -Xss4m"
    theirs = {"spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile=file:///etc/mine.properties"}
    assert (
        session_conf("local[2]", theirs)["spark.driver.extraJavaOptions"]
        == theirs["spark.driver.extraJavaOptions"]
    )
    assert "spark.driver.extraJavaOptions" not in session_conf("spark://cluster:7077")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "log4j2.properties").write_text("rootLogger.level = info\n")
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path / "conf"))
    assert "spark.driver.extraJavaOptions" not in session_conf("local[2]")
