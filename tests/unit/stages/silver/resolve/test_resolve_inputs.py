"""inputs: a user's CSV as the resolver's record frame, normalised as the pipeline; bad input named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadlake.connectors.sources.base import SOURCE_RECORD_FIELDS
from leadlake.stages.silver.resolve import ResolveSettings
from leadlake.stages.silver.resolve.inputs import (
    DEFAULT_SOURCE,
    OUTPUT_COLUMNS,
    InputError,
    clusters_frame,
    load_inputs,
    load_records,
    read_records_csv,
    records_from_frame,
    settings_for,
    supports_extra_columns,
    with_origin,
    write_clusters_csv,
)


def frame(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def one(records: pd.DataFrame, rid: str, column: str) -> object:
    return records.set_index("record_id").loc[rid, column]


def test_phones_to_e164_in_the_rows_country_default_us_and_toll_free() -> None:
    got = records_from_frame(
        frame(
            record_id=["a", "b", "c", "d", "e"],
            phone=["(303) 555-0142", "020 7946 0958", "1-800-555-0199", "not a phone", ""],
            country=["US", "GB", "", "US", "US"],
        )
    )
    r = got.records
    assert one(r, "a", "phone_e164") == "+13035550142"
    assert one(r, "b", "phone_e164") == "+442079460958"  # parsed as a UK number
    assert one(r, "c", "phone_e164") == "+18005550199"  # no country: US
    assert one(r, "c", "phone_is_toll_free") is True
    assert one(r, "a", "phone_is_toll_free") is False
    assert one(r, "d", "phone_e164") is None
    assert one(r, "e", "phone_e164") is None
    assert "1 phone(s) unreadable as numbers, left out" in got.describe()


def test_numbers_no_carrier_assigned_still_match_by_their_digits() -> None:
    got = records_from_frame(
        frame(
            record_id=["a", "b", "c", "d", "e", "f"],
            phone=[
                "(591) 341-7776",  # area code 591 is not assigned: not a valid number
                "591.341.7776 x9150",  # the same, another way, with an extension
                "000-000-0000",  # a placeholder
                "12345",  # too short for a number
                "001-254-558-9212",  # dialled from abroad: "00" for "+"
                "011 44 20 7946 0958",  # from North America: "011" for "+"
            ],
            country=["US", "US", "US", "US", "US", "US"],
        )
    )
    r = got.records
    assert one(r, "a", "phone_e164") == one(r, "b", "phone_e164") == "+15913417776"
    assert one(r, "c", "phone_e164") is None and one(r, "d", "phone_e164") is None
    assert one(r, "e", "phone_e164") == "+12545589212"  # valid once the prefix is read
    assert one(r, "f", "phone_e164") == "+442079460958"
    line = got.describe()
    assert "2 phone(s) not valid numbers, matched by their digits" in line
    assert "2 phone(s) unreadable as numbers, left out" in line


def test_a_national_number_starting_011_outside_north_america_is_not_a_dialling_prefix() -> None:
    got = records_from_frame(frame(record_id=["s"], phone=["0114 496 0000"], country=["GB"]))
    assert one(got.records, "s", "phone_e164") == "+441144960000"  # Sheffield, not "+14..."


def test_city_and_postal_come_from_a_one_line_address_when_their_columns_are_empty() -> None:
    got = records_from_frame(
        frame(
            record_id=["a", "b"],
            address=["1200 Main St, Suite 2, Denver, CO 80202, USA", "9 Pine Rd, Boulder, CO 80301"],
            city=["", "Louisville"],  # a city given wins over the address's
            postal=["", ""],
        )
    )
    r = got.records
    assert one(r, "a", "city") == "Denver" and one(r, "a", "postal") == "80202"
    assert one(r, "b", "city") == "Louisville" and one(r, "b", "postal") == "80301"
    assert one(r, "a", "address_line1") == "1200 Main St, Suite 2, Denver, CO 80202, USA"  # kept whole


def test_countries_given_by_name_become_codes_and_phones_parse_in_them() -> None:
    got = records_from_frame(
        frame(
            record_id=["jp", "de", "uk", "us", "odd"],
            phone=["03-1234-5678", "030 901820", "020 7946 0958", "(303) 555-0142", "(303) 555-0143"],
            country=["Japan", "Germany", "uk", "United States of America", "Narnia"],
        )
    )
    r = got.records
    assert [one(r, k, "country") for k in ("jp", "de", "uk", "us")] == ["JP", "DE", "GB", "US"]
    assert one(r, "jp", "phone_e164") == "+81312345678"
    assert one(r, "de", "phone_e164") == "+4930901820"
    assert one(r, "uk", "phone_e164") == "+442079460958"
    # A country nobody can place is kept as written; its phone is read as the default (US) reads it.
    assert one(r, "odd", "country") == "NARNIA"
    assert one(r, "odd", "phone_e164") == "+13035550143"


def test_websites_to_registered_domains_names_and_addresses() -> None:
    got = records_from_frame(
        frame(
            record_id=["a", "b", "c"],
            name=["Joe's Plumbing, L.L.C.", "  Café Rouge & Co ", ""],
            website=["https://www.shop.example.co.uk/about", "joesplumbing.com", "localhost"],
            address=[" 1200 Main Street ", "", "9 Pine Rd"],
            postal=["80202-1234", "SW1A 1AA", ""],
            country=["US", "gb", "usa"],
            lat=["39.7392", "", "nan"],
            lon=["-104.99", "", ""],
            region=["co", "", ""],
            category=["Plumber", "", ""],
        )
    )
    r = got.records
    assert one(r, "a", "domain") == "example.co.uk"
    assert one(r, "a", "website") == "https://www.shop.example.co.uk/about"
    assert one(r, "b", "domain") == "joesplumbing.com"
    assert one(r, "c", "domain") is None
    assert one(r, "a", "name_norm") == "joes plumbing"
    assert one(r, "b", "name_norm").startswith("cafe rouge")
    assert one(r, "c", "name") is None
    assert one(r, "a", "address_line1") == "1200 Main Street"
    assert one(r, "a", "postal") == "80202"  # US ZIP+4 to ZIP5, as the adapters do
    assert one(r, "b", "postal") == "SW1A 1AA"
    assert one(r, "b", "country") == "GB"
    assert one(r, "c", "country") == "US"
    assert one(r, "a", "lat") == pytest.approx(39.7392)
    assert one(r, "b", "lat") is None and one(r, "c", "lat") is None
    assert one(r, "a", "region") == "CO"
    assert one(r, "a", "categories") == ["plumber"]
    assert one(r, "b", "categories") == []


def test_the_frame_has_the_record_columns_one_source_when_absent() -> None:
    got = records_from_frame(frame(record_id=[" x1 ", "x2"], name=["A", "B"]))
    assert list(got.records.columns) == list(SOURCE_RECORD_FIELDS)
    assert list(got.records["record_id"]) == ["x1", "x2"]  # stripped
    assert set(got.records["provider"]) == {DEFAULT_SOURCE}
    assert got.sources == (DEFAULT_SOURCE,)


def test_a_source_spelled_in_two_cases_is_one_source() -> None:
    """ "Yelp", "yelp " and "YELP" in one file's source column are one source (first spelling kept); they
    were three, and the summary said "3 source(s)"."""
    got = records_from_frame(
        frame(
            record_id=["a", "b", "c", "d"],
            source=["Yelp", "yelp ", "YELP", "Google  Places"],
            name=list("wxyz"),
        )
    )
    assert list(got.records["provider"]) == ["Yelp", "Yelp", "Yelp", "Google  Places"]
    assert len(got.sources) == 2


def test_used_empty_and_absent_columns_are_reported() -> None:
    got = records_from_frame(
        frame(record_id=["a", "b"], Name=["A", "B"], phone=["", " "], Source=["crm", "crm"], notes=["", ""])
    )
    assert got.used == ("record_id", "source", "name")  # headers matched case-insensitively
    assert got.empty == ("phone", "notes")
    assert "website" in got.absent and "lat" in got.absent
    assert got.extra == ()
    line = got.describe()
    assert "\n" not in line
    assert "used: record_id, source, name" in line
    assert "empty: phone, notes" in line


def test_extra_columns_become_identifier_columns() -> None:
    got = records_from_frame(
        frame(
            record_id=["a", "b"],
            **{"Date of Birth": ["19560409", ""], "tax_id": [" 12-345 ", "98-765"]},
            email=["Joe@Example.COM", ""],
            domain=["x", "y"],  # a record field's name: kept apart from the record's own domain
        )
    )
    assert got.extra == ("email", "date_of_birth", "tax_id", "extra_domain")
    r = got.records
    assert one(r, "a", "date_of_birth") == "19560409"
    assert one(r, "b", "date_of_birth") is None
    assert one(r, "a", "tax_id") == "12-345"
    assert one(r, "a", "email") == "joe@example.com"
    assert one(r, "a", "extra_domain") == "x"
    assert one(r, "a", "domain") is None


def test_a_column_most_records_share_is_not_an_extra_identifier_and_said_so() -> None:
    n = 100  # 3 star values: ~1,600 pairs, more than 10 per record
    got = records_from_frame(
        frame(
            record_id=[f"r{i}" for i in range(n)],
            is_open=["1"] * (n - 5) + ["0"] * 5,
            stars=[f"{i % 3 + 3}.5" for i in range(n)],
            tax_id=[f"12-{i:04d}" for i in range(n)],
        )
    )
    assert got.extra == ("tax_id",)
    assert got.attributes == ("is_open", "stars")
    assert "is_open" not in got.records.columns and "stars" not in got.records.columns
    assert "not identifiers (values shared by many records): is_open, stars" in got.describe()
    # A few records sharing a value is what an identifier looks like (a household's phone, a family's name).
    few = records_from_frame(frame(record_id=["a", "b", "c"], family=["Lee", "Lee", "Kim"]))
    assert few.extra == ("family",) and few.attributes == ()


def test_common_column_names_are_read_as_the_input_columns_and_said_so() -> None:
    got = records_from_frame(
        frame(
            record_id=["a"],
            Latitude=["39.7392"],
            lng=["-104.9903"],
            ZIP=["80202-1234"],
            state=["co"],
            url=["https://www.joesplumbing.com/about"],
            **{"Phone Number": ["(303) 555-0142"], "Street Address": ["1200 Main St"]},
        )
    )
    r = got.records
    assert one(r, "a", "lat") == 39.7392 and one(r, "a", "lon") == -104.9903
    assert one(r, "a", "postal") == "80202-1234"  # no country given: kept whole (prepare keys on 80202)
    assert one(r, "a", "region") == "CO"
    assert one(r, "a", "domain") == "joesplumbing.com"
    assert one(r, "a", "phone_e164") == "+13035550142"
    assert one(r, "a", "address_line1") == "1200 Main St"
    assert got.extra == ()  # none of them mistaken for an extra identifier (compared exactly)
    line = got.describe()
    assert "latitude read as lat" in line and "zip read as postal" in line and "url read as website" in line
    # The input column's own name wins; its alias is then an extra identifier.
    both = records_from_frame(frame(record_id=["a"], postal=["80202"], zip=["99999"]))
    assert one(both.records, "a", "postal") == "80202" and both.extra == ("zip",)


@pytest.mark.parametrize(
    ("headers", "row"),
    [
        # HubSpot's company export
        (
            ["Record ID", "Company name", "Phone Number", "Street Address", "City", "State/Region",
             "Postal Code", "Country/Region", "Company Domain Name", "Industry"],
            ["1", "Joe's Plumbing", "(303) 555-0142", "1200 Main St", "Denver", "CO", "80202", "US",
             "joesplumbing.com", "Plumbing"],
        ),
        # Salesforce's account export
        (
            ["Account ID", "Account Name", "Phone", "Billing Street", "Billing City",
             "Billing State/Province", "Billing Zip/Postal Code", "Billing Country", "Website", "Industry"],
            ["1", "Joe's Plumbing", "(303) 555-0142", "1200 Main St", "Denver", "CO", "80202", "US",
             "www.joesplumbing.com", "Plumbing"],
        ),
        # Google Places' fields, flattened (geometry.location.lat)
        (
            ["place_id", "name", "international_phone_number", "formatted_address",
             "geometry.location.lat", "geometry.location.lng", "website", "types"],
            ["1", "Joe's Plumbing", "+1 303-555-0142", "1200 Main St, Denver, CO 80202, USA", "39.7392",
             "-104.9903", "https://joesplumbing.com/", "plumber"],
        ),
        # Yelp Fusion's business, flattened (location.address1)
        (
            ["business_id", "name", "display_phone", "location.address1", "location.city", "location.state",
             "location.zip_code", "location.country", "coordinates.latitude", "coordinates.longitude"],
            ["1", "Joe's Plumbing", "(303) 555-0142", "1200 Main St", "Denver", "CO", "80202", "US",
             "39.7392", "-104.9903"],
        ),
        # OpenStreetMap's tags: the house number in a column of its own
        (
            ["osm_id", "name", "addr:housenumber", "addr:street", "addr:city", "addr:postcode",
             "contact:phone", "contact:website"],
            ["1", "Joe's Plumbing", "1200", "Main St", "Denver", "80202", "+1 303 555 0142",
             "https://joesplumbing.com"],
        ),
        # A Google Maps scrape (Apify's columns: camelCase, the name as "title", location/lat)
        (
            ["placeId", "title", "categoryName", "street", "city", "postalCode", "state", "countryCode",
             "website", "phone", "location/lat", "location/lng"],
            ["1", "Joe's Plumbing", "Plumber", "1200 Main St", "Denver", "80202", "Colorado", "US",
             "https://www.joesplumbing.com/", "(303) 555-0142", "39.7392", "-104.9903"],
        ),
        # Outscraper's Google Maps export: the whole address beside its parts (left out, not compared twice)
        (
            ["place_id", "name", "site", "category", "phone", "full_address", "street", "city",
             "postal_code", "us_state", "country_code", "latitude", "longitude"],
            ["1", "Joe's Plumbing", "joesplumbing.com", "Plumber", "+1 303-555-0142",
             "1200 Main St, Denver, CO 80202", "1200 Main St", "Denver", "80202", "Colorado", "US",
             "39.7392", "-104.9903"],
        ),
        # dedupe's Chicago early-childhood example ("Site name"), here with a city
        (
            ["Id", "Source", "Site name", "Address", "Zip", "Phone", "City"],
            ["1", "CPS_Early_Childhood_Portal_scrape.csv", "Joe's Plumbing", "1200 Main St", "80202",
             "303 555 0142", "Denver"],
        ),
        # Apollo's accounts export: no record id but "Apollo Account Id"; "Company Street", "Company Phone"
        (
            ["Company", "Industry", "Website", "Company Street", "Company City", "Company State",
             "Company Postal Code", "Company Phone", "Apollo Account Id"],
            ["Joe's Plumbing", "Plumbing", "http://www.joesplumbing.com", "1200 Main St", "Denver", "CO",
             "80202", "+1 303-555-0142", "1"],
        ),
        # ZoomInfo's companies export: "ZoomInfo Company ID", "Company HQ Phone"
        (
            ["ZoomInfo Company ID", "Company Name", "Website", "Company HQ Phone", "Company Street Address",
             "Company City", "Company State", "Company Zip Code"],
            ["1", "Joe's Plumbing", "joesplumbing.com", "(303) 555-0142", "1200 Main St", "Denver", "CO",
             "80202"],
        ),
    ],
    ids=["hubspot", "salesforce", "google_places", "yelp", "openstreetmap", "apify", "outscraper", "dedupe",
         "apollo", "zoominfo"],
)  # fmt: skip
def test_exports_and_provider_fields_are_read_as_the_input_columns(
    headers: list[str], row: list[str]
) -> None:
    got = records_from_frame(pd.DataFrame([row], columns=headers, dtype=object))
    r = got.records
    assert one(r, "1", "name") == "Joe's Plumbing"
    assert one(r, "1", "phone_e164") == "+13035550142"
    assert str(one(r, "1", "address_line1")).startswith("1200 Main St")
    assert one(r, "1", "city") == "Denver"
    assert one(r, "1", "postal") == "80202"
    category = next((h for h in ("Industry", "types", "categoryName", "category") if h in headers), None)
    if category is not None:
        assert one(r, "1", "categories") == [row[headers.index(category)].lower()]
    if any(h in headers for h in ("Company Domain Name", "Website", "website", "contact:website", "site")):
        assert one(r, "1", "domain") == "joesplumbing.com"
    if any("lat" in h for h in headers):
        assert one(r, "1", "lat") == 39.7392 and one(r, "1", "lon") == -104.9903
    assert got.extra == ()  # every column understood: none left to compare as an unknown identifier


@pytest.mark.parametrize(
    ("headers", "row"),
    [
        # Companies House's basic company data: " CompanyNumber" (a space in its header), RegAddress.PostTown
        (
            ["CompanyName", " CompanyNumber", "RegAddress.AddressLine1", "RegAddress.PostTown",
             "RegAddress.PostCode", "RegAddress.Country"],
            ["JOE'S PLUMBING LTD", "01234567", "12 HIGH STREET", "LONDON", "EC1A 1BB", "UNITED KINGDOM"],
        ),
        # OpenCorporates' bulk companies file: company_number, registered_address.locality
        (
            ["company_number", "jurisdiction_code", "name", "registered_address.street_address",
             "registered_address.locality", "registered_address.postal_code", "registered_address.country"],
            ["01234567", "gb", "JOE'S PLUMBING LTD", "12 HIGH STREET", "LONDON", "EC1A 1BB", "UK"],
        ),
    ],
    ids=["companies_house", "opencorporates"],
)  # fmt: skip
def test_company_registers_files_are_read_with_their_number_as_the_record_id(
    headers: list[str], row: list[str]
) -> None:
    got = records_from_frame(pd.DataFrame([row], columns=headers, dtype=object))
    r = got.records
    assert r["record_id"].tolist() == ["01234567"] and "company_number read as record_id" in got.describe()
    assert one(r, "01234567", "name") == "JOE'S PLUMBING LTD"
    assert one(r, "01234567", "address_line1") == "12 HIGH STREET"
    assert one(r, "01234567", "city") == "LONDON"
    assert one(r, "01234567", "country") == "GB"
    assert str(one(r, "01234567", "postal")).replace(" ", "") == "EC1A1BB"


def test_camel_case_headers_are_split_and_a_title_is_a_name_only_without_a_persons_name() -> None:
    got = records_from_frame(frame(recordId=["a"], companyName=["Acme"], zipCode=["80202"], eMail=["A@x.io"]))
    assert one(got.records, "a", "name") == "Acme" and one(got.records, "a", "postal") == "80202"
    assert got.extra == ("email",) and "company_name read as name" in got.describe()
    # A contacts export: "Title" is the job title, the name is in parts.
    contacts = records_from_frame(
        frame(record_id=["a"], first_name=["Jo"], last_name=["Ng"], title=["CEO"], full_address=["1 Main St"])
    )
    assert one(contacts.records, "a", "name") == "Jo Ng" and "title read as" not in contacts.describe()
    assert one(contacts.records, "a", "address_line1") == "1 Main St"  # no street column: the whole one
    scrape = records_from_frame(frame(record_id=["a"], title=["Joe's Pizza"]))
    assert one(scrape.records, "a", "name") == "Joe's Pizza" and "title read as name" in scrape.describe()


def test_a_house_number_column_is_joined_to_the_street_once() -> None:
    got = records_from_frame(
        frame(
            record_id=["a", "b", "c"], street=["Main St", "12 Oak Ave", None], housenumber=["12", "12", "7"]
        )
    )
    assert got.records["address_line1"].tolist() == ["12 Main St", "12 Oak Ave", None]
    assert got.extra == () and "housenumber joined to address" in got.describe()


def test_a_persons_name_in_parts_is_joined_as_the_name_and_each_part_kept_as_an_identifier() -> None:
    got = records_from_frame(
        frame(
            rec_id=["a", "b", "c", "d"],
            given_name=["Julia ", "Taylor", None, None],
            middle_name=["Ann", None, None, None],
            surname=["Taylor", "Julia", "Noah", None],
        )
    )
    assert got.records["name"].tolist() == ["Julia Ann Taylor", "Taylor Julia", "Noah", None]
    assert got.records["name_norm"].tolist()[:3] == ["julia ann taylor", "taylor julia", "noah"]
    assert "given_name + middle_name + surname joined as name" in got.describe()
    assert "name" in got.used and {"given_name", "surname"} <= set(got.extra)
    # A file with a name column keeps it; a first name alone is no name.
    named = records_from_frame(frame(record_id=["a"], name=["Acme"], first_name=["Jo"], last_name=["Ng"]))
    assert named.records["name"].tolist() == ["Acme"] and "joined as name" not in named.describe()
    first_only = records_from_frame(frame(record_id=["a"], first_name=["Jo"]))
    assert first_only.records["name"].isna().all() and "name" not in first_only.used


def test_an_id_column_as_exports_and_splink_name_it_is_the_record_id() -> None:
    got = records_from_frame(frame(unique_id=["u1", "u2"], source_dataset=["crm", "list"], name=["A", "B"]))
    assert got.records["record_id"].tolist() == ["u1", "u2"]
    assert got.records["provider"].tolist() == ["crm", "list"]
    assert "unique_id read as record_id" in got.describe() and got.extra == ()
    poi = records_from_frame(frame(id=["E_1", "E_2"], name=["A", "B"]))
    assert poi.records["record_id"].tolist() == ["E_1", "E_2"]
    # A file with its own record_id keeps it; an id column beside it is an extra identifier.
    both = records_from_frame(frame(record_id=["r1"], id=["x9"]))
    assert both.records["record_id"].tolist() == ["r1"] and both.extra == ("id",)


def test_without_a_record_id_the_one_unique_id_column_is_it() -> None:
    """An export names its ids "Apollo Account Id" or "CompanyNumber": with no record_id, the one id-like
    column with a value in every row, each once, is the record id, and the summary says so. Two such
    columns are a question for the user; an id column with a blank or a repeat is no record id."""
    got = records_from_frame(frame(apollo_account_id=["a1", "a2"], crm_id=["7", "7"], name=["A", "B"]))
    assert got.records["record_id"].tolist() == ["a1", "a2"]
    assert "apollo_account_id read as record_id (one unique value per row)" in got.describe()
    with pytest.raises(InputError, match="apollo_account_id and crm_id each hold one unique value"):
        records_from_frame(frame(apollo_account_id=["a1", "a2"], crm_id=["7", "8"]))
    with pytest.raises(InputError, match="no record_id column"):
        records_from_frame(frame(apollo_account_id=["a1", ""], name=["A", "B"]))
    with pytest.raises(InputError, match="no record_id column"):
        records_from_frame(frame(name=["A", "B"], phone=["1", "2"]))


def test_settings_for_user_records_dedupe_inside_a_source() -> None:
    inputs = records_from_frame(frame(record_id=["a"], tax_id=["1"]))
    cfg = settings_for(inputs, ResolveSettings(link_type="link_only", one_record_per_provider=True))
    assert cfg.link_type == "link_and_dedupe"
    assert cfg.one_record_per_provider is False
    if supports_extra_columns(cfg):
        assert cfg.extra_columns == ("tax_id",)


@pytest.mark.parametrize(
    ("columns", "needles"),
    [
        (
            {"key": ["a"], "name": ["A"]},
            ["no record_id column", "columns: key, name", "add a record_id column"],
        ),
        ({"record_id": ["a", " ", "c"]}, ["record_id is empty on line 3", "give every row"]),
        (
            {"record_id": ["a", "b", "a"]},
            ["record_id 'a' appears 2 times", "lines 2, 4", "make record_id unique"],
        ),
        ({"record_id": ["a"], "lat": ["north"]}, ["column lat on line 2", "'north'", "not a number"]),
        ({"record_id": ["a"], "lon": ["200"]}, ["column lon on line 2", "from -180 to 180"]),
        (  # a file written lon, lat: Seattle's longitude in lat, its latitude in lon
            {"record_id": ["a", "b"], "lat": ["-71.06", "-122.3321"], "lon": ["42.36", "47.6062"]},
            ["column lat on line 3", "'-122.3321'", "lat and lon look swapped", "swap the two column names"],
        ),
        (  # one mistyped latitude among ordinary longitudes is only that
            {"record_id": ["a", "b"], "lat": ["42.36", "122.33"], "lon": ["-71.06", "-122.33"]},
            ["column lat on line 3", "'122.33'", "not a number from -90 to 90"],
        ),
        ({"record_id": ["a"], "Name": ["x"], "name": ["y"]}, ["column name appears 2 times"]),
    ],
)
def test_bad_input_names_the_column_and_the_fix(columns: dict[str, list[str]], needles: list[str]) -> None:
    with pytest.raises(InputError) as err:
        records_from_frame(pd.DataFrame(columns), where="f.csv")
    message = str(err.value)
    assert message.startswith("f.csv: ")
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_unreadable_files_name_the_problem(tmp_path: Path) -> None:
    cases = {
        "missing.csv": (None, "no such file"),
        "dir.csv": ("dir", "is a directory"),
        "empty.csv": (b"", "is empty"),
        "binary.csv": (b"PK\x03\x04\x00\x00\x08\x00record_id", "not a CSV file"),
        "latin1.csv": ("record_id,name\na,Caf\xe9\n".encode("latin-1"), "not UTF-8"),
        "ragged.csv": (b'record_id,name\na,"unclosed\n', "not a valid CSV"),
    }
    for name, (content, needle) in cases.items():
        path = tmp_path / name
        if content == "dir":
            path.mkdir()
        elif content is not None:
            path.write_bytes(content)
        with pytest.raises(InputError, match=needle):
            read_records_csv(path)


@pytest.mark.parametrize(("encoding", "separator"), [("utf-16-le", "\t"), ("utf-16-be", ",")])
def test_utf16_files_with_a_byte_order_mark_are_read(tmp_path: Path, encoding: str, separator: str) -> None:
    """Excel's "Unicode Text" is UTF-16 with tabs: refused before as binary content (its zero bytes)."""
    text = separator.join(["record_id", "name", "city"]) + "\r\n"
    text += separator.join(["a1", "Café Müller", "München"]) + "\r\n"
    path = tmp_path / "export.txt"
    bom = b"\xff\xfe" if encoding.endswith("le") else b"\xfe\xff"
    path.write_bytes(bom + text.encode(encoding))
    frame = read_records_csv(path)
    assert list(frame.columns) == ["record_id", "name", "city"]
    assert frame.iloc[0].tolist() == ["a1", "Café Müller", "München"]


