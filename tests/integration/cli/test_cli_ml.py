"""`leadlake train` and `leadlake score` as a user runs them, against a sqlite MLflow registry under tmp.

Training reads a CSV of past leads with a learnable signal (rating, reviews and a website raise the odds of
a win); scoring re-scores a small gold.scored_leads with the champion, or with the rules once the registry
is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from cli_support import CAMPAIGN, ROOT, cli, free_port, one_line_error, scratch_env
from support.pipeline import SILVER_LEAD_SCHEMA, silver_lead

from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_SCORED_LEADS, SILVER_LEAD_OUTCOMES
from leadlake.ml.spec import DEFAULT_FEATURE_SET
from leadlake.stages.gold.build import GOLD_COLUMNS, score_frame
from leadlake.stages.gold.features import FEATURE_TYPES, FEATURES
from leadlake.stages.gold.score import MODEL_VERSION
from leadlake.stages.silver.outcomes import outcomes_schema, parse_label_rules

pytestmark = pytest.mark.e2e

METRICS = ("auc", "pr_auc", "precision_at_top_n", "brier")


def labels_csv(path: Path, n: int = 400, seed: int = 3) -> Path:
    """Past leads in file order (oldest first) with an outcome that follows rating, reviews and website."""
    rng = np.random.default_rng(seed)
    rating = np.clip(rng.normal(4.0, 0.5, n), 1.0, 5.0).round(1)
    reviews = rng.lognormal(3.5, 1.0, n).astype("int64")
    site = rng.random(n) < 0.6
    logit = 4.0 * (rating - 4.0) + 1.5 * (np.log1p(reviews) - 3.5) + 2.0 * (site - 0.6) - 0.2
    won = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    pd.DataFrame(
        {
            "lead_id": [f"P{i:04d}" for i in range(n)],
            "name": [f"Business {i}" for i in range(n)],
            "rating": rating,
            "review_count": reviews,
            "website": [f"https://b{i}.example.com" if s else "" for i, s in enumerate(site)],
            "domain": [f"b{i}.example.com" if s else "" for i, s in enumerate(site)],
            "phone_e164": [f"+1303555{i:04d}" for i in range(n)],
            "phone_is_toll_free": [i % 9 == 0 for i in range(n)],
            "source_count": rng.integers(1, 4, n),
            "categories": [rng.choice(["plumber", "electrician", "roofer"]) for _ in range(n)],
            "vertical": rng.choice(["local_services", "ecommerce"], n),
            "outcome": np.where(won, "won", "lost"),
        }
    ).to_csv(path, index=False)
    return path


def write_gold(lake_root: Path, n: int = 25) -> pd.DataFrame:
    """A small gold.scored_leads as the gold stage writes it: silver leads scored by the rules."""
    rng = np.random.default_rng(5)
    empty = {f: None for f in FEATURES} | {"tech_signals": [], "email_verified_domain": False}
    leads = pd.DataFrame(
        [
            empty
            | silver_lead(
                f"L{i:03d}",
                f"Shop {i}",
                rating=round(float(rng.uniform(3.0, 5.0)), 1),
                review_count=int(rng.integers(1, 300)),
                website=f"https://shop{i}.example.com" if i % 2 else None,
                domain=f"shop{i}.example.com" if i % 2 else None,
                phone_e164=f"+1720555{i:04d}",
                categories=["plumber"],
            )
            for i in range(n)
        ]
    )
    scored = score_frame(leads, {})
    known = {f.name: f.type for f in SILVER_LEAD_SCHEMA} | FEATURE_TYPES
    known |= {
        "lead_score": pa.int64(),
        "score_reasons": pa.list_(pa.string()),
        "scored_at": pa.timestamp("us", tz="UTC"),
    }
    schema = pa.schema([(c, known.get(c, pa.string())) for c in GOLD_COLUMNS])
    Lakehouse(str(lake_root)).overwrite(
        GOLD_SCORED_LEADS, pa.Table.from_pandas(scored, schema=schema, preserve_index=False)
    )
    return scored


def write_outcomes(lake_root: Path, gold: pd.DataFrame) -> None:
    """silver.lead_outcomes for the gold leads: delivered one hour apart, qualified when well rated; the
    last ten still open (null label), and every fifth lead delivered to a second CRM too."""
    rng = np.random.default_rng(9)
    schema = outcomes_schema(parse_label_rules())
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i, lead in enumerate(gold.to_dict("records")):
        good = (lead["rating"] >= 4.0) != (rng.random() < 0.1)
        label = None if i >= len(gold) - 10 else bool(good)
        for dest in ("hubspot", "salesforce")[: 2 if i % 5 == 0 else 1]:
            row = {f.name: None for f in schema} | {
                "destination": dest,
                "lead_id": lead["lead_id"],
                "crm_id": f"{dest}-{i}",
                "delivered_at": start + timedelta(hours=i),
                "qualified_or_won_90d": label,
            }
            rows.append(row)
    Lakehouse(str(lake_root)).overwrite(SILVER_LEAD_OUTCOMES, pa.Table.from_pylist(rows, schema=schema))


def model_versions(lake_root: Path) -> set[str]:
    return set(Lakehouse(str(lake_root)).read(GOLD_SCORED_LEADS).column("model_version").to_pylist())


@dataclass
class Trained:
    env: dict[str, str]
    tmp: Path
    csv: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Two `leadlake train` runs on the same CSV, against a fresh sqlite registry."""
    tmp = tmp_path_factory.mktemp("cli-ml")
    env = scratch_env(tmp, LEADLAKE_MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}")
    csv = labels_csv(tmp / "past_leads.csv")
    first = cli("train", "--labels", str(csv), env=env)
    second = cli("train", "--labels", str(csv), env=env)
    return Trained(env, tmp, csv, first, second)


