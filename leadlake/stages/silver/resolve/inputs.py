"""A user's own records (a CSV file or a frame) as the resolver's record frame, normalised as the pipeline.

The input is one row per record: `record_id` (required, unique) and any of INPUT_COLUMNS; every other column
is an extra identifier (`date_of_birth`, `tax_id`, ...) handed to the resolver when it supports them. Values
are normalised exactly as the source adapters normalise them (leadlake.core.normalize; clean_text and
us_postal of connectors.sources.base), so a user's records and the pipeline's records meet the model in the
same shape; but a column at a time: the per-value helpers run once per distinct value, and North American
phones skip phonenumbers' parser (their digits are checked against libphonenumber's own NANP patterns; the
unit tests compare the results with normalize_phone and is_toll_free).

Also here: the clusters CSV (`record_id, cluster_id, match_probability`) and the Splink HTML report.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadlake.core.columns import (
    HOUSE_NUMBER_COLUMNS,
    INPUT_COLUMNS,
    aliased,
    header_name,
    name_parts,
)
from leadlake.core.normalize import (
    NANP_REGIONS,
    ascii_fold,
    nanp_national,
    nanp_pattern,
    normalize_name,
    normalize_phone_typed,
    phone_match_key,
    registered_domain,
    split_one_line_address,
)
from leadlake.core.records import SOURCE_RECORD_FIELDS
from leadlake.core.spreadsheets import is_workbook_file
from leadlake.core.table_files import TableFileError, read_table_file
from leadlake.stages.silver.resolve.prepare import extra_key, identifies
from leadlake.stages.silver.resolve.settings import ResolveSettings

DEFAULT_SOURCE = "input"
DEFAULT_COUNTRY = "US"
OUTPUT_COLUMNS: tuple[str, ...] = ("record_id", "cluster_id", "match_probability")

# Spellings of "no value" in exported files, for the numeric columns.
_NULL_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
# Everyday names ISO 3166 does not list under these spellings; the rest go through pycountry.
_COUNTRY_ALIASES = {
    "UK": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "SCOTLAND": "GB", "WALES": "GB", "RUSSIA": "RU",
    "TURKEY": "TR", "HOLLAND": "NL", "THE NETHERLANDS": "NL", "SOUTH KOREA": "KR", "KOREA": "KR",
    "VIETNAM": "VN", "UAE": "AE", "CZECH REPUBLIC": "CZ",
    # Countries' own names, as their residents' exports write them (accents folded).
    "DEUTSCHLAND": "DE", "OSTERREICH": "AT", "SCHWEIZ": "CH", "SUISSE": "CH", "SVIZZERA": "CH",
    "ESPANA": "ES", "ITALIA": "IT", "NEDERLAND": "NL", "BELGIE": "BE", "BELGIQUE": "BE", "SVERIGE": "SE",
    "NORGE": "NO", "DANMARK": "DK", "SUOMI": "FI", "POLSKA": "PL", "CESKO": "CZ", "BRASIL": "BR",
    "MEXICO": "MX", "NIPPON": "JP", "NIHON": "JP",
}  # fmt: skip


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
    # Other columns with values shared by many records (a status, a star rating): not compared
    attributes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    # Read from several files: each record's file (its name without extension) and its id in that file,
    # by position; record_id is then "file:id", unique across the files.
    origin: pd.DataFrame | None = None

    def describe(self) -> str:
        """One line: which columns were used, which were empty or absent, and the extra identifiers."""
        parts = [f"{len(self.records):,} records from {len(self.sources)} source(s)"]
        parts.append("used: " + (", ".join(self.used) or "none"))
        if self.extra:
            parts.append("extra identifiers: " + ", ".join(self.extra))
        if self.attributes:
            parts.append("not identifiers (values shared by many records): " + ", ".join(self.attributes))
        if self.empty:
            parts.append("empty: " + ", ".join(self.empty))
        if self.absent:
            parts.append("absent: " + ", ".join(self.absent))
        parts.extend(self.notes)
        return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------
# Reading a CSV file.


def _joined(parts: list[pd.Series]) -> pd.Series:
    """Row-wise join of text columns with one space, blanks skipped; None where every part is blank."""
    text = parts[0].fillna("").astype(str)
    for part in parts[1:]:
        text = text + " " + part.fillna("").astype(str)
    text = text.str.split().str.join(" ")
    return text.where(text != "", None).astype(object)


def read_records_csv(
    path: str | os.PathLike[str], encoding: str | None = None, sheet: str | None = None
) -> pd.DataFrame:
    """The file as text columns (core.table_files.read_table_file); InputError names what is wrong and the
    fix."""
    try:
        return read_table_file(path, encoding, sheet)
    except TableFileError as exc:
        raise InputError(str(exc)) from exc


# ---------------------------------------------------------------------------------------------------
# Validation and normalisation, column at a time (pandas string methods); the per-value helpers of the
# pipeline (normalize_name, registered_domain, normalize_phone) run once per distinct value only.


def _clean(values: pd.Series) -> pd.Series:
    """clean_text of each value: stripped text, None for None, NaN and blank (object dtype). One pass in
    a comprehension: for text, str.strip directly is several times faster than pandas' str accessor."""
    out = [
        (t if (t := v.strip()) else None) if type(v) is str else _text(v)
        for v in values.to_numpy(dtype=object)
    ]
    return pd.Series(out, dtype=object)


