"""The sandbox HubSpot's property definitions (GET /crm/v3/properties/{objectType}) and the checks HubSpot
runs on the property values of a write before it applies any of it.

A write naming a property the object does not have, an invalid contact email, or a value an operator's
reject rule refuses (faults.RejectRule) makes the whole request a 400 VALIDATION_ERROR whose message is
HubSpot's "Property values were not valid: [<validation results as JSON>]", each result naming the
property and the value it refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leadlake.sandbox.faults import RejectRule

COMPANIES, CONTACTS = "companies", "contacts"
# HubSpot accepts an object type by plural name, singular name or object type id.
OBJECT_TYPES = {
    "companies": COMPANIES,
    "company": COMPANIES,
    "0-2": COMPANIES,
    "contacts": CONTACTS,
    "contact": CONTACTS,
    "0-1": CONTACTS,
}
# Default association types (HUBSPOT_DEFINED): the unlabeled ones, and the primary company of a contact.
CONTACT_TO_COMPANY, COMPANY_TO_CONTACT = 279, 280
CONTACT_TO_COMPANY_PRIMARY, COMPANY_TO_CONTACT_PRIMARY = 1, 2
DEFAULT_ASSOCIATION = {(CONTACTS, COMPANIES): CONTACT_TO_COMPANY, (COMPANIES, CONTACTS): COMPANY_TO_CONTACT}
INVERSE_ASSOCIATION = {
    CONTACT_TO_COMPANY: COMPANY_TO_CONTACT,
    COMPANY_TO_CONTACT: CONTACT_TO_COMPANY,
    CONTACT_TO_COMPANY_PRIMARY: COMPANY_TO_CONTACT_PRIMARY,
    COMPANY_TO_CONTACT_PRIMARY: CONTACT_TO_COMPANY_PRIMARY,
}
ASSOCIATION_LABELS = {CONTACT_TO_COMPANY_PRIMARY: "Primary", COMPANY_TO_CONTACT_PRIMARY: "Primary"}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
LIFECYCLE_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                    "customer", "evangelist", "other")  # fmt: skip


def object_type(name: str) -> str | None:
    """companies / contacts for a name HubSpot accepts (plural, singular, object type id), else None."""
    return OBJECT_TYPES.get(name.lower())


@dataclass(frozen=True)
class PropertyDef:
    """One property definition, as the properties API describes it."""

    name: str
    label: str
    type: str = "string"  # string | number | enumeration | datetime | date | bool
    field_type: str = "text"  # text | textarea | number | select | date | phonenumber | calculation_*
    group: str = "companyinformation"
    unique: bool = False  # hasUniqueValue: usable as an upsert idProperty
    hubspot_defined: bool = True
    read_only: bool = False
    options: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The Property object of GET /crm/v3/properties/{objectType} (every field the client requires)."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": "" if self.hubspot_defined else "Created by leadlake (sandbox default).",
            "groupName": self.group,
            "options": [
                {"label": o, "value": o, "displayOrder": n, "hidden": False}
                for n, o in enumerate(self.options)
            ],
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "archived": False,
            "createdAt": "2020-01-01T00:00:00Z",
            "updatedAt": "2020-01-01T00:00:00Z",
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }


def _p(name: str, label: str, **kw: Any) -> PropertyDef:
    return PropertyDef(name, label, **kw)


def _system(group: str, modified: str) -> list[PropertyDef]:
    stamp = {"type": "datetime", "field_type": "date", "read_only": True, "group": group}
    return [
        _p("hs_object_id", "Record ID", type="number", field_type="number", read_only=True, group=group),
        _p("createdate", "Create Date", **stamp),
        _p(modified, "Last Modified Date", **stamp),
    ]


def _shared(group: str) -> list[PropertyDef]:
    """Properties companies and contacts both have."""
    stage = {"type": "enumeration", "field_type": "select", "group": group}
    return [
        _p("phone", "Phone Number", field_type="phonenumber", group=group),
        _p("address", "Street Address", group=group),
        _p("city", "City", group=group),
        _p("state", "State/Region", group=group),
        _p("zip", "Postal Code", group=group),
        _p("country", "Country/Region", group=group),
        _p("website", "Website URL", group=group),
        _p("lifecyclestage", "Lifecycle Stage", options=LIFECYCLE_STAGES, **stage),
        _p(
            "hs_lead_status",
            "Lead Status",
            options=(
                "NEW",
                "OPEN",
                "IN_PROGRESS",
                "OPEN_DEAL",
                "UNQUALIFIED",
                "ATTEMPTED_TO_CONTACT",
                "CONNECTED",
                "BAD_TIMING",
            ),
            **stage,
        ),  # fmt: skip
        # leadlake's custom properties (created once per portal; the sandbox has them from the start)
        _p(
            "leadlake_id",
            "LeadLake ID",
            group="leadlake",
            hubspot_defined=False,
            unique=group != "contactinformation",
        ),
        _p(
            "leadlake_score",
            "LeadLake score",
            type="number",
            field_type="number",
            group="leadlake",
            hubspot_defined=False,
        ),  # fmt: skip
        _p("leadlake_tier", "LeadLake tier", group="leadlake", hubspot_defined=False),
        _p(
            "leadlake_score_reasons",
            "LeadLake score reasons",
            field_type="textarea",
            group="leadlake",
            hubspot_defined=False,
        ),  # fmt: skip
        _p("leadlake_sources", "LeadLake sources", group="leadlake", hubspot_defined=False),
    ]


def _company_properties() -> list[PropertyDef]:
    group = "companyinformation"
    dates = [
        _p(
            f"hs_v2_date_entered_{s}",
            f"Date entered '{s}'",
            type="datetime",
            field_type="date",
            read_only=True,
            group=group,
        )  # fmt: skip
        for s in LIFECYCLE_STAGES
    ]
    return [
        _p("name", "Company name", group=group),
        _p("domain", "Company Domain Name", group=group),
        _p("address2", "Street Address 2", group=group),
        _p("industry", "Industry", group=group),
        _p("description", "Description", field_type="textarea", group=group),
        _p("numberofemployees", "Number of Employees", type="number", field_type="number", group=group),
        _p("annualrevenue", "Annual Revenue", type="number", field_type="number", group=group),
        _p("closedate", "Close Date", type="datetime", field_type="date", group=group),
        _p("hubspot_owner_id", "Company owner", type="enumeration", field_type="select", group=group),
        _p(
            "hs_merged_object_ids",
            "Merged Company IDs",
            type="enumeration",
            field_type="checkbox",
            read_only=True,
            group=group,
        ),  # fmt: skip
        *_shared(group),
        *dates,
        *_system(group, "hs_lastmodifieddate"),
    ]


def _contact_properties() -> list[PropertyDef]:
    group = "contactinformation"
    return [
        _p("email", "Email", unique=True, group=group),
        _p("firstname", "First Name", group=group),
        _p("lastname", "Last Name", group=group),
        _p("jobtitle", "Job Title", group=group),
        _p("company", "Company Name", group=group),
        _p("mobilephone", "Mobile Phone Number", field_type="phonenumber", group=group),
        *_shared(group),
        *_system(group, "lastmodifieddate"),
        _p(
            "hs_lastmodifieddate",
            "Object last modified date/time",
            type="datetime",
            field_type="date",
            read_only=True,
            group=group,
        ),  # fmt: skip
    ]


CATALOG: Mapping[str, Mapping[str, PropertyDef]] = {
    COMPANIES: {p.name: p for p in _company_properties()},
    CONTACTS: {p.name: p for p in _contact_properties()},
}


def properties(kind: str) -> list[dict[str, Any]]:
    """Every property definition of an object type, in the properties API's shape."""
    return [p.to_json() for p in CATALOG[kind].values()]


