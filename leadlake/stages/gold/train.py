"""The `train` stage: labelled leads -> an XGBoost scorer in MLflow, registered and promoted if it wins.

Training rows are gold.lead_features (the rows gold scores, so no train/serve skew) of the leads whose label
silver.lead_outcomes knows, oldest delivery first (the split is by time); or a CSV of past leads with an
`outcome` column (`leadlake train --labels FILE.csv`), for a team that has a CRM export and no feedback yet.
Each run is recorded in ops.model_runs beside MLflow: the version it registered, the promotion decision and
the held-out metrics of the new model, the champion and the rules baseline, on the same rows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from leadlake.lakehouse.catalog import (
    GOLD_LEAD_FEATURES,
    GOLD_SCORED_LEADS,
    OPS_MODEL_RUNS,
    SILVER_LEAD_OUTCOMES,
)

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec
    from leadlake.lakehouse import Lakehouse
    from leadlake.ml.spec import FeatureSet

log = logging.getLogger("leadlake.stages.gold.train")

DEFAULT_LABEL = "qualified_or_won_90d"
OUTCOME = "outcome"  # the label column of a --labels CSV
POSITIVE = {"1", "1.0", "won", "win", "true", "yes", "y", "t", "positive"}
NEGATIVE = {"0", "0.0", "lost", "loss", "false", "no", "n", "f", "negative"}
# A CRM export says how far a lead got as a stage (HubSpot's lifecycle and deal stages, Salesforce's stage
# names): qualified or won is 1, as the default label rule (qualified_or_won_90d) counts it.
POSITIVE_STAGES = {
    "customer", "evangelist", "opportunity", "salesqualifiedlead", "sales qualified lead", "sql", "qualified",
    "converted", "closed won", "closedwon",
}  # fmt: skip
NEGATIVE_STAGES = {
    "subscriber", "lead", "marketingqualifiedlead", "marketing qualified lead", "mql", "other", "unqualified",
    "disqualified", "closed lost", "closedlost",
}  # fmt: skip
# Other names of the outcome column in exports, tried in this order when there is no `outcome`.
OUTCOME_COLUMNS = (
    "label", "won", "is_won", "converted", "is_converted", "lifecycle_stage", "deal_stage", "dealstage",
    "stage", "stage_name", "lead_status", "status",
)  # fmt: skip
# The time the split orders rows by: when the lead was delivered, else when the CRM created it.
TIME_COLUMNS = (
    "as_of", "delivered_at", "create_date", "created_at", "created_date", "createdate", "date_created",
    "created",
)  # fmt: skip
# The lead columns training reads, by the names CRM exports give them (after core.columns' aliases, which
# name the input columns of `leadlake resolve`: record_id, phone, address, category, ...).
LEAD_COLUMN_OF_INPUT = {
    "record_id": "lead_id", "phone": "phone_e164", "address": "address_line1", "category": "categories",
}  # fmt: skip
TRAINING_ALIASES = {
    "number_of_employees": "employee_count", "employees": "employee_count", "num_employees": "employee_count",
    "year_founded": "founded_year", "founded": "founded_year", "stars": "rating", "reviews": "review_count",
    "reviews_count": "review_count", "number_of_reviews": "review_count",
    "user_ratings_total": "review_count", "technologies": "tech_signals", "tech_stack": "tech_signals",
}  # fmt: skip
LIST_COLUMNS = ("categories", "tech_signals", "campaign_ids", "providers")
# The fewest labelled leads the stage trains on, and of each class. Below ml.train's own default (100): a
# small campaign (the demo's 3,000-business world delivers ~100 leads) still gets a first model; the time
# split holds out the newest 20%, which must hold both classes, and the champion is only replaced by a model
# that beats it on the very same rows, so a noisy small first model is improved on, not trusted blindly.
MIN_LABELLED = 80
MIN_PER_CLASS = 10


class TrainingDataError(ValueError):
    """Training data that cannot be read (a missing table or column, a bad CSV); the message says the fix."""


@dataclass
class TrainingData:
    """Rows (lead_id, features, rules_score when known), 0/1 labels and as_of times, aligned, oldest first."""

    rows: pd.DataFrame
    labels: pd.Series
    as_of: pd.Series
    versions: dict[str, int] = field(default_factory=dict)  # Delta versions of the tables read
    source: str = "lakehouse"
    label: str = DEFAULT_LABEL
    notes: tuple[str, ...] = ()  # how a CSV's columns were read ("number_of_employees read as ...")


@dataclass
class TrainReport:
    """One training run: whether it trained (and why not), what it registered and decided, its metrics."""

    trained: bool = False
    reason: str | None = None  # why nothing was trained
    label: str = DEFAULT_LABEL
    source: str = "lakehouse"
    feature_set: str = ""
    labelled: int = 0
    positives: int = 0
    n_train: int = 0
    n_holdout: int = 0
    version: str | None = None  # the registered version (alias challenger)
    mlflow_run_id: str | None = None
    decision: str | None = None
    promoted: bool = False
    champion_version: str | None = None  # after the decision
    previous_champion: str | None = None
    model_version: str | None = None  # what gold.scored_leads says once the champion scores
    top_n: int = 0
    margin: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)  # the new model's, on the held-out rows
    champion_metrics: dict[str, float] | None = None  # the previous champion's, on the same rows
    rules_metrics: dict[str, float] | None = None  # the rules baseline's, on the same rows
    auc_gain_low: float = math.nan  # lower confidence bound of the AUC gain over the champion (ml.train)
    data_versions: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # how the training data's columns were read

    @property
    def champion_now(self) -> dict[str, float]:
        """The champion's held-out metrics after the decision (the new model's when it was promoted)."""
        if self.promoted or self.champion_metrics is None:
            return self.metrics
        return self.champion_metrics


# ---- training data --------------------------------------------------------------------------------------


def _outcome(values: pd.Series, path: Path, column: str = OUTCOME) -> pd.Series:
    """1/0 from 1/0, won/lost, true/false or a CRM stage (POSITIVE_STAGES, NEGATIVE_STAGES; any case), NaN
    where it is blank (not known yet); anything else is an error naming the values."""
    text = values.map(
        lambda v: "" if v is None or v != v else " ".join(str(v).replace("_", " ").lower().split())
    )
    positive, negative = POSITIVE | POSITIVE_STAGES, NEGATIVE | NEGATIVE_STAGES
    bad = sorted(set(text) - positive - negative - {""})
    if bad:
        shown = ", ".join(repr(b) for b in bad[:3]) + (", ..." if len(bad) > 3 else "")
        raise TrainingDataError(
            f"{path}: `{column}` must be 1/0, won/lost, true/false or a CRM stage (customer, opportunity, "
            f"lead, closed won, ...); found {shown}: add an `{OUTCOME}` column of 1/0"
        )
    return text.isin(positive).astype("int64").where(text != "")


def _lead_headers(headers: list[str]) -> list[str]:
    """A CSV's headers (already header_name'd) as lead columns: names training reads stay, TRAINING_ALIASES
    and core.columns' aliases (mapped by LEAD_COLUMN_OF_INPUT) name the rest."""
    from leadlake.core.columns import aliased
    from leadlake.ml.spec import DERIVED, FEATURE_SETS

    known = {"lead_id", OUTCOME, "rules_score", "domain", "name", "lat", "lon", *TIME_COLUMNS}
    for fs in FEATURE_SETS.values():
        known |= set(fs.columns)
    known |= {source for _, source in DERIVED.values()}
    taken = set(headers)
    out = list(headers)
    general, _ = aliased(headers)
    for i, h in enumerate(headers):
        if h in known:
            continue
        target = TRAINING_ALIASES.get(h) or LEAD_COLUMN_OF_INPUT.get(general[i], general[i])
        if target != h and target not in taken and (target in known or h in TRAINING_ALIASES):
            out[i] = target
            taken.add(target)
    return out


