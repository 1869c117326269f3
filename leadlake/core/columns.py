"""Column names as exports write them, read as leadlake's: "Billing Zip/Postal Code" is `postal`, "Apollo
Account Id" a record id. Shared by `leadlake resolve` (a user's records) and `leadlake train --labels` (a
CRM export of past leads)."""

from __future__ import annotations

import re

# The columns a user's file of records may carry; any may be empty or absent except record_id.
INPUT_COLUMNS: tuple[str, ...] = (
    "record_id", "source", "name", "address", "city", "region", "postal", "country", "phone", "website",
    "email", "category", "lat", "lon",
)  # fmt: skip


# Other common names of the input columns (after header_name): a file exported from elsewhere says "zip"
# or "latitude". Read as the input column only when the file has no column of that name (a file with no
# record_id nor any of its aliases is refused, as the error says).
COLUMN_ALIASES: dict[str, str] = {
    "zip": "postal", "zipcode": "postal", "zip_code": "postal", "postcode": "postal", "postal_code": "postal",
    "state": "region", "province": "region", "state_code": "region",
    "latitude": "lat", "lng": "lon", "long": "lon", "longitude": "lon",
    "url": "website", "web": "website", "homepage": "website", "website_url": "website",
    "phone_number": "phone", "telephone": "phone", "tel": "phone",
    "street": "address", "addr": "address", "address1": "address", "address_line1": "address",
    "street_address": "address",
    "company": "name", "company_name": "name", "business_name": "name", "full_name": "name",
    "fullname": "name", "organization": "name", "organisation": "name", "organization_name": "name",
    "legal_name": "name",
    "categories": "category", "country_code": "country", "email_address": "email", "provider": "source",
    # Record ids as exports and Splink's own inputs name them (unique_id, source_dataset).
    "id": "record_id", "unique_id": "record_id", "uid": "record_id", "source_dataset": "source",
    "rec_id": "record_id", "customer_id": "record_id", "contact_id": "record_id", "suburb": "city",
    # CRM exports: HubSpot's "State/Region", "Country/Region", "Company Domain Name", Salesforce's
    # "Billing Zip/Postal Code" (its "Billing " prefix is one of PREFIXES), both ids and "Industry".
    "account_id": "record_id", "company_id": "record_id",
    "state_region": "region", "state_province": "region", "country_region": "country",
    "zip_postal_code": "postal", "domain_name": "website", "industry": "category",
    # Provider APIs' fields, flattened: Google Places (place_id, formatted_address, types,
    # geometry.location.lng), Yelp (business_id, display_phone, location.zip_code), Foursquare (fsq_id,
    # locality), OpenStreetMap (osm_id, addr:street, contact:phone).
    "place_id": "record_id", "business_id": "record_id", "fsq_id": "record_id", "fsq_place_id": "record_id",
    "osm_id": "record_id", "types": "category", "locality": "city", "town": "city", "post_code": "postal",
    "address_line_1": "address", "address_1": "address", "street_1": "address", "street1": "address",
    "street_name": "address", "website_uri": "website", "site": "website",
    # Lead lists and scrapes: Google Maps scrapers (Apify's placeId, categoryName, postalCode; Outscraper's
    # us_state), registers' trading names, dedupe's Chicago example ("Site name").
    "site_name": "name", "dba_name": "name", "dba": "name", "doing_business_as": "name",
    "trade_name": "name", "trading_name": "name", "store_name": "name", "location_name": "name",
    "place_name": "name", "venue_name": "name", "facility_name": "name", "establishment_name": "name",
    "merchant_name": "name", "business": "name", "category_name": "category", "main_category": "category",
    "e_mail": "email", "telephone_number": "phone", "phone_no": "phone", "tel_no": "phone",
    "zip5": "postal", "us_state": "region", "post_town": "city", "company_account": "name",
    # Open places data, flattened (Overture Maps' names.primary, addresses[0].locality, websites[0];
    # Foursquare OS Places' fsq_category_labels[0]).
    "names_primary": "name", "categories_primary": "category", "addresses_freeform": "address",
    "addresses_locality": "city", "addresses_postcode": "postal", "addresses_region": "region",
    "addresses_country": "country", "websites": "website", "phones": "phone", "emails": "email",
    "fsq_category_labels": "category",
}  # fmt: skip
# Read as an input column only when no header above names it: a whole address is the address when there
# is no street column (and left out when there is); a "title" is a scrape's business name, but a contact's
# job title when the file has a person's name in parts (then left as it is).
FALLBACK_ALIASES: dict[str, str] = {
    "full_address": "address", "address_full": "address", "complete_address": "address", "title": "name",
}  # fmt: skip
# Prefixes an export puts before an input column's name or alias: "Billing City", "addr:postcode",
# "location.address1", "formatted_phone_number", "geometry.location.lat". Never before record_id.
PREFIXES: tuple[str, ...] = (
    "geometry_location", "geometry", "geom", "coordinates", "location", "billing", "shipping", "mailing",
    "physical", "addr", "address", "business", "company", "account", "contact", "primary", "main", "display",
    "formatted", "international", "national", "hq", "company_hq", "head_office",
    # Company registers: Companies House's RegAddress.PostTown, OpenCorporates' registered_address.locality.
    "reg_address", "registered_address", "registered_office", "registered_office_address",
)  # fmt: skip
# A house number in a column of its own (OpenStreetMap's addr:housenumber, many registers): joined to the
# street, where the street does not already start with it.
HOUSE_NUMBER_COLUMNS: frozenset[str] = frozenset(
    {"housenumber", "house_number", "addr_housenumber", "street_number", "building_number", "house_no"}
)


