"""Reverse ETL exactly once, the way a user would break it: a CRM answering a fifth of its requests with
429s, 5xx and truncated bodies, and a `leadlake deliver` killed with SIGKILL halfway through.

A served sandbox (`leadlake sandbox serve --fault-rate 0.2`, its HubSpot rate-limited as always) gets a few
thousand gold leads from `leadlake deliver --destination hubspot`, killed once the CRM holds some but not
all of them; re-runs (each may fail a batch to a truncated reply) and `leadlake replay` then converge: every
qualified lead is in the CRM exactly once with its mapped fields, no suppressed one is, a run with nothing
changed sends nothing, and the official HubSpot client reads back exactly what the ledger says was sent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.pipeline import gold_leads, write_gold_leads

from leadlake.connectors.destinations.hubspot import FIELD_MAP, ID_PROPERTY, to_properties
from leadlake.lakehouse import Lakehouse
from leadlake.lakehouse.catalog import GOLD_CRM_DELIVERIES
from leadlake.sandbox.server import SandboxKeys
from leadlake.stages.delivery.deliver import payload_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
LEADLAKE = str(Path(sys.executable).with_name("leadlake"))
LEADS = 3000  # 30 batches of 100 at the sandbox's 10 requests/s: the kill lands mid-way
SUPPRESSED = ("business7.com", "business1500.com", "business2999.com")
MAX_RUNS = 12  # each run may lose a batch or two to a truncated 200 (not applied): the next sends them


def scratch_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A user's environment with no leadlake settings of their own, pointed at scratch folders."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEADLAKE_", "AIRFLOW")) and not k.endswith(("_API_KEY", "_API_TOKEN"))
    }
    return env | {
        "LEADLAKE_LAKEHOUSE_URI": str(tmp / "lake"),
        "LEADLAKE_STATE_DIR": str(tmp / "state"),
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "LEADLAKE_SANDBOX_BUSINESSES": "50",
        "COLUMNS": "200",
        **extra,
    }


def leadlake(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADLAKE, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def faulty_crm(tmp_path: Path) -> Iterator[str]:
    """`leadlake sandbox serve --fault-rate 0.2` on a free port; its URL once it answers."""
    port = free_port()
    (tmp_path / "serve").mkdir()
    log = (tmp_path / "serve" / "serve.log").open("w")
    proc = subprocess.Popen(
        [LEADLAKE, "sandbox", "serve", "--port", str(port), "--businesses", "50", "--fault-rate", "0.2"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=scratch_env(tmp_path / "serve"),
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/_sandbox/stats", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve" / "serve.log").read_text()
            try:
                proc.wait(timeout=0.2)  # waits on the process, not the clock: fails early if serve exited
                pytest.fail(f"sandbox serve exited: {(tmp_path / 'serve' / 'serve.log').read_text()}")
            except subprocess.TimeoutExpired:
                pass
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()


def companies(url: str) -> list[dict[str, Any]]:
    """The CRM's live companies (the sandbox's admin view: no faults there)."""
    return httpx.get(f"{url}/_sandbox/crm/companies", timeout=60).json()


def read_back(url: str, lead_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The official hubspot-api-client's batch read by leadlake_id: lead id -> {id, properties}.

    The sandbox still faults a fifth of these requests: 429/5xx are retried by the client, a truncated 200
    is read again."""
    from hubspot import HubSpot
    from hubspot.crm.companies import BatchReadInputSimplePublicObjectId, SimplePublicObjectId
    from urllib3.util.retry import Retry

    retry = Retry(total=8, status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None)
    api = HubSpot(access_token=SandboxKeys().hubspot, host=url, retry=retry)
    wanted = [ID_PROPERTY, *FIELD_MAP.values()]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(lead_ids), 100):
        chunk = lead_ids[start : start + 100]
        body = BatchReadInputSimplePublicObjectId(
            id_property=ID_PROPERTY,
            inputs=[SimplePublicObjectId(id=i) for i in chunk],
            properties=wanted,
            properties_with_history=[],
        )
        for _ in range(20):
            try:
                resp = api.crm.companies.batch_api.read(body)
            except Exception:  # a truncated body the client cannot parse: read again
                continue
            results = getattr(resp, "results", None)
            if isinstance(results, list) and len(results) == len(chunk):
                break
        else:
            pytest.fail(f"batch read of {chunk[0]}.. never answered in full")
        for obj in results:
            found[obj.properties[ID_PROPERTY]] = {"id": obj.id, "properties": obj.properties}
    return found