def _one_spelling(values: pd.Series) -> pd.Series:
    """Values that differ only in case or spacing as one, spelled as first seen: "Yelp" and "yelp " are one
    source, as the user means (the resolver weighs records of one source and of two differently)."""
    spelled: dict[str, str] = {}
    canonical = {}
    for value in pd.unique(values.dropna()):
        canonical[value] = spelled.setdefault(" ".join(str(value).casefold().split()), value)
    return values.map(canonical).astype(object).where(values.notna(), None)


def _text(value: object) -> str | None:
    """Stripped text, or None for None, NaN and blank (pandas' NA too)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _objects(values: pd.Series) -> pd.Series:
    """Object dtype, None for every missing value (pandas string methods give NaN for some)."""
    values = values.astype(object)
    return values.where(values.notna(), None)


def _none(n: int) -> pd.Series:
    return pd.Series([None] * n, dtype=object)


def _lines(positions: Iterable[int]) -> str:
    """CSV line numbers (the header is line 1) of row positions, the first few."""
    shown = [str(i + 2) for i in list(positions)[:5]]
    return ", ".join(shown)


def _number(text: pd.Series, column: str, low: float, high: float, where: str) -> pd.Series:
    """Floats in [low, high] (object dtype), None for blanks; InputError naming the column and line for
    anything else. Values are parsed by float(), as before, only vectorised."""
    blank = text.isna() | text.str.lower().isin(_NULL_TOKENS)
    values = np.full(len(text), np.nan)
    given = np.flatnonzero(~blank.to_numpy())
    raw = text.to_numpy()[given]
    try:
        numbers = raw.astype(float)  # float() of each str: the same parse as float(text)
    except ValueError:
        numbers = np.array([_float_or_nan(v) for v in raw], dtype=float)
    bad = np.isnan(numbers) | (numbers < low) | (numbers > high)
    if bad.any():
        i = int(given[np.flatnonzero(bad)[0]])
        raise InputError(
            f"{where}column {column} on line {i + 2} is {text.iat[i][:30]!r}, not a number from {low:g} to "
            f"{high:g}; fix the value or leave it empty"
        )
    values[given] = numbers
    out = pd.Series(values).astype(object)
    out[blank.to_numpy()] = None
    return out


def _latitudes(lat: pd.Series, lon: pd.Series, where: str) -> pd.Series:
    """_number of lat; when a value is not a latitude, InputError says so, or that lat and lon look swapped
    (a lat beyond +-90 that is a longitude, and every lon a latitude: a file written lon, lat)."""
    try:
        return _number(lat, "lat", -90.0, 90.0, where)
    except InputError:
        numbers = [pd.to_numeric(c, errors="coerce").to_numpy(dtype=float) for c in (lat, lon)]
        beyond = np.flatnonzero(np.abs(numbers[0]) > 90.0)
        if len(beyond) and np.nanmax(np.abs(numbers[0])) <= 180.0 and np.isfinite(numbers[1]).any():
            if np.nanmax(np.abs(numbers[1])) <= 90.0:
                i = int(beyond[0])
                raise InputError(
                    f"{where}column lat on line {i + 2} is {lat.iat[i]!r}, a longitude, and every lon is a "
                    "latitude: lat and lon look swapped; swap the two column names (or fix the value)"
                ) from None
        raise


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


@functools.lru_cache(maxsize=1024)
def country_code(value: str) -> str:
    """ISO 3166 alpha-2 of a country code, English name or common own name ("Japan", "DEU", "UK",
    "Deutschland" -> "JP", "DE", "GB", "DE"); a value it cannot place is kept as given, in upper case."""
    given = value.strip().upper()
    text = ascii_fold(given).upper()
    if text in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[text]
    if len(text) == 2 and text.isalpha() or not text:
        return text
    import pycountry  # its database loads on first use; only names that are not codes need it

    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        return given


def _country(values: pd.Series) -> pd.Series:
    """Country as the pipeline keeps it: an ISO alpha-2 code (phones are parsed in it), from a code or a
    name; one lookup per distinct value."""
    return _distinct(country_code, _clean(values))


def _phone_region(countries: pd.Series) -> pd.Series:
    """The region phonenumbers parses a national number in: the row's country when it is a code, else US."""
    code = countries.notna() & (countries.str.len() == 2) & countries.str.isalpha().eq(True)
    return countries.where(code, DEFAULT_COUNTRY).astype(object)


