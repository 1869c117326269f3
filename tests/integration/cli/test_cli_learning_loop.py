"""The learning loop after a demo, from the CLI as an ML engineer runs it.

`leadlake demo` trains a first model on the sandbox CRM's export of past leads, then one on its own
delivered leads' outcomes, and ends with the champion printed beside the rules baseline; then `leadlake
feedback pull`, `leadlake train`, `leadlake score` on (a copy of) the demo's lakehouse, state and registry:
the registry's `leadlake_lead_scorer@champion` run has the four metrics and both plots, gold.scored_leads
names that version, a second training on the same data does not take the champion's place, and with the
registry deleted scoring falls back to the rules without a crash.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cli_support import DemoRun, cli

from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_SCORED_LEADS, OPS_MODEL_RUNS
from leadlake.ml.spec import DEFAULT_FEATURE_SET
from leadlake.stages.gold.score import MODEL_VERSION

pytestmark = [pytest.mark.e2e, pytest.mark.airflow, pytest.mark.timeout(3000)]

METRICS = ("auc", "pr_auc", "precision_at_top_n", "brier")
PLOTS = ("plots/calibration.png", "plots/feature_importance.png")


@dataclass
class AfterDemo:
    """What the commands printed and what the registry and gold held after each step."""

    pull: subprocess.CompletedProcess[str]
    train: subprocess.CompletedProcess[str]
    score: subprocess.CompletedProcess[str]
    rules_score: subprocess.CompletedProcess[str]
    demo_champion: str = ""
    champion: str | None = None
    challenger: str | None = None
    run_metrics: dict[str, float] = field(default_factory=dict)
    run_artifacts: set[str] = field(default_factory=set)
    gold_versions: set[str] = field(default_factory=set)
    gold_versions_without_registry: set[str] = field(default_factory=set)


def _registry(tracking_uri: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champ = c.get_model_version_by_alias("leadlake_lead_scorer", "champion")
    challenger = c.get_model_version_by_alias("leadlake_lead_scorer", "challenger")
    run = c.get_run(champ.run_id)
    plots = {f.path for f in c.list_artifacts(champ.run_id, "plots")}
    return {
        "champion": str(champ.version),
        "challenger": str(challenger.version),
        "metrics": dict(run.data.metrics),
        "artifacts": plots,
    }


def _gold_versions(lake: Path) -> set[str]:
    return set(Lakehouse(str(lake)).read(GOLD_SCORED_LEADS, columns=["model_version"]).column(0).to_pylist())


@pytest.fixture(scope="module")
def after_demo(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> AfterDemo:
    """pull, train, score on a copy of the demo's lakehouse and state; then score again without a registry.

    A copy, so the other tests sharing the demo keep its lakehouse as the demo left it."""
    assert demo_run.done.returncode == 0, demo_run.done.stderr[-3000:]
    tmp = tmp_path_factory.mktemp("after-demo")
    lake, state = tmp / "lakehouse", tmp / "state"
    shutil.copytree(demo_run.lake, lake)
    shutil.copytree(demo_run.env["LEADLAKE_STATE_DIR"], state)
    env = demo_run.env | {
        "LEADLAKE_LAKEHOUSE_URI": str(lake),
        "LEADLAKE_STATE_DIR": str(state),
        "AIRFLOW_HOME": str(tmp / "airflow"),
    }
    tracking = f"sqlite:///{state / 'mlflow.db'}"
    pull = cli("feedback", "pull", env=env)
    train = cli("train", env=env)
    score = cli("score", env=env)
    out = AfterDemo(pull, train, score, score, demo_champion(demo_run))
    if score.returncode == 0:
        reg = _registry(tracking)
        out.champion, out.challenger = reg["champion"], reg["challenger"]
        out.run_metrics, out.run_artifacts = reg["metrics"], reg["artifacts"]
        out.gold_versions = _gold_versions(lake)
    (state / "mlflow.db").unlink()  # the registry is gone: database and artifacts
    shutil.rmtree(state / "mlartifacts", ignore_errors=True)
    out.rules_score = cli("score", env=env)
    out.gold_versions_without_registry = _gold_versions(lake)
    return out


def demo_champion(demo_run: DemoRun) -> str:
    """The champion version the demo's summary says gold is scored by."""
    found = re.search(r"now scored by xgb-\w+-v(\d+)", demo_run.done.stdout)
    assert found, demo_run.done.stdout[-3000:]
    return found.group(1)


