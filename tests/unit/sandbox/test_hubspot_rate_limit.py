"""The sandbox HubSpot's request rate limit (a token bucket, HubSpot's headers on every answer, 429 with
Retry-After past it) and the client side that paces itself by those headers (RateGate)."""

from __future__ import annotations

import httpx
import pytest

from leadlake.connectors.destinations.hubspot import HubSpotDestination, RateGate
from leadlake.sandbox.crm import RATE_LIMIT_ENV, RateLimit, rate_from_env
from leadlake.sandbox.server import SandboxKeys, SandboxServer

HEADERS = {"Authorization": f"Bearer {SandboxKeys().hubspot}"}
COMPANIES = "/crm/v3/objects/companies"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_the_bucket_holds_ten_seconds_of_requests_then_refills_at_the_rate() -> None:
    clock = Clock()
    limit = RateLimit(2, clock=clock)
    answers = [limit.take() for _ in range(21)]
    assert [ok for ok, _ in answers] == [True] * 20 + [False]
    first, last = answers[0][1], answers[19][1]
    assert first["X-HubSpot-RateLimit-Max"] == "20"
    assert first["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first["X-HubSpot-RateLimit-Secondly"] == "2"
    assert (first["X-HubSpot-RateLimit-Remaining"], last["X-HubSpot-RateLimit-Remaining"]) == ("19", "0")
    assert last["X-HubSpot-RateLimit-Secondly-Remaining"] == "0"
    assert answers[20][1]["Retry-After"] == "1" and limit.refused == 1
    clock.now += 0.5  # one token back
    assert limit.take()[0] and not limit.take()[0]
    clock.now += 60  # never more than the bucket holds
    assert sum(limit.take()[0] for _ in range(25)) == 20


def test_rate_zero_turns_the_limit_off_and_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    off = RateLimit(0)
    assert all(off.take() == (True, {}) for _ in range(1000))
    monkeypatch.delenv(RATE_LIMIT_ENV, raising=False)
    assert rate_from_env() == 10.0 and RateLimit().max == 100
    monkeypatch.setenv(RATE_LIMIT_ENV, "25")
    assert RateLimit().per_second == 25.0
    monkeypatch.setenv(RATE_LIMIT_ENV, "fast")
    with pytest.raises(ValueError, match=RATE_LIMIT_ENV):
        rate_from_env()


def _inputs(*ids: str) -> dict:
    return {"inputs": [{"idProperty": "leadlake_id", "id": i, "properties": {"name": i}} for i in ids]}


def test_the_sandbox_answers_429_past_the_limit_and_headers_on_every_reply() -> None:
    clock = Clock()
    with SandboxServer(seed=1, businesses=10) as sb, httpx.Client(base_url=sb.url, headers=HEADERS) as c:
        sb.crm.rate_limit = RateLimit(1, clock=clock)  # 10 requests in a row, then one a second
        replies = [c.post(f"{COMPANIES}/batch/upsert", json=_inputs(f"r{i}")) for i in range(10)]
        assert [r.status_code for r in replies] == [200] * 10
        assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in replies] == [
            str(9 - i) for i in range(10)
        ]
        refused = c.post(f"{COMPANIES}/batch/upsert", json=_inputs("late"))
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert refused.json()["category"] == "RATE_LIMITS" and refused.json()["errorType"] == "RATE_LIMIT"
        assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert len(sb.crm) == 10, "a refused request changes nothing"
        assert c.get(COMPANIES).status_code == 429  # every CRM route spends the same budget
        clock.now += 1.0
        listed = c.get(COMPANIES, params={"limit": 100})
        assert listed.status_code == 200 and len(listed.json()["results"]) == 10
        assert listed.headers["X-HubSpot-RateLimit-Max"] == "10"
        # a bad token is refused before it spends anything
        assert c.get(COMPANIES, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert sb.crm.rate_limit.refused == 2
        c.post("/_sandbox/reset")
        assert c.get(COMPANIES).headers["X-HubSpot-RateLimit-Remaining"] == "9"  # a reset fills the bucket


def test_the_gate_paces_at_the_announced_rate_and_holds_when_nothing_remains() -> None:
    clock = Clock()
    gate = RateGate(clock=clock, sleep=clock.sleep)
    gate.acquire()  # the probe: no rate known yet
    gate.observe(
        {
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Remaining": "5",  # too little room to make up missed slots
            "X-HubSpot-RateLimit-Secondly": "20",
        }
    )
    assert gate.rate == 10.0
    for _ in range(4):
        gate.acquire()
    assert clock.slept == [0.1, 0.1, 0.1]  # the first goes at once, the others 1/rate apart
    gate.observe({"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                  "X-HubSpot-RateLimit-Remaining": "0"})  # fmt: skip
    clock.slept.clear()
    gate.acquire()
    assert clock.slept == [pytest.approx(0.1)]

    bare = RateGate(clock=clock, sleep=clock.sleep)
    for _ in range(RateGate.PROBES_WITHOUT_HEADERS):
        bare.acquire()
        bare.observe({})
    clock.slept.clear()
    for _ in range(5):
        bare.acquire()
    assert clock.slept == [] and bare.rate is None  # a CRM without the headers is not paced


def test_the_destination_learns_the_limit_and_stays_under_it() -> None:
    with SandboxServer(seed=1, businesses=10) as sb:
        sb.crm.rate_limit.configure(50)  # 500 in a row: this test never waits on the CRM
        dest = HubSpotDestination(sb.keys["hubspot"], sb.url, max_in_flight=4)
        leads = [{"lead_id": f"g{i}", "name": f"G {i}"} for i in range(3)]
        assert set(dest.upsert(leads).crm_ids) == {"g0", "g1", "g2"}
        assert dest.gate.rate == 50.0 and dest.max_in_flight == 4
        assert sb.crm.rate_limit.refused == 0
