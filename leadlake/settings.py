"""Resolved settings: one typed object from the environment and `.env`; a wrong value fails at start."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting with a wrong value; the message names the variable and what it expects."""


class Settings(BaseSettings):
    """Every knob leadlake reads, with the environment variable that sets it."""

    model_config = SettingsConfigDict(env_file=".env", env_prefix="LEADLAKE_", extra="ignore")

    lakehouse_uri: str = Field("./lakehouse", description="Local path or s3://bucket/prefix of the lakehouse")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto)")
    s3_region: str = "us-east-1"
    state_dir: Path = Field(PROJECT_ROOT / ".state", description="Local state: MLflow db, sandbox, logs")
    mlflow_tracking_uri: str | None = Field(None, description="Default: sqlite under state_dir")
    airflow_home: Path | None = Field(None, validation_alias="AIRFLOW_HOME")
    spark_master: str = Field("local[*]", description="Spark master URL")
    delta_backend: Literal["auto", "delta-spark", "delta-rs"] = "auto"
    resolve_backend: Literal["duckdb", "spark"] = "duckdb"
    sandbox_url: str | None = Field(None, description="Use this running sandbox instead of starting one")
    sandbox_seed: int = 42
    sandbox_businesses: int = Field(5000, ge=10)
    campaigns_dir: Path = PROJECT_ROOT / "campaigns"
    rate_limits: dict[str, float] = Field(
        default_factory=dict,
        description='Requests/s per provider, over its documented limit: {"yelp": 2}',
    )
    sandbox_rate_per_s: float = Field(200.0, gt=0, description="Requests/s per provider against the sandbox")
    bronze_flush_rows: int = Field(5000, ge=1, description="Rows buffered per bronze MERGE commit")
    google_places_api_key: SecretStr | None = None
    yelp_api_key: SecretStr | None = None
    hubspot_access_token: SecretStr | None = None
    pdl_api_key: SecretStr | None = None
    hunter_api_key: SecretStr | None = None
    opencorporates_api_token: SecretStr | None = None
    google_places_base_url: str = "https://places.googleapis.com"
    yelp_base_url: str = "https://api.yelp.com"
    hubspot_base_url: str = "https://api.hubapi.com"
    pdl_base_url: str = "https://api.peopledatalabs.com"
    hunter_base_url: str = "https://api.hunter.io"
    opencorporates_base_url: str = "https://api.opencorporates.com"

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

    @property
    def is_s3(self) -> bool:
        return urlparse(self.lakehouse_uri).scheme in ("s3", "s3a")

    @property
    def lakehouse_root(self) -> str:
        """Absolute local path or the s3:// URI."""
        if self.is_s3:
            return self.lakehouse_uri.replace("s3a://", "s3://").rstrip("/")
        return str(Path(self.lakehouse_uri.removeprefix("file://")).expanduser().resolve())

    @property
    def uses_sandbox(self) -> bool:
        """No provider key configured means the sandbox."""
        return not (self.google_places_api_key or self.yelp_api_key)

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.state_dir.resolve() / 'mlflow.db'}"

    @property
    def resolved_airflow_home(self) -> Path:
        return (self.airflow_home or PROJECT_ROOT / "airflow_home").resolve()

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
def get_settings() -> Settings:
    """The process-wide settings; raises SettingsError naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SettingsError(f"{_env_name(err['loc'])}={err.get('input')!r}: {err['msg']}") from None


def reset_settings() -> None:
    """Forget cached settings (after the environment changed)."""
    get_settings.cache_clear()
