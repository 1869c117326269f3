"""A user's own records (a CSV file or a frame) as the resolver's record frame, normalised as the pipeline.

The input is one row per record: `record_id` (required, unique) and any of INPUT_COLUMNS; every other column
is an extra identifier (`date_of_birth`, `tax_id`, ...) handed to the resolver when it supports them. Values
go through the same helpers the source adapters use (leadlake.core.normalize, connectors.sources.base), so a
user's records and the pipeline's records meet the model in the same shape.

Also here: the clusters CSV (`record_id, cluster_id, match_probability`) and the Splink HTML report.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from leadlake.connectors.sources.base import SOURCE_RECORD_FIELDS, clean_text, us_postal
from leadlake.core.normalize import is_toll_free, normalize_name, normalize_phone, registered_domain
from leadlake.stages.silver.resolve.settings import ResolveSettings

# The columns a user's file may carry; any may be empty or absent except record_id.
INPUT_COLUMNS: tuple[str, ...] = (
    "record_id", "source", "name", "address", "city", "region", "postal", "country", "phone", "website",
    "email", "category", "lat", "lon",
)  # fmt: skip
DEFAULT_SOURCE = "input"
DEFAULT_COUNTRY = "US"
OUTPUT_COLUMNS: tuple[str, ...] = ("record_id", "cluster_id", "match_probability")

# Spellings of "no value" in exported files, for the numeric columns.
_NULL_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
_COUNTRY_ALIASES = {"USA": "US", "UNITED STATES": "US", "UNITED STATES OF AMERICA": "US", "UK": "GB"}
_SNIFF_BYTES = 8192


class InputError(ValueError):
    """Input the user must fix: the message names the problem and the fix, on one line."""


@dataclass(frozen=True)
class InputRecords:
    """The resolver's record frame plus what the input held: columns used, empty, absent and extra."""

    records: pd.DataFrame  # SOURCE_RECORD_FIELDS, then the extra identifier columns
    used: tuple[str, ...]  # input columns with at least one value
    empty: tuple[str, ...]  # input columns present but with no value at all
    absent: tuple[str, ...]  # input columns not in the file
    extra: tuple[str, ...]  # extra identifier columns with values (resolver column names)
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """One line: which columns were used, which were empty or absent, and the extra identifiers."""
        parts = [f"{len(self.records):,} records from {len(self.sources)} source(s)"]
        parts.append("used: " + (", ".join(self.used) or "none"))
        if self.extra:
            parts.append("extra identifiers: " + ", ".join(self.extra))
        if self.empty:
            parts.append("empty: " + ", ".join(self.empty))
        if self.absent:
            parts.append("absent: " + ", ".join(self.absent))
        parts.extend(self.notes)
        return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------
# Reading a CSV file.


def _header_name(raw: object) -> str:
    """A column header as a resolver column name: lower case, runs of anything else as one underscore."""
    return re.sub(r"[^a-z0-9]+", "_", str(raw).strip().lower()).strip("_")


def read_records_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The file as text columns (nothing parsed or dropped); InputError names what is wrong and the fix."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the --input path")
    if p.is_dir():
        raise InputError(f"{p} is a directory; give --input a CSV file")
    try:
        with p.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"{p} cannot be read ({exc.strerror or exc}); check its permissions") from exc
    if not head.strip():
        raise InputError(f"{p} is empty; expected a header row with record_id, then one row per record")
    if b"\x00" in head:
        raise InputError(f"{p} is not a CSV file (binary content); export it as comma-separated text")
    try:
        frame = pd.read_csv(
            p, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig", skipinitialspace=True
        )
    except UnicodeDecodeError as exc:
        raise InputError(f"{p} is not UTF-8 text (byte {exc.start}); save it as a UTF-8 CSV file") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p} is not a valid CSV file ({first}); export it as comma-separated text") from exc
    return frame


# ---------------------------------------------------------------------------------------------------
# Validation and normalisation.


