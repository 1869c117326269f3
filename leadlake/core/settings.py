"""Resolved settings: one typed object from the environment and `.env`; a wrong value fails at start."""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_MARKER = "leadlake_project.yml"
# The URI schemes MLflow 3 tracks and registers models in ("postgresql+psycopg2" counts as postgresql).
MLFLOW_SCHEMES = frozenset(
    {"file", "http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks", "databricks-uc", "uc"}
)
# The checkout this package was installed from (editable installs); used when no marker is found upwards.
_PACKAGE_CHECKOUT = Path(__file__).resolve().parents[2]


def find_project_root(start: Path | None = None) -> Path:
    """The project root, looked up each time settings are built (not once at import).

    LEADLAKE_PROJECT_DIR when set (an explicit choice wins, as DBT_PROJECT_DIR does in dbt); else the
    nearest folder at or above `start` (default: the cwd) holding leadlake_project.yml, as dbt finds
    dbt_project.yml, so a command or a notebook kernel started in any subfolder finds it; else the checkout
    the package runs from (an editable install); else `start` itself.
    """
    explicit = os.environ.get("LEADLAKE_PROJECT_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    if (_PACKAGE_CHECKOUT / PROJECT_MARKER).is_file():
        return _PACKAGE_CHECKOUT
    return here


# The root found when this module was imported; Settings look it up again each time they are built.
PROJECT_ROOT = find_project_root()


class SettingsError(ValueError):
    """A setting with a wrong value; the message names the variable and what it expects."""


def jvm_size(value: str, name: str = "LEADLAKE_SPARK_DRIVER_MEMORY") -> str:
    """`value` as a JVM memory size (lower case, e.g. 4g or 2048m); a SettingsError naming `name` if not."""
    size = value.strip().lower()
    if not re.fullmatch(r"[1-9][0-9]*[kmgt]?", size):
        raise SettingsError(f"{name}: expected a JVM memory size such as 4g or 2048m, got {value!r}")
    return size


class Settings(BaseSettings):
    """Every knob leadlake reads, with the environment variable that sets it."""

    model_config = SettingsConfigDict(
        env_file=str(PROJECT_ROOT / ".env"), env_prefix="LEADLAKE_", extra="ignore"
    )

    project_dir: Path = Field(
        default_factory=find_project_root, description="Project root; relative defaults are anchored here"
    )
    lakehouse_uri: str = Field("lakehouse", description="Local path or s3://bucket/prefix of the lakehouse")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto)")
    s3_region: str = "us-east-1"
    state_dir: Path = Field(Path(".state"), description="Local state: MLflow db, sandbox, logs")
    mlflow_tracking_uri: str | None = Field(None, description="Default: sqlite under state_dir")
    airflow_home: Path | None = Field(None, validation_alias="AIRFLOW_HOME")
    spark_master: str = Field("local[*]", description="Spark master URL")
    spark_driver_memory: str | None = Field(
        None,
        description="JVM heap of local Spark's driver, e.g. 4g; default a sixth of this machine's memory, "
        "1g to 8g (a cluster's submitter sets its own)",
    )
    delta_backend: Literal["auto", "delta-spark", "delta-rs"] = "auto"
    resolve_backend: Literal["duckdb", "spark"] = "duckdb"
    sandbox_url: str | None = Field(None, description="Use this running sandbox instead of starting one")
    sandbox_seed: int = 42
    sandbox_businesses: int = Field(5000, ge=10)
    sandbox_noise: float = Field(
        1.0, ge=0, description="Scale of the sandbox's provider overlap noise: 0 clean, 1 realistic"
    )
    campaigns_dir: Path = Path("campaigns")
    rate_limits: dict[str, float] = Field(
        default_factory=dict,
        description='Requests/s per provider, over its documented limit: {"<provider>": 2}',
    )
    sandbox_rate_per_s: float = Field(200.0, gt=0, description="Requests/s per provider against the sandbox")
    bronze_flush_rows: int = Field(5000, ge=1, description="Rows buffered per bronze MERGE commit")
    enrich_fresh_days_default: float = Field(
        30.0, ge=0, description="Days an enrichment answer in bronze stays fresh (0: always ask again)"
    )
    enrich_fresh_days: dict[str, float] = Field(
        default_factory=dict,
        description='Days an answer stays fresh per enrichment provider, over the default: {"<name>": 90}',
    )
    enrich_fields: Literal["requested", "score"] = Field(
        "requested",
        description="Fields enrichment looks up for targeted leads: every field of the campaign's providers, "
        "or only those the rules score reads",
    )
    sql_timeout_s: float = Field(60.0, gt=0, description="Statement timeout of `leadlake sql`")

    @field_validator("project_dir")
    @classmethod
    def _absolute_project_dir(cls, v: Path) -> Path:
        return Path(v).expanduser().resolve()

    @field_validator("spark_driver_memory")
    @classmethod
    def _jvm_size(cls, v: str | None) -> str | None:
        return jvm_size(v) if v else None

    @field_validator("rate_limits")
    @classmethod
    def _positive_rates(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: r for k, r in v.items() if not r > 0}
        if bad:
            raise ValueError(f"rates must be positive requests/s per provider, got {bad}")
        return v

    @field_validator("lakehouse_uri")
    @classmethod
    def _lakehouse_scheme(cls, v: str) -> str:
        scheme = urlparse(v).scheme
        if scheme not in ("", "file", "s3", "s3a"):
            raise ValueError(f"scheme '{scheme}://' is not supported; use a local path or s3://bucket/prefix")
        if scheme in ("s3", "s3a") and not urlparse(v).netloc:
            raise ValueError("an s3:// URI needs a bucket: s3://bucket/prefix")
        return v

    @field_validator("sandbox_url", "s3_endpoint_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v and urlparse(v).scheme not in ("http", "https"):
            raise ValueError("expected an http(s):// URL such as http://127.0.0.1:8765")
        return v.rstrip("/") if v else v

    @field_validator("mlflow_tracking_uri")
    @classmethod
    def _tracking_uri(cls, v: str | None) -> str | None:
        # MLflow's own check comes only when a model is loaded, and scoring then falls back to the rules.
        scheme = urlparse(v).scheme.split("+")[0] if v else ""
        if len(scheme) > 1 and scheme not in MLFLOW_SCHEMES:
            raise ValueError(
                "expected a folder, sqlite:///path/mlflow.db, an http(s):// tracking server or a database "
                f"URI ({', '.join(sorted(MLFLOW_SCHEMES))})"
            )
        return v

    @property
    def is_s3(self) -> bool:
        return urlparse(self.lakehouse_uri).scheme in ("s3", "s3a")

    @property
    def lakehouse_root(self) -> str:
        """Absolute local path or the s3:// URI."""
        if self.is_s3:
            return self.lakehouse_uri.replace("s3a://", "s3://").rstrip("/")
        return str(self._anchor(Path(self.lakehouse_uri.removeprefix("file://"))))

    def credential(self, env: str) -> SecretStr | None:
        """A credential named by a connector spec, from the environment or the project's `.env` file."""
        value = os.environ.get(env) or _dotenv(self.project_dir).get(env)
        return SecretStr(value) if value else None

    def base_url(self, env: str, default: str) -> str:
        """A connector's base URL: the override variable when set, else its live default."""
        return (os.environ.get(env) or _dotenv(self.project_dir).get(env) or default).rstrip("/")

    def _anchor(self, path: Path) -> Path:
        """An absolute path; a relative one is taken from the project root, not the current directory."""
        path = path.expanduser()
        return (path if path.is_absolute() else self.project_dir / path).resolve()

    @property
    def is_default_lakehouse(self) -> bool:
        return not self.is_s3 and Path(self.lakehouse_root) == (self.project_dir / "lakehouse").resolve()

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.resolved_state_dir / 'mlflow.db'}"

    @property
    def resolved_state_dir(self) -> Path:
        return self._anchor(self.state_dir)

    @property
    def resolved_campaigns_dir(self) -> Path:
        return self._anchor(self.campaigns_dir)

    @property
    def resolved_airflow_home(self) -> Path:
        """AIRFLOW_HOME when set; else one home per lakehouse, so Airflow runs follow the tables."""
        if self.airflow_home:
            return self._anchor(self.airflow_home)
        if self.is_default_lakehouse:
            return self.project_dir / "airflow_home"
        slug = hashlib.sha256(self.lakehouse_root.encode()).hexdigest()[:12]
        return self.resolved_state_dir / "airflow" / slug

    def storage_options(self) -> dict[str, str]:
        """delta-rs object-store options for the lakehouse URI (empty on the local filesystem)."""
        if not self.is_s3:
            return {}
        opts = {"AWS_REGION": self.s3_region}
        if self.s3_endpoint_url:
            opts |= {"AWS_ENDPOINT_URL": self.s3_endpoint_url, "AWS_ALLOW_HTTP": "true"}
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if os.environ.get(var):
                opts[var] = os.environ[var]
        return opts


def _env_name(loc: tuple) -> str:
    field = str(loc[0]) if loc else "?"
    if field == "airflow_home":
        return "AIRFLOW_HOME"
    return f"LEADLAKE_{field.upper()}"


@cache
def _dotenv(project_dir: Path) -> dict[str, str | None]:
    from dotenv import dotenv_values

    env = project_dir / ".env"
    return dict(dotenv_values(env)) if env.is_file() else {}


@cache
def get_settings() -> Settings:
    """The process-wide settings; raises SettingsError naming the bad variable."""
    try:
        # `.env` is read from the project root found now (cwd may differ from the one at import time).
        return Settings(_env_file=find_project_root() / ".env")
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SettingsError(f"{_env_name(err['loc'])}={err.get('input')!r}: {err['msg']}") from None


def reset_settings() -> None:
    """Forget cached settings (after the environment changed)."""
    get_settings.cache_clear()
    _dotenv.cache_clear()
