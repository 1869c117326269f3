"""Provider test helpers: sandbox keys from the registry, adapters without a rate limit, record identity.

Import as `from support.providers import ...` (tests/ is on sys.path via conftest).
"""

from __future__ import annotations

from typing import Any

from leadlake.connectors.registry import connector, names
from leadlake.connectors.sources import RateLimitPolicy, SourceAdapter, build_adapter

GOOGLE, YELP = "google_places", "yelp"
# Every registered provider's sandbox key, from the registry (the one home of that figure).
KEYS: dict[str, str] = {n: connector(n).sandbox_key for n in [*names("discovery"), *names("enrichment")]}
# No client-side limit worth the name, kept in memory: tests and the sandbox need neither the wait nor
# the file lock of the machine-wide bucket.
UNLIMITED = RateLimitPolicy(rate_per_s=10_000.0, burst=10_000, scope="process")


def price(provider: str) -> float:
    """A provider's price per call, from the registry."""
    return connector(provider).price_per_call_usd


def adapter(provider: str, sandbox: Any, **opts: Any) -> SourceAdapter:
    """A real adapter pointed at a running sandbox (its `.url`, or a URL), with its key and no rate limit."""
    url = sandbox if isinstance(sandbox, str) else sandbox.url
    return build_adapter(provider, api_key=KEYS[provider], base_url=url, **({"rate": UNLIMITED} | opts))


def offline(provider: str, **opts: Any) -> SourceAdapter:
    """A real adapter pointed at a closed port: planning must never need it."""
    return build_adapter(provider, api_key="k", base_url="http://127.0.0.1:9", **({"rate": UNLIMITED} | opts))


def identity(provider: str, record: dict[str, Any]) -> str:
    """A discovery record's identity: Google's id; Yelp's alias (drifted Yelp records may lose their id)."""
    return record["id"] if provider == GOOGLE else record["alias"]