def _typed(text: pd.DataFrame) -> pd.DataFrame:
    """Text columns typed as pandas types a CSV's columns (numbers as numbers, blanks as missing)."""
    import io

    buffer = io.StringIO()
    text.to_csv(buffer, index=False)
    buffer.seek(0)
    return pd.read_csv(buffer, dtype={"lead_id": str})


def _as_list(value: Any) -> Any:
    """A list column read from CSV: a JSON list, or items separated by ';' or '|'."""
    if not isinstance(value, str):
        return value if isinstance(value, list) else []
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return [str(x) for x in parsed]
    for sep in (";", "|"):
        if sep in text:
            return [p.strip() for p in text.split(sep) if p.strip()]
    return [text] if text else []


@dataclass
class LeadFile:
    """A file of leads read for the model: typed columns named as training reads them, list columns as lists,
    a lead_id (row numbers when the file has none); `given`: the file's own name of each column."""

    frame: pd.DataFrame
    given: dict[str, str]
    notes: tuple[str, ...]
    text: pd.DataFrame  # the file as read: its own column names, every value as text


def read_lead_file(
    path: Path, encoding: str | None = None, sheet: str | None = None, option: str = "--labels"
) -> LeadFile:
    """A file of leads (a CSV of any dialect, encoding or compression, Parquet, or a workbook's sheet, as
    `leadlake resolve` reads them) with its columns named as training reads them (_lead_headers).
    TrainingDataError names `option`, the file and the fix."""
    from leadlake.core.columns import header_name
    from leadlake.core.spreadsheets import is_workbook_file
    from leadlake.core.table_files import TableFileError, read_table_file

    if sheet is not None and path.is_file() and not is_workbook_file(path):
        raise TrainingDataError(
            f"--sheet {sheet}: {path} is not a workbook; leave --sheet out for a CSV file"
        )
    try:
        text = read_table_file(
            path, encoding, sheet, option=option, rows="a header row, then one row per lead"
        )
    except TableFileError as exc:
        raise TrainingDataError(f"{option} {exc}") from exc
    if not len(text.columns):
        raise TrainingDataError(
            f"{option} {path} has no columns; expected a header row, then one row per lead"
        )
    df = _typed(text)
    given = list(map(str, df.columns))
    headers = _lead_headers([header_name(c) for c in given])
    notes = tuple(f"{g} read as {h}" for g, h in zip(given, headers, strict=True) if h != header_name(g))
    if len(set(headers)) < len(headers):
        twice = next(h for h in headers if headers.count(h) > 1)
        raise TrainingDataError(f"{option} {path}: two columns read as {twice}; keep one of them")
    df = df.set_axis(headers, axis=1)
    named = dict(zip(headers, given, strict=True))
    if "lead_id" not in df.columns:
        df.insert(0, "lead_id", [f"row{i}" for i in range(len(df))])
    df["lead_id"] = df["lead_id"].astype(str)
    for col in LIST_COLUMNS:
        if col in df.columns:
            df[col] = df[col].map(_as_list)
    return LeadFile(df, named, notes, text)


