"""What a stage reaches the world through: lakehouse, Spark, connectors and MLflow, as one object.

Built live (real keys, real endpoints) or for the sandbox (every connector pointed at one local server),
as Dagster builds its resources; nothing here rewrites os.environ to switch between them.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leadlake.connectors.registry import ConnectorSpec, connector, connectors
from leadlake.core.campaign import CampaignSpec
from leadlake.core.settings import Settings, get_settings
from leadlake.lakehouse import Lakehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("leadlake.runtime.resources")


class ConfigError(RuntimeError):
    """Missing credentials or an unusable target; the message names the setting to fix."""


def new_run_id(prefix: str = "manual") -> str:
    """A sortable run id: prefix, UTC time, random suffix."""
    return f"{prefix}__{datetime.now(UTC):%Y%m%dT%H%M%S}__{uuid.uuid4().hex[:6]}"


def uses_sandbox(settings: Settings) -> bool:
    """True when no discovery provider has a key: a new user gets the sandbox, not an error."""
    return not any(settings.credential(s.credential_env) for s in connectors("discovery"))


def lakehouse(settings: Settings | None = None) -> Lakehouse:
    """The delta-rs lakehouse of the settings."""
    s = settings or get_settings()
    return Lakehouse(s.lakehouse_root, s.storage_options(), sql_timeout_s=s.sql_timeout_s)


def airflow_connection(conn_id: str) -> tuple[str, str | None] | None:
    """(password, host) of an Airflow connection, when Airflow is in play and has one."""
    # Only consult Airflow inside a task or when the connection is given as AIRFLOW_CONN_*: importing
    # Airflow in a plain CLI run would cost seconds for nothing.
    if "airflow.sdk" not in sys.modules and f"AIRFLOW_CONN_{conn_id.upper()}" not in os.environ:
        return None
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException and friends: no such connection
        return None
    if not conn.password:
        return None
    return conn.password, conn.host or None


def live_credentials(settings: Settings, spec: ConnectorSpec) -> tuple[str, str]:
    """(key, base_url) from the environment / .env, else the Airflow connection; ConfigError naming both."""
    base = settings.base_url(spec.base_url_env, spec.base_url)
    key = settings.credential(spec.credential_env)
    if key is not None:
        return key.get_secret_value(), base
    from_airflow = airflow_connection(spec.airflow_conn_id)
    if from_airflow is not None:
        return from_airflow[0], from_airflow[1] or base
    raise ConfigError(
        f"no credentials for {spec.name}: set {spec.credential_env} or the Airflow connection "
        f"'{spec.airflow_conn_id}' (or LEADLAKE_SANDBOX_URL to use the sandbox)"
    )


def credentials(settings: Settings, name: str, sandbox_url: str | None = None) -> tuple[str, str]:
    """(key, base_url) for a provider or CRM: the sandbox's when one is in use, else the live ones."""
    spec = connector(name)
    url = sandbox_url or settings.sandbox_url
    if spec.extra.get("local"):
        # Not served by the sandbox (a folder, a bucket, your own webhook): configured ones are used as they
        # are, else the spec's local default (an export folder under the state dir, say).
        key = settings.credential(spec.credential_env)
        if key is not None or not url:
            return live_credentials(settings, spec)
        return spec.sandbox_key, settings.base_url(spec.base_url_env, spec.base_url)
    if url:
        return spec.sandbox_key, url
    return live_credentials(settings, spec)


