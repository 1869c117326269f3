"""OpenCorporates, People Data Labs and Hunter adapters against the sandbox's real protocols on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from leadlake.connectors.sources import (
    ADAPTERS,
    ENRICHMENT_ADAPTERS,
    CircuitOpenError,
    EnrichmentRecord,
    ProviderAuthError,
    ProviderError,
    RateLimitPolicy,
    SourceAdapter,
    UnknownProvider,
    build_adapter,
    merge_records,
    normalizer,
)
from leadlake.connectors.sources.base import ProviderQuery, RawItem
from leadlake.connectors.sources.pdl import SIZES
from leadlake.core.normalize import normalize_name
from leadlake.sandbox import enrichment as sbx
from leadlake.sandbox.server import Faults, SandboxKeys, SandboxServer
from leadlake.sandbox.world import Business, World

OC, PDL, HUNTER = "opencorporates", "pdl", "hunter"
PROVIDERS = (OC, PDL, HUNTER)
KEYS = {OC: SandboxKeys().opencorporates, PDL: SandboxKeys().pdl, HUNTER: SandboxKeys().hunter}
ROUTE = {OC: "opencorporates.search", PDL: "pdl.company_enrich", HUNTER: "hunter.domain_search"}
UNLIMITED = RateLimitPolicy(rate_per_s=10_000.0, burst=10_000)
EMAIL_TYPES = {"generic", "role", "personal"}


@pytest.fixture(scope="module")
def world() -> World:
    return World.generate(seed=7, businesses=300)


@pytest.fixture(scope="module")
def sandbox(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world=world) as sb:
        yield sb


@pytest.fixture(scope="module")
def truth(sandbox: SandboxServer) -> sbx.EnrichmentData:
    return sbx.data(sandbox)


def adapter(provider: str, sb: SandboxServer, **opts: Any) -> Any:
    opts = {"rate": UNLIMITED, "backoff_base_s": 0.01, **opts}
    return build_adapter(provider, api_key=opts.pop("api_key", KEYS[provider]), base_url=sb.url, **opts)


def lead(biz: Business) -> dict[str, Any]:
    return {"name": biz.name, "website": biz.website, "city": biz.city, "region": biz.region, "country": "US"}


def fetch(ad: Any, q: ProviderQuery) -> list[RawItem]:
    return [item for page in ad.fetch_all(q) for item in page.items]


def records(ad: Any, queries: list[ProviderQuery]) -> list[EnrichmentRecord]:
    """Every record of every query, pages folded together; drifted items must not occur here."""
    items = [i for q in queries for i in fetch(ad, q)]
    assert all(i.error is None for i in items), [i.error for i in items if i.error]
    return merge_records(ad.normalize(i.payload) for i in items)


def route_count(sb: SandboxServer, provider: str, at_least: int = 0) -> int:
    """Requests the sandbox counted on a provider's route (it counts just after answering: wait for it)."""
    deadline = time.monotonic() + 5.0
    while (n := sb.stats()["routes"].get(ROUTE[provider], 0)) < at_least and time.monotonic() < deadline:
        time.sleep(0.002)
    return n


def sample(world: World, truth: sbx.EnrichmentData, n: int) -> list[Business]:
    """Single-site businesses with a website and a PDL record, none schema-drifted (chains share a brand)."""
    out = []
    for biz in world.businesses:
        domain = sbx.website_domain(biz.website)
        pos = truth.pdl_of.get(biz.business_id)
        if (
            biz.chain is None
            and domain is not None
            and truth.business_by_domain.get(domain) is biz
            and (HUNTER, domain) not in truth.malformed
            and pos is not None
            and (PDL, truth.pdl_records[pos]["id"]) not in truth.malformed
        ):
            out.append(biz)
    return out[:n]