def with_campaign(leads: LeadFile, spec: CampaignSpec) -> LeadFile:
    """The file's leads in a campaign's context, as gold holds its own: `vertical` where the file leaves it
    blank, and `distance_km` to the campaign's nearest area centre where the file has coordinates and no
    distance of its own."""
    from leadlake.ml.spec import campaign_distance_km

    df, notes = leads.frame.copy(), list(leads.notes)
    given = df["vertical"] if "vertical" in df.columns else pd.Series(None, index=df.index, dtype=object)
    blank = given.isna() | given.astype(str).str.strip().eq("")
    if blank.any():
        df["vertical"] = given.astype(object).where(~blank, spec.vertical)
        notes.append(f"vertical {spec.vertical} from campaign {spec.campaign_id} ({int(blank.sum()):,} rows)")
    if "distance_km" not in df.columns or df["distance_km"].isna().all():
        df["distance_km"] = campaign_distance_km(df, {spec.campaign_id: spec}).to_numpy()
        known = int(df["distance_km"].notna().sum())
        notes.append(
            f"distance_km to campaign {spec.campaign_id}'s areas ({known:,} rows with coordinates)"
            if known
            else "distance_km unknown: no row has lat and lon"
        )
    return dataclasses.replace(leads, frame=df, notes=tuple(notes))