@dataclass
class Resources:
    """The lakehouse, Spark, connectors and MLflow one run of the stages uses."""

    settings: Settings
    lakehouse: Lakehouse
    sandbox_url: str | None = None  # every connector goes to this server when set
    campaigns: tuple[CampaignSpec, ...] = ()
    _spark: Any = field(default=None, repr=False)

    # ---- constructions ---------------------------------------------------------------------------------
    @classmethod
    def live(cls, settings: Settings | None = None, campaigns: tuple[CampaignSpec, ...] = ()) -> Resources:
        """Real endpoints with the configured keys."""
        s = settings or get_settings()
        return cls(s, lakehouse(s), None, tuple(campaigns))

    @classmethod
    def for_sandbox(
        cls, url: str, settings: Settings | None = None, campaigns: tuple[CampaignSpec, ...] = ()
    ) -> Resources:
        """Every connector pointed at the sandbox at `url`, with its keys."""
        s = settings or get_settings()
        return cls(s, lakehouse(s), url.rstrip("/"), tuple(campaigns))

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Resources:
        """The sandbox when LEADLAKE_SANDBOX_URL is set, else live (what a DAG task or a job builds)."""
        s = settings or get_settings()
        return cls.for_sandbox(s.sandbox_url, s) if s.sandbox_url else cls.live(s)

    def with_campaigns(self, campaigns: list[CampaignSpec] | tuple[CampaignSpec, ...]) -> Resources:
        """The same resources for these campaigns (shares the Spark session)."""
        return replace(self, campaigns=tuple(campaigns))

    # ---- what stages use ---------------------------------------------------------------------------------
    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI."""
        return self.settings.tracking_uri

    @property
    def spark(self) -> SparkSession:
        """The Spark session for the silver and gold jobs, started on first use."""
        if self._spark is None:
            from leadlake.lakehouse.spark import get_spark

            self._spark = get_spark(
                "leadlake", master=self.settings.spark_master, driver_memory=self.settings.spark_driver_memory
            )
        return self._spark

    def credentials(self, name: str) -> tuple[str, str]:
        """(key, base_url) of a connector."""
        return credentials(self.settings, name, self.sandbox_url)

    def connector(self, name: str) -> Any:
        """A provider adapter with its credentials and rate limit.

        Against the sandbox the providers' documented rates would only slow a run down (the sandbox does
        not enforce them), so `sandbox_rate_per_s` applies there; `rate_limits` overrides either.
        """
        from leadlake.connectors.http import RateLimitPolicy
        from leadlake.connectors.sources import build_adapter

        key, base = self.credentials(name)
        rate = self.settings.rate_limits.get(name) or (
            self.settings.sandbox_rate_per_s if self.sandbox_url else None
        )
        opts: dict[str, Any] = {"state_dir": self.settings.resolved_state_dir}
        if rate:
            # Against the sandbox the per-process bucket is enough; live providers share one per machine.
            scope = "process" if self.sandbox_url else "machine"
            opts["rate"] = RateLimitPolicy(rate_per_s=rate, burst=max(1, int(rate)), scope=scope)
        return build_adapter(name, api_key=key, base_url=base, **opts)

    def destination(self, name: str) -> Any:
        """A CRM destination client with its credentials."""
        spec = connector(name)
        if spec.kind != "destination":
            raise ConfigError(f"{name!r} is a {spec.kind} provider, not a destination")
        token, base = self.credentials(name)
        # Further credentials a destination needs (Salesforce's client id): the sandbox's own, or the env's.
        sandbox = bool(self.sandbox_url or self.settings.sandbox_url)
        extras = {}
        for param, (env, sandbox_value) in spec.extra.get("credentials", {}).items():
            value = self.settings.credential(env)
            extras[param] = (
                value.get_secret_value() if value is not None else (sandbox_value if sandbox else None)
            )
        cls = spec.load()
        return getattr(cls, "connect", cls)(token, base, **extras)

    def close(self) -> None:
        """Nothing to close today: the Spark session outlives one run on purpose (it costs ~8 s to start)."""


def sandbox_world(settings: Settings, businesses: int | None = None) -> Any:
    """The world a sandbox started for a command serves: seed, size and noise from the settings."""
    from leadlake.sandbox.world import NoiseProfile, World

    return World.generate(
        seed=settings.sandbox_seed,
        businesses=businesses or settings.sandbox_businesses,
        noise=NoiseProfile().scaled(settings.sandbox_noise),
    )


@contextmanager
def sandboxed(
    settings: Settings | None = None,
    *,
    fault_rate: float = 0.0,
    businesses: int | None = None,
    campaigns: tuple[CampaignSpec, ...] = (),
) -> Iterator[Resources]:
    """Resources for a run: live when keys are set, else the sandbox at LEADLAKE_SANDBOX_URL, else a
    sandbox started here for the block."""
    s = settings or get_settings()
    if s.sandbox_url:
        yield Resources.for_sandbox(s.sandbox_url, s, campaigns)
        return
    if not uses_sandbox(s):
        yield Resources.live(s, campaigns)
        return
    from leadlake.sandbox import Faults, SandboxServer

    # The CRM keeps its state with the project's state (like a real CRM outliving a command), so a
    # `leadlake feedback pull` after a demo sees what the demo delivered.
    server = SandboxServer(
        sandbox_world(s, businesses),
        faults=Faults.from_rate(fault_rate, retry_after_s=1),
        state_path=s.resolved_state_dir / "sandbox" / "crm.json",
    ).start()
    try:
        yield Resources.for_sandbox(server.url, s, campaigns)
    finally:
        server.stop()
