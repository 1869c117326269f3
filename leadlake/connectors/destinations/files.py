"""File exports as destinations: gold leads as CSV or Parquet part files under a local folder or an S3 prefix.

Layout: `<prefix>/run=<run_id>/part-<batch>.<csv|parquet>`, one part per `upsert` call (delivery hands
over one batch per call), written before `upsert` returns, so the ledger commits only what is on disk:

* a part is written whole or not at all (locally: a hidden temp file renamed into place; on S3: a single
  PUT / completed multipart upload), so a crash never leaves half a part a reader would pick up;
* a lead is written only when its mapped row differs from the latest row the prefix already holds for it.
  A batch re-sent after a crash (written, but the ledger never heard) therefore writes nothing: its leads
  get the crm ids of the part that already holds them. A re-run with nothing changed never reaches
  `upsert` (the ledger), and would write nothing if it did;
* a part name is never reused: a run id given twice continues after the run's highest part.

`crm_ids` are `run=<run_id>/part-<batch>.<ext>#<lead_id>`: the part holding the lead's row (stable: the
same lead and content keep the same id). `read_back` reads the parts back, the latest row per lead.

S3 goes through pyarrow's S3 client with the lakehouse's object-store options (endpoint, region, keys:
`object_store_options(settings)`), as the lakehouse reads its tables.

A file export is append-only history: `merge` and `rekey` (the lead merges delivery applies) write nothing;
the survivor's next row lands as any change does, and the merged lead's old rows stay where they are.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from leadlake.connectors.destinations.base import (
    DeliveryError,
    MappingError,
    MappingSource,
    UpsertResult,
    lead_key,
    mapping_document,
    payload_hash,
)

log = logging.getLogger("leadlake.connectors.destinations.files")

DEFAULT_MAPPING = Path(__file__).parent / "mappings" / "files.yaml"
FORMATS = ("parquet", "csv")
BATCH_LIMIT = 1000  # leads per part file (delivery hands over this many at once)
KEY_COLUMN = "lead_id"
HASH_COLUMN = "leadlake_payload_hash"
RUN_COLUMN = "leadlake_run_id"
BATCH_COLUMN = "leadlake_batch"
AT_COLUMN = "leadlake_delivered_at"
KEY_ID_COLUMN = "leadlake_idempotency_key"  # per (destination, lead, payload hash): a reader drops repeats
META_COLUMNS = (HASH_COLUMN, KEY_ID_COLUMN, RUN_COLUMN, BATCH_COLUMN, AT_COLUMN)
MAPPING_KEYS = ("key", "columns")
TYPES = ("string", "integer", "number", "list")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PART_RE = re.compile(r"^run=(?P<run>[^/]+)/part-(?P<batch>\d+)\.(?P<ext>csv|parquet)$")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.=-]+")


# ---- the column mapping (shared with the webhook) --------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One output column: its name, how the gold value is written and how a list joins in CSV."""

    name: str
    type: str = "string"  # string | integer | number | list
    join: str = "; "