def csv_rows(
    path: Path, encoding: str | None = None, sheet: str | None = None, campaign: CampaignSpec | None = None
) -> TrainingData:
    """Leads, labels and as_of times from a file of past leads (read_lead_file: canonical lead columns or a
    CRM export's names for them, and `outcome` or a stage column), in `campaign`'s context when given
    (with_campaign). The time split uses `as_of` or `delivered_at` when the file has one, else the row order
    (oldest first)."""
    leads = read_lead_file(path, encoding, sheet)
    if campaign is not None:
        leads = with_campaign(leads, campaign)
    df, notes = leads.frame, leads.notes
    headers = list(leads.given)
    outcome = OUTCOME if OUTCOME in headers else next((c for c in OUTCOME_COLUMNS if c in headers), None)
    if outcome is None:
        given = list(leads.given.values())
        cols = ", ".join(given[:8]) + (", ..." if len(given) > 8 else "")
        raise TrainingDataError(
            f"--labels {path}: no `{OUTCOME}` column (1/0, won/lost, true/false, or a CRM stage such as "
            f"Lifecycle Stage); columns: {cols or 'none'}"
        )
    named = leads.given[outcome]
    labels = _outcome(df.pop(outcome), path, named)
    if outcome != OUTCOME:
        notes = (*notes, f"{named} read as {OUTCOME}")
    unknown = labels.isna().to_numpy()
    if unknown.any():  # as silver.lead_outcomes leaves out the leads whose label is not known yet
        df, labels = df[~unknown], labels[~unknown]
        notes = (*notes, f"{int(unknown.sum()):,} rows without an outcome left out")
    labels = labels.astype("int64")
    time_col = next((c for c in TIME_COLUMNS if c in df.columns), None)
    if time_col is not None:
        when = leads.given.get(time_col, time_col)
        as_of = pd.to_datetime(df[time_col], utc=True, errors="coerce", format="mixed")
        undated = as_of.isna().to_numpy()
        if undated.all():
            raise TrainingDataError(
                f"--labels {path}: no value of {when} is a date ({df[time_col].iloc[0]!r} first); "
                "give dates such as 2026-03-31, or leave the column out to hold out the last rows"
            )
        if undated.any():  # as rows without an outcome: left out, said, the rest trains
            raw = df[time_col][undated]
            given = raw[raw.notna() & (raw.astype(str).str.strip() != "")]
            example = f" (such as {given.iloc[0]!r})" if len(given) else ""
            notes = (*notes, f"{int(undated.sum()):,} rows whose {when} is not a date{example} left out")
            df, labels, as_of = df[~undated], labels[~undated], as_of[~undated]
        notes = (*notes, f"{when} orders the rows: the newest are held out")
    else:  # row order: one second apart, so the newest rows are the last ones
        notes = (*notes, "no date column (as_of, delivered_at, Create Date, ...): the last rows are held out")
        as_of = pd.Series(pd.Timestamp("2000-01-01", tz="UTC") + pd.to_timedelta(range(len(df)), unit="s"))
    return TrainingData(
        df.reset_index(drop=True),
        labels.reset_index(drop=True),
        as_of.reset_index(drop=True),
        source=f"csv:{path.name}",
        label=OUTCOME,
        notes=tuple(notes),
    )


def _labels(outcomes: pd.DataFrame, label: str, rules: list[str]) -> pd.DataFrame:
    """Per lead with a known label: y (0/1) and as_of (its first delivery), indexed by lead_id."""
    if label not in outcomes.columns:
        raise TrainingDataError(
            f"{SILVER_LEAD_OUTCOMES} has no label column {label!r}"
            + (f" (label columns: {', '.join(rules)})" if rules else "")
        )
    known = outcomes.dropna(subset=["lead_id", label])
    per_lead = known.groupby("lead_id").agg(y=(label, "max"), as_of=("delivered_at", "min"))
    per_lead["y"] = per_lead["y"].astype(bool).astype("int64")
    per_lead["as_of"] = pd.to_datetime(per_lead["as_of"], utc=True)
    return per_lead