def test_train_from_a_labels_csv_promotes_the_first_champion_with_its_metrics(trained: Trained) -> None:
    done = trained.first
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for metric in METRICS:
        match = re.search(rf"\b{metric} (\d\.\d{{4}})", out)
        assert match, (metric, out)
    auc = float(re.search(r"\bauc (\d\.\d{4})", out).group(1))  # type: ignore[union-attr]
    assert auc > 0.7, out  # the signal is learnable
    assert "version: 1 " in out, out
    assert "promoted to champion: v1 is the first champion" in out, out
    assert " INFO " not in done.stderr, done.stderr  # MLflow's "Creating initial MLflow database tables"
    assert "Created version" not in done.stderr and "registered model" not in done.stderr, done.stderr


def test_a_second_train_on_the_same_data_does_not_replace_the_champion(trained: Trained) -> None:
    done = trained.second
    assert done.returncode == 0, done.stderr[-3000:]
    assert "version: 2 " in done.stdout, done.stdout
    assert "not promoted" in done.stdout and "v1 stays champion" in done.stdout, done.stdout


def test_score_input_scores_a_file_of_new_leads_with_the_champion(trained: Trained) -> None:
    """The next list, as a CRM exports it: its own column names and text come back as they were, with scores
    that rank its (held back) outcomes; piped in and out (`-i - -o -`) it is the same CSV; the lakehouse is
    not touched."""
    new = pd.read_csv(labels_csv(trained.tmp / "next.csv", n=300, seed=11), dtype=str, keep_default_na=False)
    held = new.pop("outcome").eq("won")
    new = new.rename(columns={"name": "Company name", "review_count": "Number of Reviews"})
    new.insert(2, "Postal Code", "02134")
    path, scored = trained.tmp / "next-export.csv", trained.tmp / "next-scored.csv"
    new.to_csv(path, index=False)

    done = cli("score", "--input", str(path), "--output", str(scored), env=trained.env)
    assert done.returncode == 0, done.stderr[-3000:]
    xgb_v1 = f"xgb-{DEFAULT_FEATURE_SET.version}-v1"
    assert f"scored 300 leads with champion v1 ({xgb_v1})" in done.stdout, done.stdout
    assert "Number of Reviews read as review_count" in done.stdout, done.stdout
    assert re.search(r"not in the file \(scored as unknown\): .*employee_count", done.stdout), done.stdout
    out = pd.read_csv(scored, dtype=str, keep_default_na=False)
    assert out.columns.tolist() == [
        *new.columns,
        "lead_score",
        "priority_tier",
        "score_reasons",
        "model_version",
    ]
    pd.testing.assert_frame_equal(out[new.columns], new)  # the file's own text, "02134" included
    points = out["lead_score"].astype(int)
    assert points.between(0, 100).all() and out["priority_tier"].isin(["A", "B", "C"]).all()
    assert set(out["model_version"]) == {xgb_v1} and out["score_reasons"].ne("").all()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(held, points) > 0.7  # the champion's ranking carries to leads it never saw

    piped = cli("score", "-i", "-", "-o", "-", env=trained.env, stdin=path.read_text())
    assert piped.returncode == 0, piped.stderr[-3000:]
    assert piped.stdout == scored.read_text(), piped.stdout[:500]
    assert "scored 300 leads" in piped.stderr
    assert not Lakehouse(trained.env["LEADLAKE_LAKEHOUSE_URI"]).exists(GOLD_SCORED_LEADS)
    notes, nothing = trained.tmp / "notes.csv", trained.tmp / "nothing.csv"
    notes.write_text("exported from the CRM\n2026-11-30\n")
    one_line_error(
        cli("score", "-i", str(notes), "-o", str(nothing), env=trained.env), "none of its columns", "--sheet"
    )
    assert not nothing.exists()

    new.insert(3, "lat", "39.74")  # in Denver: the campaign's distance is known, and blank verticals are its
    new.insert(4, "lon", "-104.99")
    new.loc[:9, "vertical"] = ""
    new.to_csv(path, index=False)
    framed = cli("score", "-i", str(path), "-o", str(scored), "--campaign", str(CAMPAIGN), env=trained.env)
    assert framed.returncode == 0, framed.stderr[-3000:]
    for said in (
        "vertical local_services from campaign denver_home_services (10 rows)",
        "distance_km to campaign denver_home_services's areas (300 rows with coordinates)",
    ):
        assert said in framed.stdout, framed.stdout
    assert (
        pd.read_csv(scored, dtype=str, keep_default_na=False)["vertical"].tolist() == new["vertical"].tolist()
    )


