"""In-memory HubSpot companies store: upsert by unique property, read, update, list, archive and merge.

Merges follow HubSpot's documented behaviour, kept simple: `merge(primary, merged)` archives the merged
company and remembers its id (and the ids merged into it before) in the primary's `hs_merged_object_ids`
(semicolon-separated, as HubSpot stores multi-valued properties). The primary keeps its id and its property
values. A merged or archived company leaves listings, batch reads and unique-property lookups; a read by a
merged company's old id answers the live primary (as HubSpot redirects merged record ids). Merging an id
that was already merged into the primary answers the primary again, so a repeated merge is harmless.
"""

from __future__ import annotations

import bisect
import copy
import json
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from leadlake.sandbox import faults
from leadlake.sandbox.crm_schema import (
    CATALOG,
    COMPANIES,
    CONTACTS,
    DEFAULT_ASSOCIATION,
    INVERSE_ASSOCIATION,
    invalid_message,
    value_errors,
)
from leadlake.sandbox.faults import RejectRule, reject_rules_from_env
from leadlake.sandbox.outcomes import DATE_ENTERED, Life, OutcomeSimulator, auc

FIRST_OBJECT_ID = 9_000_000_001
SYSTEM_PROPERTIES = ("hs_object_id", "createdate", "hs_lastmodifieddate")
DEFAULT_PROPERTIES = ("name", "domain", *SYSTEM_PROPERTIES)
CONTACT_DEFAULT_PROPERTIES = (
    "firstname",
    "lastname",
    "email",
    "hs_object_id",
    "createdate",
    "lastmodifieddate",
)
MERGED_IDS = "hs_merged_object_ids"  # read-only: ids of the companies merged into this one
READ_ONLY_PROPERTIES = (*SYSTEM_PROPERTIES, MERGED_IDS)
SEARCH_DEFAULT_LIMIT = 10
SEARCH_MAX_LIMIT = 200  # HubSpot's documented maximum page size for the CRM search endpoints
SEARCH_CAP = 10_000  # a search pages through at most this many results, whatever its total
MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
OPERATORS = ("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
             "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")  # fmt: skip
DATE_PROPERTIES = ("createdate", "hs_lastmodifieddate", "closedate")
RATE_LIMIT_ENV = "LEADLAKE_SANDBOX_HUBSPOT_RATE_LIMIT"  # requests per second; 0 turns the limit off
DEFAULT_RATE_LIMIT = 10.0  # requests per second: 1,000 companies/s at 100 per batch upsert
RATE_INTERVAL_MS = 10_000  # HubSpot's burst window: at most rate x 10 s requests in a row


class CrmError(ValueError):
    """A request HubSpot would reject with 400 VALIDATION_ERROR."""


class CrmNotFound(LookupError):
    """An object id HubSpot does not know (or that was archived): 404 OBJECT_NOT_FOUND."""

    def __init__(self, object_id: str) -> None:
        super().__init__(object_id)
        self.object_id = object_id


def hubspot_timestamp(now: datetime | None = None) -> str:
    """ISO-8601 with milliseconds and Z, as HubSpot writes timestamps."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def property_value(value: object) -> str:
    """HubSpot stores every property as a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RateLimit:
    """HubSpot's per-app request limit as a token bucket: `per_second` tokens a second, at most one interval's
    worth (`per_second` x 10 s, HubSpot's X-HubSpot-RateLimit-Max) saved up, one token per request.

    A request finding the bucket empty is refused (429 with Retry-After). Every answer carries HubSpot's
    rate-limit headers: Max / Remaining / Interval-Milliseconds for the bucket, Secondly /
    Secondly-Remaining for the requests of the last second. `per_second` 0 (or None) turns the limit off.
    """

    def __init__(self, per_second: float | None = None, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._recent: deque[float] = deque()  # when the requests of the last second came
        self.configure(rate_from_env() if per_second is None else per_second)

    def configure(self, per_second: float) -> None:
        """Set the limit (requests per second; 0 turns it off) and fill the bucket."""
        if per_second < 0:
            raise ValueError("a rate limit is 0 (off) or more requests per second")
        with self._lock:
            self.per_second = float(per_second)
            self.max = max(1, round(self.per_second * RATE_INTERVAL_MS / 1000))
            self._tokens = float(self.max)
            self._stamp = self._clock()
            self._recent.clear()
            self.refused = 0

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self) -> tuple[bool, dict[str, str]]:
        """Spend a token for one request: (allowed, the rate-limit headers of its answer)."""
        with self._lock:
            now = self._clock()
            if not self.enabled:
                return True, {}
            self._tokens = min(float(self.max), self._tokens + (now - self._stamp) * self.per_second)
            self._stamp = now
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            allowed = self._tokens >= 1.0
            if allowed:
                self._tokens -= 1.0
                self._recent.append(now)
            else:
                self.refused += 1
            secondly = max(1, round(self.per_second))
            headers = {
                "X-HubSpot-RateLimit-Max": str(self.max),
                "X-HubSpot-RateLimit-Remaining": str(int(self._tokens)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(RATE_INTERVAL_MS),
                "X-HubSpot-RateLimit-Secondly": str(secondly),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly - len(self._recent))),
            }
            if not allowed:
                wait = (1.0 - self._tokens) / self.per_second
                headers["Retry-After"] = str(max(1, int(wait + 0.999)))  # whole seconds, as HTTP says
            return allowed, headers


