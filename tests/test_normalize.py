"""Pure normalisation helpers: phones, domains, names, streets, log masking."""

from __future__ import annotations

import pytest

from leadlake.core.normalize import (
    is_entity_name,
    is_toll_free,
    mask_email,
    mask_phone,
    mask_pii,
    normalize_name,
    normalize_phone,
    normalize_street,
    registered_domain,
    split_one_line_address,
)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(303) 555-0101", "US", "+13035550101"),
        ("303.555.0101", "US", "+13035550101"),
        ("+1 303-555-0101", "US", "+13035550101"),
        ("+44 20 7183 8750", "US", "+442071838750"),
        ("020 7183 8750", "GB", "+442071838750"),
        ("1-800-555-0199", "US", "+18005550199"),
        ("555-0101", "US", None),  # too short to be a US number
        ("(123) 456-7890", "US", None),  # area codes never start with 1
        ("not a phone", "US", None),
        ("", "US", None),
        (None, "US", None),
    ],
)
def test_normalize_phone(raw: str | None, region: str, expected: str | None) -> None:
    assert normalize_phone(raw, region) == expected


def test_toll_free_uses_number_type() -> None:
    assert is_toll_free("+18005550199")
    assert is_toll_free(normalize_phone("(888) 555-0123"))
    assert not is_toll_free("+13035550101")
    assert not is_toll_free(None)
    assert not is_toll_free("garbage")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.example.com/about", "example.com"),
        ("http://shop.blog.example.com:8080/x?y=1", "example.com"),
        ("https://www.bbc.co.uk/news", "bbc.co.uk"),
        ("forums.bbc.co.uk", "bbc.co.uk"),
        ("Example.COM", "example.com"),
        ("www.acme-plumbing.us/", "acme-plumbing.us"),
        ("http://127.0.0.1:8000/", None),
        ("localhost", None),
        ("", None),
        (None, None),
    ],
)
def test_registered_domain(url: str | None, expected: str | None) -> None:
    assert registered_domain(url) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme Plumbing, LLC", "acme plumbing"),
        ("Acme Plumbing L.L.C.", "acme plumbing"),
        ("Smith & Sons Co., Inc.", "smith"),  # "& Sons" is a legal-form tail (issue 13)
        ("Café Ñandú Ltd", "cafe nandu"),
        ("Joe's   Garage", "joes garage"),
        ("A-1 Electric Company", "a 1 electric"),
        ("Co Springs Roofing", "co springs roofing"),  # only trailing suffixes go
        ("Company", "company"),  # never empty a name
        # A listing's trailing qualifier names the branch or the town, not the business (Fodor's guide:
        # "Spago (Los Angeles)" is Zagat's "Spago").
        ("Spago (Los Angeles)", "spago"),
        ("Ritz-Carlton Cafe (Buckhead) LLC", "ritz carlton cafe buckhead"),  # not trailing: kept
        ("Starbucks (Pike Place), Inc.", "starbucks pike place"),  # before the legal form: kept
        ("(Closed)", "closed"),  # never empty a name
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_name(name: str | None, expected: str) -> None:
    assert normalize_name(name) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("123 North Main Street", "123 n main st"),
        ("123 N. Main St.", "123 n main st"),
        ("45 West Elm Avenue, Suite 200", "45 w elm ave ste 200"),
        ("9 Lakeshore Boulevard #12", "9 lakeshore blvd #12"),
        ("700 Parkway Drive Apartment 3B", "700 pkwy dr apt 3b"),
        ("747 Ninth Avenue", "747 9th ave"),  # spelled-out ordinals as numerals
        ("12 Twenty-First Street", "12 21st st"),
        ("5 West Forty Second Street", "5 w 42nd st"),
        ("3 Eleventh Ave, Second Floor", "3 11th ave 2nd fl"),
        ("1 Thirty Street", "1 thirty st"),  # a cardinal is a name, not an ordinal
        ("", ""),
    ],
)
def test_normalize_street(line: str, expected: str) -> None:
    assert normalize_street(line) == expected


def test_street_forms_from_two_providers_agree() -> None:
    assert normalize_street("1200 Southwest Oak Street") == normalize_street("1200 SW Oak St.")


def test_mask_email() -> None:
    assert mask_email("john@example.com") == "j***@example.com"
    assert mask_email("to a.b+c@mail.example.org and x@y.io") == "to a***@mail.example.org and x***@y.io"
    assert mask_email("no email here") == "no email here"


def test_mask_phone() -> None:
    assert mask_phone("+13035550101") == "+1******0101"
    assert mask_phone("call (303) 555-0101 today") == "call ******0101 today"
    assert mask_phone("+44 20 7183 8750") == "+44******8750"
    assert mask_phone("run 2024-01-01 page 3") == "run 2024-01-01 page 3"
    # A coordinate is not a phone (an error about a file's lat names the value); dotted phones still are.
    assert mask_phone("lat is '-122.8767686'") == "lat is '-122.8767686'"
    assert mask_phone("303.555.0101 or 1.303.555.0101") == "******0101 or *******0101"