def test_the_demo_ends_with_a_trained_champion_beside_the_rules(demo_run: DemoRun) -> None:
    out = demo_run.done.stdout
    assert demo_run.done.returncode == 0, demo_run.done.stderr[-3000:]
    assert "not trained" not in out, out[-3000:]
    past = out[out.index("past leads:") : out.index("learning loop:")]
    first = re.search(r"model v1\s+auc (\d\.\d{3})", past)
    rules_then = re.search(r"rules baseline\s+auc (\d\.\d{3})", past)
    assert first and rules_then and "first_champion (v1)" in past, past
    assert float(first.group(1)) > float(rules_then.group(1)) + 0.05, past  # past leads teach the model
    runs = Lakehouse(str(demo_run.lake)).read(OPS_MODEL_RUNS).to_pandas()
    trained = runs[runs["trained"]]  # one row per training run: the past leads' and the loop's both kept
    assert {"csv:sandbox_history.csv", "lakehouse"} <= set(trained["source"]), runs.to_dict("records")
    assert trained["run_id"].is_unique
    loop = out[out.index("learning loop:") :]
    champion = re.search(r"champion v(\d+)\s+auc (\d\.\d{3})\s+pr_auc (\d\.\d{3})", loop)
    rules = re.search(r"rules baseline\s+auc (\d\.\d{3})\s+pr_auc (\d\.\d{3})", loop)
    assert champion and rules, loop
    # Precision at the top N is labelled with the rows it was measured on: never more than were held out.
    held_out = int(re.search(r"newest (\d+) held out", loop).group(1))  # type: ignore[union-attr]
    assert all(int(n) <= held_out for n in re.findall(r"p@top(\d+)", loop)), loop
    for line in (champion.group(0), rules.group(0)):
        assert "auc" in line
    assert f"now scored by xgb-{DEFAULT_FEATURE_SET.version}-v{champion.group(1)}" in loop, loop
    assert f"scored by: xgb-{DEFAULT_FEATURE_SET.version}-v" in out  # the summary names the model
    assert "drift" in out


def test_the_demo_keeps_log_lines_and_download_bars_out_of_its_output(demo_run: DemoRun) -> None:
    """stdout is the summary only (it is piped into shell tools): Airflow's in-process runs leave their
    log handlers writing to stdout, so no log line may reach it; drift is said once, by the summary (the
    scoring's own drift record is INFO, for Airflow's task log), and MLflow's artifact download bars are
    off."""
    out, err = demo_run.done.stdout, demo_run.done.stderr
    assert demo_run.done.returncode == 0, err[-3000:]
    assert not re.search(r"\[\s*(debug|info|warning|error)\s*\]", out), out[-3000:]
    assert "leads drifted" not in out + err, err[-3000:]
    assert "drift flagged (PSI > " in out or "drift: " in out, out[-3000:]
    assert "Downloading artifacts" not in out + err


def test_after_the_demo_the_champion_run_has_its_metrics_and_plots(after_demo: AfterDemo) -> None:
    for done in (after_demo.pull, after_demo.train, after_demo.score):
        assert done.returncode == 0, (done.args, done.stderr[-3000:])
    champion = after_demo.demo_champion
    assert after_demo.champion == champion, after_demo.train.stdout
    assert set(METRICS) <= set(after_demo.run_metrics), after_demo.run_metrics
    assert set(PLOTS) <= after_demo.run_artifacts, after_demo.run_artifacts
    model_version = f"xgb-{DEFAULT_FEATURE_SET.version}-v{champion}"
    assert f"with champion v{champion} ({model_version})" in after_demo.score.stdout, after_demo.score.stdout
    assert after_demo.gold_versions == {model_version}


def test_a_second_train_on_the_same_data_does_not_take_the_champions_place(after_demo: AfterDemo) -> None:
    out = after_demo.train.stdout
    assert after_demo.train.returncode == 0, after_demo.train.stderr[-3000:]
    champion = after_demo.demo_champion
    assert "version: 3 " in out and "not promoted" in out and f"v{champion} stays champion" in out, out
    assert (after_demo.champion, after_demo.challenger) == (champion, "3")


def test_without_the_registry_scoring_falls_back_to_the_rules(after_demo: AfterDemo) -> None:
    done = after_demo.rules_score
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert f"with the rules ({MODEL_VERSION})" in done.stdout and "no champion model" in done.stdout
    assert after_demo.gold_versions_without_registry == {MODEL_VERSION}