def lake_rows(
    lake: Lakehouse, label: str = DEFAULT_LABEL, feature_set: FeatureSet | None = None, run_id: str = "train"
) -> TrainingData:
    """gold.lead_features of the delivered leads whose `label` silver.lead_outcomes knows, oldest first,
    with each lead's rules score (for the baseline on the same rows) and the Delta versions read."""
    from leadlake.ml.spec import DEFAULT_FEATURE_SET
    from leadlake.stages.gold.lead_features import ensure_features

    fs = feature_set or DEFAULT_FEATURE_SET
    for table, how in (
        (GOLD_SCORED_LEADS, "run the pipeline first (leadlake run), or train from --labels FILE.csv"),
        (
            SILVER_LEAD_OUTCOMES,
            "pull CRM outcomes first (leadlake feedback pull), or train from --labels FILE.csv",
        ),
    ):
        if not lake.exists(table):
            raise TrainingDataError(f"{table} does not exist yet: {how}")
    outcomes_version = int(lake.version(SILVER_LEAD_OUTCOMES))
    table = lake.read(SILVER_LEAD_OUTCOMES, version=outcomes_version)
    # silver.lead_outcomes holds one boolean column per label rule and no other boolean column
    rules = [f.name for f in table.schema if pa.types.is_boolean(f.type)]
    per_lead = _labels(table.to_pandas(), label, rules)
    features = ensure_features(lake, fs, run_id)
    versions = {
        GOLD_LEAD_FEATURES: int(lake.version(GOLD_LEAD_FEATURES)),
        SILVER_LEAD_OUTCOMES: outcomes_version,
    }
    rows = features[features["lead_id"].isin(per_lead.index)].copy()
    gold = lake.read(GOLD_SCORED_LEADS).to_pandas()
    if "rules_score" not in gold.columns:  # a gold built before rules_score: its scores are the rules'
        gold["rules_score"] = gold["lead_score"].where(gold["model_version"].str.startswith("rules"))
    rows = rows.merge(gold[["lead_id", "rules_score"]], on="lead_id", how="left")
    rows["__as_of"] = rows["lead_id"].map(per_lead["as_of"])
    rows = rows.sort_values(["__as_of", "lead_id"], kind="stable").reset_index(drop=True)
    as_of = rows.pop("__as_of").rename("as_of")
    y = rows["lead_id"].map(per_lead["y"]).astype("int64").rename(label)
    return TrainingData(rows, y, as_of, versions, "lakehouse", label)


# ---- training -------------------------------------------------------------------------------------------


def _rules_metrics(data: TrainingData, top_n: int, holdout_fraction: float) -> dict[str, float] | None:
    """The rules baseline's metrics on the rows the model was judged on; None without rules scores."""
    from leadlake.ml.evaluate import baseline_metrics
    from leadlake.ml.train import time_split

    if "rules_score" not in data.rows.columns:
        return None
    _, held = time_split(data.as_of, holdout_fraction)
    scores = pd.to_numeric(data.rows["rules_score"], errors="coerce").iloc[held]
    if scores.isna().any():
        return None
    return baseline_metrics(data.labels.iloc[held], scores, top_n)


def train_model(
    data: TrainingData,
    tracking_uri: str,
    *,
    margin: float | None = None,
    min_rows: int | None = None,
    tags: Mapping[str, str] | None = None,
) -> TrainReport:
    """Fit, evaluate on the newest rows, log to MLflow, register, promote if it wins; a report either way
    (trained=False with the reason when the data cannot train a model)."""
    from leadlake.ml import train as ml_train
    from leadlake.ml.spec import DEFAULT_FEATURE_SET

    margin = ml_train.PROMOTE_MARGIN if margin is None else margin
    min_rows = MIN_LABELLED if min_rows is None else min_rows
    report = TrainReport(
        label=data.label,
        source=data.source,
        feature_set=DEFAULT_FEATURE_SET.version,
        labelled=len(data.labels),
        positives=int(data.labels.sum()),
        top_n=ml_train.TOP_N,
        margin=margin,
        data_versions=dict(data.versions),
    )
    features = data.rows.drop(columns=[c for c in ("rules_score",) if c in data.rows.columns])
    negatives = report.labelled - report.positives
    if report.labelled >= min_rows and min(report.positives, negatives) < MIN_PER_CLASS:
        report.reason = (
            f"cannot train: {report.positives} positive and {negatives} negative labelled rows; "
            f"training needs at least {MIN_PER_CLASS} of each"
        )
        log.info("%s", report.reason)
        return report
    try:
        result = ml_train.train(
            features,
            data.labels,
            as_of=data.as_of,
            tracking_uri=tracking_uri,
            data_versions=data.versions,
            top_n=ml_train.TOP_N,
            promote_margin=margin,
            min_rows=min_rows,
            tags={"label": data.label, "source": data.source, **dict(tags or {})},
        )
    except ml_train.TrainingRefused as exc:
        report.reason = f"cannot train: {exc}"
        log.info("%s", report.reason)
        return report
    report.trained = True
    report.version, report.mlflow_run_id = result.version, result.run_id
    report.decision, report.promoted = result.decision, result.promoted
    report.champion_version, report.previous_champion = result.champion_version, result.previous_champion
    report.n_train, report.n_holdout = result.n_train, result.n_holdout
    report.metrics, report.champion_metrics = dict(result.metrics), result.champion_metrics
    report.auc_gain_low = result.auc_gain_low
    scorer = result.scorer
    if scorer is not None:
        report.model_version = scorer.model_version if result.promoted else None
    if report.model_version is None:
        report.model_version = f"xgb-{report.feature_set}-v{result.champion_version}"
    report.rules_metrics = _rules_metrics(data, ml_train.TOP_N, ml_train.HOLDOUT_FRACTION)
    if report.rules_metrics:
        _log_rules_metrics(tracking_uri, result.run_id, report.rules_metrics)
    return report


