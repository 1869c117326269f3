"""Every provider and destination as data: one spec each, the one list everything else derives from.

A spec names what an operator configures (credential variable, Airflow connection, base URL, pool) and
what the pipeline needs (bronze table, rate limit, price). The adapter class is imported only when built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Literal

from leadlake.core.campaign import CampaignError, CampaignSpec, add_check

Kind = Literal["discovery", "enrichment", "destination"]
KINDS: tuple[Kind, ...] = ("discovery", "enrichment", "destination")


class UnknownConnector(ValueError):
    """A provider or destination name no spec is registered for."""


@dataclass(frozen=True)
class ConnectorSpec:
    """One provider or destination: how to reach it, what it costs, where its raw answers land."""

    name: str
    kind: Kind
    title: str
    adapter: str  # "module:Class", imported lazily by `load()`
    credential_env: str
    base_url: str
    sandbox_key: str
    bronze_table: str | None = None
    rate_per_s: float = 1.0  # the provider's documented request rate
    burst: int = 1
    price_per_call_usd: float = 0.0
    pool_slots: int = 1  # concurrent Airflow tasks allowed against this provider
    features: tuple[str, ...] = ()  # enrichment: the lead features its answers supply, in priority order
    # discovery: how much a golden record trusts this provider per field group (higher wins)
    field_confidence: dict[str, float] = field(default_factory=dict, compare=False, hash=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def airflow_conn_id(self) -> str:
        """The Airflow connection that supplies the key (password) and base URL (host)."""
        return f"leadlake_{self.name}"

    @property
    def pool(self) -> str:
        """The Airflow pool its tasks run in."""
        return f"leadlake_{self.name}"

    @property
    def base_url_env(self) -> str:
        """The variable that overrides the live base URL (a proxy, a regional endpoint)."""
        return f"LEADLAKE_{self.name.upper()}_BASE_URL"

    def load(self) -> type:
        """The adapter or destination class."""
        module, _, cls = self.adapter.partition(":")
        return getattr(importlib.import_module(module), cls)


_REGISTRY: dict[str, ConnectorSpec] = {}


def register(spec: ConnectorSpec, *, replace: bool = False) -> ConnectorSpec:
    """Add a spec; a second spec under the same name is refused unless `replace`."""
    if spec.kind not in KINDS:
        raise ValueError(
            f"connector {spec.name!r}: kind must be one of {', '.join(KINDS)}, got {spec.kind!r}"
        )
    if spec.kind in ("discovery", "enrichment") and not spec.bronze_table:
        raise ValueError(f"connector {spec.name!r}: a {spec.kind} provider needs a bronze_table")
    if spec.name in _REGISTRY and not replace and _REGISTRY[spec.name] != spec:
        raise ValueError(f"connector {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a spec (tests that register a toy provider clean up with this)."""
    _REGISTRY.pop(name, None)