# ---- registry and lookup planning ---------------------------------------------------------------------
def test_registry_build_and_plan(sandbox: SandboxServer) -> None:
    assert set(ENRICHMENT_ADAPTERS) == set(PROVIDERS) and set(ADAPTERS) == {"google_places", "yelp"}
    tables = {OC: "bronze.opencorporates_companies_raw", PDL: "bronze.pdl_companies_raw"}
    tables[HUNTER] = "bronze.hunter_domains_raw"
    for provider in PROVIDERS:
        with adapter(provider, sandbox) as ad:
            assert isinstance(ad, SourceAdapter) and ad.name == provider and ad.kind == "enrichment"
            assert ad.bronze_table == tables[provider] and 0 < ad.price_per_call_usd <= 0.1
            assert ad.plan_queries(None) == [] and ad.rate_limit() == UNLIMITED
        assert normalizer(provider) is ENRICHMENT_ADAPTERS[provider].normalize
        with pytest.raises(ProviderAuthError, match=ENRICHMENT_ADAPTERS[provider].api_key_env):
            build_adapter(provider, api_key="")
    with pytest.raises(UnknownProvider, match="google_places, yelp; enrichment providers: .*hunter"):
        build_adapter("clearbit", api_key="x")


def test_lookup_queries_one_per_distinct_key() -> None:
    leads = [
        {"name": "Summit Plumbing LLC", "website": "https://www.summitplumbing.com/about", "city": "Denver",
         "region": "CO"},
        {"name": "Summit Plumbing", "domain": "summitplumbing.com", "city": "Denver", "region": "CO"},
        {"name": "Smith & Sons Bakery", "website": None, "city": "Austin", "region": "TX"},
        {"name": "Gmail Dental", "website": "https://gmail.com", "city": "Austin", "region": "texas"},
        {"name": "  ", "website": None, "region": "CO"},
        {"name": "Maple Cafe Ltd", "website": None, "city": "Toronto", "region": "ON", "country": "CA"},
        "not a lead",
    ]  # fmt: skip
    off = "http://127.0.0.1:9"
    oc = ENRICHMENT_ADAPTERS[OC](api_key="k", base_url=off, page_size=50)
    pdl = ENRICHMENT_ADAPTERS[PDL](api_key="k", base_url=off)
    hunter = ENRICHMENT_ADAPTERS[HUNTER](api_key="k", base_url=off, page_size=25)
    oq = [q.params for q in oc.lookup_queries(leads)]
    assert oq == [
        {"q": "summit plumbing", "per_page": 50, "jurisdiction_code": "us_co"},
        {"q": "smith and sons bakery", "per_page": 50, "jurisdiction_code": "us_tx"},
        {"q": "gmail dental", "per_page": 50, "jurisdiction_code": "us_tx"},  # "texas" -> TX
        {"q": "maple cafe", "per_page": 50},  # not a US state: every register
    ]
    assert [q.params for q in pdl.lookup_queries(leads)] == [
        {"website": "summitplumbing.com"},
        {"name": "Smith & Sons Bakery", "locality": "Austin", "region": "TX"},
        {"website": "gmail.com"},
        {"name": "Maple Cafe Ltd", "locality": "Toronto", "region": "ON"},
    ]
    assert [q.params for q in hunter.lookup_queries(leads)] == [{"domain": "summitplumbing.com", "limit": 25}]
    again = oc.lookup_queries(list(reversed(leads)))
    assert {q.fingerprint for q in again} == {q.fingerprint for q in oc.lookup_queries(leads)}
    for ad in (oc, pdl, hunter):  # credentials never enter a query (queries are stored in bronze)
        assert "k" not in {v for q in ad.lookup_queries(leads) for v in q.params.values()}
        ad.close()