def _extra_name(header: str) -> str:
    """An extra column's name in the record frame; never one of the record's own fields."""
    name = header if header and not header[0].isdigit() else f"x_{header}"
    return f"extra_{name}" if name in SOURCE_RECORD_FIELDS or name in ("email", "provider") else name


# Registry numbers that name one company: with no record_id, such a column (or one whose name ends in _id,
# as an export's "Apollo Account Id" or "ZoomInfo Company ID") is the record id when it is the only one
# with a value in every row, each value once.
_REGISTRY_NUMBERS = frozenset({"company_number", "registration_number", "company_registration_number"})


def _id_like(header: str) -> bool:
    return header.endswith("_id") or header in _REGISTRY_NUMBERS


def with_record_id(headers: list[str], frame: pd.DataFrame) -> tuple[list[str], tuple[str, ...]]:
    """Headers (by position in `frame`) with an id column read as record_id when the file has none: the
    one id-like column (_id_like) whose values are all given and unique, and a note saying so. Unchanged
    when there is a record_id, or no such column; InputError when several could be it."""
    if "record_id" in headers:
        return headers, ()
    unique = []
    for i, h in enumerate(headers):
        if _id_like(h):
            values = _clean(frame.iloc[:, i])
            if values.notna().all() and values.is_unique and len(values):
                unique.append(i)
    if len(unique) > 1:
        names = " and ".join(headers[i] for i in unique)
        raise InputError(
            f"no record_id column, and {names} each hold one unique value per row; rename the one that "
            "identifies a row to record_id"
        )
    if not unique:
        return headers, ()
    out = list(headers)
    out[unique[0]] = "record_id"
    return out, (f"{headers[unique[0]]} read as record_id (one unique value per row)",)