def rate_from_env() -> float:
    """The sandbox HubSpot's rate limit (requests/s) from LEADLAKE_SANDBOX_HUBSPOT_RATE_LIMIT, else 10."""
    return faults.rate_from_env(RATE_LIMIT_ENV, DEFAULT_RATE_LIMIT)


class CrmStore:
    """Companies upserted so far; thread-safe and readable in-process."""

    def __init__(
        self, simulator: OutcomeSimulator | None = None, state_path: str | Path | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, dict] = {}
        self._unique: dict[tuple[str, str], str] = {}
        self._order: list[int] = []  # live ids, ascending as issued, so this stays sorted for paging
        self._merged_into: dict[str, str] = {}  # merged object id -> the object it was merged into
        self._id_properties: set[str] = set()  # properties used as upsert idProperty: values are unique
        self._next_id = FIRST_OBJECT_ID
        self._simulator = simulator or OutcomeSimulator()
        self._lives: dict[str, Life] = {}  # object id -> what sales does with it (outcomes.py)
        self._offset = timedelta(0)  # how far the simulated clock runs ahead of the wall clock
        self._state_path = Path(state_path) if state_path else None
        # HubSpot's request rate limit on the CRM routes (routes/hubspot.py); `rate_limit.configure(n)`.
        self.rate_limit = RateLimit()
        # Values the CRM refuses as HubSpot would (faults.RejectRule): LEADLAKE_SANDBOX_HUBSPOT_REJECT on
        # start, POST /_sandbox/crm/rejects while it runs.
        self.reject_rules: tuple[RejectRule, ...] = reject_rules_from_env()
        self._contacts: dict[str, dict] = {}  # contact id -> {id, properties, createdAt, updatedAt, writes}
        self._contact_by_email: dict[str, str] = {}  # lower-case email -> contact id
        # (object type, id) -> {(object type, id): association type ids}; both directions are kept.
        self._associations: dict[tuple[str, str], dict[tuple[str, str], set[int]]] = {}
        if self._state_path is not None and self._state_path.exists():
            self._load(self._state_path)

    def now(self) -> datetime:
        """The CRM's clock: the wall clock plus every simulated day advanced so far."""
        return datetime.now(UTC) + self._offset

    def _stamp(self) -> str:
        return hubspot_timestamp(self.now())

    def upsert(self, inputs: list[dict], kind: str = COMPANIES) -> list[dict]:
        """Validate the whole batch, then create or update each input; returns HubSpot result objects.

        `kind` companies (the default) or contacts. A property the object does not have, an invalid email
        or a value a reject rule refuses fails the whole batch (CrmError) before anything is written."""
        validate_upsert(inputs)
        self.check_values(kind, inputs)
        if kind == CONTACTS:
            return self._upsert_contacts(inputs)
        now = self._stamp()
        results = []
        with self._lock:
            for item in inputs:
                id_property, value = item["idProperty"], str(item["id"])
                self._id_properties.add(id_property)
                props = {k: property_value(v) for k, v in (item.get("properties") or {}).items()}
                object_id = self._find_locked(id_property, value)
                new = object_id is None
                if new:
                    object_id = str(self._next_id)
                    self._next_id += 1
                    obj = {"id": object_id, "properties": {}, "createdAt": now, "writes": 0}
                    self._objects[object_id] = obj
                    self._order.append(int(object_id))
                else:
                    obj = self._objects[object_id]
                self._unindex_locked(object_id, obj["properties"], props.keys())
                obj["properties"].update(props)
                obj["properties"][id_property] = value
                obj["properties"].update(
                    hs_object_id=object_id, createdate=obj["createdAt"], hs_lastmodifieddate=now
                )
                obj["updatedAt"] = now
                obj["writes"] += 1
                for key in (*props, id_property):
                    self._unique[(key, obj["properties"][key])] = object_id
                if new:
                    self._lives[object_id] = self._simulator.life(obj["properties"], object_id)
                result = _public(obj, None)
                result["properties"] = dict(obj["properties"])
                result["new"] = new
                results.append(result)
            self._save_locked()
        return results

    def check_values(self, kind: str, inputs: list[dict]) -> None:
        """Refuse a batch (CrmError, HubSpot's message) whose idProperty is not a unique property of the
        object, or whose values name a property it does not have or are refused by a reject rule."""
        catalog = CATALOG[kind]
        for n, item in enumerate(inputs):
            prop = catalog.get(item["idProperty"])
            if prop is None or not prop.unique:
                unique = ", ".join(p.name for p in catalog.values() if p.unique)
                raise CrmError(
                    f"inputs[{n}]: idProperty {item['idProperty']!r} is not a unique-value property of "
                    f"{kind} (unique: {unique})."
                )
        records = [
            {
                **{k: property_value(v) for k, v in (i.get("properties") or {}).items()},
                i["idProperty"]: str(i["id"]),
            }
            for i in inputs
        ]
        errors = value_errors(kind, records, self.reject_rules)
        if errors:
            raise CrmError(invalid_message(errors))

    def set_reject_rules(self, rules: tuple[RejectRule, ...]) -> None:
        """Replace the rules by which the CRM refuses property values (admin)."""
        with self._lock:
            self.reject_rules = tuple(rules)

    # -- contacts -------------------------------------------------------------------------------------------
    def _upsert_contacts(self, inputs: list[dict]) -> list[dict]:
        """Create or update contacts keyed by email (case-insensitive, stored lower-case, as HubSpot does)."""
        now = self._stamp()
        results = []
        with self._lock:
            for item in inputs:
                email = str(item["id"]).strip().lower()
                props = {k: property_value(v) for k, v in (item.get("properties") or {}).items()}
                props["email"] = email
                contact_id = self._contact_by_email.get(email)
                new = contact_id is None
                if contact_id is None:
                    contact_id = str(self._next_id)
                    self._next_id += 1
                    obj = {"id": contact_id, "properties": {}, "createdAt": now, "writes": 0}
                    self._contacts[contact_id] = obj
                    self._contact_by_email[email] = contact_id
                else:
                    obj = self._contacts[contact_id]
                obj["properties"].update(props)
                obj["properties"].update(
                    hs_object_id=contact_id, createdate=obj["createdAt"], lastmodifieddate=now,
                    hs_lastmodifieddate=now,
                )  # fmt: skip
                obj["updatedAt"] = now
                obj["writes"] += 1
                result = _public(obj, None, CONTACT_DEFAULT_PROPERTIES)
                result["properties"] = dict(obj["properties"])
                result["new"] = new
                results.append(result)
            self._save_locked()
        return results

    def get_contact(
        self, key: str, id_property: str | None = None, properties: list[str] | None = None
    ) -> dict | None:
        """One contact by HubSpot id or (id_property email) by email."""
        with self._lock:
            if id_property and id_property != "hs_object_id":
                if id_property != "email":
                    raise CrmError(
                        f"{id_property} is not a unique-value property of contacts (unique: email)."
                    )
                found = self._contact_by_email.get(key.strip().lower())
            else:
                found = key if key in self._contacts else None
            obj = self._contacts.get(found) if found else None
            return _public(obj, properties, CONTACT_DEFAULT_PROPERTIES) if obj else None

    def contacts(self) -> list[dict]:
        """Every contact with all its properties, write count and associated company ids (admin view)."""
        with self._lock:
            out = []
            for key in sorted(self._contacts, key=int):
                obj = copy.deepcopy(self._contacts[key])
                linked = self._associations.get((CONTACTS, key), {})
                obj["companies"] = sorted(
                    i for (t, i) in linked if t == COMPANIES and self._live_locked(t, i)
                )
                out.append(obj)
            return out

    def contact_page(
        self, after: str | None, limit: int, properties: list[str] | None = None
    ) -> tuple[list[dict], str | None]:
        """Contacts in id order from cursor `after`; returns the next cursor."""
        with self._lock:
            order = sorted(int(k) for k in self._contacts)
            first = bisect.bisect_left(order, int(after)) if after else 0
            chosen = order[first : first + limit]
            results = [
                _public(self._contacts[str(i)], properties, CONTACT_DEFAULT_PROPERTIES) for i in chosen
            ]
            rest = first + limit
            following = str(order[rest]) if rest < len(order) else None
        return results, following

    # -- associations (CRM v4) ------------------------------------------------------------------------------
    def associate(
        self, from_kind: str, to_kind: str, pairs: list[tuple[str, str]], types: list[int] | None = None
    ) -> tuple[list[dict], list[str]]:
        """Associate each (from id, to id) pair with `types` (None: the default type of the pair of object
        types), both ways; returns (HubSpot results, the ids that do not exist). Unknown ids are skipped."""
        default = DEFAULT_ASSOCIATION.get((from_kind, to_kind))
        wanted = list(types) if types else ([default] if default else [])
        if not wanted:
            raise CrmError(f"No default association type from {from_kind} to {to_kind}.")
        results, missing = [], []
        with self._lock:
            for from_id, to_id in pairs:
                gone = [i for k, i in ((from_kind, from_id), (to_kind, to_id)) if not self._live_locked(k, i)]
                if gone:
                    missing += gone
                    continue
                here = self._associations.setdefault((from_kind, from_id), {}).setdefault(
                    (to_kind, to_id), set()
                )
                there = self._associations.setdefault((to_kind, to_id), {}).setdefault(
                    (from_kind, from_id), set()
                )
                for type_id in wanted:
                    here.add(type_id)
                    inverse = INVERSE_ASSOCIATION.get(type_id)
                    if inverse is not None:
                        there.add(inverse)
                results.append({"from": from_id, "to": to_id, "types": sorted(here)})
            if results:
                self._save_locked()
        return results, list(dict.fromkeys(missing))

    def associations_of(
        self, from_kind: str, from_id: str, to_kind: str
    ) -> list[tuple[str, list[int]]] | None:
        """(to id, association type ids) of a live object's associations to live objects of `to_kind`, in id
        order; None when the object does not exist."""
        with self._lock:
            if not self._live_locked(from_kind, from_id):
                return None
            linked = self._associations.get((from_kind, from_id), {})
            return sorted(
                ((i, sorted(t)) for (k, i), t in linked.items() if k == to_kind and self._live_locked(k, i)),
                key=lambda x: int(x[0]),
            )

    def _live_locked(self, kind: str, object_id: str) -> bool:
        if kind == CONTACTS:
            return object_id in self._contacts
        return self._find_locked("hs_object_id", object_id) is not None

    def _move_associations_locked(self, gone: str, kept: str) -> None:
        """A merged company's associations go to the company it was merged into (as HubSpot merges do)."""
        links = self._associations.pop((COMPANIES, gone), {})
        target = self._associations.setdefault((COMPANIES, kept), {})
        for other, types in links.items():
            target.setdefault(other, set()).update(types)
            back = self._associations.get(other, {})
            moved = back.pop((COMPANIES, gone), set())
            back.setdefault((COMPANIES, kept), set()).update(moved)

    def get(
        self,
        object_id: str,
        id_property: str | None = None,
        properties: list[str] | None = None,
        *,
        follow_merges: bool = False,
    ) -> dict | None:
        """One live company by HubSpot id or by a unique property's value.

        With follow_merges a merged company's old id answers the company it was merged into (a single
        GET does that, as HubSpot redirects merged ids; batch reads do not).
        """
        with self._lock:
            if id_property and id_property != "hs_object_id":
                found = self._find_locked(id_property, object_id)
            elif follow_merges:
                found = self._resolve_locked(object_id)
            else:
                found = self._find_locked("hs_object_id", object_id)
            obj = self._objects.get(found) if found else None
            return _public(obj, properties) if obj else None

    def update(self, object_id: str, properties: object, id_property: str | None = None) -> dict:
        """PATCH one live company's properties (by id or unique property); returns it with its properties.

        Raises CrmNotFound for an unknown, archived or merged id and CrmError for read-only properties or
        a unique value another company holds.
        """
        if not isinstance(properties, dict):
            raise CrmError("properties must be an object.")
        props = {k: property_value(v) for k, v in properties.items()}
        read_only = sorted(set(props) & set(READ_ONLY_PROPERTIES))
        if read_only:
            raise CrmError(f"Property values were not valid: {read_only} are read-only properties.")
        errors = value_errors(COMPANIES, [props], self.reject_rules)
        if errors:
            raise CrmError(invalid_message(errors))
        now = self._stamp()
        with self._lock:
            found = self._find_locked(id_property or "hs_object_id", object_id)
            if found is None:
                raise CrmNotFound(object_id)
            for key, value in props.items():
                holder = self._unique.get((key, value))
                if key in self._id_properties and holder not in (None, found):
                    raise CrmError(
                        f"Property values were not valid: a company with {key}={value!r} already exists "
                        f"(id {holder})."
                    )
            obj = self._objects[found]
            self._unindex_locked(found, obj["properties"], props.keys())
            obj["properties"].update(props)
            obj["properties"]["hs_lastmodifieddate"] = now
            obj["updatedAt"] = now
            obj["writes"] += 1
            for key in props:
                self._unique[(key, obj["properties"][key])] = found
            result = _public(obj, None)
            result["properties"] = dict(obj["properties"])
            self._save_locked()
            return result

    def merge(self, primary_id: object, merged_id: object) -> dict:
        """Merge company `merged_id` into `primary_id`; returns the primary (HubSpot's merge endpoint).

        Ids that were merged before resolve to the company they live on; merging a company into the one
        it already lives on answers that company again (harmless). Raises CrmError for missing ids or an
        object merged into itself, CrmNotFound for an unknown or archived id.
        """
        if primary_id in (None, "") or merged_id in (None, ""):
            raise CrmError("primaryObjectId and objectIdToMerge are required.")
        primary_id, merged_id = str(primary_id), str(merged_id)
        if primary_id == merged_id:
            raise CrmError(f"Cannot merge object {merged_id} into itself.")
        now = self._stamp()
        with self._lock:
            primary = self._resolve_locked(primary_id)
            if primary is None:
                raise CrmNotFound(primary_id)
            target = self._resolve_locked(merged_id)
            if target is None:
                raise CrmNotFound(merged_id)
            if target == primary:
                if merged_id not in self._merged_into:
                    raise CrmError(f"Cannot merge object {merged_id} into itself.")
                return self._merge_result_locked(primary)  # merged already: nothing to do
            gone = self._objects[target]
            self._archive_locked(target, now)
            self._merged_into[target] = primary
            self._move_associations_locked(target, primary)
            gone["mergedInto"] = primary
            kept = self._objects[primary]
            ids = [*_split(kept["properties"].get(MERGED_IDS)), *_split(gone["properties"].get(MERGED_IDS))]
            kept["properties"][MERGED_IDS] = ";".join(dict.fromkeys([*ids, target]))
            kept["properties"]["hs_lastmodifieddate"] = now
            kept["updatedAt"] = now
            kept["writes"] += 1
            self._save_locked()
            return self._merge_result_locked(primary)

    def archive(self, object_id: str) -> bool:
        """Archive (delete) a live company, as a person does by hand; False when there is none."""
        with self._lock:
            if self._find_locked("hs_object_id", object_id) is None:
                return False
            self._archive_locked(object_id, self._stamp())
            self._save_locked()
            return True

    def page(
        self, after: str | None, limit: int, properties: list[str] | None = None
    ) -> tuple[list[dict], str | None]:
        """Companies in id order from cursor `after` (the first id of the page); returns the next cursor."""
        with self._lock:
            first = bisect.bisect_left(self._order, int(after)) if after else 0
            chosen = self._order[first : first + limit]
            results = [_public(self._objects[str(i)], properties) for i in chosen]
            rest = first + limit
            following = str(self._order[rest]) if rest < len(self._order) else None
        return results, following

    def companies(self, include_archived: bool = False) -> list[dict]:
        """Every live company with all properties and how many times it was written (for exactly-once
        checks); include_archived adds archived and merged ones (`archived`, `archivedAt`, `mergedInto`)."""
        with self._lock:
            return [
                copy.deepcopy(self._objects[k])
                for k in sorted(self._objects, key=int)
                if include_archived or not self._objects[k].get("archived")
            ]

    def merged_into(self, object_id: str) -> str | None:
        """The live company a merged company's id now leads to (None when it was never merged)."""
        with self._lock:
            return self._resolve_locked(object_id) if object_id in self._merged_into else None

    def clear(self) -> None:
        """Forget everything (admin reset)."""
        with self._lock:
            self._objects.clear()
            self._unique.clear()
            self._order.clear()
            self._merged_into.clear()
            self._id_properties.clear()
            self._lives.clear()
            self._contacts.clear()
            self._contact_by_email.clear()
            self._associations.clear()
            self._save_locked()
        self.rate_limit.configure(self.rate_limit.per_second)  # a full bucket again

    # -- simulated time: what sales does with the delivered companies (leadlake.sandbox.outcomes) ----------
    def advance(self, days: int) -> dict[str, Any]:
        """Let `days` simulated days pass: every live company lives them (contacted, replied, qualified,
        won or lost, as its life says), each change stamped inside its day; then the clock moves on."""
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 3650:
            raise CrmError("days must be an integer between 0 and 3650.")
        changed = events = 0
        with self._lock:
            start = self.now()
            for object_id in [str(i) for i in self._order]:
                obj = self._objects[object_id]
                life = self._lives.get(object_id)
                if life is None:  # from a state file written before lives existed
                    life = self._lives[object_id] = self._simulator.life(obj["properties"], object_id)
                due = [(d, p) for d, p in life.events[life.applied :] if d <= life.age + days]
                for n, (day, props) in enumerate(due, start=life.applied):
                    into_day = (day - life.age - 1) * 86_400 + _fraction(life.key, n) * 86_000
                    stamp = hubspot_timestamp(start + timedelta(seconds=into_day))
                    self._apply_locked(obj, props, stamp)
                    events += 1
                changed += bool(due)
                life.applied += len(due)
                life.age += days
            self._offset += timedelta(days=days)
            self._save_locked()
            return {"days": days, "companies": len(self._order), "changed": changed, "events": events,
                    "now": self._stamp()}  # fmt: skip

    def _apply_locked(self, obj: dict, props: Mapping[str, str], stamp: str) -> None:
        current = obj["properties"]
        for key, value in props.items():
            if key == "closedate":
                value = stamp
            current[key] = value
        stage = props.get("lifecyclestage")
        if stage:
            current[DATE_ENTERED.format(stage=stage)] = stamp
        current["hs_lastmodifieddate"] = stamp
        obj["updatedAt"] = stamp

    def propensities(self) -> dict[str, Any]:
        """The hidden truth (admin only): each live company's propensity, whether it is destined to qualify
        within the window, and the ceiling AUC of the propensity against that destiny."""
        with self._lock:
            rows = []
            for i in self._order:
                object_id = str(i)
                obj = self._objects[object_id]
                life = self._lives.get(object_id) or self._simulator.life(obj["properties"], object_id)
                self._lives[object_id] = life
                rows.append(
                    {
                        "crm_id": object_id,
                        "leadlake_id": obj["properties"].get("leadlake_id"),
                        "business_id": life.business_id,
                        "propensity": life.propensity,
                        "qualified_90d": life.qualified_in_window,
                        "age_days": life.age,
                        "lifecyclestage": obj["properties"].get("lifecyclestage"),
                    }
                )
        ceiling = auc([r["propensity"] for r in rows], [r["qualified_90d"] for r in rows])
        return {"label": "qualified_or_won_90d", "ceiling_auc": ceiling, "companies": rows}

    # -- CRM v3 search --------------------------------------------------------------------------------------
    def search(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /crm/v3/objects/companies/search: filterGroups (OR of ANDed filters), one sort, `after` as an
        offset, at most SEARCH_MAX_LIMIT per page and SEARCH_CAP results in all; live companies only.

        Returns {"total", "results", "after"}: `after` is the next page's offset, None on the last page
        (and at the cap: a search never pages past SEARCH_CAP results, narrow the filter instead)."""
        groups = _filter_groups(body.get("filterGroups"))
        sort_key = _sort(body.get("sorts"))
        limit = body.get("limit", SEARCH_DEFAULT_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= SEARCH_MAX_LIMIT:
            raise CrmError(f"limit must be between 1 and {SEARCH_MAX_LIMIT}.")
        after = body.get("after") or 0
        try:
            offset = int(after)
        except (TypeError, ValueError):
            raise CrmError(f"Invalid paging cursor after={after}") from None
        if offset < 0:
            raise CrmError(f"Invalid paging cursor after={after}")
        if offset >= SEARCH_CAP:
            raise CrmError(
                f"The maximum number of results a search can page through is {SEARCH_CAP:,}: after={after}."
            )
        properties = body.get("properties") or None
        if properties is not None and not (
            isinstance(properties, list) and all(isinstance(p, str) for p in properties)
        ):
            raise CrmError("properties must be a list of property names.")
        query = str(body.get("query") or "").strip().lower()
        with self._lock:
            hits = [
                self._objects[str(i)]
                for i in self._order
                if _matches(self._objects[str(i)]["properties"], groups, query)
            ]
            if sort_key is not None:
                name, descending = sort_key
                present = [o for o in hits if o["properties"].get(name) not in (None, "")]
                absent = [o for o in hits if o["properties"].get(name) in (None, "")]
                present.sort(key=lambda o: _sortable(name, o["properties"][name]), reverse=descending)
                hits = present + absent
            page = hits[offset : min(offset + limit, SEARCH_CAP)]
            results = [_public(o, properties) for o in page]
        following = offset + len(page)
        more = following < min(len(hits), SEARCH_CAP)
        return {"total": len(hits), "results": results, "after": str(following) if more else None}

    # -- persistence ----------------------------------------------------------------------------------------
    def _save_locked(self) -> None:
        """Write the whole store to the state file (atomically), when the store has one."""
        if self._state_path is None:
            return
        doc = {
            "version": 1,
            "seed": self._simulator.seed,
            "next_id": self._next_id,
            "offset_seconds": self._offset.total_seconds(),
            "objects": self._objects,
            "merged_into": self._merged_into,
            "id_properties": sorted(self._id_properties),
            "lives": {k: life.to_json() for k, life in self._lives.items()},
            "contacts": self._contacts,
            "associations": [
                [a[0], a[1], b[0], b[1], sorted(types)]
                for a, linked in self._associations.items()
                for b, types in linked.items()
            ],
        }
        path = self._state_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        os.replace(tmp, path)

    def _load(self, path: Path) -> None:
        """Read a state file written by _save_locked (companies, merges, lives and the clock)."""
        try:
            doc = json.loads(path.read_text())
            objects: dict[str, dict] = doc["objects"]
            self._next_id = int(doc["next_id"])
            self._offset = timedelta(seconds=float(doc.get("offset_seconds", 0)))
            self._merged_into = dict(doc.get("merged_into") or {})
            self._id_properties = set(doc.get("id_properties") or ())
            self._lives = {k: Life.from_json(v) for k, v in (doc.get("lives") or {}).items()}
            contacts: dict[str, dict] = dict(doc.get("contacts") or {})
            associations: dict[tuple[str, str], dict[tuple[str, str], set[int]]] = {}
            for a_kind, a_id, b_kind, b_id, types in doc.get("associations") or []:
                associations.setdefault((a_kind, a_id), {})[(b_kind, b_id)] = {int(t) for t in types}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"sandbox CRM state file {path} cannot be read: {exc}") from exc
        self._objects = objects
        self._contacts = contacts
        self._contact_by_email = {c["properties"]["email"]: k for k, c in contacts.items()}
        self._associations = associations
        self._order = sorted(int(k) for k, o in objects.items() if not o.get("archived"))
        self._unique = {}
        for object_id in (str(i) for i in self._order):
            for key, value in objects[object_id]["properties"].items():
                self._unique[(key, value)] = object_id

    def __len__(self) -> int:
        """How many live companies there are."""
        with self._lock:
            return len(self._order)

    def _find_locked(self, id_property: str, value: str) -> str | None:
        if id_property == "hs_object_id":
            obj = self._objects.get(value)
            return value if obj is not None and not obj.get("archived") else None
        return self._unique.get((id_property, value))

    def _resolve_locked(self, object_id: str) -> str | None:
        seen: set[str] = set()
        while object_id in self._merged_into and object_id not in seen:
            seen.add(object_id)
            object_id = self._merged_into[object_id]
        return self._find_locked("hs_object_id", object_id)

    def _archive_locked(self, object_id: str, now: str) -> None:
        obj = self._objects[object_id]
        for key, value in obj["properties"].items():
            if self._unique.get((key, value)) == object_id:
                del self._unique[(key, value)]
        self._order.remove(int(object_id))
        obj.update(archived=True, archivedAt=now)

    def _merge_result_locked(self, object_id: str) -> dict:
        obj = self._objects[object_id]
        result = _public(obj, None)
        result["properties"][MERGED_IDS] = obj["properties"].get(MERGED_IDS, "")
        return result

    def _unindex_locked(self, object_id: str, current: dict[str, str], keys: Iterable[str]) -> None:
        # Every written (property, value) is indexed so that lookups never scan: upserts stay O(batch).
        for key in keys:
            old = current.get(key)
            if old is not None and self._unique.get((key, old)) == object_id:
                del self._unique[(key, old)]


def validate_upsert(inputs: object) -> None:
    """Reject the batch as a whole, as HubSpot does, before anything is written."""
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
        raise CrmError("Batch inputs must contain between 1 and 100 items.")
    seen: set[tuple[str, str]] = set()
    for n, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise CrmError(f"inputs[{n}] must be an object.")
        id_property, value = item.get("idProperty"), item.get("id")
        if not isinstance(id_property, str) or not id_property or value in (None, ""):
            raise CrmError(f"inputs[{n}]: idProperty and id are required for upsert.")
        if not isinstance(item.get("properties", {}), dict):
            raise CrmError(f"inputs[{n}].properties must be an object.")
        key = (id_property, str(value))
        if key in seen:
            raise CrmError(f"Duplicate IDs found in batch input: [{value}]. IDs must be unique.")
        seen.add(key)


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(";") if v]


def _public(obj: dict, properties: list[str] | None, default: tuple[str, ...] = DEFAULT_PROPERTIES) -> dict:
    wanted = [*properties, *SYSTEM_PROPERTIES] if properties else list(default)
    props = obj["properties"]
    return {
        "id": obj["id"],
        "properties": {k: props[k] for k in dict.fromkeys(wanted) if k in props},
        "createdAt": obj["createdAt"],
        "updatedAt": obj["updatedAt"],
        "archived": False,
    }


def _fraction(key: str, n: int) -> float:
    """Where in its day the n-th event of a life happens (fixed by the life's key)."""
    import hashlib

    digest = hashlib.blake2b(f"{key}:{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _is_date(name: str) -> bool:
    return name in DATE_PROPERTIES or name.startswith(("hs_v2_date_", "hs_lifecyclestage_"))


def epoch_ms(value: object) -> int | None:
    """A HubSpot date-time filter or property value (epoch milliseconds, or ISO-8601) as epoch ms."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _sortable(name: str, value: str) -> tuple[int, Any]:
    if _is_date(name):
        ms = epoch_ms(value)
        if ms is not None:
            return (0, ms)
    try:
        return (0, float(value))
    except ValueError:
        return (1, value.lower())


def _compare(name: str, actual: str, wanted: object) -> int | None:
    """-1/0/1 comparing a property value with a filter value (dates as instants, numbers as numbers)."""
    if _is_date(name):
        a, b = epoch_ms(actual), epoch_ms(wanted)
        if a is not None and b is not None:
            return (a > b) - (a < b)
    try:
        x, y = float(actual), float(str(wanted))
        return (x > y) - (x < y)
    except ValueError:
        a_s, b_s = actual.lower(), str(wanted).lower()
        return (a_s > b_s) - (a_s < b_s)


def _filter_groups(groups: object) -> list[list[dict]]:
    """Validated filter groups (HubSpot's limits: 5 groups, 6 filters each, 18 in all)."""
    if groups in (None, []):
        return []
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise CrmError("filterGroups must be a list of objects.")
    if len(groups) > MAX_FILTER_GROUPS:
        raise CrmError(f"Too many filter groups: {len(groups)} (at most {MAX_FILTER_GROUPS}).")
    out, total = [], 0
    for g in groups:
        filters = g.get("filters") or []
        if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
            raise CrmError("filters must be a list of objects.")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise CrmError(f"Too many filters in a group: {len(filters)} (at most {MAX_FILTERS_PER_GROUP}).")
        total += len(filters)
        for f in filters:
            op = f.get("operator") or "EQ"
            if op not in OPERATORS:
                raise CrmError(f"Unknown filter operator {op!r}.")
            if not isinstance(f.get("propertyName"), str) or not f["propertyName"]:
                raise CrmError("Every filter needs a propertyName.")
            if op in ("IN", "NOT_IN") and not isinstance(f.get("values"), list):
                raise CrmError(f"Operator {op} needs a list of values.")
            if op == "BETWEEN" and (f.get("value") is None or f.get("highValue") is None):
                raise CrmError("Operator BETWEEN needs value and highValue.")
            if (
                op not in ("IN", "NOT_IN", "BETWEEN", "HAS_PROPERTY", "NOT_HAS_PROPERTY")
                and f.get("value") is None
            ):
                raise CrmError(f"Operator {op} on {f['propertyName']} needs a value.")
        out.append([{**f, "operator": f.get("operator") or "EQ"} for f in filters])
    if total > MAX_FILTERS:
        raise CrmError(f"Too many filters: {total} (at most {MAX_FILTERS} across all groups).")
    return out


def _sort(sorts: object) -> tuple[str, bool] | None:
    """(property, descending) of the one sort rule HubSpot allows: "prop", "-prop" or an object."""
    if sorts in (None, []):
        return None
    if not isinstance(sorts, list):
        raise CrmError("sorts must be a list.")
    if len(sorts) > 1:
        raise CrmError("Only one sort rule can be applied to a search.")
    rule = sorts[0]
    if isinstance(rule, str) and rule.strip("-"):
        return rule.lstrip("-"), rule.startswith("-")
    if isinstance(rule, dict) and isinstance(rule.get("propertyName"), str):
        direction = str(rule.get("direction") or "ASCENDING").upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise CrmError(f"Unknown sort direction {direction!r}.")
        return rule["propertyName"], direction == "DESCENDING"
    raise CrmError("A sort is a property name or {propertyName, direction}.")


def _test(props: Mapping[str, str], f: Mapping[str, Any]) -> bool:
    name, op = f["propertyName"], f["operator"]
    actual = props.get(name)
    has = actual not in (None, "")
    if op == "HAS_PROPERTY":
        return has
    if op == "NOT_HAS_PROPERTY":
        return not has
    if op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN") and not has:
        return True
    if not has:
        return False
    assert actual is not None
    if op in ("IN", "NOT_IN"):
        found = any(_compare(name, actual, v) == 0 for v in f["values"])
        return found if op == "IN" else not found
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(f["value"]).lower().strip("*")
        return (token in actual.lower()) == (op == "CONTAINS_TOKEN")
    if op == "BETWEEN":
        low, high = _compare(name, actual, f["value"]), _compare(name, actual, f["highValue"])
        return low is not None and high is not None and low >= 0 and high <= 0
    c = _compare(name, actual, f["value"])
    return {"EQ": c == 0, "NEQ": c != 0, "LT": c < 0, "LTE": c <= 0, "GT": c > 0, "GTE": c >= 0}[op]


def _matches(props: Mapping[str, str], groups: list[list[dict]], query: str) -> bool:
    if query and not any(
        query in (props.get(k) or "").lower() for k in ("name", "domain", "website", "phone")
    ):
        return False
    return not groups or any(all(_test(props, f) for f in group) for group in groups)
