"""Fault injection: the knobs, and the seeded draws that decide which provider request gets which fault."""

from __future__ import annotations

import json
import os
import random
import re
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Faults:
    """Fault-injection knobs; rates are per provider/CRM request, never on /_sandbox routes."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_malformed: float = 0.0  # 200 with a truncated, invalid JSON body
    latency_ms: int = 0
    truncated_pages: float = 0.0  # shorter page, still a next token: paging reaches every item
    retry_after_s: int = 1

    @classmethod
    def from_rate(cls, rate: float, retry_after_s: int = 1) -> Faults:
        """One overall fault rate split evenly over 429, 5xx and malformed bodies."""
        share = rate / 3
        return cls(rate_429=share, rate_5xx=share, rate_malformed=share, retry_after_s=retry_after_s)


class FaultDice:
    """Seeded draws, serialised so that a run's fault sequence depends only on the order of requests."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def fault(self) -> str | None:
        """None, "429", "5xx" or "malformed" for one provider request."""
        f = self.faults
        if f.rate_429 <= 0 and f.rate_5xx <= 0 and f.rate_malformed <= 0:
            return None  # no draw at all: a fault-free run leaves the stream to page truncation
        with self._lock:
            u = self._rng.random()
        if u < f.rate_429:
            return "429"
        if u < f.rate_429 + f.rate_5xx:
            return "5xx"
        if u < f.rate_429 + f.rate_5xx + f.rate_malformed:
            return "malformed"
        return None

    def truncation(self) -> bool:
        """Whether this page should come back shorter than asked."""
        if self.faults.truncated_pages <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.faults.truncated_pages

    def pick(self, options: tuple[int, ...]) -> int:
        """One of the options (e.g. which 5xx status), from the same stream."""
        with self._lock:
            return self._rng.choice(options)


# -- field rejection: the sandbox CRM refusing a property value the way HubSpot does ----------------------
REJECT_ENV = "LEADLAKE_SANDBOX_HUBSPOT_REJECT"  # a JSON list of rules (or one rule) read when the CRM starts
DEFAULT_REJECT_ERROR = "INVALID_PROPERTY_VALUE"


@dataclass(frozen=True)
class RejectRule:
    """The sandbox HubSpot refuses a batch in which `property` of an `object_type` record holds a value that
    does not fully match `pattern` (e.g. phones not in E.164), with HubSpot's 400 VALIDATION_ERROR.

    `message` may use {value}, {property} and {pattern}; `error` is the validation result's error code."""

    property: str
    pattern: str
    object_type: str = "companies"
    error: str = DEFAULT_REJECT_ERROR
    message: str = '{value} is not a valid value for property "{property}" (it must match {pattern})'

    def __post_init__(self) -> None:
        if not self.property or not isinstance(self.property, str):
            raise ValueError('a reject rule needs the property it checks, e.g. {"property": "phone", ...}')
        if self.object_type not in ("companies", "contacts"):
            raise ValueError(f"reject rule object_type {self.object_type!r}: expected companies or contacts")
        try:
            re.compile(self.pattern)
        except (re.error, TypeError) as exc:
            raise ValueError(
                f"reject rule on {self.property}: pattern {self.pattern!r} is not a regex: {exc}"
            ) from None

    @classmethod
    def from_json(cls, doc: object) -> RejectRule:
        """From {"property", "pattern", [object_type, error, message]}; ValueError names what is wrong."""
        if not isinstance(doc, dict):
            raise ValueError('a reject rule is an object: {"property": "phone", "pattern": "^\\\\+[0-9]+$"}')
        unknown = sorted(set(doc) - {"property", "pattern", "object_type", "error", "message"})
        if unknown:
            allowed = "property, pattern, object_type, error, message"
            raise ValueError(f"reject rule: unknown key(s) {unknown}; expected {allowed}")
        if not isinstance(doc.get("pattern"), str):
            raise ValueError("reject rule: pattern (a regex the value must fully match) is required")
        return cls(**{k: str(v) for k, v in doc.items()})

    def to_json(self) -> dict[str, str]:
        return {"property": self.property, "pattern": self.pattern, "object_type": self.object_type,
                "error": self.error, "message": self.message}  # fmt: skip

    def refuses(self, value: str) -> bool:
        """Whether HubSpot would refuse this value of the property (an empty value is never checked)."""
        return value != "" and re.fullmatch(self.pattern, value) is None

    def explain(self, value: str) -> str:
        return self.message.format(value=value, property=self.property, pattern=self.pattern)


def parse_reject_rules(doc: object) -> tuple[RejectRule, ...]:
    """Rules from JSON-shaped data: one rule object, a list of them, or {"rules": [...]}."""
    if isinstance(doc, dict) and "rules" in doc:
        doc = doc["rules"]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise ValueError('reject rules: expected a rule object, a list of them, or {"rules": [...]}')
    return tuple(RejectRule.from_json(d) for d in doc)


def reject_rules_from_env() -> tuple[RejectRule, ...]:
    """The rules LEADLAKE_SANDBOX_HUBSPOT_REJECT holds (JSON), none when it is unset."""
    raw = os.environ.get(REJECT_ENV, "").strip()
    if not raw:
        return ()
    try:
        return parse_reject_rules(json.loads(raw))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        raise ValueError(f"{REJECT_ENV}: {exc}") from None


def rate_from_env(name: str, default: float) -> float:
    """A sandbox rate limit (requests/s) from environment variable `name`, else `default`; 0 turns it off."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected requests per second (0: no limit)") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r}: expected 0 (no limit) or more requests per second")
    return value
