"""Files of rows a user brings (`leadlake resolve --input`, `leadlake train --labels`) as text columns: CSV
in any common dialect (comma, semicolon, tab or pipe; UTF-8, UTF-16 or a named encoding; gzip, bz2, xz or
zip), Parquet, and Excel or OpenDocument workbooks; nothing parsed or dropped, one clear error otherwise."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from leadlake.core.spreadsheets import SpreadsheetError, is_spreadsheet, read_sheet

_SNIFF_BYTES = 8192


class TableFileError(ValueError):
    """A file that cannot be read as rows; the message names the file, what is wrong and the fix."""


def _delimiter(head: bytes) -> str:
    """The header line's field separator: a comma unless the header holds more semicolons (spreadsheets in
    much of Europe), tabs or pipes than commas; quoted parts are not counted."""
    line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    unquoted = re.sub(r'"[^"]*"', "", line)
    counts = {d: unquoted.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _codec(encoding: str) -> str:
    """The Python codec an --encoding names; TableFileError for a name Python does not know."""
    import codecs

    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise TableFileError(
            f"--encoding {encoding!r} is not a text encoding Python knows; use e.g. utf-8, cp1252 (Excel on "
            "Windows), latin-1 or utf-16"
        ) from None


def read_table_file(
    path: str | os.PathLike[str],
    encoding: str | None = None,
    sheet: str | None = None,
    option: str = "--input",
    rows: str = "a header row with record_id, then one row per record",
) -> pd.DataFrame:
    """The file as text columns (nothing parsed or dropped); TableFileError names what is wrong and the fix.
    encoding: the file's text encoding; None reads UTF-8 (UTF-16 when the file starts with its BOM).
    sheet: a workbook's sheet (name or 1-based number; None: the first); ignored for other files.
    option: the command-line option that named the file; rows: what the file should hold (for the errors)."""
    p = Path(path)
    codec = _codec(encoding) if encoding else None
    if not p.exists():
        raise TableFileError(f"{p}: no such file; check the {option} path")
    if p.is_dir():
        raise TableFileError(f"{p} is a directory; give {option} a CSV file")
    try:
        with p.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise TableFileError(f"{p} cannot be read ({exc.strerror or exc}); check its permissions") from exc
    if head.startswith(_PARQUET_MAGIC):
        return _read_parquet(p)
    if is_spreadsheet(p, head):
        try:
            return read_sheet(p, sheet)
        except SpreadsheetError as exc:
            raise TableFileError(str(exc)) from exc
    compression = next((kind for magic, kind in _COMPRESSED if head.startswith(magic)), None)
    if compression is not None:
        head = _decompressed_head(p, compression)
    if codec is not None:
        head = head.decode(codec, errors="replace").encode("utf-8")
        codec = "utf-8-sig" if codec == "utf-8" else codec  # a BOM is not part of the first header
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its BOM: Excel's "Unicode Text"
        codec, head = "utf-16", head.decode("utf-16", errors="ignore").encode("utf-8")
    if not head.strip():
        raise TableFileError(f"{p} is empty; expected {rows}")
    if b"\x00" in head:
        raise TableFileError(
            f"{p} is not a CSV file (binary content); export it as comma-separated text (or Parquet)"
        )
    try:
        frame = pd.read_csv(
            p,
            compression=compression,
            sep=_delimiter(head),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding=codec or "utf-8-sig",
            skipinitialspace=True,
        )
    except UnicodeError as exc:
        if codec is not None:
            where = f" at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else ""
            reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise TableFileError(f"{p} is not {encoding} text ({reason}{where}); check --encoding") from exc
        raise TableFileError(
            f"{p} is not UTF-8 text (byte {getattr(exc, 'start', '?')}); if Excel on Windows saved it, add "
            "--encoding cp1252 (--encoding latin-1 for other Western European files), or save it as UTF-8"
        ) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError, OSError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableFileError(
            f"{p} is not a valid CSV file ({first}); export it as comma-separated text"
        ) from exc
    return frame


_PARQUET_MAGIC = b"PAR1"


# Compressed CSV files by their first bytes (a name can lie): what pandas' read_csv opens.
_COMPRESSED: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
)


def _decompressed_head(p: Path, compression: str) -> bytes:
    """The first bytes of a compressed CSV once decompressed (to find its separator)."""
    try:
        if compression == "zip":
            import zipfile

            try:
                zf = zipfile.ZipFile(p)
            except zipfile.BadZipFile as exc:
                raise TableFileError(
                    f"{p} is not a CSV file (a damaged zip archive); export it again"
                ) from exc
            with zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if len(names) != 1:
                    raise TableFileError(f"{p} is a zip of {len(names)} files; zip one CSV file, or unzip it")
                with zf.open(names[0]) as fh:
                    return fh.read(_SNIFF_BYTES)
        import bz2
        import gzip
        import lzma

        opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compression]
        with opener(p, "rb") as fh:
            return fh.read(_SNIFF_BYTES)
    except TableFileError:
        raise
    except (OSError, EOFError, ValueError) as exc:
        raise TableFileError(
            f"{p} is not a readable {compression} file ({exc}); decompress or export it again"
        ) from exc


def _read_parquet(p: Path) -> pd.DataFrame:
    """A Parquet file as text columns, as a CSV would be read: numbers as their shortest text, nulls as "".
    Nested columns as open places data writes them (Overture Maps, Foursquare OS Places) are flattened:
    a struct's fields as "column.field", a list's first item (a struct's fields likewise), a WKB point as
    "column.lat" and "column.lon"; maps and other binary values are left out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except (pa.ArrowException, OSError) as exc:
        raise TableFileError(f"{p} is not a readable Parquet file ({exc}); export it again") from exc
    columns: dict[str, pd.Series] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        for flat, values in _flat_columns(str(name), column.combine_chunks()):
            columns[flat] = values
    if not columns:
        raise TableFileError(f"{p}: no column holds text, numbers or places; export it with plain columns")
    return pd.DataFrame(columns)


def _flat_columns(name: str, values: Any) -> list[tuple[str, pd.Series]]:
    """One Arrow column as (name, text values) pairs, nested ones flattened (see _read_parquet)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.type
    if pa.types.is_struct(kind):
        return [
            flat
            for i in range(kind.num_fields)
            for flat in _flat_columns(f"{name}.{kind.field(i).name}", pc.struct_field(values, [i]))
        ]
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        first = [items[0] if items else None for items in values.to_pylist()]
        return _flat_columns(name, pa.array(first, type=kind.value_type))
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        blobs = values.to_pylist()
        points = [_wkb_point(v) for v in blobs]
        if any(points) and all(pt is not None for pt, v in zip(points, blobs, strict=True) if v):
            return [
                (
                    f"{name}.lat",
                    pd.Series(["" if pt is None else repr(pt[1]) for pt in points], dtype=object),
                ),
                (
                    f"{name}.lon",
                    pd.Series(["" if pt is None else repr(pt[0]) for pt in points], dtype=object),
                ),
            ]
        return []
    if pa.types.is_nested(kind):  # a map: several values a row, none of them the record's
        return []
    text = values if pa.types.is_string(kind) else pc.cast(values, pa.string())
    return [(name, pc.fill_null(text, "").to_pandas().astype(object))]


def _wkb_point(value: bytes | None) -> tuple[float, float] | None:
    """(x, y) of a WKB point (ISO or EWKB, either byte order, any dimensions), else None."""
    import struct

    if not value or len(value) < 21 or value[0] not in (0, 1):
        return None
    order = "<" if value[0] == 1 else ">"
    (kind,) = struct.unpack(f"{order}I", value[1:5])
    offset = 5
    if kind & 0x20000000:  # EWKB with an SRID after the type
        offset += 4
    if (kind & 0xFFFF) % 1000 != 1 or len(value) < offset + 16:
        return None
    x, y = struct.unpack(f"{order}dd", value[offset : offset + 16])
    return x, y
