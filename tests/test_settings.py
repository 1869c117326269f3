"""Settings: defaults, S3 options, and a wrong value failing with the variable's name."""

from __future__ import annotations

import pytest

from leadlake.core.settings import SettingsError, get_settings, reset_settings


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch):
    # A user's own LEADLAKE_* settings (and Airflow connections) must not change what these tests see.
    import os

    for var in [v for v in os.environ if v.startswith(("LEADLAKE_", "AIRFLOW_CONN_LEADLAKE_"))]:
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    yield
    reset_settings()


def test_defaults_use_the_sandbox_and_a_local_lakehouse(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LEADLAKE_LAKEHOUSE_URI", str(tmp_path / "lake"))
    from leadlake.runtime.resources import uses_sandbox

    s = get_settings()
    assert uses_sandbox(s)
    assert s.lakehouse_root == str(tmp_path / "lake")
    assert s.storage_options() == {}
    assert s.tracking_uri.startswith("sqlite:///")


def test_s3_lakehouse_gets_endpoint_options(monkeypatch) -> None:
    monkeypatch.setenv("LEADLAKE_LAKEHOUSE_URI", "s3://leads/lake")
    monkeypatch.setenv("LEADLAKE_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    s = get_settings()
    assert s.is_s3 and s.lakehouse_root == "s3://leads/lake"
    assert s.storage_options()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert s.storage_options()["AWS_ALLOW_HTTP"] == "true"


@pytest.mark.parametrize(
    ("var", "value", "needle"),
    [
        ("LEADLAKE_LAKEHOUSE_URI", "gs://bucket/x", "LEADLAKE_LAKEHOUSE_URI"),
        ("LEADLAKE_LAKEHOUSE_URI", "s3://", "needs a bucket"),
        ("LEADLAKE_SANDBOX_URL", "127.0.0.1:8765", "LEADLAKE_SANDBOX_URL"),
        ("LEADLAKE_DELTA_BACKEND", "parquet", "LEADLAKE_DELTA_BACKEND"),
        ("LEADLAKE_SANDBOX_BUSINESSES", "many", "LEADLAKE_SANDBOX_BUSINESSES"),
        ("LEADLAKE_SPARK_DRIVER_MEMORY", "4 GB", "LEADLAKE_SPARK_DRIVER_MEMORY"),
        # A misspelt scheme used to pass here and leave scoring on the rules with only a warning.
        (
            "LEADLAKE_MLFLOW_TRACKING_URI",
            "sqllite:///x.db",
            r"URI='sqllite.*expected a folder, sqlite",
        ),
    ],
)
def test_wrong_setting_names_the_variable(monkeypatch, var: str, value: str, needle: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match=needle):
        get_settings()


@pytest.mark.parametrize(
    "uri", ["sqlite:///s/mlflow.db", "postgresql+psycopg2://u@db/mlflow", "http://127.0.0.1:5000", "mlruns"]
)
def test_mlflow_tracking_uris_mlflow_takes_are_taken(monkeypatch, uri: str) -> None:
    monkeypatch.setenv("LEADLAKE_MLFLOW_TRACKING_URI", uri)
    assert get_settings().mlflow_tracking_uri == uri


def test_a_provider_key_turns_the_sandbox_off(monkeypatch) -> None:
    monkeypatch.setenv("LEADLAKE_GOOGLE_PLACES_API_KEY", "real-key")
    from leadlake.runtime.resources import uses_sandbox

    s = get_settings()
    assert not uses_sandbox(s)
    assert "real-key" not in repr(s)


def test_provider_key_from_an_airflow_connection(monkeypatch) -> None:
    """With no LEADLAKE_* key, the Airflow connection leadlake_<provider> supplies key and base URL."""
    from leadlake.runtime.resources import ConfigError, credentials

    monkeypatch.delenv("LEADLAKE_YELP_API_KEY", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_LEADLAKE_YELP", raising=False)
    with pytest.raises(ConfigError, match="LEADLAKE_YELP_API_KEY.*leadlake_yelp"):
        credentials(get_settings(), "yelp")
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEADLAKE_YELP",
        '{"conn_type": "http", "password": "yelp-secret", "host": "http://127.0.0.1:9"}',
    )
    assert credentials(get_settings(), "yelp") == ("yelp-secret", "http://127.0.0.1:9")


def test_rate_limits_sandbox_and_override(monkeypatch) -> None:
    from leadlake.runtime.resources import Resources

    def rate() -> float:
        return Resources.from_settings(get_settings()).connector("yelp").rate_limit().rate_per_s

    monkeypatch.setenv("LEADLAKE_SANDBOX_URL", "http://127.0.0.1:9")
    assert rate() == get_settings().sandbox_rate_per_s
    monkeypatch.setenv("LEADLAKE_RATE_LIMITS", '{"yelp": 3.5}')
    reset_settings()
    assert rate() == 3.5
    monkeypatch.delenv("LEADLAKE_SANDBOX_URL")
    monkeypatch.delenv("LEADLAKE_RATE_LIMITS")
    monkeypatch.setenv("LEADLAKE_YELP_API_KEY", "live")
    reset_settings()
    assert rate() == 5.0  # Yelp's documented QPS
