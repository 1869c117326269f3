"""Campaign specs: YAML files validated against `schemas/campaign.schema.json`, loaded as typed models."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "campaign.schema.json"


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
    """A CRM the scored leads are delivered to."""

    type: str
    config_id: str | None = None
    min_tier: str = "C"


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
    max_cost_usd: float | None = None
    cron: str | None = "0 2 * * *"
    destinations: list[Destination] = Field(default_factory=list)


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
    raise CampaignError(f"{source}: field '{_where(err.absolute_path)}': {err.message}")


def from_document(doc: dict[str, Any], source: str = "<campaign>") -> CampaignSpec:
    """Validate a parsed campaign document and turn it into a CampaignSpec."""
    validate_document(doc, source)
    geo = doc["geo"] if isinstance(doc["geo"], list) else [doc["geo"]]
    filters = doc.get("filters", {})
    return CampaignSpec(
        campaign_id=doc.get("id") or slugify(doc["name"]),
        name=doc["name"],
        vertical=doc["vertical"],
        areas=[Area(**a) for a in geo],
        keywords=doc["keywords"],
        min_rating=filters.get("min_rating"),
        min_reviews=filters.get("min_reviews"),
        sources=doc["sources"],
        enrichment=doc.get("enrichment", []),
        max_cost_usd=doc.get("budget", {}).get("max_cost_usd"),
        cron=doc.get("schedule", {}).get("cron", "0 2 * * *"),
        destinations=[Destination(**d) for d in doc.get("destinations", [])],
    )


def load_campaign(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign YAML file."""
    p = Path(path)
    if not p.is_file():
        raise CampaignError(f"campaign file not found: {p}")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise CampaignError(f"{p}: not valid YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(doc, dict):
        raise CampaignError(f"{p}: expected a mapping of campaign fields at the top level")
    return from_document(doc, str(p))


def campaign_files(folder: str | Path) -> list[Path]:
    """Campaign YAML files in a folder, sorted."""
    return sorted(Path(folder).glob("*.y*ml"))
