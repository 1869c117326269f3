"""The sandbox provider registry: built-ins from ROUTE_MODULES, keys and prefixes derived, toys at runtime."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import httpx
import pytest
import support.toy_sandbox as toy

from leadlake.sandbox import Faults, SandboxKeys, SandboxServer, SandboxState, World
from leadlake.sandbox.protocol import Provider, route
from leadlake.sandbox.registry import Registry, builtin
from leadlake.sandbox.routes import ROUTE_MODULES
from leadlake.sandbox.server import PROVIDER_PREFIXES

# The keys and prefixes as they were hard-coded before the registry: other code and tests rely on them.
LEGACY_KEYS = {
    "google_places": "sandbox-google-places-key",
    "yelp": "sandbox-yelp-key",
    "hubspot": "sandbox-hubspot-token",
    "opencorporates": "sandbox-opencorporates-token",
    "pdl": "sandbox-pdl-key",
    "hunter": "sandbox-hunter-key",
    "salesforce": "sandbox-salesforce-secret",
}
LEGACY_PREFIXES = {
    "/v1/places": "google_places",
    "/v3/businesses": "yelp",
    "/crm/": "hubspot",
    "/v0.4/": "opencorporates",
    "/v5/": "pdl",
    "/v2/": "hunter",
    "/services/": "salesforce",
}
TOY_HEADERS = {"Authorization": f"Bearer {toy.TOY_KEY}"}


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=3, businesses=400)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world, extra_routes=[toy]) as srv:
        yield srv


def test_toy_provider_is_served_over_http(server: SandboxServer, world: World) -> None:
    expected = [b for b in world.businesses if "plumbing" in b.name.lower()]
    assert len(expected) > 3
    with httpx.Client(base_url=server.url, timeout=10) as c:
        resp = c.get("/toy/v1/search", params={"q": "Plumbing", "limit": 3}, headers=TOY_HEADERS)
        assert resp.status_code == 200
        assert resp.json() == {
            "items": [{"id": b.business_id, "name": b.name, "city": b.city} for b in expected[:3]],
            "total": len(expected),
        }
        missing = c.get("/toy/v1/search", params={"q": "plumbing"})
        wrong = c.get("/toy/v1/search", params={"q": "plumbing"}, headers={"Authorization": "Bearer nope"})
        assert missing.status_code == wrong.status_code == 401
        assert c.get("/toy/v1/search", headers=TOY_HEADERS).status_code == 400
        unknown = c.get("/toy/v1/nothing", headers=TOY_HEADERS)
        assert unknown.status_code == 404 and unknown.json() == {
            "error": {"status": 404, "code": "no_such_endpoint"}
        }
        # The built-in providers are served alongside the toy, unchanged.
        yelp = c.get(
            "/v3/businesses/search", params={"location": "Denver"}, headers={"Authorization": "Bearer x"}
        )
        assert yelp.status_code == 401 and yelp.json()["error"]["code"] == "TOKEN_INVALID"
    assert server.stats()["routes"]["toy.search"] >= 4
    assert server.keys.toy == server.keys["toy"] == toy.TOY_KEY
    assert server.registry.prefixes["/toy/"] == "toy" and isinstance(server, SandboxState)


def test_toy_registered_by_name_gets_faults_in_its_own_shape() -> None:
    faults = Faults(rate_429=1.0, retry_after_s=2)
    with (
        SandboxServer(seed=1, businesses=50, faults=faults, extra_routes=["support.toy_sandbox"]) as srv,
        httpx.Client(base_url=srv.url, timeout=10) as c,
    ):
        resp = c.get("/toy/v1/search", params={"q": "a"}, headers=TOY_HEADERS)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
        assert resp.json() == {"error": {"status": 429, "code": "slow_down"}}
    with (
        SandboxServer(seed=1, businesses=50, faults=Faults(rate_5xx=1.0), extra_routes=[toy]) as srv,
        httpx.Client(base_url=srv.url, timeout=10) as c,
    ):
        resp = c.get("/toy/v1/search", params={"q": "a"}, headers=TOY_HEADERS)
        assert resp.status_code in (500, 503) and resp.json()["error"]["code"] == resp.status_code


def test_registration_is_per_server() -> None:
    with SandboxServer(seed=1, businesses=50) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        resp = c.get("/toy/v1/search", params={"q": "a"}, headers=TOY_HEADERS)
        assert resp.status_code == 404 and resp.json()["error"]["message"] == "Unknown path /toy/v1/search"
    assert "toy" not in builtin().providers and "toy" not in SandboxKeys()
    with pytest.raises(AttributeError, match="toy"):
        _ = SandboxKeys().toy


def test_keys_and_prefixes_come_from_the_route_modules() -> None:
    providers = [importlib.import_module(m).PROVIDER for m in ROUTE_MODULES]
    assert dict(SandboxKeys()) == {p.name: p.key for p in providers} == LEGACY_KEYS
    assert dict(PROVIDER_PREFIXES) == {p.prefix: p.name for p in providers} == LEGACY_PREFIXES
    keys = SandboxKeys()
    assert (keys.google_places, keys.yelp, keys.hubspot) == tuple(
        LEGACY_KEYS[k] for k in ("google_places", "yelp", "hubspot")
    )
    assert (keys.opencorporates, keys.pdl, keys.hunter) == tuple(
        LEGACY_KEYS[k] for k in ("opencorporates", "pdl", "hunter")
    )
    assert builtin().max_results == {"google_places": 60, "yelp": 240}
    custom = SandboxKeys(yelp="other")
    assert custom.yelp == "other" and custom.hubspot == LEGACY_KEYS["hubspot"] and custom != keys
    assert SandboxKeys() == keys and hash(SandboxKeys()) == hash(keys)
    with pytest.raises(AttributeError):
        keys.yelp = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="unregistered"):
        SandboxServer(seed=1, businesses=10, keys={"nope": "x"})


def test_a_key_override_is_what_the_server_accepts() -> None:
    with (
        SandboxServer(seed=1, businesses=50, keys=SandboxKeys(yelp="mine")) as srv,
        httpx.Client(base_url=srv.url, timeout=10) as c,
    ):
        params = {"location": "Denver", "limit": 1}
        assert (
            c.get(
                "/v3/businesses/search", params=params, headers={"Authorization": "Bearer mine"}
            ).status_code
            == 200
        )
        old = {"Authorization": f"Bearer {LEGACY_KEYS['yelp']}"}
        assert c.get("/v3/businesses/search", params=params, headers=old).status_code == 401


def test_ambiguous_registrations_are_refused() -> None:
    def other(name: str, prefix: str, route_name: str = "other.get") -> Provider:
        return Provider(name, prefix, (route(name, "GET", prefix + "x", route_name, toy.search),))

    with pytest.raises(ValueError, match="already registered"):
        builtin().extended([toy, toy])
    with pytest.raises(ValueError, match="overlaps"):
        Registry([*builtin().providers.values(), other("other", "/v1/places/new/")])
    with pytest.raises(ValueError, match="reserved"):
        Registry([other("other", "/_sandbox/x/")])
    with pytest.raises(ValueError, match="route name"):
        Registry([toy.PROVIDER, other("other", "/other/", route_name="toy.search")])
    with pytest.raises(ValueError, match="identifier"):
        Registry([other("items", "/items/")])  # would shadow SandboxKeys().items
    with pytest.raises(TypeError, match="PROVIDER"):
        builtin().extended(["leadlake.sandbox.state"])
