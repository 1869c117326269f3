"""Record preparation: derived comparison keys, computed once in pandas so both backends see the same data."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from leadlake.core.normalize import (
    is_entity_name,
    normalize_name,
    normalize_street,
    phonetic_name_key,
    sorted_name_key,
    split_one_line_address,
)
from leadlake.stages.silver.resolve.settings import ResolveSettings

# Hosting and social domains say nothing about which business a website belongs to.
GENERIC_DOMAINS = frozenset(
    {
        "facebook.com", "instagram.com", "yelp.com", "google.com", "business.site", "wixsite.com",
        "squarespace.com", "godaddysites.com", "linktr.ee", "square.site", "weebly.com", "x.com",
        "twitter.com", "linkedin.com", "nextdoor.com", "tiktok.com", "youtube.com",
    }
)  # fmt: skip

# Unit designators and what follows them: one provider puts the suite in line 1, another in line 2.
_UNIT_RE = re.compile(r"\s(?:ste|suite|unit|apt|rm|fl|bldg|#)\s?#?\s*[\w-]*$")
# Cross streets after the address, as guides and listings in grid cities write them: "747 9th Ave. between
# 50th and 51st Sts." is "747 9th Ave".
# Two words at least before the marker: "1 Between Rd" is a street.
_CROSS_STREETS_RE = re.compile(r"^(\S+\s+\S.*?)[\s,(]+(?:between|betw|btwn|bet)\b\.?\s+\S.*$", re.IGNORECASE)
_HOUSE_NUMBER_RE = re.compile(r"(\d+[a-z]?)\b")  # at the start of a street line: "12b Main St"
# A house number after the street, as most of Europe writes it ("Hauptstraße 5", "Via Roma 10/b").
_TRAILING_NUMBER_RE = re.compile(r"^(\D.*?)\s+(\d+[a-z]?(?:[-/]\w+)?)$")


def _clean_str(value: object) -> str | None:
    """Stripped text, or None for None, NaN and blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _clean_float(value: object) -> float | None:
    """A float, or None for None, NaN and anything that is not a number."""
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def address_key(value: object) -> str | None:
    """Street line for comparison: USPS abbreviations, no unit ("Suite 200" lives in line 2 at Yelp) or
    cross streets ("between 50th and 51st Sts."), and of a one-line address ("1200 Main St, Denver, CO
    80202") only the street."""
    if not isinstance(value, str) or not value.strip():
        return None
    lowered = value.lower()
    if "bet" in lowered or "btw" in lowered:  # the markers' common letters: most lines have none
        value = _CROSS_STREETS_RE.sub(r"\1", value)
    parts = split_one_line_address(value)
    street = normalize_street(parts.street if parts is not None else value)
    street = _UNIT_RE.sub("", street).strip()
    if "strasse" in street:  # German: "Straße" and "Str." are one word; "Hauptstraße", "Hauptstr." too
        street = " ".join(_german_street(w) for w in street.split())
    trailing = _TRAILING_NUMBER_RE.match(street)
    if trailing is not None:  # "hauptstr 5" is "5 hauptstr": one order, so the house numbers meet
        street = f"{trailing.group(2)} {trailing.group(1)}"
    return street or None


def _german_street(word: str) -> str:
    """ "strasse" as USPS's "st" (what "str" becomes), and "...strasse" as "...str"."""
    if word == "strasse":
        return "st"
    return word[: -len("strasse")] + "str" if word.endswith("strasse") else word


def website_key(value: object) -> str | None:
    """Website without scheme, "www." and trailing slash: chain branches differ by path, not domain."""
    text = _clean_str(value)
    if text is None:
        return None
    text = re.sub(r"^[a-z]+://", "", text.lower()).removeprefix("www.")
    return text.split("?")[0].split("#")[0].rstrip("/") or None


def name_key(name_norm: object, name: object) -> str | None:
    """The normalised name, from name_norm when given, else from the raw name."""
    text = _clean_str(name_norm) or _clean_str(name)
    return (normalize_name(text) or None) if text else None


def domain_value(value: object) -> str | None:
    """The registered domain in lower case, or None."""
    return (_clean_str(value) or "").lower() or None