def _check_ids(column: pd.Series | None, headers: Sequence[str], where: str) -> pd.Series:
    """The stripped record ids; InputError for a missing column, empty ids and duplicates."""
    if column is None:
        shown = ", ".join(map(str, list(headers)[:8])) or "none"
        raise InputError(
            f"{where}no record_id column (columns: {shown}); "
            "add a record_id column with one unique id per row"
        )
    ids = _clean(column)
    blank = np.flatnonzero(ids.isna().to_numpy())
    if len(blank):
        more = f" and {len(blank) - 5} more" if len(blank) > 5 else ""
        raise InputError(
            f"{where}record_id is empty on line {_lines(blank)}{more}; give every row its own record_id"
        )
    dups = ids[ids.duplicated(keep=False)]
    if len(dups):
        first = dups.iloc[0]
        where_first = np.flatnonzero((ids == first).to_numpy())
        others = dups.nunique() - 1
        more = f" (and {others} more duplicated ids)" if others else ""
        raise InputError(
            f"{where}record_id {first[:40]!r} appears {len(where_first)} times (lines "
            f"{_lines(where_first)}){more}; make record_id unique"
        )
    return ids


def _with_house_numbers(streets: pd.Series, numbers: pd.Series) -> pd.Series:
    """Each street with its house number before it ("12", "Main St" -> "12 Main St"), unless the street
    already starts with that number or either is missing."""
    out = streets.copy()
    for i, (street, number) in enumerate(zip(streets.tolist(), numbers.tolist(), strict=True)):
        if street is not None and number is not None and street.split(" ", 1)[0] != number:
            out.iat[i] = f"{number} {street}"
    return out


def _distinct(fn: Any, values: pd.Series) -> pd.Series:
    """fn of each non-null value, computed once per distinct value; None where the value is None."""
    out = _none(len(values))
    given = values.notna().to_numpy()
    if given.any():
        codes, uniques = pd.factorize(values[given])
        results = np.empty(len(uniques), dtype=object)
        results[:] = [fn(v) for v in uniques]
        out[given] = results[codes]
    return out


# ---------------------------------------------------------------------------------------------------
# Phones. Parsing with phonenumbers is most of the time of a large file, and nearly every number is
# North American: those are recognised by their digits and checked against libphonenumber's own NANP
# patterns at once (one regular expression over the distinct numbers); the rest are parsed as before.

# The NANP toll-free area codes: every US/CA toll-free number has one (libphonenumber's US pattern is
# 8(?:00|33|44|55|66|77|88)[2-9]...); a few Caribbean regions have toll-free numbers of their own too
# (Bahamas 242-300-...), hence the toll-free check follows libphonenumber's metadata (nanp_pattern).
NANP_TOLL_FREE = frozenset({"800", "833", "844", "855", "866", "877", "888"})


