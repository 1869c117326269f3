"""Campaign specs: YAML files validated against `schemas/campaign.schema.json`, loaded as typed models.

`load_campaign` is the one way in: whatever is wrong with a file (not UTF-8, not YAML, a schema violation,
a name that gives no id, a cron Airflow cannot schedule) becomes one CampaignError line naming the file,
the field and the fix. A file without a budget gets DEFAULT_MAX_COST_USD, flagged so the plan shows it.
A destination's own field `mapping` may name a YAML file, taken from the campaign file's folder and kept as
an absolute path (so a fix to the file applies to the next delivery), or give the fields inline; the
connectors check its shape per destination (a check added with `add_check`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from leadlake.core.yaml_errors import yaml_error_line

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "campaign.schema.json"
DEFAULT_CRON = "0 2 * * *"
# The cap a campaign file without `budget` runs under: a cap can only limit spend, so a forgotten budget
# costs at most this much per run, and `leadlake campaign plan` says it applies.
DEFAULT_MAX_COST_USD = 10.0
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]{1,62}$")  # the schema's `id` pattern
# Airflow 3.3 maps these presets to cron expressions before croniter parses them (CRON_PRESETS in
# airflow/sdk/definitions/timetables/_cron.py); "@once" is a schedule of its own. Importing Airflow costs
# seconds, so the table is repeated here and a test keeps it equal to Airflow's.
CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
NON_CRON_SCHEDULES = frozenset({"@once"})


class CampaignError(ValueError):
    """A campaign file that cannot be used; the message names the file, the field and the fix."""


class Area(BaseModel):
    """One searched area: a city, optionally a centre and radius."""

    city: str
    region: str
    country: str = "US"
    lat: float | None = None
    lon: float | None = None
    radius_km: float = 25.0


class Destination(BaseModel):
    """A CRM the scored leads are delivered to: the lowest tier it gets, and optionally its own field mapping
    (an absolute YAML file path once loaded, or inline keys over the destination's default mapping)."""

    type: str
    config_id: str | None = None
    min_tier: str = "C"
    mapping: str | dict[str, Any] | None = None


class CampaignSpec(BaseModel):
    """A validated campaign: what to search, where, with which providers and where to deliver."""

    campaign_id: str
    name: str
    vertical: str
    areas: list[Area]
    keywords: list[str]
    min_rating: float | None = None
    min_reviews: int | None = None
    sources: list[str]
    enrichment: list[str] = Field(default_factory=list)
    # None only for specs built in code (bench, tests): no cap. Campaign files always carry one.
    max_cost_usd: float | None = None
    budget_is_default: bool = False  # the file set no budget: DEFAULT_MAX_COST_USD applies
    cron: str | None = DEFAULT_CRON
    destinations: list[Destination] = Field(default_factory=list)


def passes_filters(lead: Mapping[str, Any], min_rating: float | None, min_reviews: int | None) -> bool:
    """A campaign's filters on a lead's rating and review count; a filter on an unknown value fails, as a
    search with that filter would not have returned the lead."""
    for limit, column in ((min_rating, "rating"), (min_reviews, "review_count")):
        if limit is None:
            continue
        value = lead.get(column)
        if value is None or value != value or value < limit:  # value != value: NaN
            return False
    return True


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def slugify(name: str) -> str:
    """A campaign id from its name: lowercase words joined by underscores."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:63]


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate_document(doc: Any, source: str = "<campaign>") -> None:
    """Raise CampaignError naming the first schema violation (field path and what is expected)."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    if err.context:  # geo's "one area or a list of them": the branch's own error names the field
        from jsonschema.exceptions import best_match

        err = best_match([err])  # descends into the branch that fits the value best
        # Still undecided (two errors in the branch that fits): a field the branch does not know, else its
        # first other error; a value of the wrong type everywhere keeps the oneOf error and its description.
        fitting = [e for e in err.context if e.validator != "type"]
        if fitting:
            err = min(fitting, key=lambda e: (list(e.absolute_path), e.validator != "additionalProperties"))
    if err.validator == "additionalProperties":
        allowed = ", ".join(sorted(err.schema.get("properties", {})))
        raise CampaignError(
            f"{source}: {err.message} at '{_where(err.absolute_path)}'; allowed fields: {allowed}"
        )
    if err.validator == "enum":
        raise CampaignError(
            f"{source}: field '{_where(err.absolute_path)}' is {err.instance!r}; "
            f"expected one of {err.validator_value}"
        )
    if err.validator == "required":
        given = err.instance if isinstance(err.instance, dict) else {}
        missing = next((f for f in err.validator_value if f not in given), "")
        inside = f" in '{_where(err.absolute_path)}'" if list(err.absolute_path) else ""
        required = ", ".join(err.schema.get("required", []))
        raise CampaignError(f"{source}: missing field '{missing}'{inside}; required: {required}")
    fix = ""
    if list(err.absolute_path)[-1:] == ["mapping"]:
        fix = "; give a YAML mapping file (relative to the campaign file) or the fields inline"
    message = err.message
    described = err.schema.get("description") if isinstance(err.schema, dict) else None
    if err.validator in ("pattern", "oneOf", "anyOf") and described:
        # The field's own description says what the pattern, or the choice of shapes, asks for.
        wanted = f"{described[0].lower()}{described[1:].rstrip('.')}"
        if err.validator == "pattern":
            fix = f"; expected {wanted}"
        else:
            message = f"{err.instance!r} is not {wanted}"
    raise CampaignError(f"{source}: field '{_where(err.absolute_path)}': {message}{fix}")


def check_cron(cron: str | None, source: str = "<campaign>") -> None:
    """Raise CampaignError unless Airflow 3.3 can schedule `cron`: parsed by croniter, the parser Airflow's
    CronTriggerTimetable validates with, after Airflow's presets; five fields; a next run that exists."""
    if cron is None or cron in NON_CRON_SCHEDULES:
        return
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    fix = (
        "use five fields 'minute hour day-of-month month day-of-week' such as \"0 2 * * *\", "
        f"a preset ({', '.join(CRON_PRESETS)}, @once), or null for manual runs only"
    )
    expression = CRON_PRESETS.get(cron, cron)
    try:
        parsed = croniter(expression)
    except (CroniterBadCronError, CroniterBadDateError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CampaignError(
            f"{source}: field 'schedule.cron' is {cron!r}, which Airflow cannot parse ({reason}); {fix}"
        ) from None
    if len(parsed.expanded) != 5:
        raise CampaignError(
            f"{source}: field 'schedule.cron' is {cron!r}: {len(parsed.expanded)} fields; Airflow schedules "
            f"five-field crons (no seconds or year field); {fix}"
        )
    try:
        parsed.get_next(float)
    except CroniterBadDateError:
        raise CampaignError(
            f"{source}: field 'schedule.cron' is {cron!r}, a date that never comes (e.g. 30 February); {fix}"
        ) from None


def campaign_id_of(doc: dict[str, Any], source: str = "<campaign>") -> str:
    """The campaign's `id`, else one derived from its name; CampaignError when the name gives none."""
    if doc.get("id"):
        return str(doc["id"])
    derived = slugify(str(doc["name"]))
    if not ID_PATTERN.match(derived):
        raise CampaignError(
            f"{source}: field 'name' is {doc['name']!r}, which gives the campaign id {derived!r}; "
            "an id needs at least two letters or digits: put letters or digits in 'name', or set 'id' "
            "(lowercase letters, digits and _, e.g. id: denver_plumbers)"
        )
    return derived


# Checks other layers add (the connector registry checks provider names): core cannot import them.
_CHECKS: list[Callable[[CampaignSpec, str], None]] = []


def add_check(check: Callable[[CampaignSpec, str], None]) -> None:
    """Run `check(spec, source)` on every campaign loaded from now on; it raises CampaignError."""
    if check not in _CHECKS:
        _CHECKS.append(check)


def resolve_mappings(doc: dict[str, Any], source: str, base_dir: Path | None) -> list[dict[str, Any]]:
    """The document's destinations with each mapping file as an absolute path (relative ones are taken from
    the campaign file's folder); CampaignError when a mapping file is not there."""
    out = []
    for i, dest in enumerate(doc.get("destinations") or []):
        dest = dict(dest)
        mapping = dest.get("mapping")
        if isinstance(mapping, str):
            path = Path(mapping).expanduser()
            if not path.is_absolute():
                path = (base_dir or Path.cwd()) / path
            if not path.is_file():
                raise CampaignError(
                    f"{source}: field 'destinations[{i}].mapping' names {mapping!r}, which is not a file "
                    f"(looked for {path}); give a YAML mapping file relative to the campaign file, or the "
                    "fields inline (e.g. mapping: {fields: {phone_e164: MobilePhone}})"
                )
            dest["mapping"] = str(path.resolve())
        out.append(dest)
    return out


def from_document(
    doc: dict[str, Any], source: str = "<campaign>", base_dir: Path | None = None
) -> CampaignSpec:
    """Validate a parsed campaign document and turn it into a CampaignSpec (relative mapping files are
    taken from `base_dir`, the campaign file's folder, else the working directory)."""
    validate_document(doc, source)
    campaign_id = campaign_id_of(doc, source)
    cron = doc.get("schedule", {}).get("cron", DEFAULT_CRON)
    check_cron(cron, source)
    geo = doc["geo"] if isinstance(doc["geo"], list) else [doc["geo"]]
    filters = doc.get("filters", {})
    budget = doc.get("budget", {}).get("max_cost_usd")
    spec = CampaignSpec(
        campaign_id=campaign_id,
        name=doc["name"],
        vertical=doc["vertical"],
        areas=[Area(**a) for a in geo],
        keywords=doc["keywords"],
        min_rating=filters.get("min_rating"),
        min_reviews=filters.get("min_reviews"),
        sources=doc["sources"],
        enrichment=doc.get("enrichment", []),
        max_cost_usd=DEFAULT_MAX_COST_USD if budget is None else float(budget),
        budget_is_default=budget is None,
        cron=cron,
        destinations=[Destination(**d) for d in resolve_mappings(doc, source, base_dir)],
    )
    for check in _CHECKS:
        check(spec, source)
    return spec


def load_campaign(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign YAML file; every problem is one CampaignError line naming the fix.

    The Airflow DAG file calls this per campaign, so a bad file is reported for that campaign alone.
    """
    p = Path(path)
    if not p.is_file():
        raise CampaignError(f"campaign file not found: {p}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CampaignError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CampaignError(
            f"{p}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save the file as UTF-8"
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CampaignError(f"{p}: {yaml_error_line(exc)}") from None
    if not isinstance(doc, dict):
        raise CampaignError(f"{p}: expected a mapping of campaign fields at the top level")
    return from_document(doc, str(p), p.resolve().parent)


def campaign_files(folder: str | Path) -> list[Path]:
    """Campaign YAML files in a folder, sorted."""
    return sorted(Path(folder).glob("*.y*ml"))