# ---- lookups return the World's truth -------------------------------------------------------------------
def test_opencorporates_finds_the_legal_entity(world: World, sandbox: SandboxServer, truth: Any) -> None:
    bad = {key for p, key in truth.malformed if p == OC}
    businesses = [b for b in world.businesses if b.chain is None][:40]
    statuses: Counter[str] = Counter()
    with adapter(OC, sandbox, page_size=100) as ad:
        for biz in businesses:
            entity = truth.entities[truth.entity_of[biz.business_id]]
            key = f"{entity.jurisdiction_code}/{entity.company_number}"
            (q,) = ad.lookup_queries([lead(biz)])
            items = fetch(ad, q)
            by_key = {i.provider_key: i for i in items}
            assert key in by_key, f"{biz.name}: its legal entity is missing"
            if key in bad:
                assert "incorporation_date" in (by_key[key].error or "")
                continue
            rec = ad.normalize(by_key[key].payload)
            assert rec.jurisdiction == f"us_{biz.region.lower()}" and rec.company_status == "active"
            assert rec.legal_name.startswith(sbx.strip_legal_suffix(biz.name)[0]) and rec.registration_id
            assert json.loads(by_key[key].payload)["registered_address_in_full"].startswith(biz.address_line1)
            first = ad.normalize(items[0].payload)  # best match first: an exact, active name
            assert first.company_status == "active" and first.lookup_key == rec.lookup_key
            statuses.update(ad.normalize(i.payload).company_status for i in items if i.error is None)
            # Same legal name in another state (a twin) never comes back: the jurisdiction filters it out.
            assert all(json.loads(i.payload)["jurisdiction_code"] == rec.jurisdiction for i in items)
    assert statuses["dissolved"] >= 1  # dissolved predecessors share names with live companies


def test_pdl_returns_size_and_tech_for_the_domain(world: World, sandbox: SandboxServer, truth: Any) -> None:
    tech: Counter[str] = Counter()
    with adapter(PDL, sandbox) as ad:
        for biz in sample(world, truth, 40):
            domain = sbx.website_domain(biz.website)
            (q,) = ad.lookup_queries([lead(biz)])
            assert q.params == {"website": domain}
            (rec,) = records(ad, [q])
            expect = truth.pdl_records[truth.pdl_of[biz.business_id]]
            assert rec.lookup_key == domain and rec.provider_key == expect["id"]
            # Also its name in its region: what a lead without a website is joined on (gold).
            assert rec.name_key == f"{normalize_name(rec.name)}|{biz.region}"
            assert rec.employee_count == expect["employee_count"] and rec.employees_range in SIZES
            assert rec.employees_range == sbx.size_bucket(rec.employee_count)
            assert (
                rec.industry == sbx.PDL_INDUSTRY[biz.category]
                and rec.name == sbx.strip_legal_suffix(biz.name)[0]
            )
            tech.update(rec.tech_signals)
        # A business without a website is found by name, city and region.
        no_site = next(b for b in world.businesses if b.website is None and b.business_id in truth.pdl_of)
        (q,) = ad.lookup_queries([lead(no_site)])
        assert "website" not in q.params and q.params["locality"] == no_site.city
        (rec,) = records(ad, [q])
        assert rec.provider_key == truth.pdl_records[truth.pdl_of[no_site.business_id]]["id"]
        assert rec.lookup_key == f"{normalize_name(no_site.name)}|{no_site.region}" and rec.name_key is None
    assert {"shopify", "stripe", "wordpress"} <= set(tech)


def test_hunter_returns_the_domains_emails(world: World, sandbox: SandboxServer, truth: Any) -> None:
    checked = 0
    with adapter(HUNTER, sandbox, page_size=3) as ad:
        for biz in sample(world, truth, 60):
            domain = sbx.website_domain(biz.website)
            if domain not in truth.hunter_domains:
                continue
            (q,) = ad.lookup_queries([lead(biz)])
            (rec,) = records(ad, [q])
            expect = truth.hunter(domain)["emails"]
            assert sorted(e["value"] for e in rec.emails) == sorted(e["value"] for e in expect)
            assert all(e["value"].endswith("@" + domain) and e["type"] in EMAIL_TYPES for e in rec.emails)
            assert any(e["value"] == f"info@{domain}" and e["type"] == "generic" for e in rec.emails)
            assert any(e["type"] == "personal" for e in rec.emails) == any(
                e["type"] == "personal" for e in expect
            )
            valid = any(e["verification"]["status"] == "valid" for e in expect)
            assert rec.email_verified_domain is valid and rec.lookup_key == domain and rec.name
            checked += 1
    assert checked >= 20