def test_an_encoding_reads_what_utf8_cannot(tmp_path: Path) -> None:
    """cp1252 (Excel on Windows) and latin-1 files read with their encoding; without it the error names the
    flag; a file that is not in the named encoding is refused with the encoding named, not misread."""
    path = tmp_path / "excel.csv"
    path.write_bytes("record_id;name;city\r\na1;Café “Zur Post”;Köln\r\n".encode("cp1252"))
    with pytest.raises(InputError, match="--encoding cp1252"):
        read_records_csv(path)
    frame = read_records_csv(path, "cp1252")
    assert frame.iloc[0].tolist() == ["a1", "Café “Zur Post”", "Köln"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("record_id,name\na1,Señor Frío\n".encode("latin-1"))
    assert read_records_csv(latin, "latin-1")["name"].tolist() == ["Señor Frío"]
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text("\ufeffrecord_id,name\na1,Café\n", encoding="utf-8")
    assert read_records_csv(utf8, "utf-8").columns.tolist() == ["record_id", "name"]  # its BOM dropped
    with pytest.raises(InputError, match="not ascii text.*check --encoding"):
        read_records_csv(utf8, "ascii")
    with pytest.raises(InputError, match="'nope' is not a text encoding"):
        read_records_csv(utf8, "nope")


ROWS_IN_ANY_SEPARATOR = [
    ["record_id", "name", "city", "country"],
    ["a1", '"Café Müller, GmbH"', "München", "Deutschland"],
    ["a2", "Joe's", " Denver", "US"],
]


@pytest.mark.parametrize(
    ("sep", "end", "encoding"),
    [(";", "\r\n", "utf-8"), ("\t", "\n", "utf-8-sig"), ("|", "\n", "utf-8")],
    ids=["semicolons", "tabs-with-bom", "pipes"],
)
def test_semicolon_tab_and_pipe_separated_files_are_read(
    tmp_path: Path, sep: str, end: str, encoding: str
) -> None:
    path = tmp_path / "records.csv"
    path.write_bytes("".join(sep.join(row) + end for row in ROWS_IN_ANY_SEPARATOR).encode(encoding))
    got = load_records(path)
    assert got.used == ("record_id", "name", "city", "country")
    assert one(got.records, "a1", "city") == "München" and one(got.records, "a2", "city") == "Denver"
    assert one(got.records, "a1", "name") == "Café Müller, GmbH"
    assert one(got.records, "a1", "country") == "DE"  # the country's own name


def test_a_comma_file_with_semicolons_in_quoted_fields_stays_comma_separated(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    path.write_text('record_id,name,"notes; more"\na1,"A; B",x\n', encoding="utf-8")
    got = load_records(path)
    assert one(got.records, "a1", "name") == "A; B"


def test_load_records_reads_text_as_text(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "\ufeffrecord_id,postal,phone,soc_sec_id\n001,02139,,0042\nNA,00501,,\n", encoding="utf-8"
    )
    got = load_records(path)
    r = got.records
    assert list(r["record_id"]) == ["001", "NA"]  # leading zeros and "NA" survive: ids are text
    assert one(r, "001", "postal") == "02139"
    assert one(r, "001", "soc_sec_id") == "0042"
    assert got.empty == ("phone",)


def test_clusters_frame_keeps_input_order_and_best_in_cluster_probability() -> None:
    links = pd.DataFrame(
        {"record_id": ["a", "b", "c", "d"], "lead_id": ["L1", "L1", "L1", "L2"], "cluster_size": [3, 3, 3, 1]}
    )
    pairs = pd.DataFrame(
        {
            "record_id_l": ["a", "b", "a", "c"],
            "record_id_r": ["b", "c", "c", "d"],
            "match_probability": [0.95, 0.99, 0.91, 0.999],  # c-d: scored, not taken by the clustering
        }
    )
    got = clusters_frame(["d", "c", "b", "a"], links, pairs)
    assert list(got.columns) == list(OUTPUT_COLUMNS)
    assert got.to_dict("records") == [
        {"record_id": "d", "cluster_id": "L2", "match_probability": None},
        {"record_id": "c", "cluster_id": "L1", "match_probability": 0.99},
        {"record_id": "b", "cluster_id": "L1", "match_probability": 0.99},
        {"record_id": "a", "cluster_id": "L1", "match_probability": 0.95},
    ]


def test_write_clusters_csv_lf_and_atomic(tmp_path: Path) -> None:
    clusters = pd.DataFrame(
        {"record_id": ["a", "b"], "cluster_id": ["L1", "L2"], "match_probability": [1.0, None]}
    )
    out = write_clusters_csv(clusters, tmp_path / "out.csv")
    assert out.read_bytes() == b"record_id,cluster_id,match_probability\na,L1,1\nb,L2,\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temp file left behind
    with pytest.raises(FileNotFoundError):
        write_clusters_csv(clusters, tmp_path / "nowhere" / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


# ---------------------------------------------------------------------------------------------------
# The vectorised normalisation against the pipeline's per-value helpers (leadlake.core.normalize).

_FORMATS = (
    "({a}) {e}-{s}", "{a}-{e}-{s}", "{a}.{e}.{s}", "{a} {e} {s}", "{a}{e}{s}", "+1 {a} {e} {s}",
    "+1 ({a}) {e}-{s}", "+1{a}{e}{s}", "1-{a}-{e}-{s}", "1 ({a}) {e} {s}", "1{a}{e}{s}", "+{a}{e}{s}",
    "{a}/{e}-{s}", " ({a})  {e}--{s} ", "{a}-{e}-{s} x12", "{a}-{e}-{s} ext. 7", "1-{a}-{e}-{s}-9",
    "{a}-{e}-{t}", "011 1 {a} {e} {s}", "(+1) {a} {e} {s}", "+1-{a}-{e}-{s}", "1 {a} {e} {s} 1",
)  # fmt: skip
# Area codes: toll-free, premium, N11, Caribbean and Canadian NANP codes, unassigned, and 0xx/1xx.
_AREAS = (
    "800", "833", "844", "855", "866", "877", "888", "822", "880", "900", "211", "411", "911", "876",
    "787", "939", "242", "441", "649", "416", "604", "867", "303", "212", "555", "999", "370", "023",
    "123", "100",
)  # fmt: skip
_OTHERS = (
    "+44 20 7946 0958", "020 7946 0958", "+33 1 42 68 53 00", "01 42 68 53 00", "+52 55 1234 5678",
    "1-800-FLOWERS", "1-800-356-9377", "not a phone", "12345", "+", "++1 303 555 0142", "0",
    "+1 303 555 0142 / 0143", "303-555-0142\u00a0", "\uff13\uff10\uff13-555-0142", "+1 242 357 1234",
)  # fmt: skip
_COUNTRIES = ("US", "CA", "", "usa", "GB", "FR", "MX", "PR", "JM", "Canada", "U")


def _generated_phones(n: int) -> tuple[list[str], list[str]]:
    import random

    rng = random.Random(20240601)
    phones, countries = [], []
    for i in range(n):
        if i % 10 == 0:
            raw = rng.choice(_OTHERS)
        else:
            area = rng.choice(_AREAS) if i % 3 else f"{rng.randrange(1000):03d}"
            exchange = f"{rng.randrange(1000):03d}" if i % 4 else rng.choice(("555", "212", "011", "199"))
            station = f"{rng.randrange(10000):04d}"
            raw = rng.choice(_FORMATS).format(a=area, e=exchange, s=station, t=station[:3])
        phones.append(raw)
        countries.append(rng.choice(_COUNTRIES) if i % 2 else "US")
    return phones, countries


def test_phone_fast_path_agrees_with_normalize_phone_and_is_toll_free() -> None:
    from leadlake.core.normalize import is_toll_free, normalize_phone
    from leadlake.stages.silver.resolve.inputs import _clean, _country, _phone_region, normalize_phones

    raws, countries = _generated_phones(4000)
    cleaned = _clean(pd.Series(raws, dtype=object))
    country = _country(pd.Series(countries, dtype=object))
    regions = _phone_region(country)
    e164, toll_free = normalize_phones(cleaned, country)
    expected = [normalize_phone(r, g) if r else None for r, g in zip(cleaned, regions, strict=True)]
    assert list(e164) == expected
    assert list(toll_free) == [is_toll_free(e) for e in expected]
    assert all(type(t) is bool for t in toll_free)
    # The sample covers both paths and both outcomes.
    from leadlake.stages.silver.resolve.inputs import nanp_fast_path

    _, fast = nanp_fast_path(cleaned, regions)
    assert 0.2 < fast.mean() < 0.9
    assert e164[fast].notna().sum() > 500 and e164[fast].isna().sum() > 100
    assert sum(toll_free) > 50
    # Every NANP toll-free area code is toll-free, whichever region the row is in (and a few Caribbean
    # numbers are too, per libphonenumber: Bahamas 242-300-...).
    from leadlake.stages.silver.resolve.inputs import NANP_TOLL_FREE

    nanp = [(e[2:5], t) for e, t in zip(e164, toll_free, strict=True) if e and e.startswith("+1")]
    assert all(t for area, t in nanp if area in NANP_TOLL_FREE)
    assert {area for area, t in nanp if t} >= NANP_TOLL_FREE


def test_registered_domains_on_distinct_hosts_agree_with_registered_domain() -> None:
    from leadlake.core.normalize import registered_domain
    from leadlake.stages.silver.resolve.inputs import registered_domains

    urls = [
        "https://www.shop.example.co.uk/about", "http://Example.COM", "example.com/", "www.example.com?q=1",
        "HTTPS://WWW.EXAMPLE.COM#top", "ftp://example.com", "https://user:pw@example.com:8080/x",
        "example.com:8080", "localhost", "http://192.168.0.1/", "joes-plumbing.net", "https://a.b.c.d.gov.au",
        "mailto:joe@example.com", "https://exa mple.com", "www.", "-bad-.com", "https://xn--caf-dma.fr/",
        "https://café.fr/menu", "blogspot.com", "foo.blogspot.com", "http://www.www.example.org/",
        "example", ".com", "https://example.com./", None, "https://sub.example.k12.ca.us/page",
    ]  # fmt: skip
    got = registered_domains(pd.Series(urls, dtype=object))
    assert list(got) == [registered_domain(u) if u else None for u in urls]


def test_resolving_a_users_file_loads_no_adapter_or_http_client() -> None:
    # `leadlake resolve --input` reads a file and runs Splink: the provider adapters, their HTTP clients
    # and the campaign models are a third of a second of imports it has no use for.
    import subprocess
    import sys

    code = (
        "import sys, pandas as pd\n"
        "import leadlake.cli.resolve\n"
        "from leadlake.stages.silver.resolve import inputs, resolve\n"
        "got = inputs.records_from_frame(pd.DataFrame({'record_id': ['a', 'b'], 'name': ['Joe', 'Joe'],"
        " 'phone': ['303-555-0142', '(303) 555-0142']}))\n"
        "result = resolve(got.records, inputs.settings_for(got))\n"
        "assert len(result.links) == 2\n"
        "print(sorted(m for m in sys.modules if m.startswith(('leadlake.connectors', 'httpx'))"
        " or m == 'leadlake.core.campaign'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_several_files_read_as_one_table_with_ids_qualified_by_file(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("id,name,status\n1,Acme,open\n2,Bolt,open\n", encoding="utf-8")
    b = tmp_path / "b.csv"
    b.write_text("record_id,source,name,status\n1,yelp,Acme Inc,open\n2,,Cog,closed\n", encoding="utf-8")
    got = load_inputs([a, b])
    r = got.records
    assert r["record_id"].tolist() == ["a:1", "a:2", "b:1", "b:2"]
    assert r["provider"].tolist() == ["a", "a", "yelp", "b"]  # a file's own source kept, blanks its name
    assert got.origin is not None
    assert got.origin.to_dict("list") == {"file": ["a", "a", "b", "b"], "record_id": ["1", "2", "1", "2"]}
    assert "2 files: a (2), b (2)" in got.describe() and "id read as record_id (a)" in got.describe()
    clusters = pd.DataFrame({"record_id": r["record_id"], "cluster_id": list("xyxz"), "match_probability": 1})
    out = with_origin(clusters, got.origin)
    assert out.columns.tolist() == ["file", *OUTPUT_COLUMNS]
    assert out["record_id"].tolist() == ["1", "2", "1", "2"] and out["file"].tolist() == ["a", "a", "b", "b"]
    assert load_inputs([a]).origin is None  # one file: ids as given, no file column


def test_an_extra_column_is_judged_on_all_the_files_together(tmp_path: Path) -> None:
    # 21 records sharing one value make 210 pairs, 10 per record: an identifier by the limit; 42 do not.
    paths = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.csv"
        path.write_text("id,name,status\n" + "".join(f"{i},N{i},open\n" for i in range(21)), encoding="utf-8")
        paths.append(path)
    assert load_records(paths[0]).extra == ("status",)
    both = load_inputs(paths)
    assert both.extra == () and both.attributes == ("status",)


@pytest.mark.parametrize("kind", ["gzip", "bz2", "xz", "zip", "parquet"])
def test_compressed_csv_and_parquet_files_read_as_the_csv_would_be(tmp_path: Path, kind: str) -> None:
    text = "record_id;name;postal;lat\n1;Acme;02134;42.35\n2;Bolt;;\n"  # a leading zero, empty values
    plain = tmp_path / "plain.csv"
    plain.write_text(text, encoding="utf-8")
    path = tmp_path / "records.bin"  # the first bytes say what a file is, not its name
    if kind == "zip":
        _zip(path, {"records.csv": text})
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"record_id": [1, 2], "name": ["Acme", "Bolt"], "postal": ["02134", None]})
        pq.write_table(table.append_column("lat", pa.array([42.35, None])), path)
    else:
        import bz2
        import gzip
        import lzma

        path.write_bytes({"gzip": gzip, "bz2": bz2, "xz": lzma}[kind].compress(text.encode()))
    got = read_records_csv(path)
    assert got.to_dict("list") == read_records_csv(plain).to_dict("list")
    assert load_records(path).records["postal"].tolist() == ["02134", None]


def _zip(path: Path, members: dict[str, str]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_archives_and_parquet_the_reader_cannot_take_are_named(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    two = _zip(tmp_path / "two.zip", {"a.csv": "record_id\n1\n", "b.csv": "record_id\n2\n"})
    with pytest.raises(InputError, match="zip of 2 files"):
        read_records_csv(two)
    maps = tmp_path / "maps.parquet"
    pq.write_table(pa.table({"tags": pa.array([[("a", "b")]], type=pa.map_(pa.string(), pa.string()))}), maps)
    with pytest.raises(InputError, match="no column holds text, numbers or places"):
        read_records_csv(maps)
    workbook = _zip(tmp_path / "export.xlsx", {"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<w/>"})
    with pytest.raises(InputError, match="export.xlsx is not a readable spreadsheet .*save it again"):
        read_records_csv(workbook)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputError, match="gzip"):
        read_records_csv(broken)


def _wkb_point(lon: float, lat: float, big_endian: bool = False) -> bytes:
    import struct

    return struct.pack(">BIdd" if big_endian else "<BIdd", 0 if big_endian else 1, 1, lon, lat)


def test_open_places_parquet_files_are_flattened_and_read_as_the_input_columns(tmp_path: Path) -> None:
    """Overture Maps' places (names.primary, addresses[0], websites[0], a WKB point) and Foursquare OS
    Places (flat, but a category list, a bbox struct and a WKB geom): refused before ("holds list")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    address = pa.struct([("freeform", pa.string()), ("locality", pa.string()), ("postcode", pa.string()),
                         ("region", pa.string()), ("country", pa.string())])  # fmt: skip
    overture = pa.table(
        {
            "id": ["08f2a", "08f2b"],
            "geometry": pa.array([_wkb_point(-104.9903, 39.7392), _wkb_point(-105.27, 40.015, True)]),
            "names": pa.array(
                [{"primary": "Joe's Plumbing"}, {"primary": "Rocky Roofing"}],
                type=pa.struct([("primary", pa.string())]),
            ),  # fmt: skip
            "categories": pa.array(
                [{"primary": "plumber", "alternate": ["hvac"]}, None],
                type=pa.struct([("primary", pa.string()), ("alternate", pa.list_(pa.string()))]),
            ),  # fmt: skip
            "websites": pa.array([["https://joesplumbing.com"], []], type=pa.list_(pa.string())),
            "phones": pa.array([["+13035550142", "+13035550100"], None], type=pa.list_(pa.string())),
            "addresses": pa.array(
                [
                    [
                        {
                            "freeform": "1200 Main St",
                            "locality": "Denver",
                            "postcode": "80202",
                            "region": "CO",
                            "country": "US",
                        }
                    ],
                    [],
                ],
                type=pa.list_(address),
            ),  # fmt: skip
            "names_common": pa.array(
                [[("fr", "Plomberie Joe")], None], type=pa.map_(pa.string(), pa.string())
            ),
        }
    )
    path = tmp_path / "overture.parquet"
    pq.write_table(overture, path)
    got = records_from_frame(read_records_csv(path))
    r = got.records
    assert one(r, "08f2a", "name") == "Joe's Plumbing" and one(r, "08f2b", "name") == "Rocky Roofing"
    assert one(r, "08f2a", "address_line1") == "1200 Main St" and one(r, "08f2a", "city") == "Denver"
    assert one(r, "08f2a", "postal") == "80202" and one(r, "08f2a", "country") == "US"
    assert one(r, "08f2a", "phone_e164") == "+13035550142" and one(r, "08f2a", "domain") == "joesplumbing.com"
    assert one(r, "08f2a", "categories") == ["plumber"] and one(r, "08f2b", "domain") is None
    assert one(r, "08f2a", "lat") == 39.7392 and one(r, "08f2a", "lon") == -104.9903
    assert one(r, "08f2b", "lat") == 40.015 and one(r, "08f2b", "lon") == -105.27  # big-endian WKB
    assert "names_common" not in got.extra  # a map: left out
    fsq = pa.table(
        {
            "fsq_place_id": ["4b05"],
            "name": ["Joe's Plumbing"],
            "latitude": [39.7392],
            "longitude": [-104.9903],
            "address": ["1200 Main St"],
            "locality": ["Denver"],
            "postcode": ["80202"],
            "tel": ["(303) 555-0142"],
            "fsq_category_labels": pa.array([["Plumber", "Home Services"]], type=pa.list_(pa.string())),
            "bbox": pa.array(
                [{"xmin": -104.99, "ymin": 39.73}],
                type=pa.struct([("xmin", pa.float64()), ("ymin", pa.float64())]),
            ),  # fmt: skip
            "geom": pa.array([_wkb_point(-104.9903, 39.7392)]),
        }
    )
    path = tmp_path / "fsq.parquet"
    pq.write_table(fsq, path)
    got = records_from_frame(read_records_csv(path))
    r = got.records
    assert one(r, "4b05", "name") == "Joe's Plumbing" and one(r, "4b05", "categories") == ["plumber"]
    assert one(r, "4b05", "phone_e164") == "+13035550142" and one(r, "4b05", "lat") == 39.7392


def test_an_excel_workbook_is_read_as_its_csv_export_would_be(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Lead lists travel as .xlsx: the first sheet is read, cells as text the way Excel's CSV export writes
    them (a phone or ZIP typed as a number without ".0", a date in ISO form, a blank as ""), a blank
    header named by its position, and a second sheet said to be left out."""
    import datetime

    import xlsxwriter

    path = tmp_path / "leads.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Leads")
    rows = [
        ["Record ID", "Company name", "Postal Code", "Phone Number", "Created", None, "Active"],
        [101, "Joe's Plumbing LLC", 80202, 3035550142, datetime.datetime(2024, 1, 2, 9, 30), "x", True],
        [102, "Mile High Dental", "02139", "(303) 555-0199", None, None, False],
        [103.5, "Rocky Roofing", 80301.0, 7205550110, None, "y", None],
    ]
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, datetime.datetime):
                sheet.write_datetime(r, c, value, when)
            elif value is not None:
                sheet.write(r, c, value)
    book.add_worksheet("Notes").write(0, 0, "exported from the CRM")
    book.close()
    with caplog.at_level("WARNING"):
        frame = read_records_csv(path)
    assert list(frame.columns) == ["Record ID", "Company name", "Postal Code", "Phone Number", "Created",
                                   "column_6", "Active"]  # fmt: skip
    assert frame.iloc[0].tolist() == ["101", "Joe's Plumbing LLC", "80202", "3035550142",
                                      "2024-01-02T09:30:00", "x", "true"]  # fmt: skip
    assert frame.iloc[1].tolist() == ["102", "Mile High Dental", "02139", "(303) 555-0199", "", "", "false"]
    assert frame["Record ID"].tolist()[2] == "103.5" and frame["Postal Code"].tolist()[2] == "80301"
    assert "leads.xlsx has 2 sheets: read the first, 'Leads'" in caplog.text
    got = load_inputs([path])
    assert one(got.records, "101", "phone_e164") == "+13035550142"
    assert one(got.records, "102", "postal") == "02139"
    # --sheet: by name (any case) or number; an unknown one lists the sheets; no workbook, no --sheet.
    assert read_records_csv(path, sheet="notes").columns.tolist() == ["exported from the CRM"]
    assert read_records_csv(path, sheet="1").columns.tolist()[0] == "Record ID"
    with pytest.raises(InputError, match="has no sheet 'Deals'; its sheets: 'Leads', 'Notes'"):
        read_records_csv(path, sheet="Deals")
    plain = tmp_path / "plain.csv"
    plain.write_text("record_id,name\na,A\n", encoding="utf-8")
    with pytest.raises(InputError, match="--sheet Leads: no input is a workbook"):
        load_inputs([plain], sheet="Leads")
    assert len(load_inputs([path, plain], sheet="Leads").records) == 4  # the CSV beside it reads as ever


def test_a_formatted_reports_title_lines_are_not_its_column_names(tmp_path: Path) -> None:
    """Salesforce's formatted report puts its name and date above the column names ("Company / Account",
    "Lead ID"); a one-column list of names starts at its first row all the same."""
    import xlsxwriter

    report = tmp_path / "report.xlsx"
    book = xlsxwriter.Workbook(str(report))
    sheet = book.add_worksheet("Report")
    sheet.write(0, 0, "Leads by owner")
    sheet.write_row(1, 0, ["As of 2024-05-01", "Generated by Salesforce"])
    sheet.write_row(3, 0, ["Lead ID", "Company / Account", "Street", "City", "Zip/Postal Code", "Phone"])
    sheet.write_row(4, 0, ["00Q1", "Joe's Plumbing LLC", "1200 Main St", "Denver", "80202", "303-555-0142"])
    book.close()
    got = load_inputs([report])
    assert got.records["record_id"].tolist() == ["00Q1"]
    assert (
        one(got.records, "00Q1", "name") == "Joe's Plumbing LLC"
        and one(got.records, "00Q1", "city") == "Denver"
    )
    assert "company_account read as name" in got.describe()
    names = tmp_path / "names.xlsx"
    book = xlsxwriter.Workbook(str(names))
    book.add_worksheet().write_column(0, 0, ["Company", "Acme Inc", "Bolt LLC"])
    book.close()
    assert read_records_csv(names)["Company"].tolist() == ["Acme Inc", "Bolt LLC"]
