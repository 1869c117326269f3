"""Silver: each delivered lead's outcome in the CRM, and its training labels, from bronze.crm_outcomes.

One row per (destination, live lead): the latest snapshot of its CRM company (lifecycle stage, lead status,
the date it entered each stage, close date) and one boolean column per label rule. Label rules are data
(LABEL_RULES below, or a YAML list of the same mappings): a lead is positive when it entered one of the
rule's stages within `within_days` of its delivery (the company's createdate), negative once that window
has passed without it, and null while the window is still open (censored: not yet known).

Merged companies are followed to their survivor: a company listed in another's hs_merged_object_ids is no
row of its own; its lead id (and any lead id a re-keyed company carried before) goes into the survivor's
`merged_lead_ids`. The table is rebuilt from bronze on every run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from leadlake.core.normalize import parse_timestamp
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import BRONZE_CRM_OUTCOMES, GOLD_CRM_DELIVERIES, SILVER_LEAD_OUTCOMES

log = logging.getLogger("leadlake.stages.silver.outcomes")

STAGES = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "other")
STAGE_RANK = {stage: n for n, stage in enumerate(STAGES)}
STAGE_COLUMNS = {  # lifecycle stage -> the column holding the instant the company entered it
    "lead": "entered_lead_at",
    "marketingqualifiedlead": "entered_mql_at",
    "salesqualifiedlead": "entered_sql_at",
    "opportunity": "entered_opportunity_at",
    "customer": "entered_customer_at",
    "other": "entered_other_at",
}
DATE_ENTERED = ("hs_v2_date_entered_{stage}", "hs_lifecyclestage_{stage}_date")

# The labels, as data: name, the stages that count, the window after delivery, what it means.
LABEL_RULES: tuple[Mapping[str, Any], ...] = (
    {
        "name": "qualified_or_won_90d",
        "stages": ["salesqualifiedlead", "opportunity", "customer"],
        "within_days": 90,
        "description": "reached salesqualifiedlead, opportunity or customer within 90 days of delivery",
    },
    {
        "name": "replied_30d",
        "stages": ["marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"],
        "within_days": 30,
        "description": "answered sales (marketingqualifiedlead or beyond) within 30 days of delivery",
    },
    {
        "name": "won_180d",
        "stages": ["customer"],
        "within_days": 180,
        "description": "became a customer within 180 days of delivery",
    },
)


class LabelRuleError(ValueError):
    """A label rule that cannot be applied: the message names the rule and the problem."""


@dataclass(frozen=True)
class LabelRule:
    """Positive when the lead entered one of `stages` within `within_days` of its delivery."""

    name: str
    stages: tuple[str, ...]
    within_days: int
    description: str = ""

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> LabelRule:
        name = doc.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise LabelRuleError(f"label rule {doc!r}: name must be an identifier")
        stages = doc.get("stages")
        if isinstance(stages, str):
            stages = [stages]
        if not stages or not isinstance(stages, list | tuple):
            raise LabelRuleError(f"label rule {name}: stages must be a non-empty list")
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise LabelRuleError(f"label rule {name}: unknown stages {unknown} (known: {list(STAGES)})")
        days = doc.get("within_days")
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            raise LabelRuleError(f"label rule {name}: within_days must be a positive integer")
        return cls(name, tuple(stages), days, str(doc.get("description") or ""))

    def label(self, row: Mapping[str, Any], as_of: datetime) -> bool | None:
        """True, False, or None while the window is still open."""
        delivered = row["delivered_at"]
        if delivered is None:
            return None
        end = delivered + timedelta(days=self.within_days)
        for stage in self.stages:
            entered = row.get(STAGE_COLUMNS[stage])
            if entered is not None and entered <= end:
                return True
        return False if as_of >= end else None


def parse_label_rules(rules: Iterable[Mapping[str, Any] | LabelRule] = LABEL_RULES) -> list[LabelRule]:
    """Parsed rules, names unique."""
    parsed = [r if isinstance(r, LabelRule) else LabelRule.parse(r) for r in rules]
    names = [r.name for r in parsed]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LabelRuleError(f"label rules {dupes} are defined twice")
    clash = sorted(set(names) & set(BASE_SCHEMA.names))
    if clash:
        raise LabelRuleError(f"label rules {clash} clash with columns of {SILVER_LEAD_OUTCOMES}")
    return parsed


def load_label_rules(path: str | Path) -> list[LabelRule]:
    """Label rules from YAML: a list of {name, stages, within_days, description}, or {labels: [...]}."""
    import yaml

    from leadlake.core.yaml_errors import yaml_error_line

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise LabelRuleError(f"{path}: {yaml_error_line(exc)}") from None
    if isinstance(doc, dict):
        doc = doc.get("labels")
    if not isinstance(doc, list):
        raise LabelRuleError(f"{path}: expected a list of label rules (or a mapping with `labels:`)")
    return parse_label_rules(doc)


_TS = pa.timestamp("us", tz="UTC")
BASE_SCHEMA = pa.schema(
    [
        ("destination", pa.string()),
        ("lead_id", pa.string()),  # the live lead whose company this is (its leadlake_id)
        ("crm_id", pa.string()),
        ("merged_lead_ids", pa.list_(pa.string())),  # leads whose companies now live in this one
        ("merged_crm_ids", pa.list_(pa.string())),
        ("delivered_at", _TS),  # when the CRM created the company (the lead's first delivery)
        ("lifecyclestage", pa.string()),  # the outcome stage now
        ("stage_rank", pa.int64()),  # position of lifecyclestage in STAGES (other = lost)
        ("lead_status", pa.string()),
        *((column, _TS) for column in STAGE_COLUMNS.values()),
        ("closed_at", _TS),
        ("last_modified_at", _TS),
        ("as_of", _TS),  # the latest instant the CRM has told us about: labels are judged at it
        ("run_id", pa.string()),
        ("updated_at", _TS),
    ]
)


def outcomes_schema(rules: Sequence[LabelRule]) -> pa.Schema:
    """silver.lead_outcomes: the base columns, then one nullable boolean per label rule."""
    schema = BASE_SCHEMA
    for rule in rules:
        schema = schema.append(pa.field(rule.name, pa.bool_()))
    return schema


@dataclass
class OutcomesReport:
    """What one rebuild of silver.lead_outcomes saw and wrote."""

    run_id: str
    snapshots: int = 0  # bronze rows read
    leads: int = 0  # rows written
    merged: int = 0  # companies followed to their survivor
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> {positive, negative, open}
    seconds: float = 0.0


def _split(value: object) -> list[str]:
    return [v for v in str(value or "").split(";") if v]


def _latest(snapshots: list[dict]) -> dict[tuple[str, str], dict]:
    """The newest snapshot of each (destination, crm_id)."""
    latest: dict[tuple[str, str], dict] = {}
    for row in snapshots:
        key = (row["destination"], row["crm_id"])
        order = (row["last_modified_at"] or datetime.min.replace(tzinfo=UTC), row["fetched_at"])
        seen = latest.get(key)
        if seen is None or order > (
            seen["last_modified_at"] or datetime.min.replace(tzinfo=UTC),
            seen["fetched_at"],
        ):
            latest[key] = row
    return latest


def _ledger(lakehouse: Lakehouse) -> dict[tuple[str, str], str]:
    """(destination, crm_id) -> the lead delivered as that company (for companies merged before a pull)."""
    if not lakehouse.exists(GOLD_CRM_DELIVERIES):
        return {}
    rows = lakehouse.read(GOLD_CRM_DELIVERIES, columns=["destination", "lead_id", "crm_id"]).to_pylist()
    return {(r["destination"], r["crm_id"]): r["lead_id"] for r in rows if r["crm_id"]}


def build_outcomes(
    lakehouse: Lakehouse,
    run_id: str,
    label_rules: Iterable[Mapping[str, Any] | LabelRule] = LABEL_RULES,
) -> OutcomesReport:
    """Rebuild silver.lead_outcomes from bronze.crm_outcomes with these label rules."""
    t0 = time.perf_counter()
    rules = parse_label_rules(label_rules)
    report = OutcomesReport(run_id, labels={r.name: {"positive": 0, "negative": 0, "open": 0} for r in rules})
    schema = outcomes_schema(rules)
    if not lakehouse.exists(BRONZE_CRM_OUTCOMES):
        report.seconds = time.perf_counter() - t0
        return report
    snapshots = lakehouse.read(BRONZE_CRM_OUTCOMES).to_pylist()
    report.snapshots = len(snapshots)
    # Every lead id each company carried, oldest first (a re-keyed company changed its leadlake_id).
    carried: dict[tuple[str, str], list[str]] = {}
    for row in sorted(snapshots, key=lambda r: (r["last_modified_at"] or r["fetched_at"], r["fetched_at"])):
        if row["leadlake_id"]:
            ids = carried.setdefault((row["destination"], row["crm_id"]), [])
            if row["leadlake_id"] not in ids:
                ids.append(row["leadlake_id"])
    latest = _latest(snapshots)
    ledger = _ledger(lakehouse)
    as_of = max(
        [r["last_modified_at"] for r in snapshots if r["last_modified_at"]]
        + [r["fetched_at"] for r in snapshots]
    )
    docs = {key: json.loads(row["payload"]) for key, row in latest.items()}
    merged_into: dict[tuple[str, str], tuple[str, str]] = {}
    for (dest, crm_id), doc in docs.items():
        for gone in _split((doc.get("properties") or {}).get("hs_merged_object_ids")):
            merged_into[(dest, gone)] = (dest, crm_id)
    now = datetime.now(UTC)
    out = []
    for key, row in latest.items():
        if key in merged_into:
            continue
        dest, crm_id = key
        props = docs[key].get("properties") or {}
        gone = [k for k, v in merged_into.items() if v == key]
        merged_leads = list(carried.get(key, [])[:-1])
        for g in gone:
            merged_leads += carried.get(g) or ([ledger[g]] if g in ledger else [])
        lead_id = props.get("leadlake_id") or row["leadlake_id"]
        if not lead_id:
            continue
        stage = props.get("lifecyclestage") or None
        record: dict[str, Any] = {
            "destination": dest,
            "lead_id": lead_id,
            "crm_id": crm_id,
            "merged_lead_ids": sorted({m for m in merged_leads if m != lead_id}),
            "merged_crm_ids": sorted(g[1] for g in gone),
            "delivered_at": parse_timestamp(props.get("createdate") or docs[key].get("createdAt")),
            "lifecyclestage": stage,
            "stage_rank": STAGE_RANK.get(stage) if stage else None,
            "lead_status": props.get("hs_lead_status") or None,
            "closed_at": parse_timestamp(props.get("closedate")),
            "last_modified_at": row["last_modified_at"],
            "as_of": as_of,
            "run_id": run_id,
            "updated_at": now,
        }
        for stage_name, column in STAGE_COLUMNS.items():
            entered = (parse_timestamp(props.get(p.format(stage=stage_name))) for p in DATE_ENTERED)
            record[column] = next((t for t in entered if t), None)
        for rule in rules:
            value = rule.label(record, as_of)
            record[rule.name] = value
            report.labels[rule.name]["open" if value is None else "positive" if value else "negative"] += 1
        report.merged += len(gone)
        out.append(record)
    out.sort(key=lambda r: (r["destination"], r["lead_id"]))
    lakehouse.overwrite(SILVER_LEAD_OUTCOMES, pa.Table.from_pylist(out, schema=schema))
    report.leads = len(out)
    report.seconds = time.perf_counter() - t0
    log.info(
        "lead outcomes: %d leads from %d snapshots (%d merged)", report.leads, report.snapshots, report.merged
    )
    return report