# ---- no match, paging ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "params"),
    [
        (OC, {"q": "zyzzyva quux", "per_page": 10, "jurisdiction_code": "us_co"}),
        (PDL, {"website": "no-such-business.example"}),
        (HUNTER, {"domain": "no-such-business.example", "limit": 10}),
    ],
)
def test_no_match_is_an_empty_page(provider: str, params: dict, sandbox: SandboxServer) -> None:
    before = route_count(sandbox, provider)
    with adapter(provider, sandbox) as ad:
        pages = list(ad.fetch_all(ProviderQuery.build(provider, params)))
    assert len(pages) == 1 and pages[0].items == [] and pages[0].next_cursor is None
    assert route_count(sandbox, provider, before + 1) == before + 1


def test_opencorporates_pages_to_the_end(sandbox: SandboxServer, truth: Any) -> None:
    expected = truth.search_entities("plumbing", None)
    assert len(expected) > 10
    with adapter(OC, sandbox, page_size=4) as ad:
        q = ProviderQuery.build(OC, {"q": "plumbing", "per_page": 4})
        pages = list(ad.fetch_all(q))
    got = [i.provider_key for p in pages for i in p.items]
    want = [f"{truth.entities[i].jurisdiction_code}/{truth.entities[i].company_number}" for i in expected]
    assert got == want and len(pages) == math.ceil(len(want) / 4)
    assert [p.cursor for p in pages] == [None] + [str(n) for n in range(2, len(pages) + 1)]


@pytest.mark.parametrize("truncated", [0.0, 0.5])
def test_hunter_pages_by_offset_to_the_end(world: World, truth: Any, truncated: float) -> None:
    chain = next(
        b for b in world.businesses if b.chain and sbx.website_domain(b.website) in truth.hunter_domains
    )
    domain = sbx.website_domain(chain.website)
    expect = [e["value"] for e in truth.hunter(domain)["emails"]]
    assert len(expect) > 10
    with (
        SandboxServer(world=world, faults=Faults(truncated_pages=truncated)) as sb,
        adapter(HUNTER, sb) as ad,
    ):
        ad.page_size = 4
        (q,) = ad.lookup_queries([lead(chain)])
        pages = list(ad.fetch_all(q))
    got = [e["value"] for p in pages for i in p.items for e in json.loads(i.payload)["emails"]]
    assert got == expect  # every email once, in Hunter's order, even when pages come back short
    assert len({i.provider_key for p in pages for i in p.items}) == len(pages)  # "domain#offset" keys
    if not truncated:
        assert len(pages) == math.ceil(len(expect) / 4)


# ---- faults -------------------------------------------------------------------------------------------
def fault_queries(world: World, truth: Any) -> dict[str, list[ProviderQuery]]:
    leads = [lead(b) for b in sample(world, truth, 3)]
    off = "http://127.0.0.1:9"
    return {
        p: ENRICHMENT_ADAPTERS[p](api_key="k", base_url=off, page_size=3).lookup_queries(leads)
        for p in PROVIDERS
    }


def test_429_retry_after_is_honoured_and_nothing_is_lost(
    world: World, sandbox: SandboxServer, truth: Any
) -> None:
    queries = fault_queries(world, truth)
    baseline = {}
    for p in PROVIDERS:
        with adapter(p, sandbox, page_size=3) as ad:
            baseline[p] = records(ad, queries[p])
    with SandboxServer(world=world, faults=Faults(rate_429=0.3, retry_after_s=1)) as sb:
        started = time.monotonic()
        for p in PROVIDERS:
            with adapter(p, sb, page_size=3, max_attempts=8) as ad:
                assert records(ad, queries[p]) == baseline[p], p
        elapsed = time.monotonic() - started
        served = sb.stats()["faults"].get("429", 0)
    assert served >= 2 and elapsed >= 0.95 * served  # every 429 waited out its Retry-After of 1 s


