"""Record preparation: derived comparison keys, computed once in pandas so both backends see the same data."""

from __future__ import annotations

import math
import re

import pandas as pd

from leadlake.core.normalize import normalize_name, normalize_street
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
    """Street line for comparison: USPS abbreviations, no unit ("Suite 200" lives in line 2 at Yelp)."""
    if not isinstance(value, str) or not value.strip():
        return None
    street = normalize_street(value)
    return _UNIT_RE.sub("", street).strip() or None


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


def _identifying(values: pd.Series, providers: pd.Series, excluded: pd.Series) -> pd.Series:
    """Keep a value only where it names one business: used once per provider and not excluded."""
    frame = pd.DataFrame({"v": values, "p": providers})
    uses = frame.groupby(["p", "v"], dropna=True)["v"].transform("size")
    keep = values.notna() & (uses == 1) & ~excluded
    return values.where(keep, None)


def _column(df: pd.DataFrame, name: str) -> list[object]:
    """A column's values, or all None when the frame lacks it."""
    return df[name].tolist() if name in df else [None] * len(df)


def prepare(records: pd.DataFrame, cfg: ResolveSettings = ResolveSettings()) -> pd.DataFrame:
    """The model's input: sorted by record id, derived comparison keys, identical for every backend."""
    df = records.sort_values("record_id", kind="stable").reset_index(drop=True)
    out = pd.DataFrame({"record_id": df["record_id"].astype(str), "provider": df["provider"].astype(str)})
    out["name_norm"] = [
        name_key(n, raw) for n, raw in zip(_column(df, "name_norm"), _column(df, "name"), strict=True)
    ]
    providers = out["provider"]
    phone = pd.Series([_clean_str(v) for v in _column(df, "phone_e164")], dtype=object)
    toll_free = pd.Series(
        [bool(v) if _clean_str(v) is not None else False for v in _column(df, "phone_is_toll_free")]
    )
    domain = pd.Series([domain_value(v) for v in _column(df, "domain")], dtype=object)
    website = pd.Series([website_key(v) for v in _column(df, "website")], dtype=object)
    generic = domain.isin(GENERIC_DOMAINS)
    out["phone_key"] = _identifying(phone, providers, pd.Series(False, index=df.index))
    # A call-centre number can front many businesses: evidence for the model, never proof on its own.
    out["phone_local_key"] = out["phone_key"].where(~toll_free, None)
    out["domain_key"] = _identifying(domain, providers, generic)
    out["website_key"] = _identifying(website, providers, generic)
    out["address_norm"] = [address_key(v) for v in _column(df, "address_line1")]
    out["postal"] = [postal_key(v) for v in _column(df, "postal")]
    lats, lons = [_clean_float(v) for v in _column(df, "lat")], [_clean_float(v) for v in _column(df, "lon")]
    out["lat"], out["lon"] = pd.Series(lats, dtype=object), pd.Series(lons, dtype=object)
    out["geo_cell"] = [geo_cell(la, lo, cfg.geo_cell_degrees) for la, lo in zip(lats, lons, strict=True)]
    return out.astype(object).where(out.notna(), None)