def nanp_fast_path(raw: pd.Series, regions: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The national numbers (10 digits) of the phones read as North American by their digits alone, and
    a mask of those rows; the others are for phonenumbers.

    A phone qualifies when it is only digits and separators and holds 10 digits (no "+"; the row parsed
    as US or CA) or 11 starting with 1 (a "+" in front, or the row parsed as US or CA), and its area code
    and exchange begin with 2-9. One pass in a comprehension (several times faster than a chain of pandas
    string methods)."""
    nanp_region = regions.isin(NANP_REGIONS).to_numpy(dtype=bool).tolist()
    national = pd.Series(
        [nanp_national(t, r) for t, r in zip(raw.to_numpy(dtype=object), nanp_region, strict=True)],
        dtype=object,
    )
    return national, national.notna()


def _international_prefix_as_plus(raw: pd.Series, countries: pd.Series) -> pd.Series:
    """Phones dialled from abroad written with the dialling prefix instead of "+": "00" anywhere, "011"
    from North America (where no national number starts with 0): "001-254-558-9212" -> "+1-254-...".
    """
    text = raw.reset_index(drop=True)
    # Few numbers start with a 0 (a trunk or dialling prefix): only those are rewritten.
    zero = pd.Series([type(v) is str and v.lstrip(" +")[:1] == "0" for v in text.to_numpy()], dtype=bool)
    if not zero.any():
        return text
    some = text[zero]
    out = some.str.replace(r"^\s*\+?00(?=\s*[1-9])", "+", regex=True)
    nanp = _phone_region(countries.reset_index(drop=True)[zero]).isin(NANP_REGIONS)
    out = out.where(~nanp, out.str.replace(r"^\s*011(?=[\s.\-]*[1-9])", "+", regex=True))
    return text.where(~zero, out)


def match_keys_for_invalid_phones(raw: pd.Series, countries: pd.Series, e164: pd.Series) -> pd.Series:
    """phone_match_key of each phone that normalize_phones left out (None elsewhere), once per distinct
    (phone, region)."""
    raw = raw.reset_index(drop=True)
    out = _none(len(raw))
    missed = (raw.notna() & e164.reset_index(drop=True).isna()).to_numpy()
    if missed.any():
        regions = _phone_region(countries.reset_index(drop=True))
        pairs = pd.Series(list(zip(raw[missed], regions[missed], strict=True)), dtype=object)
        out[missed] = _distinct(lambda pair: phone_match_key(*pair), pairs).to_numpy()
    return out


def normalize_phones(raw: pd.Series, countries: pd.Series) -> tuple[pd.Series, pd.Series]:
    """E.164 of each phone, parsed in its row's country (US by default), as the adapters do
    (leadlake.core.normalize.normalize_phone), and whether it is toll-free (is_toll_free); object dtype,
    None where no valid number."""
    n = len(raw)
    raw = raw.reset_index(drop=True)
    regions = _phone_region(countries.reset_index(drop=True))
    e164, toll_free = _none(n), pd.Series([False] * n, dtype=object)
    national, fast = nanp_fast_path(raw, regions)
    if fast.any():
        nsn = national[fast]
        codes, uniques = pd.factorize(nsn)
        distinct = pd.Series(uniques, dtype=object)
        valid = distinct.str.fullmatch(nanp_pattern("valid")).to_numpy(dtype=bool)
        formatted = np.where(valid, ("+1" + distinct).to_numpy(dtype=object), None)
        free = valid.copy()
        free[valid] = distinct[valid].str.fullmatch(nanp_pattern("toll_free")).to_numpy(dtype=bool)
        e164[fast.to_numpy()] = formatted[codes]
        toll_free[fast.to_numpy()] = free.astype(object)[codes]
    slow = raw.notna() & ~fast
    if slow.any():
        pairs = pd.Series(list(zip(raw[slow], regions[slow], strict=True)), dtype=object)
        typed = _distinct(lambda pair: normalize_phone_typed(*pair), pairs).to_numpy()
        e164[slow.to_numpy()] = [t[0] for t in typed]
        toll_free[slow.to_numpy()] = [t[1] for t in typed]  # by position, not by index
    return e164, toll_free


# A URL whose registered domain is its host's: an optional http(s) scheme, a plain host name, then
# nothing or a path, query or fragment (no user, port or spaces: those go to tldextract whole).
_SIMPLE_URL = re.compile(r"(?:https?://)?([a-z0-9][a-z0-9.-]*)(?:[/?#]\S*)?", re.IGNORECASE)


def registered_domains(websites: pd.Series) -> pd.Series:
    """registered_domain of each website (leadlake.core.normalize), computed once per distinct host:
    "https://www.x.com/about" and "x.com" are one tldextract call."""
    host = websites.str.extract(_SIMPLE_URL, expand=False)
    simple = websites.str.fullmatch(_SIMPLE_URL).eq(True)
    keys = _objects(websites.where(~simple, host.str.lower()))
    return _distinct(registered_domain, keys)


def _locality_from_one_line_addresses(
    address: pd.Series, city: pd.Series, postal: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """city and postal, each filled where it is empty from a one-line address in `address` ("1200 Main
    St, Denver, CO 80202"), parsed once per distinct address; the address itself is kept whole."""
    wanted = address.notna() & (city.isna() | postal.isna())
    if not wanted.any():
        return city, postal
    parsed = _distinct(split_one_line_address, address.where(wanted, None))
    found_city = parsed.map(lambda p: p.city if p is not None else None)
    found_postal = parsed.map(lambda p: p.postal if p is not None else None)
    return city.where(city.notna(), found_city), postal.where(postal.notna(), found_postal)


def input_headers(frame: pd.DataFrame, where: str = "") -> tuple[list[str], tuple[str, ...]]:
    """The frame's headers as input columns (core.columns' aliases; the record_id with_record_id finds),
    checked for two headers naming one column; notes say what was read as what."""
    headers, renamed = aliased([header_name(c) for c in frame.columns])
    _check_unique_columns(headers, where)
    headers, id_note = with_record_id(headers, frame)
    return headers, (*renamed, *id_note)


def records_from_frame(frame: pd.DataFrame, where: str = "") -> InputRecords:
    """The resolver's record frame from a user's table, normalised as the source adapters normalise.

    `where` prefixes error messages (the file name). Columns are matched case-insensitively."""
    where = f"{where}: " if where and not where.endswith(": ") else where
    headers, renamed = input_headers(frame, where)
    n = len(frame)
    # Each column cleaned once (stripped text, None for blanks); the caller's frame is left as it is.
    raw_columns = {h: frame.iloc[:, i].reset_index(drop=True) for i, h in enumerate(headers) if h}
    ids = _check_ids(raw_columns.get("record_id"), headers, where)
    cleaned: dict[str, pd.Series] = {}

    def col(name: str) -> pd.Series:
        if name not in cleaned:
            cleaned[name] = _clean(raw_columns[name]) if name in raw_columns else _none(n)
        return cleaned[name]

    filled: dict[str, bool] = {}

    def has_values(name: str) -> bool:
        if name not in filled:
            filled[name] = name in raw_columns and bool(col(name).notna().any())
        return filled[name]

    numbers = [h for h in headers if h in HOUSE_NUMBER_COLUMNS and h in raw_columns]
    if numbers and "address" in raw_columns:
        cleaned["address"] = _with_house_numbers(col("address"), col(numbers[0]))
        headers = [h for h in headers if h != numbers[0]]  # used: not an extra identifier
        renamed = (*renamed, f"{numbers[0]} joined to address")
    parts = name_parts(headers) if "name" not in raw_columns else []
    if parts:
        raw_columns["name"] = _joined([raw_columns[h] for h in parts])
        headers = [*headers, "name"]
        renamed = (*renamed, " + ".join(parts) + " joined as name")
    countries = _country(raw_columns["country"]) if "country" in raw_columns else _none(n)
    sources = _one_spelling(col("source")).fillna(DEFAULT_SOURCE).astype(object)
    names = col("name")
    phone_text = _international_prefix_as_plus(col("phone"), countries)
    phones, toll_free = normalize_phones(phone_text, countries)
    # Users' files hold numbers no carrier assigned (test data, made-up or mistyped area codes): for
    # matching, the digits still say "same record"; they are never delivered anywhere from here.
    kept = match_keys_for_invalid_phones(phone_text, countries, phones)
    phones = phones.where(phones.notna(), kept)
    websites = col("website")
    city, postal = _locality_from_one_line_addresses(col("address"), col("city"), col("postal"))
    zip5 = (countries == "US") & (postal.str.len() >= 5).eq(True)
    zip5 &= postal.str[:5].str.isdigit().eq(True)
    records = pd.DataFrame(
        {
            "record_id": ids,
            "provider": sources,
            "provider_key": ids,
            "name": names,
            "name_norm": _distinct(normalize_name, names).fillna(""),
            "phone_e164": phones,
            "phone_is_toll_free": toll_free,
            "website": websites,
            "domain": registered_domains(websites),
            "address_line1": col("address"),
            "city": city,
            "region": _objects(col("region").str.upper()),
            "postal": _objects(postal.where(~zip5, postal.str[:5])),
            "country": countries,
            "lat": _latitudes(col("lat"), col("lon"), where),
            "lon": _number(col("lon"), "lon", -180.0, 180.0, where),
            "rating": _none(n),
            "review_count": _none(n),
            "categories": pd.Series([[c.lower()] if c else [] for c in col("category")], dtype=object),
        },
        columns=list(SOURCE_RECORD_FIELDS),
    )
    notes: list[str] = list(renamed)
    unparsed = int((col("phone").notna() & phones.isna()).sum())
    matched_only = int(kept.notna().sum())
    if matched_only:
        notes.append(f"{matched_only} phone(s) not valid numbers, matched by their digits")
    if unparsed:
        notes.append(f"{unparsed} phone(s) unreadable as numbers, left out")
    # Extra identifiers: every other column with a value, and the email (not a record field of its own).
    extra: list[str] = []
    attributes: list[str] = []  # columns with values that do not tell records apart
    limit = ResolveSettings().max_extra_pairs_per_record

    def add_extra(name: str, values: pd.Series) -> None:
        if identifies(_distinct(extra_key, values), limit):
            records[name] = values
            extra.append(name)
        else:
            attributes.append(name)

    if has_values("email"):
        add_extra("email", _objects(col("email").str.lower()))
    empty_extras: list[str] = []
    for header in headers:
        if header in INPUT_COLUMNS or not header:
            continue
        if not has_values(header):
            empty_extras.append(header)
            continue
        add_extra(_extra_name(header), col(header))
    present = [c for c in INPUT_COLUMNS if c in headers]
    used = tuple(c for c in present if has_values(c) and c != "email")
    empty = tuple([c for c in present if not has_values(c)] + empty_extras)
    absent = tuple(c for c in INPUT_COLUMNS if c not in headers)
    return InputRecords(
        records=records,
        used=used,
        empty=empty,
        absent=absent,
        extra=tuple(extra),
        attributes=tuple(attributes),
        sources=tuple(pd.unique(sources)),
        notes=tuple(notes),
    )


def load_records(
    path: str | os.PathLike[str], encoding: str | None = None, sheet: str | None = None
) -> InputRecords:
    """A CSV file of the user's records as the resolver's record frame (see records_from_frame)."""
    frame = read_records_csv(path, encoding, sheet)
    if frame.empty and not len(frame.columns):
        raise InputError(f"{path} has no columns; expected a header row with record_id")
    return records_from_frame(frame, where=str(path))


def _check_unique_columns(headers: Sequence[str], where: str) -> None:
    """InputError when two headers name one column (after aliases): the first such, and how often."""
    seen: dict[str, int] = {}
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
    clash = [h for h, k in seen.items() if k > 1 and h]
    if clash:
        raise InputError(f"{where}column {clash[0]} appears {seen[clash[0]]} times; keep one of them")


def _file_names(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Each file's name without its extension; a name two files share gets _2, _3 after the second."""
    names: list[str] = []
    for p in paths:
        stem, k = Path(p).stem or "input", 2
        name = stem
        while name in names:
            name, k = f"{stem}_{k}", k + 1
        names.append(name)
    return names


def load_inputs(
    paths: Sequence[str | os.PathLike[str]], encoding: str | None = None, sheet: str | None = None
) -> InputRecords:
    """One or several CSV files as one record frame. From several, each file is the source of its records
    without a source value of their own, and each record_id is qualified by its file ("crm:17"), so ids
    may repeat across files; `origin` keeps the file and the id as given. The files are read as one table
    (columns by their names after aliases), so an extra column identifies or not on all of them.
    encoding: every file's text encoding; sheet: every workbook's sheet (read_records_csv)."""
    if not paths:
        raise InputError("no input file; give --input records.csv (once per file)")
    if sheet is not None and not any(is_workbook_file(Path(p)) for p in paths):
        raise InputError(
            f"--sheet {sheet}: no input is a workbook; leave --sheet out for CSV or Parquet files"
        )
    if len(paths) == 1:
        return load_records(paths[0], encoding, sheet)
    names = _file_names(paths)
    frames, notes, origin = [], [], []
    for name, path in zip(names, paths, strict=True):
        frame = read_records_csv(path, encoding, sheet)
        where = f"{path}: "
        headers, renamed = input_headers(frame, where)
        frame = frame.set_axis(headers, axis=1).drop(columns=[""], errors="ignore")
        ids = _check_ids(frame.get("record_id"), headers, where)
        given = _clean(frame["source"]) if "source" in frame.columns else _none(len(frame))
        frame = frame.assign(source=given.fillna(name).to_numpy(dtype=object))  # blanks: the file's name
        frame = frame.assign(record_id=(name + ":" + ids).to_numpy(dtype=object))
        frames.append(frame)
        notes.append(renamed)
        origin.append(pd.DataFrame({"file": name, "record_id": ids.to_numpy(dtype=object)}))
    loaded = records_from_frame(pd.concat(frames, ignore_index=True))
    files = ", ".join(f"{n} ({len(f):,})" for n, f in zip(names, frames, strict=True))
    said = [f"{len(paths)} files: {files}; record ids qualified by file (file:id)"]
    for note in dict.fromkeys(n for file_notes in notes for n in file_notes):  # once when all files say it
        having = [name for name, file_notes in zip(names, notes, strict=True) if note in file_notes]
        said.append(note if len(having) == len(names) else f"{note} ({', '.join(having)})")
    return dataclasses.replace(
        loaded, notes=(*said, *loaded.notes), origin=pd.concat(origin, ignore_index=True)
    )


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
    ids = pd.Index(pd.Series(list(record_ids), dtype=object).astype(str))
    lead = pd.Series(links["lead_id"].astype(str).to_numpy(), index=links["record_id"].astype(str).to_numpy())
    lead = lead[~lead.index.duplicated(keep="last")]
    cluster_ids = lead.reindex(ids)
    missing = ids[cluster_ids.isna().to_numpy()]
    if len(missing):
        raise ValueError(
            f"the resolver returned no cluster for {len(missing)} record(s), e.g. {missing[0]!r}"
        )
    best = pd.Series(dtype=float)
    if len(pairs):
        left, right = pairs["record_id_l"].astype(str), pairs["record_id_r"].astype(str)
        lead_l, lead_r = lead.reindex(left).to_numpy(), lead.reindex(right).to_numpy()
        taken = pd.notna(lead_l) & (lead_l == lead_r)  # a scored pair the clustering did not take: no
        p = pairs["match_probability"].astype(float).to_numpy()[taken]
        ends = pd.Series(np.concatenate([p, p]), index=np.concatenate([left[taken], right[taken]]))
        best = ends.groupby(level=0).max()
    probability = best.reindex(ids).astype(object)
    return pd.DataFrame(
        {
            "record_id": list(record_ids),
            "cluster_id": cluster_ids.to_numpy(dtype=object),
            "match_probability": probability.where(probability.notna(), None).to_numpy(dtype=object),
        },
        columns=list(OUTPUT_COLUMNS),
    )


def _probability_text(p: float | None) -> str:
    return "" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:.6f}".rstrip("0").rstrip(".")


def with_origin(clusters: pd.DataFrame, origin: pd.DataFrame | None) -> pd.DataFrame:
    """The clusters of records read from several files with each one's file and its id as given (rows in
    input order, as `origin`); unchanged when read from one file."""
    if origin is None:
        return clusters
    out = clusters.assign(record_id=origin["record_id"].to_numpy(dtype=object))
    out.insert(0, "file", origin["file"].to_numpy(dtype=object))
    return out


def write_clusters(clusters: pd.DataFrame, fh: Any) -> None:
    """The clusters CSV (LF line ends) on an open text stream: a `file` column first when there is one."""
    writer = csv.writer(fh, lineterminator="\n")
    lead = ["file"] if "file" in clusters.columns else []
    writer.writerow([*lead, *OUTPUT_COLUMNS])
    writer.writerows(
        zip(
            *(clusters[c].tolist() for c in lead),
            clusters["record_id"].tolist(),
            clusters["cluster_id"].tolist(),
            [_probability_text(p) for p in clusters["match_probability"].tolist()],
            strict=True,
        )
    )


def write_clusters_csv(clusters: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the clusters CSV to a temp file beside `path`, then rename it into place: a reader never sees
    half a file, and a failure leaves nothing behind."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            write_clusters(clusters, fh)
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
    import leadlake.stages.silver.resolve.link as link

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
