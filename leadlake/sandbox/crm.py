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
import threading
from collections.abc import Iterable
from datetime import UTC, datetime

FIRST_OBJECT_ID = 9_000_000_001
SYSTEM_PROPERTIES = ("hs_object_id", "createdate", "hs_lastmodifieddate")
DEFAULT_PROPERTIES = ("name", "domain", *SYSTEM_PROPERTIES)
MERGED_IDS = "hs_merged_object_ids"  # read-only: ids of the companies merged into this one
READ_ONLY_PROPERTIES = (*SYSTEM_PROPERTIES, MERGED_IDS)


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


class CrmStore:
    """Companies upserted so far; thread-safe and readable in-process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, dict] = {}
        self._unique: dict[tuple[str, str], str] = {}
        self._order: list[int] = []  # live ids, ascending as issued, so this stays sorted for paging
        self._merged_into: dict[str, str] = {}  # merged object id -> the object it was merged into
        self._id_properties: set[str] = set()  # properties used as upsert idProperty: values are unique
        self._next_id = FIRST_OBJECT_ID

    def upsert(self, inputs: list[dict]) -> list[dict]:
        """Validate the whole batch, then create or update each input; returns HubSpot result objects."""
        validate_upsert(inputs)
        now = hubspot_timestamp()
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
                result = _public(obj, None)
                result["properties"] = dict(obj["properties"])
                result["new"] = new
                results.append(result)
        return results

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
        now = hubspot_timestamp()
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
        now = hubspot_timestamp()
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
            gone["mergedInto"] = primary
            kept = self._objects[primary]
            ids = [*_split(kept["properties"].get(MERGED_IDS)), *_split(gone["properties"].get(MERGED_IDS))]
            kept["properties"][MERGED_IDS] = ";".join(dict.fromkeys([*ids, target]))
            kept["properties"]["hs_lastmodifieddate"] = now
            kept["updatedAt"] = now
            kept["writes"] += 1
            return self._merge_result_locked(primary)

    def archive(self, object_id: str) -> bool:
        """Archive (delete) a live company, as a person does by hand; False when there is none."""
        with self._lock:
            if self._find_locked("hs_object_id", object_id) is None:
                return False
            self._archive_locked(object_id, hubspot_timestamp())
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
