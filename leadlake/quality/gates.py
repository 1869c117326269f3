"""Great Expectations quality gates: one suite per table in expectations/<layer>.<table>.json.

Each expectation's `meta.gate` says what a failure means: "row" = the failing rows are quarantined
(split_valid) and the publish carries on; "table" = the publish stops (enforce raises QualityGateFailed).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # GE takes ~8 s to import: only the functions that validate pay for it
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context import AbstractDataContext

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
TABLES: tuple[str, ...] = (
    "bronze.places_raw",
    "bronze.yelp_businesses_raw",
    "silver.source_records",
    "silver.leads",
    "gold.scored_leads",
)
QUARANTINE_COLUMN = "quarantine_reason"
# GE's COMPLETE format is the one that returns every unexpected row index, not just the first 20.
_RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 3,
}
_lock = threading.Lock()


@dataclass(frozen=True)
class QualityResult:
    """Outcome of one table's suite on one dataframe; `evaluated` counts the checks that ran."""

    table: str
    success: bool
    evaluated: int
    failed: list[str]  # one line per failed check: "<table> <column>: <rule> failed: <observed>"
    unexpected_index: dict[str, list[int]]  # row-level check label -> failing row positions
    rows: int = 0
    gate_failed: list[str] = field(default_factory=list)  # the subset of `failed` that stops a publish


class QualityGateFailed(Exception):
    """A table-level check (uniqueness, schema, column type) failed: the table must not be published."""

    def __init__(self, result: QualityResult) -> None:
        self.result = result
        super().__init__(
            f"quality gate failed for {result.table} ({result.rows} rows): " + "; ".join(result.gate_failed)
        )


def suite_path(table: str) -> Path:
    """The suite file of `table` ("<layer>.<table>"): expectations/<layer>.<table>.json."""
    return EXPECTATIONS_DIR / f"{table}.json"


def validate(table: str, df: pd.DataFrame) -> QualityResult:
    """Run the table's suite (plus its code-level checks) on df."""
    return _run(table, df)[0]


