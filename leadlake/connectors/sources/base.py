"""The source-adapter contract: queries, pages, raw items, adapter plumbing (the silver SourceRecord they
normalise to lives in leadlake.core.records and is re-exported here)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError

from leadlake.connectors.http import ProviderAuthError, ProviderHttp, RateLimitPolicy
from leadlake.connectors.registry import ConnectorSpec, connector
from leadlake.core.records import SOURCE_RECORD_FIELDS as SOURCE_RECORD_FIELDS
from leadlake.core.records import SourceRecord

if TYPE_CHECKING:
    from leadlake.core.campaign import CampaignSpec


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the form payloads and fingerprints are hashed in."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class ProviderQuery:
    """One provider search, independent of paging; equal queries have equal fingerprints."""

    provider: str
    params: Mapping[str, Any] = field(compare=False, hash=False)
    fingerprint: str

    @classmethod
    def build(cls, provider: str, params: Mapping[str, Any]) -> ProviderQuery:
        """A query whose fingerprint is the SHA-256 of the provider and its canonical JSON params."""
        digest = hashlib.sha256(f"{provider}\n{canonical_json(dict(params))}".encode()).hexdigest()
        return cls(provider=provider, params=dict(params), fingerprint=digest)


@dataclass(frozen=True)
class RawItem:
    """One item of a page: its canonical JSON text and, if it failed validation, why (naming the field)."""

    provider_key: str | None
    payload: str
    error: str | None = None

    @property
    def content_hash(self) -> str:
        """SHA-256 of the payload text, for change detection."""
        return hashlib.sha256(self.payload.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class Page:
    """One fetched page: its items, the cursor that continues it (None at the end) and HTTP attempts spent."""

    query: ProviderQuery
    cursor: str | None
    items: list[RawItem]
    next_cursor: str | None
    calls: int


@dataclass(frozen=True)
class QueryLimits:
    """What bounds one query of a provider: the widest circle and the results one query can page to."""

    max_radius_km: float
    page_size: int
    max_results: int

    def calls_per_query(self, page_size: int | None = None) -> int:
        """Worst-case calls of one query that pages to the provider's result cap."""
        return math.ceil(self.max_results / max(1, min(page_size or self.page_size, self.page_size)))


@runtime_checkable
class SourceAdapter(Protocol):
    """What every provider adapter offers the bronze landing code and the silver job."""

    name: str
    bronze_table: str
    price_per_call_usd: float

    def plan_queries(self, campaign: CampaignSpec) -> list[ProviderQuery]: ...

    def fetch_page(self, query: ProviderQuery, cursor: str | None = None) -> Page: ...

    def fetch_all(self, query: ProviderQuery) -> Iterator[Page]: ...

    def rate_limit(self) -> RateLimitPolicy: ...

    @staticmethod
    def normalize(payload: dict) -> SourceRecord: ...

    def close(self) -> None: ...


def describe_validation_error(exc: ValidationError) -> str:
    """A short 'schema drift' message naming each offending field and what arrived there."""
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "<item>"
        got = err.get("input")
        shown = "missing" if err["type"] == "missing" else f"got {type(got).__name__} {str(got)[:40]!r}"
        parts.append(f"field '{where}': {err['msg']} ({shown})")
    return "schema drift: " + "; ".join(parts)


def validate_item(item: Any, model: type[BaseModel], key_field: str = "id") -> RawItem:
    """Validate one provider item against its pydantic model; drift gives RawItem(error=...), never raises."""
    payload = canonical_json(item)
    key = item.get(key_field) if isinstance(item, dict) else None
    key = key if isinstance(key, str) and key else None
    if not isinstance(item, dict):
        return RawItem(None, payload, f"schema drift: item is a {type(item).__name__}, expected an object")
    try:
        model.model_validate(item)
    except ValidationError as exc:
        return RawItem(key, payload, describe_validation_error(exc))
    return RawItem(key, payload, None)


def as_payload(payload: Mapping[str, Any] | str) -> dict[str, Any]:
    """Accept a parsed payload or its JSON text (as stored in bronze)."""
    if isinstance(payload, str | bytes):
        payload = json.loads(payload)
    if not isinstance(payload, Mapping):
        raise ValueError(f"payload must be a JSON object, got {type(payload).__name__}")
    return dict(payload)


def as_float(value: Any) -> float | None:
    """A number as float; None for missing, booleans and non-numeric text."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_int(value: Any) -> int | None:
    """An integer count; tolerates "1,234" and 12.0, None otherwise."""
    if isinstance(value, str):
        value = value.replace(",", "").strip()
    f = as_float(value)
    return int(f) if f is not None and f == int(f) else None


def us_postal(postal: Any, country: str | None) -> str | None:
    """Postal code as text; US ZIP+4 trimmed to the 5-digit ZIP so providers compare equal."""
    if postal is None or str(postal).strip() == "":
        return None
    text = str(postal).strip()
    if country == "US" and len(text) >= 5 and text[:5].isdigit():
        return text[:5]
    return text


def clean_text(value: Any) -> str | None:
    """Stripped text, or None for missing or blank values."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


class FromSpec:
    """A class attribute read from the adapter's registered ConnectorSpec (on the class and instances)."""

    def __init__(self, get: Callable[[ConnectorSpec], Any]) -> None:
        self._get = get

    def __get__(self, obj: object, owner: type) -> Any:
        return self._get(connector(owner.name))


class HttpAdapterBase:
    """Shared plumbing for adapters built on one ProviderHttp: paging to the end, rate policy, closing."""

    name: ClassVar[str]
    # The rest comes from the connector registry, so a provider's figures have one home.
    kind = FromSpec(lambda s: s.kind)
    bronze_table = FromSpec(lambda s: s.bronze_table)
    price_per_call_usd = FromSpec(lambda s: s.price_per_call_usd)
    api_key_env = FromSpec(lambda s: s.credential_env)
    default_base_url = FromSpec(lambda s: s.base_url)
    default_rate = FromSpec(lambda s: RateLimitPolicy(rate_per_s=s.rate_per_s, burst=s.burst))
    max_pages: ClassVar[int] = 100  # guards against a server that never stops handing out cursors
    # Item fields that depend on the request rather than the business (left out of the content hash).
    volatile_fields: ClassVar[tuple[str, ...]] = ()

    _http: ProviderHttp
    _rate: RateLimitPolicy

    def _connect(
        self,
        api_key: str,
        base_url: str | None,
        rate: RateLimitPolicy | None,
        headers: Mapping[str, str],
        http_opts: Mapping[str, Any],
    ) -> None:
        """Refuse an empty key, then open the provider's HTTP client with its headers and rate policy."""

        if not api_key:
            raise ProviderAuthError(self.name, None, f"no API key given: set {self.api_key_env}")
        self._rate = rate or self.default_rate
        self._http = ProviderHttp(
            self.name,
            base_url or self.default_base_url,
            headers,
            self._rate,
            key_env=self.api_key_env,
            **http_opts,
        )

    def fetch_page(self, query: ProviderQuery, cursor: str | None = None) -> Page:
        raise NotImplementedError

    def fetch_all(self, query: ProviderQuery) -> Iterator[Page]:
        """Every page of the query in order, until the provider stops returning a cursor."""
        if query.provider != self.name:
            raise ValueError(f"{self.name} adapter cannot run a {query.provider} query")
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(self.max_pages):
            page = self.fetch_page(query, cursor)
            yield page
            cursor = page.next_cursor
            if cursor is None or cursor in seen:
                return
            seen.add(cursor)

    def rate_limit(self) -> RateLimitPolicy:
        return self._rate

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpAdapterBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