def _log_rules_metrics(tracking_uri: str, run_id: str, rules: Mapping[str, float]) -> None:
    """The rules baseline's held-out metrics on the training run, beside the model's (rules_auc, ...)."""
    from leadlake.ml.registry import client

    c = client(tracking_uri)
    for name, value in rules.items():
        if not math.isnan(value):
            c.log_metric(run_id, f"rules_{name}", float(value))


# ---- ops.model_runs -------------------------------------------------------------------------------------

MODEL_RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("trained_at", pa.timestamp("us", tz="UTC")),
        ("trained", pa.bool_()),
        ("reason", pa.string()),
        ("label", pa.string()),
        ("source", pa.string()),
        ("feature_set", pa.string()),
        ("labelled", pa.int64()),
        ("positives", pa.int64()),
        ("n_train", pa.int64()),
        ("n_holdout", pa.int64()),
        ("mlflow_run_id", pa.string()),
        ("version", pa.string()),
        ("decision", pa.string()),
        ("promoted", pa.bool_()),
        ("champion_version", pa.string()),
        ("metrics_json", pa.string()),  # {"model": {...}, "champion": {...}, "rules": {...}}
        ("data_versions_json", pa.string()),
    ]
)


def record_model_run(lake: Lakehouse, run_id: str, report: TrainReport) -> None:
    """One row per training run in ops.model_runs (trained or not, and why)."""
    metrics = {"model": report.metrics, "champion": report.champion_metrics, "rules": report.rules_metrics}
    row = {
        "run_id": run_id,
        "trained_at": datetime.now(UTC),
        "trained": report.trained,
        "reason": report.reason,
        "label": report.label,
        "source": report.source,
        "feature_set": report.feature_set,
        "labelled": report.labelled,
        "positives": report.positives,
        "n_train": report.n_train,
        "n_holdout": report.n_holdout,
        "mlflow_run_id": report.mlflow_run_id,
        "version": report.version,
        "decision": report.decision,
        "promoted": report.promoted,
        "champion_version": report.champion_version,
        "metrics_json": json.dumps(metrics, sort_keys=True, default=str),
        "data_versions_json": json.dumps(report.data_versions, sort_keys=True),
    }
    lake.merge(OPS_MODEL_RUNS, pa.Table.from_pylist([row], schema=MODEL_RUNS_SCHEMA), ["run_id"])


def run_train(
    lake: Lakehouse,
    tracking_uri: str,
    run_id: str,
    *,
    label: str = DEFAULT_LABEL,
    margin: float | None = None,
    labels_csv: str | Path | None = None,
    labels_encoding: str | None = None,
    labels_sheet: str | None = None,
    labels_campaign: str | Path | None = None,
    min_rows: int | None = None,
) -> TrainReport:
    """The stage: training data from the lakehouse (or the `labels_csv` file: its encoding, its workbook's
    sheet, the campaign file whose context it is read in), train, record in ops.model_runs.

    Raises TrainingDataError for a bad CSV or label; data that cannot train yet (no outcomes, too few labels)
    gives a report with trained=False and the reason, so a scheduled run waits for more labels."""
    try:
        if labels_csv is not None:
            from leadlake.core.campaign import load_campaign

            spec = load_campaign(labels_campaign) if labels_campaign is not None else None
            data = csv_rows(Path(labels_csv), labels_encoding, labels_sheet, spec)
        else:
            data = lake_rows(lake, label, run_id=run_id)
    except TrainingDataError as exc:
        if labels_csv is not None or "does not exist yet" not in str(exc):
            raise
        report = TrainReport(reason=str(exc), label=label)
        log.info("not trained: %s", exc)
    else:
        report = train_model(data, tracking_uri, margin=margin, min_rows=min_rows, tags={"run_id": run_id})
        report.notes = data.notes
    record_model_run(lake, run_id, report)
    return report