def test_5xx_is_retried_and_the_breaker_opens(world: World, truth: Any) -> None:
    queries = fault_queries(world, truth)
    baseline = {}
    with SandboxServer(world=world) as sb:
        for p in PROVIDERS:
            with adapter(p, sb, page_size=3) as ad:
                baseline[p] = records(ad, queries[p])
    with SandboxServer(world=world, faults=Faults(rate_5xx=0.3)) as sb:
        for p in PROVIDERS:
            with adapter(p, sb, page_size=3, max_attempts=8) as ad:
                assert records(ad, queries[p]) == baseline[p], p
        assert sb.stats()["faults"].get("5xx", 0) >= 2
    with SandboxServer(world=world, faults=Faults(rate_5xx=1.0)) as sb:
        for p in PROVIDERS:
            with adapter(p, sb, max_attempts=2, failure_threshold=2, reset_after_s=60) as ad:
                q = queries[p][0]
                with pytest.raises(ProviderError, match=r"HTTP 50\d.*gave up after 2 attempts") as first:
                    ad.fetch_page(q)
                assert not isinstance(first.value, CircuitOpenError)
                with pytest.raises(CircuitOpenError):
                    ad.fetch_page(q)
                sent = route_count(sb, p, 4)
                with pytest.raises(CircuitOpenError):  # refused locally: no request reaches the provider
                    ad.fetch_page(q)
                assert sent == 4 and route_count(sb, p) == 4


@pytest.mark.parametrize("provider", PROVIDERS)
def test_bad_key_is_an_auth_error_after_one_request(provider: str, sandbox: SandboxServer) -> None:
    params = {OC: {"q": "plumbing"}, PDL: {"website": "example.com"}, HUNTER: {"domain": "example.com"}}
    before = route_count(sandbox, provider)
    with adapter(provider, sandbox, api_key="wrong-key") as ad:
        with pytest.raises(ProviderAuthError, match=ad.api_key_env) as err:
            ad.fetch_page(ProviderQuery.build(provider, params[provider]))
    assert err.value.status == 401 and "wrong-key" not in str(err.value)
    assert route_count(sandbox, provider, before + 1) == before + 1


def test_pdl_out_of_credits_is_a_402_not_retried(sandbox: SandboxServer) -> None:
    before = route_count(sandbox, PDL)
    with adapter(PDL, sandbox, api_key=sbx.PDL_NO_CREDITS_KEY) as ad:
        with pytest.raises(ProviderError) as err:
            ad.fetch_page(ProviderQuery.build(PDL, {"website": "example.com"}))
    assert err.value.status == 402 and not isinstance(err.value, ProviderAuthError)
    assert route_count(sandbox, PDL, before + 1) == before + 1


# ---- normalize and drift ------------------------------------------------------------------------------
def test_normalize_is_pure_and_drift_names_the_field(
    world: World, sandbox: SandboxServer, truth: Any
) -> None:
    drifted = {p: {k for q, k in truth.malformed if q == p} for p in PROVIDERS}
    assert all(drifted.values())
    oc_key = sorted(drifted[OC])[0]
    entity = truth.entities[truth.entity_by_number[tuple(oc_key.split("/"))]]
    pdl_pos = next(i for i, r in enumerate(truth.pdl_records) if r["id"] in drifted[PDL])
    hunter_domain = sorted(drifted[HUNTER])[0]
    with adapter(OC, sandbox) as ad:
        item = ad.fetch_company(entity.jurisdiction_code, entity.company_number)
        assert item.provider_key == oc_key and "field 'incorporation_date'" in item.error
    with adapter(PDL, sandbox) as ad:
        site = truth.pdl_records[pdl_pos]["website"]
        (item,) = fetch(ad, ProviderQuery.build(PDL, {"website": site}))
        assert "field 'employee_count'" in item.error
    with adapter(HUNTER, sandbox) as ad:
        item = fetch(ad, ProviderQuery.build(HUNTER, {"domain": hunter_domain, "limit": 100}))[0]
        assert "field 'emails.0.confidence'" in item.error
    for p in PROVIDERS:  # every clean item normalises to a well-typed record, from dict or JSON text alike
        biz = sample(world, truth, 3)
        with adapter(p, sandbox) as ad:
            items = [i for q in ad.lookup_queries([lead(b) for b in biz]) for i in fetch(ad, q)]
        assert items
        for i in items:
            rec = ad.normalize(i.payload)
            assert rec == ad.normalize(json.loads(i.payload)) and rec.provider == p and rec.provider_key
            assert rec.employees_range in (None, *SIZES) and rec.lookup_key
            assert all(e["type"] in EMAIL_TYPES and e["verified"] in (True, False, None) for e in rec.emails)
            assert set(rec.asdict()) >= {"legal_name", "tech_signals", "emails", "email_verified_domain"}
        with pytest.raises(ValueError):
            ad.normalize({"name": "no identity"})
    assert ENRICHMENT_ADAPTERS[HUNTER].normalize(
        {"domain": "acme.com", "emails": [{"value": "Sales@Acme.com", "type": "generic",
                                           "verification": {"status": "valid"}}]}
    ).emails == [{"value": "sales@acme.com", "type": "role", "verified": True}]  # fmt: skip