# A person's name in parts (Febrl's given_name and surname, Splink's first_name and surname, CRM contacts'
# First Name / Last Name): with no name column they are joined, in this order, as the name, whose
# comparison ignores word order (a forename and surname swapped) and weighs near spellings; each part is
# also compared on its own, as an extra identifier.
NAME_PART_COLUMNS: tuple[frozenset[str], ...] = (
    frozenset({"first_name", "firstname", "given_name", "givenname", "forename", "fname", "first"}),
    frozenset({"middle_name", "middlename", "middle_initial", "middle"}),
    frozenset({"last_name", "lastname", "surname", "family_name", "familyname", "lname", "last"}),
)


def name_parts(headers: list[str]) -> list[str]:
    """The headers holding a first and a last name (and a middle one, between them), or [] when the file
    lacks either."""
    found = [next((h for h in headers if h in group), None) for group in NAME_PART_COLUMNS]
    if found[0] is None or found[2] is None:
        return []
    return [h for h in found if h is not None]


def column_for(header: str) -> str | None:
    """The input column a header names: its alias, or an input column or alias after a known prefix."""
    if header in COLUMN_ALIASES:
        return COLUMN_ALIASES[header]
    for prefix in PREFIXES:
        if header.startswith(prefix + "_"):
            rest = header[len(prefix) + 1 :]
            target = rest if rest in INPUT_COLUMNS else COLUMN_ALIASES.get(rest)
            if target is not None and target not in ("record_id", "source"):
                return target
    return None


def aliased(headers: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """Headers with aliases read as input columns (the first alias of a column that is missing), and
    notes saying so ("zip read as postal")."""
    taken = set(headers)
    out, notes = list(headers), []
    for i, h in enumerate(headers):
        if h in INPUT_COLUMNS:
            continue
        target = column_for(h)
        if target and target not in taken:
            out[i] = target
            taken.add(target)
            notes.append(f"{h} read as {target}")
    for i, h in enumerate(headers):
        target = FALLBACK_ALIASES.get(h)
        if out[i] != h or target is None or (target == "name" and name_parts(headers)):
            continue
        if target == "address" and target in taken:
            out[i] = ""  # the street, city and postal code again: compared twice, they would count twice
            notes.append(f"{h} left out (the address is read from its parts)")
        elif target not in taken:
            out[i] = target
            taken.add(target)
            notes.append(f"{h} read as {target}")
    return out, tuple(notes)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def header_name(raw: object) -> str:
    """A column header as a resolver column name: words of camelCase apart (JSON exports' postalCode,
    placeId), lower case, runs of anything else as one underscore."""
    text = _CAMEL.sub("_", str(raw).strip())
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