def test_mask_pii_leaves_no_contact_details() -> None:
    text = mask_pii("lead jane.doe@acme.com phone +1 303 555 0101")
    assert "jane.doe" not in text and "555" not in text
    assert text.endswith("+1******0101")


def test_the_toll_free_shortcut_agrees_with_libphonenumber_on_every_nanp_prefix() -> None:
    """is_toll_free answers most +1 numbers without parsing them: it must say what number_type() says."""
    import random

    import phonenumbers

    from leadlake.core.normalize import _toll_free

    rng = random.Random(7)
    numbers = [f"+1{npa}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}" for npa in range(200, 1000)]
    numbers += [f"+18{d}{d}{x}5550100" for d in "0345678" for x in "2019"]
    numbers += ["+18005550100", "+19005550100", "+442079460958", "+61180012345"]
    _toll_free.cache_clear()
    for e164 in numbers:
        parsed = phonenumbers.parse(e164, "US")
        expected = phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE
        assert _toll_free(e164) is expected, e164
    assert _toll_free("+18005550100") and not _toll_free("+13035550101")


@pytest.mark.parametrize(
    ("line", "parts"),
    [
        ("1200 Main St, Suite 2, Denver, CO 80202-1234, USA", ("1200 Main St", "Denver", "80202-1234")),
        ("Unit 5, 12 High St, Leeds LS1 4AB, UK", ("Unit 5, 12 High St", "Leeds", "LS1 4AB")),
        ("Hauptstraße 5, 80331 München, Deutschland", ("Hauptstraße 5", "München", "80331")),
        ("12, Rue de Rivoli, 75001 Paris", ("12, Rue de Rivoli", "Paris", "75001")),
        ("45 Oak Avenue, Toronto, ON M5V 2T6", ("45 Oak Avenue", "Toronto", "M5V 2T6")),
        ("7 Elm St, Springfield, USA", ("7 Elm St", "Springfield", None)),
        # A district before the town: the town is beside the postcode, or the last name before it.
        (
            "15 Blackfriars Street, Old Town, Edinburgh EH1 1NB",
            ("15 Blackfriars Street", "Edinburgh", "EH1 1NB"),
        ),
        (
            "5532 N Palo Cristi Rd, Biltmore/Arcadia, Phoenix, AZ 85253",
            ("5532 N Palo Cristi Rd", "Phoenix", "85253"),
        ),
        ("Herrengasse 14, 1010 Wien, Austria", ("Herrengasse 14", "Wien", "1010")),
        # A venue's name first: its house number is not the postcode.
        (
            "Mandalay Bay, 3930 S Las Vegas Blvd, The Strip, Las Vegas, NV 89119",
            ("Mandalay Bay", "Las Vegas", "89119"),
        ),
        ("1200 Main St", None),  # a street line alone
        ("1200 Main St, Suite 2100", None),  # a suite number is no postcode
        ("PO Box 12, Springfield", None),
    ],
)
def test_split_one_line_address(line: str, parts: tuple[str, str | None, str | None] | None) -> None:
    got = split_one_line_address(line)
    assert (None if got is None else (got.street, got.city, got.postal)) == parts


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Williams Group LLC dba Nelson & Sons Law Group", "nelson and sons law group"),
        ("Smith Holdings, Inc. d/b/a Joe's Pizza", "joes pizza"),
        ("ACME LTD T/A Acme Plumbing", "acme plumbing"),
        ("Acme Corp. d.b.a. Road Runner Cafe", "road runner cafe"),
        ("Smith Co, doing business as: Blue Cafe", "blue cafe"),
        ("Kelly Ventures LLC trading as Harbor Dental", "harbor dental"),
        ("DBA Consulting", "dba consulting"),  # the marker needs a name before it
        ("Tea Bar DBA", "tea bar dba"),  # and one after it
    ],
)
def test_a_name_doing_business_as_another_is_the_trade_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Green Group LLC", True),
        ("Nelson Holdings, Inc.", True),
        ("Peterson Partners L.L.C.", True),
        ("Group Holdings Ltd", True),
        ("Green Group", False),  # no legal form: a trade name may be anything
        ("Rodriguez & Associates", False),
        ("Hometown Bakery Corp.", False),  # names its trade
        ("Green Roofing Group LLC", False),  # three words: one of them may be the trade
        ("Williams Group LLC dba Nelson Law", False),  # the trade name is the name
        ("", False),
        (None, False),
    ],
)
def test_an_owners_registered_name_is_told_from_a_trade_name(raw: str | None, expected: bool) -> None:
    assert is_entity_name(raw) is expected
