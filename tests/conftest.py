"""Shared fixtures: one Spark session per test run, a moto S3 server on 127.0.0.1, a local lakehouse."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from leadlake.lakehouse import Lakehouse

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

S3_REGION = "us-east-1"
S3_KEY_ID = "testing"
S3_SECRET = "testing"


@dataclass
class MotoS3:
    """A running moto S3 endpoint on loopback, with the settings boto3 and delta-rs need to reach it."""

    endpoint_url: str
    region: str = S3_REGION
    buckets: list[str] = field(default_factory=list)

    @property
    def storage_options(self) -> dict[str, str]:
        """delta-rs / object_store options for this endpoint (plain HTTP, dummy keys)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        }

    def client(self) -> Any:
        """A boto3 S3 client bound to this endpoint."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=S3_KEY_ID,
            aws_secret_access_key=S3_SECRET,
        )

    def make_bucket(self, prefix: str = "lake") -> str:
        """Create a fresh, uniquely named bucket and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name


# Run in its own process: delta-rs calls that block while holding the GIL would starve an in-process server.
_MOTO_CHILD = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()  # the parent closes stdin to stop us
server.stop()
"""


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoS3]:
    """A moto S3 server on 127.0.0.1 (free port) in a child process for the whole run; stopped at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _MOTO_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().strip()
        if not endpoint.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"moto server did not start (exit code {proc.poll()})")
        yield MotoS3(endpoint_url=endpoint)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(moto_server: MotoS3) -> str:
    """A new empty bucket on the moto server for one test."""
    return moto_server.make_bucket()


@pytest.fixture
def lakehouse(tmp_path: Path) -> Lakehouse:
    """An empty local lakehouse under the test's tmp_path."""
    from leadlake.lakehouse import Lakehouse

    return Lakehouse(str(tmp_path / "lakehouse"))


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark session for the run (Delta configured when `make jars` fetched its jars)."""
    pytest.importorskip("pyspark")
    from leadlake.lakehouse.spark import get_spark

    session = get_spark("leadlake-tests", master="local[2]")
    try:
        yield session
    finally:
        session.stop()
