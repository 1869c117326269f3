"""Spreadsheets (Excel's .xlsx and .xls, OpenDocument's .ods) read as their first sheet's CSV export would
be: the form lead lists and CRM exports often come in."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


class SpreadsheetError(ValueError):
    """A workbook that cannot be read; the message names the file and the fix."""


_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a legacy Excel .xls (any OLE2 compound file)


def is_spreadsheet(p: Path, head: bytes) -> bool:
    """Whether the file is an Excel (.xlsx, .xls) or OpenDocument (.ods) workbook, by its content."""
    if head.startswith(_OLE2_MAGIC):
        return True
    if not head.startswith(b"PK\x03\x04"):
        return False
    import zipfile

    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
    except zipfile.BadZipFile:
        return False
    return "xl/workbook.xml" in names or ("content.xml" in names and "mimetype" in names)


def is_workbook_file(path: Path) -> bool:
    """is_spreadsheet on the file's first bytes; False for a file that cannot be opened (its reader says
    what is wrong with it)."""
    try:
        with path.open("rb") as fh:
            return is_spreadsheet(path, fh.read(8))
    except OSError:
        return False


def cell_text(value: Any) -> str:
    """A spreadsheet cell as a CSV export writes it: whole numbers without ".0" (a phone or ZIP typed as a
    number), dates in ISO form, blanks as ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def read_sheet(p: Path, sheet: str | None = None) -> pd.DataFrame:
    """A sheet of an Excel or OpenDocument workbook as text columns, as its CSV export would be: `sheet`
    by name or 1-based number, else the first (a workbook of several sheets says which one it read)."""
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(p))
        sheets = list(book.sheet_names)
        index = _sheet_index(p, sheets, sheet)
        rows = book.get_sheet_by_index(index).to_python(skip_empty_area=True) if sheets else []
    except SpreadsheetError:
        raise
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for damaged files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SpreadsheetError(
            f"{p} is not a readable spreadsheet ({first}); save it again, or as CSV UTF-8"
        ) from exc
    where = "its first sheet" if sheet is None else f"sheet {sheets[index]!r}"
    if not rows or not any(cell_text(v) for v in rows[0]):
        raise SpreadsheetError(f"{p}: {where} is empty; expected a header row, then one row per record")
    if len(sheets) > 1 and sheet is None:
        logger.warning("%s has %d sheets: read the first, %r", p.name, len(sheets), sheets[0])
    rows = rows[_header_row(rows) :]
    width = max(len(r) for r in rows)
    header = [cell_text(v) for v in rows[0]] + [""] * (width - len(rows[0]))
    header = [h or f"column_{i + 1}" for i, h in enumerate(header)]
    body = [[cell_text(v) for v in r] + [""] * (width - len(r)) for r in rows[1:]]
    return pd.DataFrame(body, columns=header, dtype=object)


def _header_row(rows: list[list[Any]]) -> int:
    """The row the column names are on: the first that is not a title line (at most two cells filled while
    a row below fills more than twice as many). A formatted report (Salesforce's, a CRM export with a
    title) puts its name and date above the column names; a one-column list starts at its first row."""
    filled = [sum(1 for v in r if cell_text(v)) for r in rows[:20]]
    most = max(filled, default=0)
    return next((i for i, n in enumerate(filled) if n > 2 or n * 2 >= most), 0)


def _sheet_index(p: Path, sheets: list[str], sheet: str | None) -> int:
    """The position of `sheet` (a name, any case, or a 1-based number) among `sheets`; 0 for None."""
    if sheet is None:
        return 0
    named = [i for i, name in enumerate(sheets) if name.strip().lower() == sheet.strip().lower()]
    if named:
        return named[0]
    if sheet.strip().isdigit() and 1 <= int(sheet) <= len(sheets):
        return int(sheet) - 1
    listed = ", ".join(repr(s) for s in sheets)
    raise SpreadsheetError(
        f"{p} has no sheet {sheet!r}; its sheets: {listed} (--sheet takes a name or number)"
    )