def postal_key(value: object) -> str | None:
    """ZIP+4 and ZIP5 are the same place: the part before the dash, no spaces, upper case."""
    return (_clean_str(value) or "").split("-")[0].replace(" ", "").upper() or None


def geo_cell(lat: float | None, lon: float | None, degrees: float) -> str | None:
    """The grid cell ("row:col" of `degrees`-sized squares) a point falls in, for blocking."""
    if lat is None or lon is None:
        return None
    return f"{math.floor(lat / degrees)}:{math.floor(lon / degrees)}"


def _name_token(sorted_name: str | None) -> str | None:
    """The longest word of a name (the most telling one), ties to the alphabetically first."""
    if not sorted_name:
        return None
    return max(sorted_name.split(), key=lambda t: (len(t), [-ord(c) for c in t]))


def extra_key(value: object) -> str | None:
    """An extra identifier as comparable text: stripped, lower case, inner spaces and dashes removed;
    floats that are whole numbers lose their ".0" (a CSV column of ids read as floats)."""
    if isinstance(value, float) and not math.isnan(value) and value.is_integer():
        value = int(value)
    text = _clean_str(value)
    return re.sub(r"[\s\-/.]", "", text.lower()) or None if text else None


def shared_value_pairs(keys: pd.Series) -> int:
    """How many pairs of records share a value of this column (missing values share nothing)."""
    counts = keys.dropna().value_counts().to_numpy(dtype=np.int64)
    return int((counts * (counts - 1) // 2).sum())


def identifies(keys: pd.Series, max_pairs_per_record: float) -> bool:
    """True when few records share each value (an identifier), by ResolveSettings.max_extra_pairs_per_record;
    keys: the column as extra_key made them."""
    return shared_value_pairs(keys) <= max_pairs_per_record * max(len(keys), 1)


def _per_unique(values: list[object], fn: Callable[[Any], object]) -> list[object]:
    """fn of each value, computed once per distinct value (names, streets and cities repeat)."""
    cache: dict[object, object] = {}
    out = []
    for value in values:
        try:
            out.append(cache[value])
        except KeyError:
            out.append(cache.setdefault(value, fn(value)))
        except TypeError:  # unhashable: computed every time
            out.append(fn(value))
    return out


def _name_keys(name: str | None) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """The derived name keys of a normalised name: itself, sorted words, their prefix, phonetic, token."""
    if not name:
        return None, None, None, None, None
    sorted_name = sorted_name_key(name) or None
    prefix = sorted_name[:4] if sorted_name else None
    return name, sorted_name, prefix, phonetic_name_key(name) or None, _name_token(sorted_name)


def _nan_free(value: object) -> object:
    """NaN (pandas' missing float) as None, so that every missing value caches alike."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize of an object array with missing values (None, NaN) as one more value, None, last:
    codes index the returned distinct values."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = np.empty(len(uniques) + 1, dtype=object)
    distinct[:-1] = uniques
    distinct[-1] = None
    return np.where(codes < 0, len(uniques), codes), distinct


def _map_unique(values: np.ndarray, fn: Callable[[Any], object]) -> np.ndarray:
    """fn of each value as an object array, computed once per distinct value (names, streets and cities
    repeat); missing values (None, NaN) are passed to fn as None."""
    try:
        codes, distinct = _codes(values)
    except TypeError:  # unhashable values: one at a time
        return _as_objects(_per_unique([_nan_free(v) for v in values], fn))
    return _as_objects([fn(v) for v in distinct])[codes]


def _float_objects(values: np.ndarray) -> np.ndarray:
    """_clean_float of each value (object array, None where missing): at once when the values are floats
    and None already (what the inputs and silver hold), else once per distinct value."""
    if not all(v is None or isinstance(v, float) for v in values):
        return _map_unique(values, _clean_float)
    numbers = np.array([np.nan if v is None else v for v in values], dtype=float)
    out = numbers.astype(object)
    out[np.isnan(numbers)] = None
    return out


def _as_objects(values: list[object]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


# Past this many characters a name or an address is not a name or an address (a stray quote in a CSV
# swallows the next lines into one field): comparing 20,000 characters pair by pair took a minute and
# gigabytes in Splink's Jaro-Winkler. No real value is near it.
MAX_COMPARED_CHARS = 300


def _clipped(values: np.ndarray) -> np.ndarray:
    """Text values cut to MAX_COMPARED_CHARS; the same array when none is longer."""
    long = np.fromiter(
        (isinstance(v, str) and len(v) > MAX_COMPARED_CHARS for v in values), dtype=bool, count=len(values)
    )
    if not long.any():
        return values
    out = values.copy()
    out[long] = [v[:MAX_COMPARED_CHARS] for v in values[long]]
    return out


def text_order(values: np.ndarray) -> np.ndarray:
    """The positions that sort an array of str (stable, code-point order, as sorted() would): Arrow
    sorts the UTF-8 bytes, whose order is the code points' order; numpy's fixed-width strings if Arrow
    cannot hold a value (a lone surrogate)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(values, type=pa.string())
    except (pa.ArrowException, UnicodeError):
        return np.argsort(values.astype(str), kind="stable")
    return pc.sort_indices(text).to_numpy().astype(np.intp)


def _record_order(ids: pd.Series) -> np.ndarray:
    """The positions that sort records by record_id (stable), as sort_values would; text ids in
    code-point order (text_order)."""
    if pd.api.types.infer_dtype(ids, skipna=False) == "string":
        return text_order(ids.to_numpy(dtype=object))
    return np.argsort(ids.to_numpy(), kind="stable") if len(ids) else np.arange(0)


def prepare(records: pd.DataFrame, cfg: ResolveSettings = ResolveSettings()) -> pd.DataFrame:
    """The model's input: sorted by record id, derived comparison keys, identical for every backend.

    Each key is computed once per distinct input value: names, streets and cities repeat."""
    order = _record_order(records["record_id"])
    size = len(order)

    def column(name: str) -> np.ndarray:
        """One input column in record order (only the columns read are copied, not the whole frame);
        text past MAX_COMPARED_CHARS cut off."""
        if name not in records:
            return np.full(size, None, dtype=object)
        values = records[name].to_numpy(dtype=object)[order]
        return _clipped(values) if name not in ("record_id", "provider") else values

    # Columns are gathered as arrays, then made one frame: no frame-wide copies on the way.
    out: dict[str, Any] = {
        "record_id": pd.Series(column("record_id")).astype(str).to_numpy(dtype=object),
        "provider": pd.Series(column("provider")).astype(str).to_numpy(dtype=object),
    }
    # The name: from name_norm when given, else the raw name; codes of the pair, then keys per name.
    norm_codes, norm_distinct = _codes(column("name_norm"))
    raw_codes, raw_distinct = _codes(column("name"))
    width = len(raw_distinct)
    unique_pairs, inverse = np.unique(norm_codes * width + raw_codes, return_inverse=True)
    names = _as_objects(
        [name_key(norm_distinct[p // width], raw_distinct[p % width]) for p in unique_pairs.tolist()]
    )
    name_codes, name_distinct = _codes(names)
    keys = [_name_keys(n) for n in name_distinct]
    per_record = name_codes[inverse]
    for i, key in enumerate(("name_norm", "name_sorted", "name_prefix", "name_phonetic", "name_token")):
        out[key] = _as_objects([k[i] for k in keys])[per_record]
    # An owner's registered name ("Green Group LLC") unlike a trade name is no evidence of two businesses.
    out["name_entity"] = _as_objects([is_entity_name(_clean_str(v)) for v in raw_distinct])[raw_codes]
    phone = _map_unique(column("phone_e164"), _clean_str)
    toll_free = _map_unique(
        column("phone_is_toll_free"), lambda v: bool(v) if _clean_str(v) is not None else False
    )
    domain = _map_unique(column("domain"), domain_value)
    website = _map_unique(column("website"), website_key)
    # A hosting or social domain names no business. A value several records share stays: term
    # frequencies and the deterministic name check weigh it, not a count here, so a record's keys never
    # depend on which other records came in the same batch.
    generic = pd.Series(domain).isin(GENERIC_DOMAINS).to_numpy()
    out["phone_key"] = phone
    # A call-centre number can front many businesses: evidence for the model, never proof on its own.
    out["phone_local_key"] = np.where(toll_free.astype(bool), None, phone)
    out["domain_key"] = np.where(generic, None, domain)
    out["website_key"] = np.where(generic, None, website)
    addresses = _map_unique(column("address_line1"), address_key)
    out["address_norm"] = addresses
    out["address_number"] = _map_unique(addresses, _house_number)
    out["street_key"] = _map_unique(addresses, street_key)
    out["city_key"] = _map_unique(column("city"), lambda v: normalize_name(_clean_str(v) or "") or None)
    postals = _map_unique(column("postal"), postal_key)
    out["postal"] = postals
    out["postal3"] = _map_unique(postals, lambda p: p[:3] if p else None)
    lats = _float_objects(column("lat"))
    lons = _float_objects(column("lon"))
    out["lat"], out["lon"] = lats, lons
    fallback = np.zeros(size, dtype=bool)
    if cfg.placeholder_point_min_addresses is not None:
        fallback = placeholder_points(lats, lons, addresses, cfg.placeholder_point_min_addresses)
    out["geo_lat"], out["geo_lon"] = np.where(fallback, None, lats), np.where(fallback, None, lons)
    out["geo_cell"] = _geo_cells(lats, lons, cfg.geo_cell_degrees)
    out["geo_cell_coarse"] = _geo_cells(lats, lons, cfg.geo_cell_coarse_degrees)
    for extra in cfg.extra_columns:
        out[extra] = _map_unique(column(extra), extra_key)
    # Every key above is None where missing (the helpers map NaN to None), so no NaN pass is needed.
    return pd.DataFrame(out, dtype=object)


def placeholder_points(
    lats: np.ndarray, lons: np.ndarray, addresses: np.ndarray, min_addresses: int
) -> np.ndarray:
    """Which records sit at a point shared by at least min_addresses different street addresses (no
    address counts as one): a geocoder's fallback, not where they are. Businesses in one building share
    its address, so their common point stays a place."""
    located = np.array([a is not None and b is not None for a, b in zip(lats, lons, strict=True)], dtype=bool)
    out = np.zeros(len(lats), dtype=bool)
    if located.sum() < min_addresses:
        return out
    # One code per distinct (lat, lon): the pair's codes combined (factorizing a MultiIndex is ~100x slower).
    lat_code, _ = pd.factorize(lats[located].astype(float))
    lon_code, lon_distinct = pd.factorize(lons[located].astype(float))
    point = pd.factorize(lat_code.astype(np.int64) * len(lon_distinct) + lon_code)[0]
    address, _ = _codes(addresses[located])
    width = int(address.max()) + 1
    distinct = np.unique(point.astype(np.int64) * width + address)
    spread = np.bincount(distinct // width, minlength=int(point.max()) + 1)
    out[located] = spread[point] >= min_addresses
    return out


def _geo_cells(lats: np.ndarray, lons: np.ndarray, degrees: float) -> np.ndarray:
    """geo_cell of each point, vectorised: the same floor of degrees, "row:col"."""
    lat = np.array([np.nan if v is None else v for v in lats], dtype=float)
    lon = np.array([np.nan if v is None else v for v in lons], dtype=float)
    ok = ~(np.isnan(lat) | np.isnan(lon))
    rows = np.floor(np.where(ok, lat, 0.0) / degrees).astype(np.int64)
    cols = np.floor(np.where(ok, lon, 0.0) / degrees).astype(np.int64)
    return _as_objects(
        [
            f"{r}:{c}" if good else None
            for r, c, good in zip(rows.tolist(), cols.tolist(), ok.tolist(), strict=True)
        ]
    )


_DIRECTIONS = frozenset({"n", "s", "e", "w", "ne", "nw", "se", "sw"})


def street_key(address: str | None) -> str | None:
    """A street line's house number and the first word of its street name ("1347 w erie st" -> "1347
    erie"): one key for a door whether its street type or direction is written or not."""
    if not address or not address[0].isdigit():
        return None
    words = address.split()
    name = next((w for w in words[1:] if w not in _DIRECTIONS), None)
    return f"{words[0]} {name}" if name is not None else None


def _house_number(address: str | None) -> str | None:
    """The leading house number of a street line, if any."""
    if not address or not address[0].isdigit():
        return None
    match = _HOUSE_NUMBER_RE.match(address)
    return match.group(1) if match else None