# ---- the official protocols -----------------------------------------------------------------------------
def test_official_protocol_details(sandbox: SandboxServer, caplog: pytest.LogCaptureFixture) -> None:
    sent: dict[str, httpx.Request] = {}
    queries = {
        OC: ProviderQuery.build(OC, {"q": "plumbing", "per_page": 2}),
        PDL: ProviderQuery.build(PDL, {"website": "example.com"}),
        HUNTER: ProviderQuery.build(HUNTER, {"domain": "example.com", "limit": 5}),
    }
    caplog.set_level(logging.INFO, logger="httpx")
    for p in PROVIDERS:
        with adapter(p, sandbox) as ad:
            ad._http._client.event_hooks["request"].append(lambda r, p=p: sent.setdefault(p, r))
            ad.fetch_page(queries[p])
    oc, pdl, hunter = sent[OC], sent[PDL], sent[HUNTER]
    assert oc.url.path == "/v0.4/companies/search" and oc.url.params["api_token"] == KEYS[OC]
    assert oc.url.params["page"] == "1" and "authorization" not in oc.headers
    assert pdl.url.path == "/v5/company/enrich" and pdl.headers["x-api-key"] == KEYS[PDL]
    assert "api_key" not in pdl.url.params
    assert hunter.url.path == "/v2/domain-search" and hunter.url.params["api_key"] == KEYS[HUNTER]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "api_token=***" in logged and "api_key=***" in logged
    assert not any(k in logged for k in KEYS.values())  # secrets never reach the log
    # Response and error shapes as the providers document them, seen by a plain HTTP client.
    with httpx.Client(base_url=sandbox.url) as c:
        body = c.get("/v0.4/companies/search", params={"q": "plumbing", "api_token": KEYS[OC]}).json()
        assert body["api_version"] == "0.4" and set(body["results"]) >= {"companies", "page", "total_count"}
        assert set(body["results"]["companies"][0]) == {"company"}
        bad = c.get("/v0.4/companies/search", params={"q": "x", "api_token": "nope"})
        assert bad.status_code == 401 and bad.json() == {"error": {"message": "Invalid Api Token"}}
        miss = c.get(
            "/v5/company/enrich", params={"website": "nope.example"}, headers={"X-Api-Key": KEYS[PDL]}
        )
        assert miss.status_code == 404 and miss.json()["error"]["type"] == "not_found"
        assert c.get("/v5/company/enrich", params={"website": "x.com"}).json()["error"]["type"] == (
            "authentication_error"
        )
        h = c.get("/v2/domain-search", params={"domain": "nope.example", "api_key": KEYS[HUNTER]}).json()
        assert set(h) == {"data", "meta"} and h["meta"]["results"] == 0 and h["data"]["emails"] == []
        hbad = c.get("/v2/domain-search", params={"domain": "x.com", "api_key": "nope"})
        assert hbad.status_code == 401 and hbad.json()["errors"][0]["id"] == "authentication_failed"
        over = c.get("/v2/domain-search", params={"domain": "x.com", "api_key": KEYS[HUNTER], "limit": 101})
        assert over.status_code == 400 and over.json()["errors"][0]["code"] == 400