def test_score_input_without_a_champion_scores_with_the_rules(tmp_path: Path) -> None:
    """No registry yet: the file is scored by the rules baseline as gold would score it (each row says
    rules-v1 and why it scored), in a campaign's context when one is given; no registry is created."""
    env = scratch_env(tmp_path, LEADLAKE_MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    leads, out = labels_csv(tmp_path / "leads.csv", n=300), tmp_path / "scored.csv"
    given = pd.read_csv(leads, dtype=str, keep_default_na=False)
    done = cli("score", "--input", str(leads), "--output", str(out), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"scored 300 leads with the rules ({MODEL_VERSION})" in done.stdout, done.stdout
    assert "no champion model: no model registry" in done.stdout, done.stdout
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(scored[given.columns], given)
    assert set(scored["model_version"]) == {MODEL_VERSION}
    high = given["rating"].astype(float).ge(4.3) & given["review_count"].astype(int).ge(50)
    assert scored["score_reasons"].str.contains("+25 high rating", regex=False).tolist() == high.tolist()
    direct = scored["score_reasons"].str.contains("direct (not toll-free) phone", regex=False)
    assert direct.tolist() == given["phone_is_toll_free"].eq("False").tolist()
    site = scored["score_reasons"].str.contains("website on a registered domain", regex=False)
    assert site.tolist() == given["website"].ne("").tolist()
    assert not scored["score_reasons"].str.contains("target area").any()  # no campaign: distance unknown
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(given["outcome"].eq("won"), scored["lead_score"].astype(int)) > 0.6

    given.insert(3, "lat", "39.74")  # in Denver, inside the campaign's areas
    given.insert(4, "lon", "-104.99")
    given.drop(columns=["domain", "phone_is_toll_free"]).to_csv(leads, index=False)
    framed = cli("score", "-i", str(leads), "-o", str(out), "--campaign", str(CAMPAIGN), env=env)
    assert framed.returncode == 0, framed.stderr[-3000:]
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert scored["score_reasons"].str.contains("+10 within 25 km of the target area", regex=False).all()
    # the domain from the website, and every +1303555 number a direct line
    domains = scored["score_reasons"].str.contains("website on a registered domain", regex=False)
    assert domains.tolist() == site.tolist()
    assert scored["score_reasons"].str.contains("direct (not toll-free) phone", regex=False).all()
    unknown = re.search(r"not in the file \(scored as unknown\): (.*)", framed.stdout)
    assert unknown and "email_verified_domain" in unknown.group(1), framed.stdout
    assert "domain" not in unknown.group(1).replace("email_verified_domain", ""), framed.stdout

    notes = tmp_path / "notes.csv"
    notes.write_text("exported from the CRM\n2026-11-30\n")
    out.unlink()
    one_line_error(cli("score", "-i", str(notes), "-o", str(out), env=env), "the rules baseline", "--sheet")
    one_line_error(cli("score", "--output", str(out), env=env), "--output goes with --input FILE")
    one_line_error(cli("score", "--input", str(leads), env=env), "--output is missing")
    assert not out.exists() and not (tmp_path / "mlflow.db").exists()


def test_score_uses_the_champion_and_falls_back_to_the_rules_without_a_registry(trained: Trained) -> None:
    lake = Path(trained.env["LEADLAKE_LAKEHOUSE_URI"])
    write_gold(lake)
    assert model_versions(lake) == {MODEL_VERSION}

    done = cli("score", env=trained.env)
    assert done.returncode == 0, done.stderr[-3000:]
    xgb_v1 = f"xgb-{DEFAULT_FEATURE_SET.version}-v1"
    assert f"scored 25 leads in gold.scored_leads with champion v1 ({xgb_v1})" in done.stdout, done.stdout
    assert "drift" in done.stdout
    # the labels CSV had no employee count: gold's is not drift of anything the champion weighs
    assert re.search(r"not weighed by champion v1 .*: .*employee_count", done.stdout), done.stdout
    assert not re.search(r"drift \(PSI.*employee_count", done.stdout), done.stdout
    assert "INFO" not in done.stdout + done.stderr and "WARNING" not in done.stderr, done.stderr
    assert model_versions(lake) == {xgb_v1}
    rows = Lakehouse(str(lake)).read(GOLD_SCORED_LEADS).to_pylist()
    assert all(0 <= r["lead_score"] <= 100 and r["priority_tier"] in "ABC" for r in rows)
    assert all(r["score_reasons"] for r in rows)

    shutil.rmtree(trained.tmp / "mlflow")  # the registry (database and artifacts) is gone
    done = cli("score", env=trained.env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"scored 25 leads in gold.scored_leads with the rules ({MODEL_VERSION})" in done.stdout
    assert "no champion model" in done.stdout
    assert model_versions(lake) == {MODEL_VERSION}


def test_train_refuses_a_labels_csv_without_an_outcome_column(tmp_path: Path) -> None:
    env = scratch_env(tmp_path, LEADLAKE_MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    bad = tmp_path / "no_outcome.csv"
    pd.read_csv(labels_csv(tmp_path / "good.csv", n=50)).drop(columns=["outcome"]).to_csv(bad, index=False)
    one_line_error(cli("train", "--labels", str(bad), env=env), "no `outcome` column", str(bad))
    assert not (tmp_path / "mlflow.db").exists()


def test_train_refuses_too_few_labelled_rows_in_one_line(tmp_path: Path) -> None:
    env = scratch_env(tmp_path, LEADLAKE_MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    small = labels_csv(tmp_path / "small.csv", n=30)
    one_line_error(cli("train", "--labels", str(small), env=env), "cannot train", "30 labelled rows")


def test_train_from_gold_and_lead_outcomes_uses_the_known_labels(tmp_path: Path) -> None:
    env = scratch_env(tmp_path, LEADLAKE_MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    lake = Path(env["LEADLAKE_LAKEHOUSE_URI"])
    write_outcomes(lake, write_gold(lake, n=160))
    done = cli("train", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    # 150 leads with a known label (10 still open), the newest 20% held out.
    assert "on 120 leads, held out the newest 30" in done.stdout, done.stdout
    assert "(top 30)" in done.stdout, done.stdout  # precision over the 30 held out, not "top 50"
    assert "promoted to champion: v1 is the first champion" in done.stdout, done.stdout

    one_line_error(cli("train", "--label", "won_365d", env=env), "no label column 'won_365d'", "replied_30d")


def test_train_without_labels_or_lake_tables_says_what_to_run(tmp_path: Path) -> None:
    env = scratch_env(tmp_path)
    one_line_error(cli("train", env=env), "gold.scored_leads does not exist yet")


def test_the_sandbox_crm_history_trains_a_first_model_that_beats_the_rules(tmp_path: Path) -> None:
    """`leadlake sandbox history` writes past leads and outcomes a team would export from its CRM;
    `leadlake train --labels` on it learns a model that ranks the newest of them better than the rules."""
    env = scratch_env(tmp_path, LEADLAKE_MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    csv = tmp_path / "exports" / "past_leads.csv"
    done = cli("sandbox", "history", "--out", str(csv), "--businesses", "2000", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    leads, positives = (
        int(x.replace(",", "")) for x in re.findall(r"([\d,]+) (?:past leads|qualified)", done.stdout)
    )
    history = pd.read_csv(csv)
    assert len(history) == leads > 1000 and history["outcome"].sum() == positives > 100
    assert set(history["outcome"]) == {0, 1} and history["lead_id"].is_unique
    assert pd.to_datetime(history["delivered_at"]).is_monotonic_increasing
    assert history["rating"].notna().mean() > 0.9 and history["rules_score"].between(0, 100).all()
    assert history["categories"].str.startswith("[").all()  # JSON lists, as --labels reads them
    # What the pipeline's own leads carry: the register's answer, each lead its past campaign's vertical.
    assert history["company_status"].notna().mean() > 0.5
    assert {"local_services", "healthcare", "other"} <= set(history["vertical"])

    trained = cli("train", "--labels", str(csv), env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    model = float(re.search(r"metrics \(held-out\): auc (\d\.\d{4})", trained.stdout).group(1))  # type: ignore[union-attr]
    rules = float(re.search(r"rules baseline \(same rows\): auc (\d\.\d{4})", trained.stdout).group(1))  # type: ignore[union-attr]
    assert model > rules + 0.05, trained.stdout
    assert "promoted to champion: v1 is the first champion" in trained.stdout


def test_a_hubspot_export_trains_with_its_own_column_names_and_lifecycle_stage(tmp_path: Path) -> None:
    """A CRM export as HubSpot writes it: "Record ID", "Website URL", "Number of Employees", "Create Date"
    and the outcome as "Lifecycle Stage". Its columns are read as the lead columns (the output says which),
    customer or opportunity counts as qualified, and the model learns from them. Columns that are no lead
    column at all train nothing: refused in one line, nothing registered."""
    env = scratch_env(tmp_path, LEADLAKE_MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    rng = np.random.default_rng(11)
    n = 400
    employees = rng.lognormal(2.5, 1.0, n).round().astype("int64") + 1
    site = rng.random(n) < 0.6
    logit = 1.2 * (np.log(employees) - 2.5) + 2.0 * (site - 0.6) - 0.8
    won = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    stage = np.where(won, rng.choice(["Customer", "Opportunity", "salesqualifiedlead"], n), "Lead")
    created = [
        (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M") for i in range(n)
    ]
    export = pd.DataFrame(
        {
            "Record ID": [str(9000 + i) for i in range(n)],
            "Company name": [f"Business {i}" for i in range(n)],
            "Website URL": [f"https://b{i}.example.com" if s else "" for i, s in enumerate(site)],
            "Number of Employees": employees,
            "Create Date": created,
            "Lifecycle Stage": stage,
        }
    ).sample(frac=1.0, random_state=3)  # an export's row order is not time order: Create Date is
    path = tmp_path / "hubspot-companies.csv"
    export.to_csv(path, index=False)
    done = cli("train", "--labels", str(path), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    notes = next(line for line in done.stdout.splitlines() if line.startswith("columns: "))
    for said in ("Website URL read as website", "Number of Employees read as employee_count",
                 "Lifecycle Stage read as outcome"):  # fmt: skip
        assert said in notes, notes
    auc = float(re.search(r"metrics \(held-out\): auc (\d\.\d{4})", done.stdout).group(1))  # type: ignore[union-attr]
    assert auc > 0.6, done.stdout
    assert f"({int(won.sum())} positives)" in done.stdout
    # The same export saved as .xlsx (HubSpot's default), numbers as number cells, 20 companies with no
    # stage yet: those are left out (their outcome is not known), the rest read alike.
    import xlsxwriter

    staged = export.assign(**{"Lifecycle Stage": export["Lifecycle Stage"].where(export.index >= 20, "")})
    book = xlsxwriter.Workbook(str(tmp_path / "hubspot-companies.xlsx"))
    sheet = book.add_worksheet("Companies")
    sheet.write_row(0, 0, list(staged.columns))
    for r, row in enumerate(staged.itertuples(index=False), start=1):
        sheet.write_row(r, 0, [None if v == "" else v for v in row])
    book.close()
    workbook = cli("train", "--labels", str(tmp_path / "hubspot-companies.xlsx"), env=env)
    assert workbook.returncode == 0, workbook.stderr[-3000:]
    assert "20 rows without an outcome left out" in workbook.stdout, workbook.stdout
    assert f"({int(won[20:].sum())} positives)" in workbook.stdout

    blank = tmp_path / "names-only.csv"
    export[["Record ID", "Company name", "Lifecycle Stage"]].to_csv(blank, index=False)
    env2 = scratch_env(tmp_path / "b", LEADLAKE_MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'b.db'}")
    one_line_error(
        cli("train", "--labels", str(blank), env=env2), "no feature of fs2 varies", "lead_id, name"
    )
    unknown = tmp_path / "status.csv"
    export.assign(**{"Lifecycle Stage": "Nurturing"}).to_csv(unknown, index=False)
    one_line_error(
        cli("train", "--labels", str(unknown), env=env2), "`Lifecycle Stage` must be", "'nurturing'"
    )


def test_a_windows_excel_export_trains_with_its_encoding_and_the_file_options_are_checked(
    tmp_path: Path,
) -> None:
    """A CSV Excel saved on Windows (cp1252, semicolons): refused in one line naming --encoding, trained
    with it; --sheet on a CSV and the file options without --labels are one-line errors that write nothing."""
    env = scratch_env(tmp_path, LEADLAKE_MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    past = pd.read_csv(labels_csv(tmp_path / "past.csv"))
    past["name"] = [f"Café Nº {i}" for i in range(len(past))]
    export = tmp_path / "export.csv"
    export.write_bytes(past.to_csv(index=False, sep=";", lineterminator="\r\n").encode("cp1252"))
    one_line_error(cli("train", "--labels", str(export), env=env), "not UTF-8", "--encoding cp1252")
    one_line_error(
        cli("train", "--labels", str(export), "--sheet", "Deals", env=env), "--sheet Deals", "not a workbook"
    )
    one_line_error(cli("train", "--encoding", "cp1252", env=env), "--encoding", "give --labels FILE")
    assert not (tmp_path / "mlflow.db").exists()
    done = cli("train", "--labels", str(export), "--encoding", "cp1252", "--campaign", str(CAMPAIGN), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distance_km unknown: no row has lat and lon" in done.stdout, done.stdout  # read in its context
    assert re.search(r"trained xgb-\S+ on \d+ leads", done.stdout), done.stdout
    assert "promoted to champion" in done.stdout


def test_the_readmes_mlflow_ui_command_serves_the_runs_plots_and_registry(tmp_path: Path) -> None:
    """The README's `mlflow ui` line, run as written from a project root whose .state holds the registry
    of a `leadlake train` (its port swapped for a free one): the champion alias, its run's four metrics and
    both plots answer."""
    readme = (ROOT / "README.md").read_text().splitlines()
    line = next(ln for ln in readme if " ui --backend-store-uri " in ln)
    project = tmp_path / "project"
    project.mkdir()
    env = scratch_env(tmp_path, LEADLAKE_STATE_DIR=str(project / ".state"))  # the demo's registry's place
    done = cli("train", "--labels", str(labels_csv(tmp_path / "past_leads.csv")), env=env, cwd=project)
    assert done.returncode == 0 and (project / ".state" / "mlflow.db").is_file(), done.stderr[-3000:]
    port = free_port()
    args = line.split("#")[0].split()
    args[0] = str(Path(sys.executable).with_name("mlflow"))  # .venv/bin/mlflow of this checkout
    args[args.index("--port") + 1] = str(port)
    log = (tmp_path / "mlflow-ui.log").open("w")
    proc = subprocess.Popen(
        args, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:  # bounded wait until the server answers (it imports MLflow's whole app first)
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlflow ui did not answer in 180 s"
            try:
                proc.wait(timeout=0.5)  # waits on the process: returns early if the server exited
                raise AssertionError((tmp_path / "mlflow-ui.log").read_text()[-3000:])
            except subprocess.TimeoutExpired:
                pass
        api = f"{url}/api/2.0/mlflow"
        alias = httpx.get(
            f"{api}/registered-models/alias", params={"name": "leadlake_lead_scorer", "alias": "champion"}
        )
        assert alias.status_code == 200, alias.text
        version = alias.json()["model_version"]
        assert version["version"] == "1", version
        run = httpx.get(f"{api}/runs/get", params={"run_id": version["run_id"]}).json()["run"]
        assert set(METRICS) <= {m["key"] for m in run["data"]["metrics"]}, run["data"]["metrics"]
        listed = httpx.get(f"{api}/artifacts/list", params={"run_id": version["run_id"], "path": "plots"})
        plots = {f["path"] for f in listed.json().get("files", [])}
        assert plots >= {"plots/calibration.png", "plots/feature_importance.png"}, listed.text
        for plot in sorted(plots):
            got = httpx.get(f"{url}/get-artifact", params={"path": plot, "run_uuid": version["run_id"]})
            assert got.status_code == 200 and got.content.startswith(b"\x89PNG"), (plot, got.status_code)
        assert httpx.get(url).status_code == 200  # the UI's page itself
    finally:
        with contextlib.suppress(ProcessLookupError):  # its whole group: the server and its workers
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