def _text(value: object) -> str | None:
    """Stripped text, or None for None, NaN and blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return clean_text(value)


def _lines(positions: Iterable[int]) -> str:
    """CSV line numbers (the header is line 1) of row positions, the first few."""
    shown = [str(i + 2) for i in list(positions)[:5]]
    return ", ".join(shown)


def _number(values: Sequence[object], column: str, low: float, high: float, where: str) -> list[float | None]:
    """Floats in [low, high], None for blanks; InputError naming the column and line for anything else."""
    out: list[float | None] = []
    for i, v in enumerate(values):
        text = _text(v)
        if text is None or text.lower() in _NULL_TOKENS:
            out.append(None)
            continue
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isnan(number) or not low <= number <= high:
            raise InputError(
                f"{where}column {column} on line {i + 2} is {text[:30]!r}, not a number from {low:g} to "
                f"{high:g}; fix the value or leave it empty"
            )
        out.append(number)
    return out


def _country(value: object) -> str | None:
    """Country as the pipeline keeps it (upper case), common spellings of the US and UK as ISO codes."""
    text = (_text(value) or "").upper()
    return _COUNTRY_ALIASES.get(text, text) or None


def _phone_region(country: str | None) -> str:
    """The region phonenumbers parses a national number in: the row's country when it is a code, else US."""
    return country if country and len(country) == 2 and country.isalpha() else DEFAULT_COUNTRY


def _extra_name(header: str) -> str:
    """An extra column's name in the record frame; never one of the record's own fields."""
    name = header if header and not header[0].isdigit() else f"x_{header}"
    return f"extra_{name}" if name in SOURCE_RECORD_FIELDS or name in ("email", "provider") else name


def _check_ids(frame: pd.DataFrame, where: str) -> list[str]:
    """The stripped record ids; InputError for a missing column, empty ids and duplicates."""
    if "record_id" not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:8])) or "none"
        raise InputError(
            f"{where}no record_id column (columns: {shown}); "
            "add a record_id column with one unique id per row"
        )
    ids = [_text(v) or "" for v in frame["record_id"].tolist()]
    blank = [i for i, v in enumerate(ids) if not v]
    if blank:
        more = f" and {len(blank) - 5} more" if len(blank) > 5 else ""
        raise InputError(
            f"{where}record_id is empty on line {_lines(blank)}{more}; give every row its own record_id"
        )
    series = pd.Series(ids)
    dups = series[series.duplicated(keep=False)]
    if len(dups):
        first = dups.iloc[0]
        where_first = [i for i, v in enumerate(ids) if v == first]
        others = dups.nunique() - 1
        more = f" (and {others} more duplicated ids)" if others else ""
        raise InputError(
            f"{where}record_id {first[:40]!r} appears {len(where_first)} times (lines "
            f"{_lines(where_first)}){more}; make record_id unique"
        )
    return ids


def _memo(fn: Any, values: Sequence[Any]) -> list[Any]:
    """fn of each value, computed once per distinct value (parsing phones is most of the time here)."""
    seen: dict[Any, Any] = {}
    return [seen[v] if v in seen else seen.setdefault(v, fn(v)) for v in values]


def _phones(raws: Sequence[object], countries: Sequence[str | None]) -> list[str | None]:
    """E.164 of each phone, parsed in its row's country (US by default), as the adapters do."""
    pairs = [(_text(v), _phone_region(c)) for v, c in zip(raws, countries, strict=True)]
    return _memo(lambda pair: normalize_phone(*pair), pairs)


