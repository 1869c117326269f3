"""Which Delta engine a Spark stage publishes through: `use_delta_spark`, a pure function of settings + jars.

The jars folder is a scratch directory per test (`jars_dir` is patched, not the environment), so each
case says exactly which jars are "installed".
"""

from __future__ import annotations

from pathlib import Path

import pytest

import leadlake.lakehouse.spark as spark_mod
from leadlake.core.settings import Settings, get_settings
from leadlake.lakehouse.stage_io import use_delta_spark

DELTA_JAR = "delta-spark_4.2_2.13-4.4.0.jar"


@pytest.fixture
def jars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty jars folder that the Spark module looks in."""
    folder = tmp_path / "jars"
    folder.mkdir()
    monkeypatch.setattr(spark_mod, "jars_dir", lambda: folder)
    return folder


def with_jars(folder: Path) -> Path:
    (folder / DELTA_JAR).write_bytes(b"")
    (folder / "delta-storage-4.4.0.jar").write_bytes(b"")
    return folder


def settings(backend: str, lakehouse_uri: str = "/tmp/lake", master: str = "local[*]") -> Settings:
    return get_settings().model_copy(
        update={"delta_backend": backend, "lakehouse_uri": lakehouse_uri, "spark_master": master}
    )


def test_delta_rs_forced_never_uses_delta_spark(jars: Path) -> None:
    with_jars(jars)
    assert use_delta_spark(settings("delta-rs")) is False
    assert use_delta_spark(settings("delta-rs", "s3://bucket/lake", "spark://cluster:7077")) is False


def test_delta_spark_forced_with_jars(jars: Path) -> None:
    with_jars(jars)
    assert use_delta_spark(settings("delta-spark")) is True


def test_delta_spark_forced_without_jars_raises_naming_the_reason(jars: Path) -> None:
    with pytest.raises(RuntimeError) as err:
        use_delta_spark(settings("delta-spark"))
    message = str(err.value)
    assert "LEADLAKE_DELTA_BACKEND=delta-spark" in message
    assert "run `make jars`" in message and str(jars) in message


def test_delta_spark_forced_without_jars_gives_the_recorded_fetch_failure(jars: Path) -> None:
    (jars / ".unavailable").write_text("Maven Central unreachable: connection refused\nmore detail\n")
    with pytest.raises(RuntimeError, match="but Maven Central unreachable: connection refused$"):
        use_delta_spark(settings("delta-spark"))


def test_auto_follows_the_jars(jars: Path) -> None:
    assert use_delta_spark(settings("auto")) is False
    with_jars(jars)
    assert use_delta_spark(settings("auto")) is True


def test_auto_ignores_jars_that_are_not_delta_spark(jars: Path) -> None:
    (jars / "delta-storage-4.4.0.jar").write_bytes(b"")
    assert use_delta_spark(settings("auto")) is False


def test_s3_on_a_local_master_uses_delta_rs_unless_forced(jars: Path) -> None:
    """Local Spark has no hadoop-aws: on S3 only an explicit delta-spark choice takes that path."""
    with_jars(jars)
    assert use_delta_spark(settings("auto", "s3://bucket/lake", "local[2]")) is False
    assert use_delta_spark(settings("auto", "s3a://bucket/lake", "local[*]")) is False
    assert use_delta_spark(settings("delta-spark", "s3://bucket/lake", "local[2]")) is True


def test_a_cluster_master_on_s3_uses_delta_spark_when_the_jars_are_there(jars: Path) -> None:
    with_jars(jars)
    assert use_delta_spark(settings("auto", "s3://bucket/lake", "spark://cluster:7077")) is True
    assert use_delta_spark(settings("auto", "s3://bucket/lake", "yarn")) is True


def test_a_cluster_master_uses_delta_spark_on_auto_without_local_jars(jars: Path) -> None:
    assert use_delta_spark(settings("auto", "s3://bucket/lake", "spark://cluster:7077")) is True