def split_valid(table: str, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(good rows, bad rows + `quarantine_reason`), from the row-level checks; df's index is kept."""
    result, errored = _run(table, df)
    if errored:  # a row check that could not run cannot tell good rows from bad ones
        raise QualityGateFailed(result)
    reasons: dict[int, list[str]] = {}
    for label, positions in result.unexpected_index.items():
        for pos in positions:
            reasons.setdefault(pos, []).append(label)
    bad_pos = sorted(reasons)
    if not bad_pos:  # the usual case: no copy of what may be millions of rows
        return df, df.iloc[:0].assign(**{QUARANTINE_COLUMN: pd.Series(dtype=object)})
    keep = np.ones(len(df), dtype=bool)
    keep[bad_pos] = False
    good = df.iloc[np.flatnonzero(keep)]
    bad = df.iloc[bad_pos].copy()
    bad[QUARANTINE_COLUMN] = ["; ".join(reasons[i]) for i in bad_pos]
    return good, bad


def enforce(table: str, df: pd.DataFrame) -> QualityResult:
    """Validate df and raise QualityGateFailed if a table-level check failed; row failures are returned."""
    result = validate(table, df)
    if result.gate_failed:
        raise QualityGateFailed(result)
    return result


# ------------------------------------------------------------------------------------------ internals


@cache
def _context() -> AbstractDataContext:
    """The process-wide ephemeral GE context with one pandas data source."""
    import logging

    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GE sets this module's logger to INFO when imported ("Created temporary directory ... for ephemeral docs
    # site" on every context): it follows great_expectations' level again, as the process configured it.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.NOTSET)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ctx.data_sources.add_pandas(name="leadlake")
    return ctx


REGISTRY_REF = "$connectors:"  # a value_set spelled "$connectors:discovery" is the registry's provider names


def _resolve_refs(expectations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Value sets that name a connector kind become that kind's registered names (the one provider list)."""
    from leadlake.connectors.registry import connector, names

    out = []
    for exp in expectations:
        ref = exp.get("kwargs", {}).get("value_set")
        if isinstance(ref, str) and ref.startswith(REGISTRY_REF):
            what = ref.removeprefix(REGISTRY_REF)
            # "$connectors:discovery" -> every discovery provider; "$connectors:yelp" -> just that one
            values = (
                names(what) if what in ("discovery", "enrichment", "destination") else [connector(what).name]
            )
            exp = {**exp, "kwargs": {**exp["kwargs"], "value_set": values}}
        out.append(exp)
    return out


def _suite(table: str) -> ExpectationSuite:
    """The table's suite, for the connectors registered now (a provider added at run time is valid)."""
    from leadlake.connectors.registry import names

    return _load_suite(table, tuple(names()))


@cache
def _load_suite(table: str, _registered: tuple[str, ...]) -> ExpectationSuite:
    """Load the table's suite file into the context; every expectation in it must be understood."""
    path = suite_path(table)
    if not path.is_file():
        raise FileNotFoundError(f"no Great Expectations suite for table {table!r}: expected {path}")
    ctx = _context()
    import great_expectations as gx

    spec = json.loads(path.read_text())
    if spec.get("name") != table:
        raise ValueError(f"{path}: suite name {spec.get('name')!r} does not match the file name {table!r}")
    # ExpectationSuite logs and drops an invalid expectation instead of raising: count to catch it.
    expectations = _resolve_refs(spec.get("expectations", []))
    suite = gx.ExpectationSuite(
        name=table, expectations=expectations, meta=spec.get("meta"), notes=spec.get("notes")
    )
    if len(suite.expectations) != len(spec.get("expectations", [])):
        loaded = {e.expectation_type for e in suite.expectations}
        bad = [e.get("type") for e in spec["expectations"] if e.get("type") not in loaded]
        raise ValueError(f"{path}: GE rejected expectation(s) {bad or '(see log)'}")
    for exp in suite.expectations:
        if (exp.meta or {}).get("gate") not in ("row", "table"):
            raise ValueError(f"{path}: {exp.expectation_type} needs meta.gate 'row' or 'table'")
    # add_or_update: the registry may have grown since this table's suite was first loaded.
    return ctx.suites.add_or_update(suite)


@cache
def _batch_definition(table: str) -> BatchDefinition:
    source = _context().data_sources.get("leadlake")
    return source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe(name="whole_dataframe")


def _setup(table: str) -> tuple[ExpectationSuite, BatchDefinition]:
    with _lock:  # GE's context registries are not thread-safe to populate
        return _suite(table), _batch_definition(table)


# Table-level expectations that read column names (or the row count), never values.
_NAMES_ONLY = frozenset(
    {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_table_row_count_to_be_between",
    }
)
_COLUMN_KWARGS = ("column", "column_A", "column_B")


def _value_columns(suite: ExpectationSuite) -> frozenset[str] | None:
    """The columns whose values some expectation reads; None if one may read every column."""
    columns: set[str] = set()
    for exp in suite.expectations:
        kwargs = exp.configuration.kwargs
        if kwargs.get("row_condition"):
            return None  # a condition may read any column
        named = [kwargs[k] for k in _COLUMN_KWARGS if k in kwargs] + list(kwargs.get("column_list") or [])
        if not named and exp.expectation_type not in _NAMES_ONLY:
            return None  # a table-level check we do not know: give it the whole frame
        columns.update(str(c) for c in named)
    return frozenset(columns)


def _ge_frame(df: pd.DataFrame, value_columns: frozenset[str] | None) -> pd.DataFrame:
    """df renumbered 0..n-1, with the columns no expectation reads replaced by an int8 filler.

    Positions, not labels: GE reports the frame's index labels, which may repeat or be non-integers.
    GE copies the whole frame in every row filter and fingerprints it when it loads the batch (by
    pickling it when a column holds lists): the filler keeps the column names for the table checks
    and makes that work proportional to the columns the suite actually checks.
    """
    if value_columns is None or not df.columns.is_unique:
        return df.reset_index(drop=True)
    filler = np.zeros(len(df), dtype=np.int8)
    data = {c: df[c].array if c in value_columns else filler for c in df.columns}
    # Copied into one block per dtype on purpose: GE filters the frame ~30 times, and filtering a
    # frame of one block per column costs ~7x more (measured at 450k rows).
    return pd.DataFrame(data, index=pd.RangeIndex(len(df)), columns=df.columns)


def _column_of(kwargs: dict[str, Any]) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_list" in kwargs:
        return "(" + ", ".join(kwargs["column_list"]) + ")"
    return "<table>"


def _rule(exp_type: str, kwargs: dict[str, Any]) -> str:
    args = {k: v for k, v in kwargs.items() if k not in ("column", "column_list", "batch_id")}
    # Strings unquoted-escaped so a regex reads as written in the suite file.
    shown = ", ".join(f"{k}='{v}'" if isinstance(v, str) else f"{k}={v!r}" for k, v in args.items())
    return f"{exp_type}({shown})" if shown else exp_type


def _exception_message(info: Any) -> str | None:
    """GE nests exception_info by metric id when a metric raised; flat otherwise."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _observed(res: dict[str, Any]) -> str:
    if "unexpected_count" in res:
        sample = res.get("partial_unexpected_list") or res.get("unexpected_list") or []
        return f"{res['unexpected_count']} of {res.get('element_count')} rows, e.g. {sample[:3]!r}"
    if "details" in res and "mismatched" in res.get("details", {}):
        return f"columns mismatch {res['details']['mismatched']}"
    return f"observed {res.get('observed_value')!r}"


def _valid_json(value: Any) -> bool:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return True  # nulls are the not-null expectation's business
    try:
        json.loads(value)
    except (TypeError, ValueError):
        return False
    return True


# Checks GE does not do well (or we want in plain code): (column, rule, row predicate).
_CODE_CHECKS: dict[str, list[tuple[str, str, Callable[[Any], bool]]]] = {
    "bronze.places_raw": [("payload", "is_valid_json", _valid_json)],
    "bronze.yelp_businesses_raw": [("payload", "is_valid_json", _valid_json)],
}


def _run(table: str, df: pd.DataFrame) -> tuple[QualityResult, list[str]]:
    """The result, plus the row-level checks that raised (e.g. on a missing column)."""
    from great_expectations.validator.v1_validator import Validator

    suite, batch_definition = _setup(table)
    frame = _ge_frame(df, _value_columns(suite))
    # One Validator on the batch definition loads the batch once; Batch.validate would load (and
    # fingerprint) the frame twice: once for the Batch, once more for the Validator it builds.
    validator = Validator(
        batch_definition, result_format=_RESULT_FORMAT, batch_parameters={"dataframe": frame}
    )
    outcome = validator.validate_expectation_suite(suite)

    failed: list[str] = []
    gate_failed: list[str] = []
    errored: list[str] = []
    unexpected: dict[str, list[int]] = {}
    evaluated = 0
    for res in outcome.results:
        evaluated += 1
        cfg = res.expectation_config
        kwargs = dict(cfg.kwargs)
        column = _column_of(kwargs)
        gate = (cfg.meta or {}).get("gate", "table")
        label = f"{column}: {cfg.type}"
        error = _exception_message(res.exception_info)
        if res.success and error is None:
            continue
        detail = f"raised {error}" if error else _observed(res.result or {})
        line = f"{table} {column}: {_rule(cfg.type, kwargs)} failed: {detail}"
        failed.append(line)
        if gate == "table" or error:  # a row check that cannot run is a schema problem: stop
            gate_failed.append(line)
        if gate == "row" and error:
            errored.append(line)
        elif gate == "row":
            unexpected[label] = sorted(int(i) for i in (res.result or {}).get("unexpected_index_list", []))

    for column, rule, ok in _CODE_CHECKS.get(table, []):
        evaluated += 1
        if column not in df.columns:
            continue  # the suite's column-set expectation already reports it
        values = df[column].tolist()  # by position, like GE's indices on the renumbered frame
        bad = [i for i, v in enumerate(values) if not ok(v)]
        if bad:
            sample = [values[i] for i in bad[:3]]
            failed.append(f"{table} {column}: {rule} failed: {len(bad)} of {len(df)} rows, e.g. {sample!r}")
            unexpected[f"{column}: {rule}"] = bad

    result = QualityResult(
        table=table,
        success=not failed,
        evaluated=evaluated,
        failed=failed,
        unexpected_index=unexpected,
        rows=len(df),
        gate_failed=gate_failed,
    )
    return result, errored