def test_exactly_once_under_crm_faults_and_a_sigkill(tmp_path: Path, faulty_crm: str) -> None:
    env = scratch_env(tmp_path, LEADLAKE_SANDBOX_URL=faulty_crm)
    leads = gold_leads(LEADS)
    lake = Lakehouse(str(tmp_path / "lake"))
    write_gold_leads(lake, leads)
    for domain in SUPPRESSED:
        done = leadlake("suppress", "add", "--domain", domain, "--reason", "asked not to", env=env)
        assert done.returncode == 0, done.stderr
    kept = {x["lead_id"]: x for x in leads if x["domain"] not in SUPPRESSED}
    assert len(kept) == LEADS - len(SUPPRESSED)

    # 1. A delivery killed with SIGKILL once the CRM holds some, not all, of the leads.
    out = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen(
        [LEADLAKE, "deliver", "--destination", "hubspot"],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    held = 0
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            held = len(companies(faulty_crm))
            if 0 < held < len(kept):
                proc.send_signal(signal.SIGKILL)
                break
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
        proc.wait(timeout=60)
        out.close()
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, (tmp_path / "killed.log").read_text())
    assert 0 < held < len(kept)
    partial = len(companies(faulty_crm))
    assert partial < len(kept), "killed before the CRM held every lead"

    # 2. Re-runs until one fails nothing (a truncated 200 fails its batch only), then a replay.
    runs = []
    for _ in range(MAX_RUNS):
        runs.append(leadlake("deliver", "--destination", "hubspot", env=env))
        if runs[-1].returncode == 0:
            break
    assert runs[-1].returncode == 0, [r.stdout + r.stderr for r in runs]
    assert " 0 failed" in runs[-1].stdout, runs[-1].stdout
    replay = leadlake("replay", "--destination", "hubspot", env=env)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "hubspot: 0 sent" in replay.stdout, replay.stdout  # nothing was refused as it is

    # 3. Every qualified lead exactly once, with its mapped fields; no suppressed one.
    live = companies(faulty_crm)
    per_lead = Counter(c["properties"].get(ID_PROPERTY) for c in live)
    assert [lid for lid, n in per_lead.items() if n > 1] == [], "a lead made two companies"
    assert set(per_lead) == set(kept), (len(per_lead), len(kept))
    assert not {c["properties"].get("domain") for c in live} & set(SUPPRESSED)
    for c in live:
        props = c["properties"]
        want = to_properties(kept[props[ID_PROPERTY]])
        assert {k: props.get(k) for k in want} == want, props[ID_PROPERTY]

    # 4. Nothing changed: a run sends nothing.
    again = leadlake("deliver", "--destination", "hubspot", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "hubspot: 0 sent" in again.stdout and f"{len(kept)} unchanged" in again.stdout, again.stdout
    assert f"{len(SUPPRESSED)} suppressed" in again.stdout, again.stdout
    assert len(companies(faulty_crm)) == len(kept)

    # 5. The ledger says what the CRM holds, and the official client reads exactly that back.
    ledger = {r["lead_id"]: r for r in lake.read(GOLD_CRM_DELIVERIES).to_pylist()}
    assert set(ledger) == set(kept)
    assert {lid: r["crm_id"] for lid, r in ledger.items()} == {
        c["properties"][ID_PROPERTY]: c["id"] for c in live
    }
    assert all(r["payload_hash"] == payload_hash(to_properties(kept[lid])) for lid, r in ledger.items())
    back = read_back(faulty_crm, sorted(ledger))
    assert {lid: x["id"] for lid, x in back.items()} == {lid: r["crm_id"] for lid, r in ledger.items()}
    for lid, x in back.items():
        want = to_properties(kept[lid])
        assert {k: x["properties"].get(k) for k in want} == want, lid
