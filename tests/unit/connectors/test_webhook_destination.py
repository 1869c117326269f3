"""The webhook destination against a real receiver on 127.0.0.1: signatures checked (forgeries and
replays refused), a 500 retried, a 400 batch split by delivery until the bad lead is dead-lettered."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from support.pipeline import gold_leads, write_gold_leads

from leadlake.connectors.destinations.base import DeliveryError, Destination, idempotency_key, payload_hash
from leadlake.connectors.destinations.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WebhookDestination,
    signature,
    verify_signature,
)
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES, GOLD_DELIVERY_DEAD_LETTERS
from leadlake.stages.delivery.deliver import deliver

SECRET = "whsec_test"


@dataclass
class Receiver:
    """What the receiver saw and how it answers."""

    url: str = ""
    fail_next: int = 0  # answer this many requests 500 first
    requests: list[dict[str, Any]] = field(default_factory=list)  # every request, verified or not
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # lead id -> last accepted lead
    keys: list[str] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            header = self.headers.get(SIGNATURE_HEADER)
            ok = verify_signature(SECRET, header, raw)
            state.requests.append({"header": header, "body": raw, "verified": ok})
            if not ok:
                return self._answer(401, {"error": "bad or expired signature"})
            if state.fail_next > 0:
                state.fail_next -= 1
                return self._answer(500, {"error": "try again"})
            body = json.loads(raw)
            if body.get("event") != "upsert":
                return self._answer(200, {"ok": True})
            leads = body["leads"]
            bad = [x["lead_id"] for x in leads if x["name"].startswith("BAD")]
            if bad:  # the whole batch is refused
                return self._answer(400, {"error": f"lead {bad[0]} has a bad name"})
            soft = {x["lead_id"]: "no phone" for x in leads if x["phone"] is None}
            state.keys.append(self.headers.get(IDEMPOTENCY_HEADER))
            for x in leads:
                if x["lead_id"] not in soft:
                    state.accepted[x["lead_id"]] = x | {"batch": body["batch"]}
            ids = {x["lead_id"]: f"rx-{x['lead_id']}" for x in leads if x["lead_id"] not in soft}
            return self._answer(200, {"ids": ids, "errors": soft})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/leads"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def webhook(url: str, secret: str = SECRET, **options: Any) -> WebhookDestination:
    return WebhookDestination(url, secret, backoff_factor=0.01, attempts=3, timeout_s=5, **options)


def test_signatures_reject_forgeries_and_replays() -> None:
    body = b'{"leads":[]}'
    header = signature(SECRET, body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify_signature(SECRET, header, body, now=1_700_000_100)
    assert verify_signature(SECRET, header, body.decode(), now=1_700_000_300)
    assert not verify_signature(SECRET, header, body, now=1_700_000_301)  # replayed too late
    assert not verify_signature(SECRET, header, body, now=1_699_999_000)  # from the future
    assert not verify_signature("other", header, body, now=1_700_000_000)  # wrong secret
    assert not verify_signature(SECRET, header, b'{"leads":[1]}', now=1_700_000_000)  # altered body
    assert not verify_signature(
        SECRET, header.replace("t=1700000000", "t=1700000099"), body, now=1_700_000_100
    )
    for broken in (None, "", "v1=abc", "t=x,v1=abc", "t=1700000000"):
        assert not verify_signature(SECRET, broken, body, now=1_700_000_000)
    rotated = f"{header},v1={'0' * 64}"
    assert verify_signature(SECRET, rotated, body, now=1_700_000_000)


def test_receiver_refuses_a_replayed_request(receiver: Receiver) -> None:
    dest = webhook(receiver.url)
    assert isinstance(dest, Destination)
    dest.test_connection()  # a signed ping
    captured = receiver.requests[-1]
    assert captured["verified"]
    # The same body under a signature made ten minutes ago: a replay, refused.
    old = signature(SECRET, captured["body"], timestamp=int(time.time()) - 600)
    resp = requests.post(receiver.url, data=captured["body"], headers={SIGNATURE_HEADER: old}, timeout=5)
    assert resp.status_code == 401
    forged = signature("not-the-secret", captured["body"])
    resp = requests.post(receiver.url, data=captured["body"], headers={SIGNATURE_HEADER: forged}, timeout=5)
    assert resp.status_code == 401
    with pytest.raises(DeliveryError) as err:  # a sender with the wrong secret is refused, not retried
        webhook(receiver.url, secret="wrong").test_connection()
    assert err.value.status == 401 and err.value.refused
    assert sum(not r["verified"] for r in receiver.requests) == 3


def test_upsert_retries_a_500_and_reports_per_lead_errors(receiver: Receiver) -> None:
    leads = gold_leads(4)
    leads[2]["phone_e164"] = None
    dest = webhook(receiver.url, run_id="w1")
    receiver.fail_next = 1
    result = dest.upsert(leads)
    assert [r["verified"] for r in receiver.requests] == [True, True]  # a 500, then the retry
    assert result.failures == {"L0002": "no phone"}
    assert result.crm_ids == {lid: f"rx-{lid}" for lid in ("L0000", "L0001", "L0003")}
    body = json.loads(receiver.requests[-1]["body"])
    assert (body["run_id"], body["batch"], len(body["leads"])) == ("w1", 1, 4)
    assert body["leads"][0]["sources"] == ["yelp"] and body["leads"][0]["lead_score"] == 40
    # Each lead carries the key of (destination, lead, payload hash); the request's key is made of them.
    sent = {x["lead_id"]: x for x in body["leads"]}
    for lead in leads:
        digest = payload_hash(dest.payload(lead))
        assert sent[lead["lead_id"]]["leadlake_idempotency_key"] == idempotency_key(
            "webhook", lead["lead_id"], digest
        )
    # The same leads again carry the same idempotency key; a change gives a new one.
    dest.upsert(leads)
    leads[0]["name"] = "Other"
    dest.upsert(leads)
    assert receiver.keys[0] == receiver.keys[1] != receiver.keys[2]
    assert dest.read_back(["L0000"]) == {}


def test_exhausted_retries_fail_the_batch(receiver: Receiver) -> None:
    receiver.fail_next = 10
    with pytest.raises(DeliveryError) as err:
        webhook(receiver.url).upsert(gold_leads(2))
    assert err.value.status == 500 and not err.value.refused
    assert len(receiver.requests) == 3
    with pytest.raises(DeliveryError) as err:
        webhook("http://127.0.0.1:9/nothing").upsert(gold_leads(1))
    assert err.value.status is None


def test_delivery_isolates_the_refused_lead(receiver: Receiver, lakehouse: Lakehouse) -> None:
    leads = gold_leads(10)
    leads[3]["name"] = "BAD business"
    write_gold_leads(lakehouse, leads)
    receiver.fail_next = 1  # the first batch is answered 500 once, then lands
    report = deliver(lakehouse, webhook(receiver.url, batch_limit=4), "d1", tiers=None)
    assert (report.sent, report.failed, report.dead_lettered) == (9, 1, 1)
    dead = lakehouse.read(GOLD_DELIVERY_DEAD_LETTERS).to_pylist()
    assert [(d["lead_id"], d["error"]) for d in dead] == [
        ("L0003", "webhook batch 5 of 1 leads failed: HTTP 400: lead L0003 has a bad name")
    ]
    assert set(receiver.accepted) == {f"L{i:04d}" for i in range(10)} - {"L0003"}
    rows = lakehouse.read(GOLD_CRM_DELIVERIES).to_pylist()
    ledger = {r["lead_id"]: r["crm_id"] for r in rows}
    assert ledger == {lid: f"rx-{lid}" for lid in receiver.accepted}
    # The receiver got the idempotency key the ledger records for each lead.
    assert {r["lead_id"]: r["idempotency_key"] for r in rows} == {
        lid: x["leadlake_idempotency_key"] for lid, x in receiver.accepted.items()
    }

    # Nothing changed: nothing is posted again (the dead letter waits for a replay).
    seen = len(receiver.requests)
    again = deliver(lakehouse, webhook(receiver.url, batch_limit=4), "d2", tiers=None)
    assert (again.sent, again.unchanged, again.dead_letters_waiting) == (0, 9, 1)
    assert len(receiver.requests) == seen


def test_wrong_secret_stops_delivery(receiver: Receiver, lakehouse: Lakehouse) -> None:
    write_gold_leads(lakehouse, gold_leads(6))
    report = deliver(lakehouse, webhook(receiver.url, secret="wrong", batch_limit=2), "d1", tiers=None)
    assert (report.sent, report.failed, report.dead_lettered) == (0, 2, 0)  # the batch it refused
    assert "refused our credentials (HTTP 401)" in report.errors[0]
    assert len(receiver.requests) == 1  # stopped after the first refusal
