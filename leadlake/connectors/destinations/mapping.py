"""Field mappings as data, shared by the CRM destinations: gold column -> CRM field rules parsed from YAML,
values rendered the way CRMs take them, and the check of a mapping against the fields the CRM describes
(before any write: a field the CRM lacks stops the destination with a message naming it)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from leadlake.connectors.destinations.base import MappingError


@dataclass(frozen=True)
class FieldRule:
    """One mapped field: the CRM field (property) and how a list value is joined into one string."""

    target: str
    join: str = "; "


def parse_fields(spec: object, what: str) -> dict[str, FieldRule]:
    """`{gold column: field}` or `{gold column: {field|property: ..., join: ...}}` as FieldRules.

    Raises MappingError naming the entry that is wrong and the shape expected."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise MappingError(f"{what}: expected a mapping of gold column -> field, got {type(spec).__name__}")
    rules: dict[str, FieldRule] = {}
    for column, entry in spec.items():
        if isinstance(entry, str) and entry:
            rules[str(column)] = FieldRule(entry)
            continue
        target = entry.get("property") or entry.get("field") if isinstance(entry, Mapping) else None
        if not isinstance(target, str) or not target:
            raise MappingError(
                f"{what}: mapping of gold column {column!r}: expected a field name or "
                "{property: NAME, join: SEP}"
            )
        rules[str(column)] = FieldRule(target, str(entry.get("join", "; ")))
    return rules


def plain(value: Any) -> Any:
    """numpy/pandas values as plain Python; NaN as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and value != value:
        return None
    return value


def render(value: Any, rule: FieldRule) -> str | None:
    """A gold value as the string a CRM property takes (lists joined, booleans lower-case); None if empty."""
    value = plain(value)
    if value is None or value == "" or value == [] or value == ():
        return None
    if isinstance(value, list | tuple):
        return rule.join.join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_targets(
    destination: str, object_name: str, sources: Mapping[str, str], existing: Collection[str]
) -> None:
    """Raise MappingError when a mapped field is not among the fields the CRM described for the object.

    `sources`: CRM field -> where its value comes from (e.g. "gold column 'phone_e164'"), for the message."""
    missing = [name for name in sources if name not in existing]
    if missing:
        detail = ", ".join(f"{name} (from {sources[name]})" for name in missing)
        raise MappingError(
            f"{destination} mapping refers to field(s) that do not exist on {object_name}: {detail}; "
            "nothing was written (create the field in the CRM or fix the mapping)"
        )