@dataclass(frozen=True)
class ColumnMapping:
    """Gold lead -> output row, loaded from YAML (or a dict of the same shape)."""

    key_column: str
    columns: dict[str, Column] = field(default_factory=dict)

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any] | ColumnMapping | None = None) -> ColumnMapping:
        """From a YAML file, a mapping of the YAML's shape, or the default one; MappingError if malformed."""
        if isinstance(source, ColumnMapping):
            return source
        doc: Any = source
        if source is None or isinstance(source, str | Path):
            doc = yaml.safe_load(Path(source if source is not None else DEFAULT_MAPPING).read_text())
        if not isinstance(doc, Mapping) or not isinstance(doc.get("columns"), Mapping) or not doc["columns"]:
            raise MappingError("a file/webhook column mapping needs `key` and a non-empty `columns` mapping")
        unknown = sorted(str(k) for k in doc if k not in MAPPING_KEYS)
        if unknown:
            raise MappingError(
                f"a file/webhook column mapping has unknown key(s) {', '.join(unknown)}; "
                f"it takes {', '.join(MAPPING_KEYS)}"
            )
        columns: dict[str, Column] = {}
        for gold, spec in doc["columns"].items():
            if isinstance(spec, str):
                columns[str(gold)] = Column(spec)
            elif isinstance(spec, Mapping) and isinstance(spec.get("column"), str):
                columns[str(gold)] = Column(
                    spec["column"], str(spec.get("type", "string")), str(spec.get("join", "; "))
                )
            else:
                raise MappingError(f"mapping of {gold!r}: expected a column name or {{column, type}}")
        mapping = cls(key_column=str(doc.get("key") or KEY_COLUMN), columns=columns)
        mapping.check()
        return mapping

    def check(self) -> None:
        """Names usable as CSV headers and Parquet columns, unique, clear of the key and metadata."""
        seen: dict[str, str] = {}
        for gold, col in self.columns.items():
            if col.type not in TYPES:
                raise MappingError(
                    f"mapping of {gold!r}: type must be one of {', '.join(TYPES)}, got {col.type!r}"
                )
            if not _NAME_RE.match(col.name):
                raise MappingError(f"mapping of {gold!r}: {col.name!r} is not a plain column name")
            if col.name in (KEY_COLUMN, *META_COLUMNS):
                raise MappingError(f"mapping of {gold!r}: {col.name!r} is reserved for leadlake's own column")
            if col.name in seen:
                raise MappingError(
                    f"mapping writes column {col.name!r} twice (from {seen[col.name]!r} and {gold!r})"
                )
            seen[col.name] = gold

    def output_columns(self) -> list[str]:
        """The columns a row carries, in order: the key, the mapped columns, then leadlake's metadata."""
        return [KEY_COLUMN, *(c.name for c in self.columns.values()), *META_COLUMNS]

    def schema(self, fmt: str = "parquet") -> pa.Schema:
        """The Arrow schema of a part file (CSV holds lists as joined strings)."""
        kinds = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64()}
        fields = [pa.field(KEY_COLUMN, pa.string(), nullable=False)]
        for col in self.columns.values():
            if col.type == "list":
                kind = pa.list_(pa.string()) if fmt == "parquet" else pa.string()
            else:
                kind = kinds[col.type]
            fields.append(pa.field(col.name, kind))
        fields += [
            pa.field(HASH_COLUMN, pa.string()),
            pa.field(KEY_ID_COLUMN, pa.string()),
            pa.field(RUN_COLUMN, pa.string()),
            pa.field(BATCH_COLUMN, pa.int64()),
            pa.field(AT_COLUMN, pa.timestamp("us", tz="UTC")),
        ]
        return pa.schema(fields)

    def to_record(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        """One gold lead as output values (JSON-able; lists kept as lists; a missing value is None)."""
        record: dict[str, Any] = {KEY_COLUMN: str(lead[self.key_column])}
        for gold, col in self.columns.items():
            record[col.name] = _convert(_plain(lead.get(gold)), col.type)
        return record

    def to_csv_row(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record with its list columns joined for CSV."""
        row = dict(record)
        for col in self.columns.values():
            if col.type == "list" and row.get(col.name) is not None:
                row[col.name] = col.join.join(row[col.name])
        return row


def _plain(value: Any) -> Any:
    """numpy/pandas values as plain Python; NaN as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and value != value:
        return None
    return value


def _convert(value: Any, kind: str) -> Any:
    if value is None or value == "":
        return None
    if kind == "list":
        items = value if isinstance(value, list | tuple) else [value]
        return [str(v) for v in items if v is not None]
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    if kind in ("integer", "number"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if number != number:
            return None
        return int(number) if kind == "integer" else number
    return str(value).lower() if isinstance(value, bool) else str(value)


def record_hash(record: Mapping[str, Any]) -> str:
    """Hash of an output record (the delivery ledger's payload hash): a lead is written again only when
    this changes."""
    return payload_hash(record)


def load_column_mapping(source: MappingSource | ColumnMapping) -> ColumnMapping:
    """A campaign's file/webhook mapping: a YAML file, or inline keys over `mappings/files.yaml`."""
    if isinstance(source, ColumnMapping):
        return source
    return ColumnMapping.load(mapping_document(source, DEFAULT_MAPPING, "file/webhook"))


class _Shared:
    """What every mapping of one file destination shares: the part numbering and the index of written
    rows (one prefix), and the columns the run writes (a prefix holds one schema)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batch: int | None = None  # the last part number of this run, found on first write
        self.index: dict[str, tuple[datetime, str, str]] | None = None  # lead -> (at, part, hash)
        self.columns: list[str] | None = None


# ---- object-store settings ---------------------------------------------------------------------------------
def object_store_options(settings: Any) -> dict[str, str]:
    """delta-rs-style S3 options (endpoint, region, keys) from the lakehouse's settings, for any s3:// URI
    (`Settings.storage_options()` gives them only when the lakehouse itself is on S3)."""
    if getattr(settings, "is_s3", False):
        return dict(settings.storage_options())
    opts = {"AWS_REGION": settings.s3_region}
    if settings.s3_endpoint_url:
        opts |= {"AWS_ENDPOINT_URL": settings.s3_endpoint_url, "AWS_ALLOW_HTTP": "true"}
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if os.environ.get(var):
            opts[var] = os.environ[var]
    return opts


def _secret(value: Any) -> Any:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def default_run_id() -> str:
    """A run id for a destination nobody told the delivery run (sortable UTC time, random suffix)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}__{uuid.uuid4().hex[:6]}"


# ---- the destinations ------------------------------------------------------------------------------------
class FileDestination:
    """Gold leads as CSV or Parquet part files under a local folder or an s3://bucket/prefix."""

    name = "files"
    default_format = "parquet"

    def __init__(
        self,
        uri: str | Path,
        *,
        format: str | None = None,
        storage_options: Mapping[str, str] | None = None,
        mapping: str | Path | Mapping[str, Any] | ColumnMapping | None = None,
        run_id: str | None = None,
        batch_limit: int = BATCH_LIMIT,
        name: str | None = None,
    ) -> None:
        self.format = (format or self.default_format).lower()
        if self.format not in FORMATS:
            raise ValueError(f"file destination format must be one of {', '.join(FORMATS)}, got {format!r}")
        if name:
            self.name = name
        self.uri = str(uri)
        self.mapping = ColumnMapping.load(mapping)
        self.batch_limit = batch_limit
        self.storage_options = dict(storage_options or {})
        parsed = urlparse(self.uri)
        if parsed.scheme in ("s3", "s3a"):
            if not parsed.netloc:
                raise ValueError(f"an s3:// destination needs a bucket: s3://bucket/prefix, got {self.uri!r}")
            self.is_s3 = True
            self.root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
        elif parsed.scheme in ("", "file"):
            self.is_s3 = False
            self.root = str(Path(self.uri.removeprefix("file://")).expanduser().resolve())
        else:
            raise ValueError(
                f"scheme {parsed.scheme!r} is not supported; use a local path or s3://bucket/prefix"
            )
        self._fs: pafs.FileSystem | None = None
        self._shared = _Shared()
        self._validated = False
        self.start_run(run_id or default_run_id())

    @classmethod
    def connect(cls, uri: Any, base_url: str | None = None, **options: Any) -> FileDestination:
        """From the registry: the export URI is the credential (a relative path is taken from the project
        root); S3 options come from the lakehouse's settings; `format` may come as an extra."""
        from leadlake.core.settings import get_settings

        settings = get_settings()
        uri = str(_secret(uri))
        opts = {k: _secret(v) for k, v in options.items() if v is not None}
        if urlparse(uri).scheme in ("s3", "s3a"):
            opts.setdefault("storage_options", object_store_options(settings))
        elif not Path(uri.removeprefix("file://")).expanduser().is_absolute():
            uri = str(settings.project_dir / uri.removeprefix("file://"))
        return cls(uri, **opts)

    # --- runs ----------

    def start_run(self, run_id: str) -> None:
        """Name the delivery run the next parts belong to (`run=<run_id>/`); numbering continues after the
        run's existing parts, so a run id given twice never overwrites a part."""
        self.run_id = _UNSAFE_RE.sub("_", str(run_id)).strip("._") or default_run_id()
        self._shared.batch = None
        self._shared.columns = None

    # --- campaign mappings ----------

    @classmethod
    def load_mapping(cls, source: MappingSource | ColumnMapping) -> ColumnMapping:
        """A campaign's column mapping: a YAML file, or inline keys over `mappings/files.yaml`."""
        return load_column_mapping(source)

    def with_mapping(self, source: MappingSource | ColumnMapping) -> FileDestination:
        """This destination (same prefix, part numbering and run) writing through another mapping. A prefix
        holds one schema: a mapping whose columns differ from the files' is refused by `validate_mapping`."""
        other = copy.copy(self)
        other.mapping = self.load_mapping(source)
        other._validated = False
        return other

    def payload(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        """The row this lead is written as (before leadlake's own columns)."""
        return self.mapping.to_record(lead)

    @property
    def fs(self) -> pafs.FileSystem:
        if self._fs is None:
            if self.is_s3:
                from leadlake.lakehouse.delta_rs import _native_s3

                self._fs = _native_s3(self.storage_options)
            else:
                self._fs = pafs.LocalFileSystem()
        return self._fs

    @property
    def extension(self) -> str:
        return self.format

    def _where(self) -> str:
        return f"{self.name} ({'s3://' if self.is_s3 else ''}{self.root})"

    def _error(self, what: str, exc: Exception) -> DeliveryError:
        status = 403 if isinstance(exc, PermissionError) or "AccessDenied" in str(exc) else None
        return DeliveryError(f"{self._where()}: {what} failed: {type(exc).__name__}: {exc}", status)

    # --- Destination protocol ----------

    def test_connection(self) -> None:
        """Create the folder (or reach the bucket) and write and delete a probe object."""
        probe = f"{self.root}/_leadlake_probe_{uuid.uuid4().hex[:8]}"
        try:
            if self.is_s3:
                bucket = self.root.split("/", 1)[0]
                if self.fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                    raise DeliveryError(f"{self._where()}: bucket {bucket!r} does not exist", 404)
            else:
                self.fs.create_dir(self.root, recursive=True)
            with self.fs.open_output_stream(probe) as out:
                out.write(b"ok")
            self.fs.delete_file(probe)
        except DeliveryError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise self._error("test write", exc) from None

    def describe_fields(self) -> set[str]:
        """The columns each part file holds."""
        return set(self.mapping.output_columns())

    def validate_mapping(self) -> None:
        """The mapping is well formed and its columns are the columns of the parts already written
        (a reader of the prefix sees one schema); raises MappingError before any write."""
        self.mapping.check()
        want = self.mapping.output_columns()
        with self._shared.lock:
            if self._shared.columns is not None and self._shared.columns != want:
                raise MappingError(
                    f"{self._where()}: two mappings write different columns to one prefix in this run "
                    f"({self._shared.columns} and {want}); give every campaign sending here the same "
                    "columns, or another destination prefix"
                )
            self._shared.columns = want
        parts = self._parts()
        if parts:
            last = max(parts, key=lambda p: self._part_order(p))
            have = self._read_part(last, columns=None).column_names
            # Parts written before the idempotency key column are the same schema less that column.
            if have != want and have != [c for c in want if c != KEY_ID_COLUMN]:
                missing = [c for c in want if c not in have]
                extra = [c for c in have if c not in want]
                raise MappingError(
                    f"{self._where()}: the mapping's columns differ from the files already written "
                    f"({last}): new {missing or '-'}, dropped {extra or '-'}; write to a new prefix"
                )
        self._validated = True

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        """Write the leads whose row changed as one new part file; crm id = `<part>#<lead_id>`."""
        if not self._validated:
            self.validate_mapping()
        records: dict[str, dict[str, Any]] = {}
        for lead in leads:  # the same lead twice in one call: the last row wins
            record = self.mapping.to_record(lead)
            records[record[KEY_COLUMN]] = record
        if not records:
            return UpsertResult({}, 0, 0)
        try:
            index = self._load_index()
            hashes = {lid: record_hash(r) for lid, r in records.items()}
            fresh = [lid for lid in records if lid not in index or index[lid][2] != hashes[lid]]
            crm_ids = {lid: f"{index[lid][1]}#{lid}" for lid in records if lid not in fresh}
            created = frozenset(lid for lid in fresh if lid not in index)
            if fresh:
                keys = {
                    lid: lead_key(self, lead, records[str(lead[self.mapping.key_column])])
                    for lead in leads
                    if (lid := str(lead[self.mapping.key_column])) in records
                }
                part, at = self._write(records, hashes, keys, fresh)
                for lid in fresh:
                    index[lid] = (at, part, hashes[lid])
                    crm_ids[lid] = f"{part}#{lid}"
        except DeliveryError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise self._error(f"write of {len(records)} leads", exc) from None
        if len(crm_ids) < len(records):  # never: every lead is in a part now
            raise DeliveryError(f"{self._where()}: {len(records) - len(crm_ids)} leads have no part")
        return UpsertResult(crm_ids, len(created), len(crm_ids) - len(created), created)

    def read_back(self, lead_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """lead id -> its latest row in the parts, with `crm_id` (part#lead); absent if never written."""
        wanted = {str(i) for i in lead_ids}
        best: dict[str, tuple[tuple, dict[str, Any]]] = {}
        try:
            for part in self._parts():
                order = self._part_order(part)
                for row in self._read_part(part, columns=None).to_pylist():
                    lid = row[KEY_COLUMN]
                    if lid not in wanted:
                        continue
                    key = (row[AT_COLUMN], order)
                    if lid not in best or key >= best[lid][0]:
                        best[lid] = (key, row | {"crm_id": f"{part}#{lid}"})
        except (OSError, pa.ArrowException) as exc:
            raise self._error("read back", exc) from None
        return {lid: row for lid, (_, row) in best.items()}

    def merge(self, primary_crm_id: str, merged_crm_id: str) -> str:
        """Lead merges: nothing to do in append-only files; the primary lives on."""
        return primary_crm_id

    def rekey(self, crm_id: str, lead_id: str) -> None:
        """Re-keying a merged lead's row: nothing to do in append-only files (the survivor's row follows)."""

    # --- files ----------

    def _rel(self, path: str) -> str:
        return path[len(self.root) :].lstrip("/")

    def _parts(self) -> list[str]:
        """Part files under the prefix, as paths relative to it."""
        selector = pafs.FileSelector(self.root, recursive=True, allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        rels = (self._rel(i.path) for i in infos if i.type == pafs.FileType.File)
        return sorted(r for r in rels if _PART_RE.match(r))

    @staticmethod
    def _part_order(part: str) -> tuple[str, int]:
        m = _PART_RE.match(part)
        assert m is not None
        return m["run"], int(m["batch"])

    def _read_part(self, part: str, columns: list[str] | None) -> pa.Table:
        path = f"{self.root}/{part}"
        if part.endswith(".parquet"):
            return pq.read_table(path, filesystem=self.fs, columns=columns)
        schema = self.mapping.schema("csv")
        with self.fs.open_input_stream(path) as stream:
            data = stream.read()
        types = {f.name: f.type for f in schema}
        return pacsv.read_csv(
            io.BytesIO(data),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=columns, strings_can_be_null=True
            ),
        )

    def _load_index(self) -> dict[str, tuple[datetime, str, str]]:
        """lead id -> (when, part, record hash) of its latest row in the prefix; read once per prefix."""
        if self._shared.index is None:
            index: dict[str, tuple[datetime, str, str]] = {}
            orders: dict[str, tuple] = {}
            for part in self._parts():
                order = self._part_order(part)
                table = self._read_part(part, columns=[KEY_COLUMN, HASH_COLUMN, AT_COLUMN])
                for lid, digest, at in zip(
                    table[KEY_COLUMN].to_pylist(),
                    table[HASH_COLUMN].to_pylist(),
                    table[AT_COLUMN].to_pylist(),
                    strict=True,
                ):
                    if lid not in index or (at, order) >= orders[lid]:
                        index[lid], orders[lid] = (at, part, digest), (at, order)
            self._shared.index = index
        return self._shared.index

    def _next_part(self) -> tuple[int, str]:
        with self._shared.lock:  # mappings of one prefix number their parts together
            if self._shared.batch is None:
                prefix = f"run={self.run_id}/"
                taken = [self._part_order(p)[1] for p in self._parts() if p.startswith(prefix)]
                self._shared.batch = max(taken, default=0)
            self._shared.batch += 1
            batch = self._shared.batch
        return batch, f"run={self.run_id}/part-{batch:05d}.{self.extension}"

    def _write(
        self,
        records: Mapping[str, dict[str, Any]],
        hashes: Mapping[str, str],
        keys: Mapping[str, str],
        ids: list[str],
    ) -> tuple[str, datetime]:
        """One part with these leads, whole or not at all; returns it (relative) and its write time."""
        batch, part = self._next_part()
        at = datetime.now(UTC)
        meta = {RUN_COLUMN: self.run_id, BATCH_COLUMN: batch, AT_COLUMN: at}
        rows = [records[lid] | {HASH_COLUMN: hashes[lid], KEY_ID_COLUMN: keys.get(lid)} | meta for lid in ids]
        if self.format == "csv":
            rows = [self.mapping.to_csv_row(r) for r in rows]
        table = pa.Table.from_pylist(rows, schema=self.mapping.schema(self.format))
        sink = pa.BufferOutputStream()
        if self.format == "parquet":
            pq.write_table(table, sink)
        else:
            pacsv.write_csv(table, sink)
        data = sink.getvalue()
        path = f"{self.root}/{part}"
        if self.is_s3:
            with self.fs.open_output_stream(path) as out:  # the object appears when the upload completes
                out.write(data)
        else:
            folder = path.rsplit("/", 1)[0]
            self.fs.create_dir(folder, recursive=True)
            tmp = f"{folder}/.{part.rsplit('/', 1)[1]}.{uuid.uuid4().hex[:8]}.tmp"
            with self.fs.open_output_stream(tmp) as out:
                out.write(data)
            self.fs.move(tmp, path)
        log.info("%s: wrote %d leads to %s", self.name, len(ids), part)
        return part, at


class CsvDestination(FileDestination):
    """CSV part files (lists joined) under a local folder or an S3 prefix."""

    name = "csv"
    default_format = "csv"


class S3Destination(FileDestination):
    """Parquet (or CSV) part files under s3://bucket/prefix, through the lakehouse's object-store settings."""

    name = "s3"
    default_format = "parquet"

    def __init__(self, uri: str | Path, **options: Any) -> None:
        if urlparse(str(uri)).scheme not in ("s3", "s3a"):
            raise ValueError(f"the s3 destination needs an s3://bucket/prefix URI, got {str(uri)!r}")
        super().__init__(uri, **options)
