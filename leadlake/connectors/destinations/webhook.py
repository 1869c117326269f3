"""A webhook as a destination: gold leads POSTed as signed JSON batches to a URL the receiver owns.

* Body: `{"event": "upsert", "leads": [...], "run_id": ..., "batch": n}`; each lead is the row of the
  file mapping (`mappings/files.yaml`: `lead_id` and the mapped columns, lists as lists).
* Signature (as Stripe signs its webhooks): header `X-Leadlake-Signature: t=<unix seconds>,v1=<hex>` where
  v1 = HMAC-SHA256(secret, f"{t}.{body}"). A receiver checks it with `verify_signature`, which also
  refuses a timestamp older (or newer) than its tolerance: a captured request replayed later is rejected.
  Each attempt is signed afresh.
* Idempotency: each lead object carries `leadlake_idempotency_key`, the key delivery records for (this
  destination, the lead, its payload hash) in the ledger and sync log; the request's `Idempotency-Key`
  header is the sha256 of its leads' keys. The same leads with the same content (a batch re-sent after a
  crash, a retry) carry the same keys, so a receiver can ignore what it already applied.
* Retries: 408, 429 and 5xx and connection failures, with exponential backoff (tenacity) honouring
  Retry-After; then DeliveryError with the status. Another 4xx is refused at once (DeliveryError with the
  status: delivery halves the batch until the refused leads stand alone and dead-letters them).
* Reply (optional JSON): `errors` ({lead_id: message} or [{lead_id, message}]) -> `UpsertResult.failures`
  (the rest of the batch counts as delivered); `ids` ({lead_id: receiver id}) -> crm ids (default: the
  lead id); `created` ([lead_id]) -> which leads were new (default: none, all counted as updated).
* `read_back` is not possible (a webhook is write-only): it returns {}.
* Lead merges are POSTed as events too: `{"event": "merge", "primary_id", "merged_id"}` and
  `{"event": "rekey", "crm_id", "lead_id"}`; `test_connection` POSTs `{"event": "ping"}`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from leadlake.connectors.destinations.base import DeliveryError, MappingSource, UpsertResult, lead_key
from leadlake.connectors.destinations.files import (
    KEY_COLUMN,
    KEY_ID_COLUMN,
    ColumnMapping,
    _secret,
    default_run_id,
    load_column_mapping,
)

log = logging.getLogger("leadlake.connectors.destinations.webhook")

SIGNATURE_HEADER = "X-Leadlake-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
BATCH_LIMIT = 100
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)


# ---- signatures ------------------------------------------------------------------------------------------
def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def signature(secret: str | bytes, body: str | bytes, timestamp: int | None = None) -> str:
    """The signature header value for `body`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(_as_bytes(secret), f"{t}.".encode() + _as_bytes(body), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: str | bytes,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within `tolerance_s` of now.

    False for a forgery (wrong secret or altered body), a replay (a timestamp too old, or too far ahead),
    or a malformed header. Any of several `v1=` values may match (a secret being rotated)."""
    if not header:
        return False
    stamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                stamp = int(value)
            except ValueError:
                return False
        elif key == "v1" and value:
            candidates.append(value)
    if stamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance_s:
        return False
    expected = signature(secret, body, stamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, c) for c in candidates)


# ---- the destination -------------------------------------------------------------------------------------
class _Retryable(Exception):
    """An answer worth asking again (408/429/5xx) or no answer at all."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _reply_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        for key in ("error", "message", "detail"):
            if body.get(key):
                return str(body[key])
    return (resp.text or resp.reason or "").strip()[:500]


def _failures(errors: Any) -> dict[str, str]:
    """A reply's per-lead `errors`: {lead_id: message} or [{lead_id, message|error}]."""
    if isinstance(errors, Mapping):
        return {str(k): str(v) for k, v in errors.items()}
    out: dict[str, str] = {}
    if isinstance(errors, list):
        for err in errors:
            if isinstance(err, Mapping) and err.get("lead_id") is not None:
                out[str(err["lead_id"])] = str(err.get("message") or err.get("error") or "refused")
    return out


class WebhookDestination:
    """Signed JSON batches POSTed to a URL; idempotency keys per lead and batch; retries; per-lead errors."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        name: str | None = None,
        mapping: str | Path | Mapping[str, Any] | ColumnMapping | None = None,
        run_id: str | None = None,
        batch_limit: int = BATCH_LIMIT,
        timeout_s: float = 30.0,
        attempts: int = 6,
        backoff_factor: float = 0.5,
        max_backoff_s: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must be http(s)://, got {url!r}")
        if not secret:
            raise ValueError("a webhook needs a shared secret to sign its requests")
        if name:
            self.name = name
        self.url = url
        self._secret = secret
        self.mapping = ColumnMapping.load(mapping)
        self.batch_limit = batch_limit
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.backoff_factor = backoff_factor
        self.max_backoff_s = max_backoff_s
        self._session = session or requests.Session()
        self.start_run(run_id or default_run_id())

    @classmethod
    def connect(cls, secret: Any, base_url: str, **options: Any) -> WebhookDestination:
        """From the registry: the shared secret is the credential, the URL the base URL."""
        return cls(
            base_url, str(_secret(secret)), **{k: _secret(v) for k, v in options.items() if v is not None}
        )

    def start_run(self, run_id: str) -> None:
        """Name the delivery run the next batches belong to (their `run_id`; `batch` counts from 1)."""
        self.run_id = str(run_id)
        # One counter for the run, shared by this destination's mappings and safe across worker threads.
        self._batches = itertools.count(1)
        self.batch = 0

    # --- campaign mappings ----------

    @classmethod
    def load_mapping(cls, source: MappingSource | ColumnMapping) -> ColumnMapping:
        """A campaign's mapping of lead objects: a YAML file, or inline keys over `mappings/files.yaml`."""
        return load_column_mapping(source)

    def with_mapping(self, source: MappingSource | ColumnMapping) -> WebhookDestination:
        """This webhook (same URL, secret, session and batch numbering) sending another mapping's objects."""
        other = copy.copy(self)
        other.mapping = self.load_mapping(source)
        return other

    def payload(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        """The lead object this lead is sent as (before its idempotency key)."""
        return self.mapping.to_record(lead)

    # --- Destination protocol ----------

    def test_connection(self) -> None:
        """POST a signed `{"event": "ping"}`; raises DeliveryError unless the receiver answers 2xx."""
        self._post({"event": "ping", "run_id": self.run_id}, "ping")

    def describe_fields(self) -> set[str]:
        """The fields of each lead object sent."""
        return {KEY_COLUMN, *(c.name for c in self.mapping.columns.values()), KEY_ID_COLUMN}

    def validate_mapping(self) -> None:
        """The mapping is well formed (names unique and plain); raises MappingError."""
        self.mapping.check()

    def idempotency_key(self, records: Iterable[Mapping[str, Any]]) -> str:
        """A batch's `Idempotency-Key`: sha256 of its leads' own keys (order-independent)."""
        keys = sorted(str(r[KEY_ID_COLUMN]) for r in records)
        return hashlib.sha256("\n".join([self.name, *keys]).encode()).hexdigest()

    def upsert(self, leads: Sequence[Mapping[str, Any]]) -> UpsertResult:
        """POST the leads as one batch; per-lead `errors` of the reply in `failures`."""
        records: dict[str, dict[str, Any]] = {}
        for lead in leads:  # the same lead twice in one call: the last row wins
            record = self.mapping.to_record(lead)
            records[record[KEY_COLUMN]] = record | {KEY_ID_COLUMN: lead_key(self, lead, record)}
        if not records:
            return UpsertResult({}, 0, 0)
        batch = self.batch = next(self._batches)
        body = {"event": "upsert", "leads": list(records.values()), "run_id": self.run_id, "batch": batch}
        reply = self._post(
            body, f"batch {batch} of {len(records)} leads", self.idempotency_key(records.values())
        )
        failures = {k: v for k, v in _failures(reply.get("errors")).items() if k in records}
        ids = reply.get("ids") if isinstance(reply.get("ids"), Mapping) else {}
        crm_ids = {lid: str(ids.get(lid) or lid) for lid in records if lid not in failures}
        created_list = reply.get("created") if isinstance(reply.get("created"), list) else []
        created = frozenset(str(c) for c in created_list) & set(crm_ids)
        if failures:
            log.warning("%s refused %d of %d leads", self.name, len(failures), len(records))
        return UpsertResult(crm_ids, len(created), len(crm_ids) - len(created), created, failures=failures)

    def read_back(self, lead_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Not possible: a webhook is write-only, so nothing can be read back ({})."""
        return {}

    def merge(self, primary_crm_id: str, merged_crm_id: str) -> str:
        """Tell the receiver a lead was merged into another: `{"event": "merge", ...}`; the primary lives."""
        body = {
            "event": "merge",
            "primary_id": primary_crm_id,
            "merged_id": merged_crm_id,
            "run_id": self.run_id,
        }
        self._post(body, f"merge of {merged_crm_id} into {primary_crm_id}")
        return primary_crm_id

    def rekey(self, crm_id: str, lead_id: str) -> None:
        """Tell the receiver a merged lead's record now belongs to `lead_id`: `{"event": "rekey", ...}`."""
        body = {"event": "rekey", "crm_id": crm_id, "lead_id": lead_id, "run_id": self.run_id}
        self._post(body, f"re-key of {crm_id} to {lead_id}")

    # --- HTTP ----------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = min(self.max_backoff_s, self.backoff_factor * (2 ** (state.attempt_number - 1)))
        after = getattr(exc, "retry_after", None)
        return min(self.max_backoff_s, after) if after is not None else backoff

    def _post(self, payload: Mapping[str, Any], what: str, key: str | None = None) -> dict[str, Any]:
        """POST a signed JSON body (retried); the reply's JSON object ({} when none); DeliveryError."""
        body = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()
        if key is None:
            key = hashlib.sha256(self.name.encode() + b"\n" + body).hexdigest()
        what = f"{self.name} {what}"

        def attempt() -> dict[str, Any]:
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(self._secret, body),  # signed afresh on every attempt
                IDEMPOTENCY_HEADER: key,
                "User-Agent": "leadlake-webhook/1",
            }
            try:
                resp = self._session.post(
                    self.url, data=body, headers=headers, timeout=self.timeout_s, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise _Retryable(f"{type(exc).__name__}: {exc}") from None
            if resp.status_code in RETRY_STATUSES or resp.status_code >= 500:
                raise _Retryable(
                    f"HTTP {resp.status_code}: {_reply_message(resp)}",
                    resp.status_code,
                    _retry_after(resp.headers.get("Retry-After")),
                )
            if not 200 <= resp.status_code < 300:
                raise DeliveryError(
                    f"{what} failed: HTTP {resp.status_code}: {_reply_message(resp)}", resp.status_code
                )
            try:
                reply = resp.json() if resp.content else {}
            except ValueError:
                reply = {}  # a 2xx without JSON: accepted, nothing refused one by one
            return reply if isinstance(reply, dict) else {}

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s: attempt %d/%d failed: %s", what, state.attempt_number, self.attempts, exc)

        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retryable as exc:
            raise DeliveryError(f"{what} failed after {self.attempts} attempts: {exc}", exc.status) from None
