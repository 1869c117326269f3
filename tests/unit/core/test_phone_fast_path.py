"""normalize_phone and is_toll_free answer most North American numbers without phonenumbers' parser: what
they say must be what phonenumbers itself says, for every area code, written every usual way."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from leadlake.core.normalize import (
    NANP_REGIONS,
    is_toll_free,
    nanp_national,
    normalize_phone,
    normalize_phone_typed,
)


def _reference_e164(raw: str, region: str) -> str | None:
    """What phonenumbers alone says: parsed in the region, valid, in E.164."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _reference_toll_free(e164: str) -> bool:
    number = phonenumbers.parse(e164, "US")
    return phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE


def _written(npa: str, nxx: str, line: str, rng: random.Random) -> str:
    """One number written one of the ways providers and users write it."""
    forms = (
        f"+1 {npa}-{nxx}-{line}",
        f"+1{npa}{nxx}{line}",
        f"({npa}) {nxx}-{line}",
        f"{npa}.{nxx}.{line}",
        f"1-{npa}-{nxx}-{line}",
        f"1{npa}{nxx}{line}",
        f"{npa}/{nxx}-{line}",
        f"{npa}{nxx}{line}",
    )
    return rng.choice(forms)


def _sample() -> list[tuple[str, str]]:
    rng = random.Random(16)
    pairs = []
    for npa in range(200, 1000):  # every area code, with exchanges that do and do not begin with 2-9
        for _ in range(3):
            nxx = f"{rng.randint(0, 999):03d}" if rng.random() < 0.15 else f"{rng.randint(200, 999)}"
            number = _written(str(npa), nxx, f"{rng.randint(0, 9999):04d}", rng)
            pairs.append((number, rng.choice(["US", "US", "CA", "GB", "DE", "PR", "BS"])))
    # Toll-free and Caribbean numbers libphonenumber types specially, and the shapes the fast path refuses.
    pairs += [(f"+1 8{d}{d}-{x}55-0100", "US") for d in "0345678" for x in "2019"]
    pairs += [("+1 242-300-1234", "US"), ("(242) 300-1234", "BS"), ("+1 868-800-1234", "TT")]
    pairs += [("(123) 456-7890", "US"), ("555-0101", "US"), ("+44 20 7183 8750", "US")]
    pairs += [("020 7183 8750", "GB"), ("+61 2 9374 4000", "AU")]
    pairs += [("+1 303 555 0101 ext. 12", "US"), ("+1 303 555 0101#", "US"), (" +1 303 555 0101", "US")]
    pairs += [("+1" + " " * 240 + "3035550101", "US"), ("+1 303-555-0101", "ZZ"), ("3035550101", "us")]
    return pairs


def test_normalize_phone_says_what_phonenumbers_says() -> None:
    pairs = _sample()
    for raw, region in pairs:
        assert normalize_phone(raw, region) == _reference_e164(raw, region), (raw, region)
    # The sample exercises the fast path on most numbers, with both answers, and the parser on the rest.
    fast = [nanp_national(raw, region in NANP_REGIONS) is not None for raw, region in pairs]
    assert 0.5 < sum(fast) / len(pairs) < 0.95
    fast_pairs = [pair for pair, f in zip(pairs, fast, strict=True) if f]
    assert {normalize_phone(raw, region) is None for raw, region in fast_pairs} == {True, False}


def test_is_toll_free_says_what_number_type_says() -> None:
    numbers = {normalize_phone(raw, region) for raw, region in _sample()} - {None}
    numbers |= {"+18005550100", "+19005550100", "+442079460958", "+61180012345", "+12423001234"}
    free = {e164 for e164 in numbers if is_toll_free(e164)}
    assert free == {e164 for e164 in numbers if _reference_toll_free(e164)}
    assert "+18005550100" in free and len(free) > 20


@pytest.mark.parametrize(
    ("text", "nanp_region", "expected"),
    [
        ("+1 (303) 555-0101", False, "3035550101"),  # "+1" says NANP whatever the region
        ("303-555-0101", True, "3035550101"),
        ("303-555-0101", False, None),  # ten digits without "+1" are NANP only in a NANP region
        ("1 303 555 0101", True, "3035550101"),
        ("+44 20 7183 8750", True, None),
        ("(103) 555-0101", True, None),  # area codes and exchanges begin with 2-9
        ("303 155 0101", True, None),
        ("303 555 0101 x12", True, None),  # an extension: for the parser
        ("+1" + " " * 250 + "3035550101", True, None),  # longer than phonenumbers reads
        (3035550101, True, None),
    ],
)
def test_nanp_national_reads_only_plain_north_american_numbers(
    text: object, nanp_region: bool, expected: str | None
) -> None:
    assert nanp_national(text, nanp_region) == expected


def _world_sample() -> list[tuple[str, str]]:
    """Every region's example number of every type libphonenumber knows, written national, international
    and E.164, parsed in its own region and in another; plus the North American sample and junk."""
    rng = random.Random(7)
    formats = (
        phonenumbers.PhoneNumberFormat.NATIONAL,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.E164,
    )
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    pairs = []
    for region in regions:
        for kind in range(12):  # every PhoneNumberType with examples (FIXED_LINE ... VOICEMAIL)
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for fmt in formats:
                pairs.append((phonenumbers.format_number(example, fmt), rng.choice([region, "US", "GB"])))
    return [*pairs, *_sample(), ("not a phone", "US"), ("+", "DE"), ("", "US"), ("00 44 20 7183 8750", "FR")]


def test_one_parse_answers_both_questions_as_they_are_answered_apart() -> None:
    pairs = _world_sample()
    assert len(pairs) > 2000
    typed = [normalize_phone_typed(raw, region) for raw, region in pairs]
    apart = [(e164 := normalize_phone(raw, region), is_toll_free(e164)) for raw, region in pairs]
    assert typed == apart
    assert sum(t for _, t in typed) > 100 and sum(e is None for e, _ in typed) > 10  # both answers seen