def records_from_frame(frame: pd.DataFrame, where: str = "") -> InputRecords:
    """The resolver's record frame from a user's table, normalised as the source adapters normalise.

    `where` prefixes error messages (the file name). Columns are matched case-insensitively."""
    where = f"{where}: " if where and not where.endswith(": ") else where
    frame = frame.copy()
    headers = [_header_name(c) for c in frame.columns]
    seen: dict[str, int] = {}
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
    clash = [h for h, n in seen.items() if n > 1 and h]
    if clash:
        raise InputError(f"{where}column {clash[0]} appears {seen[clash[0]]} times; keep one of them")
    frame.columns = headers
    ids = _check_ids(frame, where)
    n = len(frame)

    def col(name: str) -> list[object]:
        return frame[name].tolist() if name in frame.columns else [None] * n

    def has_values(name: str) -> bool:
        return name in frame.columns and any(_text(v) is not None for v in frame[name].tolist())

    countries = [_country(v) for v in col("country")]
    sources = [_text(v) or DEFAULT_SOURCE for v in col("source")]
    names = [_text(v) for v in col("name")]
    phones = _phones(col("phone"), countries)
    websites = [_text(v) for v in col("website")]
    lats = _number(col("lat"), "lat", -90.0, 90.0, where)
    lons = _number(col("lon"), "lon", -180.0, 180.0, where)
    region = [(_text(v) or "").upper() or None for v in col("region")]
    records = pd.DataFrame(
        {
            "record_id": ids,
            "provider": sources,
            "provider_key": ids,
            "name": names,
            "name_norm": [normalize_name(v) for v in names],
            "phone_e164": phones,
            "phone_is_toll_free": _memo(is_toll_free, phones),
            "website": websites,
            "domain": _memo(registered_domain, websites),
            "address_line1": [_text(v) for v in col("address")],
            "city": [_text(v) for v in col("city")],
            "region": region,
            "postal": [us_postal(_text(v), c) for v, c in zip(col("postal"), countries, strict=True)],
            "country": countries,
            "lat": pd.Series(lats, dtype=object),
            "lon": pd.Series(lons, dtype=object),
            "rating": [None] * n,
            "review_count": [None] * n,
            "categories": [[c.lower()] if (c := _text(v)) else [] for v in col("category")],
        },
        columns=list(SOURCE_RECORD_FIELDS),
    )
    notes: list[str] = []
    unparsed = sum(1 for raw, p in zip(col("phone"), phones, strict=True) if _text(raw) and p is None)
    if unparsed:
        notes.append(f"{unparsed} phone(s) not valid numbers, left out")
    # Extra identifiers: every other column with a value, and the email (not a record field of its own).
    extra: list[str] = []
    if has_values("email"):
        records["email"] = [(_text(v) or "").lower() or None for v in col("email")]
        extra.append("email")
    empty_extras: list[str] = []
    for header in headers:
        if header in INPUT_COLUMNS or not header:
            continue
        if not has_values(header):
            empty_extras.append(header)
            continue
        name = _extra_name(header)
        records[name] = [_text(v) for v in frame[header].tolist()]
        extra.append(name)
    present = [c for c in INPUT_COLUMNS if c in headers]
    used = tuple(c for c in present if has_values(c) and c != "email")
    empty = tuple([c for c in present if not has_values(c)] + empty_extras)
    absent = tuple(c for c in INPUT_COLUMNS if c not in headers)
    return InputRecords(
        records=records.astype(object).where(records.notna(), None),
        used=used,
        empty=empty,
        absent=absent,
        extra=tuple(extra),
        sources=tuple(dict.fromkeys(sources)),
        notes=tuple(notes),
    )


def load_records(path: str | os.PathLike[str]) -> InputRecords:
    """A CSV file of the user's records as the resolver's record frame (see records_from_frame)."""
    frame = read_records_csv(path)
    if frame.empty and not len(frame.columns):
        raise InputError(f"{path} has no columns; expected a header row with record_id")
    return records_from_frame(frame, where=str(path))


# ---------------------------------------------------------------------------------------------------
# Settings for a user's records, and what the resolver found as clusters.


def supports_extra_columns(cfg: ResolveSettings | None = None) -> bool:
    """True when the resolver takes extra identifier columns (ResolveSettings.extra_columns)."""
    return "extra_columns" in {f.name for f in dataclasses.fields(cfg or ResolveSettings())}


def settings_for(inputs: InputRecords, base: ResolveSettings | None = None) -> ResolveSettings:
    """Resolver settings for a user's records: duplicates may sit inside one source (link and dedupe,
    any number of records per source), and the extra identifiers compared when the resolver can."""
    cfg = base or ResolveSettings()
    changes: dict[str, Any] = {"one_record_per_provider": False}
    if cfg.link_type == "link_only":  # "auto" (dedupe one source, link and dedupe several) stays
        changes["link_type"] = "link_and_dedupe"
    if inputs.extra and supports_extra_columns(cfg):
        changes["extra_columns"] = tuple(inputs.extra)
    return dataclasses.replace(cfg, **changes)


def clusters_frame(record_ids: Sequence[str], links: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """OUTPUT_COLUMNS in the order of record_ids: the resolver's cluster (lead) id, and the highest pair
    probability tying each record to another record of its cluster (None for a singleton)."""
    lead = dict(zip(links["record_id"].astype(str), links["lead_id"].astype(str), strict=True))
    best: dict[str, float] = {}
    if len(pairs):
        left, right = pairs["record_id_l"].astype(str).tolist(), pairs["record_id_r"].astype(str).tolist()
        for a, b, p in zip(left, right, pairs["match_probability"].astype(float).tolist(), strict=True):
            if lead.get(a) is None or lead.get(a) != lead.get(b):
                continue  # a scored pair the clustering did not take
            for rid in (a, b):
                if p > best.get(rid, -1.0):
                    best[rid] = p
    missing = [r for r in record_ids if r not in lead]
    if missing:
        raise ValueError(
            f"the resolver returned no cluster for {len(missing)} record(s), e.g. {missing[0]!r}"
        )
    return pd.DataFrame(
        {
            "record_id": list(record_ids),
            "cluster_id": [lead[r] for r in record_ids],
            "match_probability": pd.Series([best.get(r) for r in record_ids], dtype=object),
        },
        columns=list(OUTPUT_COLUMNS),
    )


def _probability_text(p: float | None) -> str:
    return "" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:.6f}".rstrip("0").rstrip(".")


