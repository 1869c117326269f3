"""In-memory HubSpot companies store: upsert by unique property, read, list with cursors."""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Iterable
from datetime import UTC, datetime

FIRST_OBJECT_ID = 9_000_000_001
SYSTEM_PROPERTIES = ("hs_object_id", "createdate", "hs_lastmodifieddate")
DEFAULT_PROPERTIES = ("name", "domain", *SYSTEM_PROPERTIES)


class CrmError(ValueError):
    """A request HubSpot would reject with 400 VALIDATION_ERROR."""


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


class CrmStore:
    """Companies upserted so far; thread-safe and readable in-process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, dict] = {}
        self._unique: dict[tuple[str, str], str] = {}
        self._order: list[int] = []  # ids ascend as they are issued, so this stays sorted for paging
        self._next_id = FIRST_OBJECT_ID

    def upsert(self, inputs: list[dict]) -> list[dict]:
        """Validate the whole batch, then create or update each input; returns HubSpot result objects."""
        validate_upsert(inputs)
        now = hubspot_timestamp()
        results = []
        with self._lock:
            for item in inputs:
                id_property, value = item["idProperty"], str(item["id"])
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
                result = _public(obj, None)
                result["properties"] = dict(obj["properties"])
                result["new"] = new
                results.append(result)
        return results

    def get(
        self, object_id: str, id_property: str | None = None, properties: list[str] | None = None
    ) -> dict | None:
        """One company by HubSpot id or by a unique property's value."""
        with self._lock:
            if id_property and id_property != "hs_object_id":
                found = self._find_locked(id_property, object_id)
                obj = self._objects.get(found) if found else None
            else:
                obj = self._objects.get(object_id)
            return _public(obj, properties) if obj else None

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

    def companies(self) -> list[dict]:
        """Every company with all properties and how many times it was written (for exactly-once checks)."""
        with self._lock:
            return [copy.deepcopy(self._objects[k]) for k in sorted(self._objects, key=int)]

    def clear(self) -> None:
        """Forget everything (admin reset)."""
        with self._lock:
            self._objects.clear()
            self._unique.clear()
            self._order.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    def _find_locked(self, id_property: str, value: str) -> str | None:
        if id_property == "hs_object_id":
            return value if value in self._objects else None
        return self._unique.get((id_property, value))

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


def _public(obj: dict, properties: list[str] | None) -> dict:
    wanted = [*properties, *SYSTEM_PROPERTIES] if properties else list(DEFAULT_PROPERTIES)
    props = obj["properties"]
    return {
        "id": obj["id"],
        "properties": {k: props[k] for k in dict.fromkeys(wanted) if k in props},
        "createdAt": obj["createdAt"],
        "updatedAt": obj["updatedAt"],
        "archived": False,
    }