def connector(name: str) -> ConnectorSpec:
    """The spec registered under `name`; the error lists the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownConnector(f"unknown provider {name!r}; {describe_known()}") from None


def connector_of_kind(name: str, kind: Kind) -> ConnectorSpec:
    """The spec of `kind` registered under `name`; the error names the kind and lists its names."""
    spec = _REGISTRY.get(name)
    if spec is not None and spec.kind == kind:
        return spec
    if spec is None:
        what = f"unknown {kind} {name!r}"
    else:
        article = "an" if spec.kind[0] in "aeiou" else "a"
        what = f"{name!r} is {article} {spec.kind} provider, not a {kind}"
    raise UnknownConnector(f"{what}; {kind}s: {', '.join(names(kind)) or '-'}")


def connectors(kind: Kind | None = None) -> list[ConnectorSpec]:
    """Registered specs in registration order, optionally of one kind."""
    return [s for s in _REGISTRY.values() if kind is None or s.kind == kind]


def names(kind: Kind | None = None) -> list[str]:
    """Registered names in registration order, optionally of one kind."""
    return [s.name for s in connectors(kind)]


def default_destinations() -> list[str]:
    """The destinations gold written without a campaign is delivered to (`extra={"default": True}`)."""
    return [s.name for s in connectors("destination") if s.extra.get("default")]


def describe_known() -> str:
    """The known names by kind, for error messages."""
    return "; ".join(f"{kind} providers: {', '.join(names(kind)) or '-'}" for kind in KINDS)


def check_campaign(spec: CampaignSpec, source: str = "<campaign>") -> None:
    """A campaign may name only registered providers of the right kind; CampaignError names the field."""
    fields: tuple[tuple[str, Kind, list[str]], ...] = (
        ("sources", "discovery", list(spec.sources)),
        ("enrichment", "enrichment", list(spec.enrichment)),
        ("destinations[].type", "destination", [d.type for d in spec.destinations]),
    )
    for field_name, kind, values in fields:
        known = names(kind)
        for value in values:
            if value not in known:
                raise CampaignError(
                    f"{source}: field '{field_name}' names {value!r}, which is not a registered {kind} "
                    f"provider; use one of: {', '.join(known) or '(none registered)'}"
                )
    # Each destination's own field mapping loads with that destination's rules (a file, or inline keys).
    from leadlake.connectors.destinations.base import check_campaign_mappings

    check_campaign_mappings(spec, source, lambda kind: connector(kind).load())


add_check(check_campaign)


# ---- the built-in connectors ---------------------------------------------------------------------------
# Rates and prices are the providers' documented figures (tech spec section 5 and each API's docs).
# Price: Google Maps Platform list price, US, 0-100k calls/month (developers.google.com/maps/
# billing-and-pricing/pricing): Text Search Pro is $32/1000, but our field mask asks for phone, website,
# rating and userRatingCount, Text Search Enterprise fields at $35/1000. Rate: 600 requests/minute.
register(
    ConnectorSpec(
        name="google_places",
        kind="discovery",
        title="Google Places API (New) Text Search",
        adapter="leadlake.connectors.sources.google_places:GooglePlacesAdapter",
        credential_env="LEADLAKE_GOOGLE_PLACES_API_KEY",
        base_url="https://places.googleapis.com",
        sandbox_key="sandbox-google-places-key",
        bronze_table="bronze.places_raw",
        field_confidence={
            "name": 0.95,
            "website": 0.95,
            "phone": 0.98,
            "address": 0.97,
            "geo": 0.98,
            "rating": 0.90,
            "review_count": 0.90,
            "categories": 0.85,
        },
        rate_per_s=10.0,
        burst=10,
        price_per_call_usd=0.035,
        pool_slots=4,
    )
)
# Price: Yelp Places API "Plus" plan, $9.99 per 1000 calls (yelp.com/developers/pricing, 2024 plans:
# Starter $7.99, Plus $9.99, Enterprise $14.99). Rate: Yelp throttles bursts (TOO_MANY_REQUESTS_PER_SECOND).
register(
    ConnectorSpec(
        name="yelp",
        kind="discovery",
        title="Yelp Fusion business search",
        adapter="leadlake.connectors.sources.yelp:YelpAdapter",
        credential_env="LEADLAKE_YELP_API_KEY",
        base_url="https://api.yelp.com",
        sandbox_key="sandbox-yelp-key",
        bronze_table="bronze.yelp_businesses_raw",
        field_confidence={
            "name": 0.90,
            "website": 0.85,
            "phone": 0.90,
            "address": 0.90,
            "geo": 0.90,
            "rating": 0.90,
            "review_count": 0.90,
            "categories": 0.90,
        },
        rate_per_s=5.0,
        burst=5,
        price_per_call_usd=0.00999,
        pool_slots=4,
    )
)
# Price: OpenCorporates sells yearly plans, not calls; an amortised estimate (a mid plan of roughly
# $5,000/yr over ~500k calls), check your contract. Rate: metered per day and month; a gentle steady rate.
register(
    ConnectorSpec(
        name="opencorporates",
        kind="enrichment",
        title="OpenCorporates company search",
        adapter="leadlake.connectors.sources.opencorporates:OpenCorporatesAdapter",
        credential_env="LEADLAKE_OPENCORPORATES_API_TOKEN",
        base_url="https://api.opencorporates.com",
        sandbox_key="sandbox-opencorporates-token",
        bronze_table="bronze.opencorporates_companies_raw",
        features=("legal_name", "registration_id", "jurisdiction", "company_status"),
        rate_per_s=2.0,
        burst=2,
        price_per_call_usd=0.01,
    )
)
# Price: PDL bills company enrichment per match (a 404 is free), ~$0.10 a credit on the Pro plan
# (estimate). Rate: 100 enrichment requests a minute by default; stay just under it.
register(
    ConnectorSpec(
        name="pdl",
        kind="enrichment",
        title="People Data Labs company enrichment",
        adapter="leadlake.connectors.sources.pdl:PdlAdapter",
        credential_env="LEADLAKE_PDL_API_KEY",
        base_url="https://api.peopledatalabs.com",
        sandbox_key="sandbox-pdl-key",
        bronze_table="bronze.pdl_companies_raw",
        features=("employees_range", "employee_count", "industry", "founded_year", "tech_signals"),
        rate_per_s=1.6,
        burst=5,
        price_per_call_usd=0.10,
    )
)
# Price: one credit per request returning 1-10 emails, ~$0.0245 a credit on the Starter plan ($49 for
# 2,000; estimate). Rate: 15 requests a second on domain search; keep half of it.
register(
    ConnectorSpec(
        name="hunter",
        kind="enrichment",
        title="Hunter domain search",
        adapter="leadlake.connectors.sources.hunter:HunterAdapter",
        credential_env="LEADLAKE_HUNTER_API_KEY",
        base_url="https://api.hunter.io",
        sandbox_key="sandbox-hunter-key",
        bronze_table="bronze.hunter_domains_raw",
        features=("email_verified_domain", "emails"),
        rate_per_s=7.5,
        burst=7,
        price_per_call_usd=0.0245,
    )
)
register(
    ConnectorSpec(
        name="hubspot",
        kind="destination",
        title="HubSpot CRM v3 companies",
        adapter="leadlake.connectors.destinations.hubspot:HubSpotDestination",
        credential_env="LEADLAKE_HUBSPOT_ACCESS_TOKEN",
        base_url="https://api.hubapi.com",
        sandbox_key="sandbox-hubspot-token",
        rate_per_s=10.0,
        burst=10,
        extra={"default": True},  # where gold written without a campaign is delivered
    )
)
register(
    ConnectorSpec(
        name="salesforce",
        kind="destination",
        title="Salesforce Leads (sObject Collections, Bulk API 2.0)",
        adapter="leadlake.connectors.destinations.salesforce:SalesforceDestination",
        credential_env="LEADLAKE_SALESFORCE_CLIENT_SECRET",
        base_url="https://login.salesforce.com",
        sandbox_key="sandbox-salesforce-secret",
        rate_per_s=20.0,
        burst=20,
        # The connected app's client id: from this variable live, the sandbox's own against the sandbox.
        extra={"credentials": {"client_id": ("LEADLAKE_SALESFORCE_CLIENT_ID", "sandbox-salesforce-client")}},
    )
)
# File and webhook destinations: the "key" is where they write (a folder or s3:// prefix) or the HMAC secret.
# They are "local": the sandbox does not serve them, so they use their settings (or defaults) even with it.
register(
    ConnectorSpec(
        name="csv",
        kind="destination",
        title="CSV files (a local folder or an S3 prefix), one part per batch",
        adapter="leadlake.connectors.destinations.files:CsvDestination",
        credential_env="LEADLAKE_CSV_EXPORT_URI",
        base_url="file://",
        sandbox_key=".state/exports/csv",
        rate_per_s=100.0,
        burst=100,
        extra={"local": True},
    )
)
register(
    ConnectorSpec(
        name="s3",
        kind="destination",
        title="Parquet (or CSV) files under an S3 prefix, one part per batch",
        adapter="leadlake.connectors.destinations.files:S3Destination",
        credential_env="LEADLAKE_S3_EXPORT_URI",
        base_url="s3://",
        sandbox_key="s3://leadlake-exports/leads",
        rate_per_s=100.0,
        burst=100,
        extra={"local": True, "credentials": {"format": ("LEADLAKE_S3_EXPORT_FORMAT", "parquet")}},
    )
)
register(
    ConnectorSpec(
        name="webhook",
        kind="destination",
        title="Signed JSON webhook (HMAC-SHA256 over timestamp and body)",
        adapter="leadlake.connectors.destinations.webhook:WebhookDestination",
        credential_env="LEADLAKE_WEBHOOK_SECRET",
        base_url="http://127.0.0.1:8080/leadlake",
        sandbox_key="sandbox-webhook-secret",
        rate_per_s=10.0,
        burst=10,
        extra={"local": True},  # your own receiver: LEADLAKE_WEBHOOK_BASE_URL
    )
)