def _result(name: str, error: str, message: str) -> dict[str, Any]:
    return {
        "isValid": False,
        "message": message,
        "error": error,
        "name": name,
        "localizedErrorMessage": message,
    }


def value_errors(
    kind: str, records: Iterable[Mapping[str, str]], rules: Iterable[RejectRule] = ()
) -> list[dict[str, Any]]:
    """HubSpot's property validation results for the values of a write (empty when all are valid): unknown
    properties, invalid contact emails, and values a reject rule refuses; each (property, value) once."""
    known = CATALOG[kind]
    mine = [r for r in rules if r.object_type == kind]
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for props in records:
        for name, value in props.items():
            if (name, value) in out:
                continue
            if name not in known:
                out[(name, value)] = _result(
                    name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
                )
            elif kind == CONTACTS and name == "email" and value and not EMAIL.fullmatch(value):
                out[(name, value)] = _result(name, "INVALID_EMAIL", f"Email address {value} is invalid")
            else:
                rule = next((r for r in mine if r.property == name and r.refuses(value)), None)
                if rule is not None:
                    out[(name, value)] = _result(name, rule.error, rule.explain(value))
    return list(out.values())


def invalid_message(errors: list[dict[str, Any]]) -> str:
    """HubSpot's VALIDATION_ERROR message for property validation results."""
    return "Property values were not valid: " + json.dumps(errors, separators=(",", ":"))
