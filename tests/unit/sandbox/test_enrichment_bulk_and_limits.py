"""The sandbox's People Data Labs bulk company enrichment (POST /v5/company/enrich/bulk) and the enrichment
providers' request limit (429 with Retry-After above it), spoken to over HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from leadlake.connectors.sources import RateLimitPolicy, build_adapter
from leadlake.sandbox.enrichment import website_domain
from leadlake.sandbox.enrichment.common import RATE_LIMIT_ENV, RequestLimit, rate_limit_from_env
from leadlake.sandbox.server import SandboxKeys, SandboxServer
from leadlake.sandbox.world import World

BULK = "/v5/company/enrich/bulk"
PDL_HEADERS = {"X-Api-Key": SandboxKeys().pdl}


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=5, businesses=200)


@pytest.fixture(scope="module")
def sandbox(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world=world) as sb:
        yield sb


def bulk_requests(sb: SandboxServer, at_least: int) -> int:
    """Bulk requests the sandbox counted (it counts just after answering: wait for it, up to 5 s)."""
    deadline = time.monotonic() + 5.0
    while (
        n := sb.stats()["routes"].get("pdl.company_enrich_bulk", 0)
    ) < at_least and time.monotonic() < deadline:
        time.sleep(0.002)
    return n


def known_domains(sb: SandboxServer, n: int) -> list[str]:
    return sorted(sb.enrichment.pdl_by_domain)[:n]


def test_bulk_answers_each_request_in_order_with_its_metadata(sandbox: SandboxServer) -> None:
    domain = known_domains(sandbox, 1)[0]
    body = {
        "requests": [
            {"params": {"website": domain}, "metadata": {"id": "a"}},
            {"params": {"website": "nobody-has-this.example"}, "metadata": {"id": "b"}},
            {"params": {"locality": "denver"}, "metadata": {"id": "c"}},
            {"params": {"website": domain}},
        ]
    }
    r = httpx.post(sandbox.url + BULK, json=body, headers=PDL_HEADERS)
    assert r.status_code == 200
    answers = r.json()
    assert [a["status"] for a in answers] == [200, 404, 400, 200]
    assert [a.get("metadata") for a in answers] == [{"id": "a"}, {"id": "b"}, {"id": "c"}, None]
    single = httpx.get(sandbox.url + "/v5/company/enrich", params={"website": domain}, headers=PDL_HEADERS)
    assert {k: v for k, v in answers[0].items() if k != "metadata"} == single.json()
    assert answers[1]["error"]["type"] == "not_found"


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"requests": []}, PDL_HEADERS, 400),
        ({"requests": [{"params": {"website": "a.com"}}] * 101}, PDL_HEADERS, 400),
        ({"nope": 1}, PDL_HEADERS, 400),
        ({"requests": [{"params": {"website": "a.com"}}]}, {}, 401),
        ({"requests": [{"params": {"website": "a.com"}}]}, {"X-Api-Key": "sandbox-pdl-key-no-credits"}, 402),
    ],
)
def test_bulk_refuses_what_pdl_refuses(sandbox: SandboxServer, body: Any, headers: dict, status: int) -> None:
    r = httpx.post(sandbox.url + BULK, json=body, headers=headers)
    assert r.status_code == status and r.json()["error"]["message"]


def test_the_adapter_gets_by_bulk_what_it_gets_one_by_one(sandbox: SandboxServer, world: World) -> None:
    pdl = build_adapter(
        "pdl", api_key=SandboxKeys().pdl, base_url=sandbox.url, rate=RateLimitPolicy(100.0, 100, "process")
    )
    try:
        leads = [
            {"name": b.name, "website": b.website, "city": b.city, "region": b.region}
            for b in world.businesses
        ]
        queries = pdl.lookup_queries(leads)[:150]
        before = sandbox.stats()["routes"].get("pdl.company_enrich_bulk", 0)
        pages, errors = pdl.fetch_bulk(queries[:100])
        assert bulk_requests(sandbox, at_least=before + 1) == before + 1
        assert set(pages) == {q.fingerprint for q in queries[:100]} and not errors
        for q in queries[:100]:
            one = [i.payload for p in pdl.fetch_all(q) for i in p.items]
            assert [i.payload for i in pages[q.fingerprint].items] == one, q.params
        assert sum(p.calls for p in pages.values()) == 1, "one request, reported once"
        with pytest.raises(ValueError, match="1 to 100"):
            pdl.fetch_bulk(queries)
    finally:
        pdl.close()


# ---- the request limit ----------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_holds_one_second_of_requests_then_refills() -> None:
    clock = Clock()
    limit = RequestLimit(4, clock=clock)
    assert [limit.admit() for _ in range(4)] == [None] * 4
    assert limit.admit() == pytest.approx(0.25) and limit.refused == 1
    clock.now += 0.5
    assert [limit.admit() is None for _ in range(3)] == [True, True, False]
    assert RequestLimit(0).admit() is None, "0 turns the limit off"


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RATE_LIMIT_ENV, raising=False)
    assert rate_limit_from_env() == 250.0
    monkeypatch.setenv(RATE_LIMIT_ENV, "12.5")
    assert rate_limit_from_env() == 12.5
    monkeypatch.setenv(RATE_LIMIT_ENV, "fast")
    with pytest.raises(ValueError, match=RATE_LIMIT_ENV):
        rate_limit_from_env()


def test_above_the_limit_a_provider_answers_429_and_a_paced_client_never_sees_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RATE_LIMIT_ENV, "5")
    domains = sorted({d for b in world.businesses if (d := website_domain(b.website))})[:12]
    with SandboxServer(world=world) as sb:
        key = SandboxKeys().hunter
        with httpx.Client(base_url=sb.url) as c:
            codes = [c.get("/v2/domain-search", params={"domain": d, "api_key": key}) for d in domains]
        refused = [r for r in codes if r.status_code == 429]
        assert refused, "a burst above 5 requests/s is refused"
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        assert refused[0].json()["errors"][0]["id"] == "too_many_requests"

    with SandboxServer(world=world) as sb:  # a fresh bucket, nothing spent yet
        hunter = build_adapter(
            "hunter", api_key=key, base_url=sb.url, rate=RateLimitPolicy(4.0, 4, "process"), max_attempts=1
        )
        try:
            statuses_before = sb.stats()["status"].get("429", 0)
            for q in hunter.lookup_queries([{"website": d} for d in domains[:8]]):
                list(hunter.fetch_all(q))
            assert sb.stats()["status"].get("429", 0) == statuses_before, "paced under the limit: no 429"
        finally:
            hunter.close()