def write_clusters_csv(clusters: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the clusters CSV (LF line ends) to a temp file beside `path`, then rename it into place:
    a reader never sees half a file, and a failure leaves nothing behind."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(OUTPUT_COLUMNS)
            for rid, cid, p in clusters[list(OUTPUT_COLUMNS)].itertuples(index=False, name=None):
                writer.writerow((rid, cid, _probability_text(p)))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# ---------------------------------------------------------------------------------------------------
# The Splink report: comparison viewer and cluster studio, from the resolver's model.

REPORT_FILES = ("comparison_viewer.html", "cluster_studio.html")


def _report_model(
    resolution: Any, prep: pd.DataFrame, cfg: ResolveSettings
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """The model the resolver scored with (Resolution.model: Splink settings plus our own part, the term
    frequencies), else the settings it starts from; set to keep what the dashboards show."""
    from leadlake.stages.silver.resolve import link

    model = getattr(resolution, "model", None)
    if model:
        out = json.loads(json.dumps(dict(model)))
    else:
        settings = link.splink_settings(cfg, link.prior_match_probability(prep, cfg), term_frequencies=False)
        out = settings.create_settings_dict(sql_dialect_str="duckdb")
    ours = out.pop(getattr(link, "MODEL_KEY", "leadlake"), None) or {}
    # The dashboards show each level's columns and weights: keep them in the predictions.
    out["retain_intermediate_calculation_columns"] = True
    out["retain_matching_columns"] = True
    return out, dict(ours.get("term_frequencies") or {})


def _studio_cluster_ids(clusters: pd.DataFrame, limit: int) -> list[str]:
    """The clusters cluster studio shows: the largest first (ties by id), singletons only when no other."""
    sizes = clusters.groupby("cluster_id").size().reset_index(name="n")
    sizes = sizes.sort_values(["n", "cluster_id"], ascending=[False, True], kind="stable")
    multi = sizes[sizes["n"] > 1]
    return list((multi if len(multi) else sizes)["cluster_id"].head(limit))


def write_report(
    records: pd.DataFrame,
    resolution: Any,
    cfg: ResolveSettings,
    out_dir: str | os.PathLike[str],
    clusters: pd.DataFrame | None = None,
    sample_clusters: int = 20,
) -> list[Path]:
    """Splink's comparison viewer and cluster studio dashboards (HTML) for a resolved run, in out_dir.

    A Linker is rebuilt from the resolver's model on the prepared records (the columns the model saw);
    cluster studio shows the resolver's own clusters, with Splink's scored pairs as edges."""
    from splink import DuckDBAPI, Linker

    from leadlake.stages.silver.resolve.prepare import prepare

    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    prep = prepare(records, cfg).reset_index(drop=True)
    model, term_frequencies = _report_model(resolution, prep, cfg)
    table = prep.astype(object)
    table = table.where(table.notna(), None)
    table["batch_new"] = 1  # the resolver's incremental flag: every record is new here
    if clusters is None:
        clusters = clusters_frame(list(prep["record_id"]), resolution.links, resolution.pairs)
    db = DuckDBAPI()
    linker = Linker(db.register(table), model, log_level=cfg.splink_log_level)
    for column, freqs in term_frequencies.items():
        lookup = pd.DataFrame(
            {column: list(freqs) or ["\x00"], f"tf_{column}": list(freqs.values()) or [1.0]}
        )
        linker.table_management.register_term_frequency_lookup(db.register(lookup), column)
    predictions = linker.inference.predict(
        threshold_match_probability=cfg.match_threshold, warning_mode="never"
    )
    viewer, studio = (target / name for name in REPORT_FILES)
    linker.visualisations.comparison_viewer_dashboard(predictions, str(viewer), overwrite=True)
    nodes = table.merge(clusters[["record_id", "cluster_id"]], on="record_id", how="left")
    clustered = linker.table_management.register_table(nodes, "leadlake_clusters", overwrite=True)
    linker.visualisations.cluster_studio_dashboard(
        predictions,
        clustered,
        str(studio),
        cluster_ids=_studio_cluster_ids(clusters, sample_clusters),
        overwrite=True,
    )
    return [viewer, studio]
