"""The model registry side: where runs and models live, and loading the champion for scoring.

Models are versions of MODEL_NAME in MLflow's registry; the alias CHALLENGER names the newest trained one,
CHAMPION the one gold scores with. Each version carries its bundle header (feature set, encoding, drift
reference) as `extra_files/scorer.json` next to the XGBoost model, so a version loads on its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse, urlunparse

from leadlake.ml.model import MODEL_NAME, LeadScorer
from leadlake.ml.spec import FeatureSet

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger("leadlake.ml.registry")

CHAMPION, CHALLENGER = "champion", "challenger"
SCORER_FILE = "scorer.json"  # the bundle header, an extra file of the logged model
ARTIFACTS_DIR = "mlartifacts"  # next to a sqlite database: where its runs' artifacts go


@dataclass
class Champion:
    """The scorer gold uses, with its registry version, feature set and training-data reference stats."""

    model: LeadScorer
    version: str
    run_id: str

    @property
    def feature_set(self) -> FeatureSet:
        return self.model.feature_set

    @property
    def reference(self) -> dict[str, dict[str, Any]]:
        """Training-data distributions (drift.reference_stats), for drift.psi_table."""
        return self.model.reference


def redact(uri: str) -> str:
    """A URI fit for a log line: no user or password."""
    p = urlparse(uri)
    if p.username or p.password:
        host = p.hostname or ""
        return urlunparse(p._replace(netloc=f"***@{host}" + (f":{p.port}" if p.port else "")))
    return uri


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def registry_exists(tracking_uri: str) -> bool:
    """False when a local registry (sqlite file or file:// folder) is not there; True for servers."""
    db = _sqlite_path(tracking_uri)
    if db is not None:
        return db.is_file()
    if tracking_uri.startswith("file:") or "://" not in tracking_uri:
        return Path(tracking_uri.removeprefix("file://")).exists()
    return True


def artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """Where a new experiment's artifacts go: beside a sqlite database (not ./mlruns in the cwd), else the
    server's default (None)."""
    db = _sqlite_path(tracking_uri)
    if db is None:
        return None
    return (db.parent.resolve() / ARTIFACTS_DIR / experiment).as_uri()


def client(tracking_uri: str) -> MlflowClient:
    """An MLflow client whose tracking and registry are both `tracking_uri`."""
    from mlflow import MlflowClient

    db = _sqlite_path(tracking_uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@contextlib.contextmanager
def tracking(tracking_uri: str) -> Iterator[None]:
    """MLflow's fluent API (start_run, log_*) pointed at `tracking_uri` for the block, restored after."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved


def alias_version(c: MlflowClient, alias: str, name: str = MODEL_NAME) -> str | None:
    """The version an alias points at; None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(c.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def load_version(tracking_uri: str, version: str, name: str = MODEL_NAME) -> tuple[LeadScorer, str]:
    """A registered version's scorer and its run id; raises when it cannot be loaded."""
    import mlflow.artifacts
    import mlflow.xgboost

    c = client(tracking_uri)
    mv = c.get_model_version(name, version)
    # models:/ URIs resolve through the process-wide registry: point it at ours for the download too.
    with tracking(tracking_uri):
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", tracking_uri=tracking_uri, registry_uri=tracking_uri
        )
        meta = json.loads((Path(local) / "extra_files" / SCORER_FILE).read_text())
        booster = mlflow.xgboost.load_model(local)
    scorer = LeadScorer.from_meta(meta, booster)
    scorer.version = str(version)
    return scorer, str(mv.run_id or "")


def load_champion(tracking_uri: str, name: str = MODEL_NAME, alias: str = CHAMPION) -> Champion | None:
    """The champion scorer, or None (with one warning saying why) when there is no registry, no champion,
    or it fails to load; never raises for those. Gold then falls back to the rules baseline."""
    if not registry_exists(tracking_uri):
        log.warning("no model registry at %s: no champion to score with", redact(tracking_uri))
        return None
    try:
        version = alias_version(client(tracking_uri), alias, name)
    except Exception as exc:  # noqa: BLE001 - an unreadable registry means "no champion", said once
        log.warning("model registry at %s unreadable: %s", redact(tracking_uri), exc)
        return None
    if version is None:
        log.warning("no %s of %s in the registry at %s", alias, name, redact(tracking_uri))
        return None
    try:
        scorer, run_id = load_version(tracking_uri, version, name)
    except Exception as exc:  # noqa: BLE001 - a broken model is reported and skipped, not fatal
        log.warning("%s %s version %s failed to load: %s: %s", name, alias, version, type(exc).__name__, exc)
        return None
    return Champion(model=scorer, version=version, run_id=run_id)
