"""Pure normalisation helpers shared by every source adapter: phones, domains, names, streets, log masking."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers
import tldextract
from anyascii import anyascii

# Bundled Public Suffix List snapshot only: no network fetch and no disk cache, so results are reproducible.
_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

# Legal-form words, after punctuation is gone ("N.V." -> "nv", "S.r.l." -> "srl"): US, UK, EU, AU, LatAm.
# Words that are also trades ("spa") or common words ("as", "ab") are left out on purpose.
_LEGAL_SUFFIXES = frozenset(
    {
        "llc", "llp", "lp", "pllc", "inc", "incorporated", "co", "corp", "corporation", "company", "cos",
        "ltd", "limited", "plc", "pc", "gmbh", "mbh", "sa", "sas", "sarl", "srl", "sro", "nv", "bv", "ag",
        "kg", "ohg", "ug", "pty", "bhd", "sdn", "oy", "oyj", "aps", "asa", "kft", "zrt", "bvba", "cv", "sca",
        "lda", "ltda", "spz", "sp", "zoo", "pa", "apc", "psc", "lllp", "ab", "kk", "pte", "pvt", "sl", "slu",
        "sau", "eurl", "snc", "ou",
    }
)  # fmt: skip
# Legal forms of several words once their dots and slashes are gone: Poland's "Sp. z o.o.", Mexico's "S.A.
# de C.V.", Denmark's "A/S" and "I/S".
_LEGAL_PHRASES: tuple[tuple[str, ...], ...] = (
    ("sp", "z", "oo"), ("s", "de", "rl", "de", "cv"), ("sa", "de", "cv"), ("de", "cv"), ("a", "s"),
    ("i", "s"),
)  # fmt: skip
# Trailing family words that only go after "and": "Smith & Sons" -> "smith".
_FAMILY_SUFFIXES = frozenset({"sons", "son", "brothers", "bros", "daughters"})
# Words that say nothing about which business it is, dropped from the word-order-free key.
_NAME_STOPWORDS = frozenset({"the", "and", "of", "a", "an", "de", "la", "le", "el", "der", "die", "das"})

# USPS Publication 28: street suffixes (appendix C1), directionals, secondary unit designators (C2).
_STREET_ABBREVIATIONS: dict[str, str] = {
    "alley": "aly",
    "avenue": "ave",
    "av": "ave",
    "aven": "ave",
    "boulevard": "blvd",
    "boul": "blvd",
    "circle": "cir",
    "court": "ct",
    "crossing": "xing",
    "drive": "dr",
    "drv": "dr",
    "expressway": "expy",
    "freeway": "fwy",
    "highway": "hwy",
    "hiway": "hwy",
    "lane": "ln",
    "parkway": "pkwy",
    "pky": "pkwy",
    "place": "pl",
    "plaza": "plz",
    "road": "rd",
    "route": "rte",
    "square": "sq",
    "street": "st",
    "str": "st",
    "strt": "st",
    "terrace": "ter",
    "trail": "trl",
    "turnpike": "tpke",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
    "apartment": "apt",
    "building": "bldg",
    "department": "dept",
    "floor": "fl",
    "room": "rm",
    "suite": "ste",
}

_EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# Phone-like runs for log masking: optional "+", then at least 8 digits with common separators.
# A run of 10+ digits standing alone: inside a word (a hex hash in a folder name, "id3035550142x") it is
# not a phone, and masking it would break a path a user must open.
_PHONE_RE = re.compile(r"(?<![A-Za-z0-9_])\+?\(?\d(?:[\s().-]{0,2}\d){9,}(?![A-Za-z0-9_])")


def _parse_phone(raw: str, default_region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None


# Parsing a phone with phonenumbers was most of the time of normalising a record. Nearly every number is
# North American: one written as its digits alone is recognised by them and checked against one regular
# expression built from libphonenumber's own NANP metadata (nanp_pattern); the rest are parsed. Both
# answers are pure functions of their text, and numbers come back (a worker's next batch): memoised.
_PHONE_CACHE_SIZE = 1 << 16
# A number phonenumbers reads as its digits alone: digits with spaces, dashes, dots, brackets and slashes,
# and a leading "+" (letters, extensions and anything else go to phonenumbers).
_PLAIN_PHONE = re.compile(r"\+?[0-9 ().\-/]+")
_SEPARATORS = str.maketrans("", "", " ().-/+")
_TWO_TO_NINE = frozenset("23456789")
_MAX_PHONE_TEXT = 250  # phonenumbers refuses longer text as TOO_LONG, so the digits alone must not pass it
NANP_REGIONS = frozenset({"US", "CA"})  # the regions whose 10-digit national numbers are read as NANP here


def normalize_phone(raw: str | None, default_region: str = "US") -> str | None:
    """E.164 form of a phone number, or None when it is missing or not a valid number for its region."""
    if not raw or not str(raw).strip():
        return None
    return _e164(str(raw), default_region or "US")


@functools.lru_cache(maxsize=_PHONE_CACHE_SIZE)
def _e164(raw: str, region: str) -> str | None:
    national = nanp_national(raw, region in NANP_REGIONS)
    if national is not None:
        return "+1" + national if nanp_pattern("valid").fullmatch(national) else None
    number = _parse_phone(raw, region)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone_typed(raw: str | None, default_region: str = "US") -> tuple[str | None, bool]:
    """normalize_phone and is_toll_free of its answer at once: a number phonenumbers must read is parsed
    once, not once per question (the second parse was ~40% of the phones' time in a file from abroad)."""
    if not raw or not str(raw).strip():
        return None, False
    return _e164_typed(str(raw), default_region or "US")


@functools.lru_cache(maxsize=_PHONE_CACHE_SIZE)
def _e164_typed(raw: str, region: str) -> tuple[str | None, bool]:
    if nanp_national(raw, region in NANP_REGIONS) is not None:
        e164 = _e164(raw, region)
        return e164, is_toll_free(e164)
    number = _parse_phone(raw, region)
    if number is None:
        return None, False
    # is_valid_number is "its type is known" (phonenumbers computes the same type for both answers).
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return None, False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164.startswith("+1"):  # North American: typed as is_toll_free types it, from the NANP metadata
        return e164, is_toll_free(e164)
    return e164, kind == phonenumbers.PhoneNumberType.TOLL_FREE


_DIGIT_RUN = "01234567890"  # a number that is a run of it is typed, not dialled


def phone_match_key(raw: str, region: str) -> str | None:
    """A number that is not a valid phone (an unassigned area code, a test or made-up number) as an
    E.164-shaped key for matching only: it still identifies the record that carries it, whichever way it
    is written (an extension is dropped, as for valid numbers). None when its length is impossible for its
    region or it is a placeholder (0000000000)."""
    number = _parse_phone(raw.strip(), region or "US")
    if number is None:
        return None
    national = str(number.national_number)
    placeholder = len(set(national)) < 3 or national in _DIGIT_RUN  # 555-555-5555, 123-456-7890
    if placeholder or not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def nanp_national(text: object, nanp_region: bool) -> str | None:
    """The 10-digit national number of a phone read as North American by its digits alone, else None.

    It qualifies when it is only digits and separators and holds 10 digits (no "+"; parsed in a NANP region)
    or 11 starting with 1 ("+" in front, or a NANP region), its area code and exchange beginning with 2-9."""
    if type(text) is not str or len(text) > _MAX_PHONE_TEXT or not _PLAIN_PHONE.fullmatch(text):
        return None
    digits = text.translate(_SEPARATORS)  # only digits, separators and a leading "+" are left here
    plus = text[0] == "+"
    if len(digits) == 11 and digits[0] == "1" and (plus or nanp_region):
        digits = digits[1:]
    elif len(digits) != 10 or plus or not nanp_region:
        return None
    return digits if digits[0] in _TWO_TO_NINE and digits[3] in _TWO_TO_NINE else None


@functools.cache
def nanp_pattern(kind: str) -> re.Pattern[str]:
    """One regular expression over 10-digit NANP national numbers: kind "valid" takes the numbers
    phonenumbers.is_valid_number accepts, "toll_free" those its number_type calls TOLL_FREE.

    It follows phonenumbers itself: the number's region is the first NANP region whose leading digits
    match it (regions with leading digits) or whose number types take it (regions without); the number is
    valid when that region's general pattern and one of its number types take it, and toll-free when its
    toll-free pattern takes it and its premium-rate pattern (checked first) does not. Number types that
    cannot be 10 digits long are left out, as phonenumbers leaves them out."""
    from phonenumbers.phonemetadata import PhoneMetadata

    types = (
        "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
        "voicemail", "fixed_line", "mobile",
    )  # fmt: skip

    def desc(meta: Any, name: str) -> str | None:
        d = getattr(meta, name)
        if d is None or not d.national_number_pattern:
            return None
        if len(d.possible_length) > 0 and 10 not in d.possible_length:
            return None
        return f"(?:{d.national_number_pattern})"

    # (guard on the regions chosen by validity before this one, term): consecutive terms share a guard.
    terms: list[tuple[str, str]] = []
    earlier_leads: list[str] = []  # regions chosen by leading digits
    earlier_valid: list[str] = []  # regions chosen by validity
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        meta = PhoneMetadata.metadata_for_region(region, None)
        if meta is None:
            continue
        general = desc(meta, "general_desc")
        kinds = [p for p in (desc(meta, t) for t in types) if p]
        lead = f"(?:{meta.leading_digits})" if meta.leading_digits is not None else None
        valid = f"(?={general}\\Z)(?:{'|'.join(kinds)})\\Z" if general and kinds else None
        guard = f"(?!{'|'.join(earlier_leads)})" if earlier_leads else ""
        head = f"(?={lead})" if lead else ""
        if kind == "valid" and valid:
            terms.append(("", f"{head}(?={valid}){guard}"))
        elif kind == "toll_free" and general and (free := desc(meta, "toll_free")):
            premium = desc(meta, "premium_rate")
            not_premium = f"(?!{premium}\\Z)" if premium else ""
            chosen = f"(?!{'|'.join(earlier_valid)})" if earlier_valid else ""
            terms.append((chosen, f"{head}(?={free}\\Z)(?={general}\\Z){not_premium}{guard}"))
        if lead:
            earlier_leads.append(lead)
        elif valid:
            earlier_valid.append(f"(?:{valid})")
    groups: dict[str, list[str]] = {}
    for chosen, term in terms:
        groups.setdefault(chosen, []).append(f"(?:{term})")
    alternatives = "|".join(f"(?:(?:{'|'.join(ts)}){chosen})" for chosen, ts in groups.items())
    # Every term is lookaheads only (cheap tests first: they commute); the digits are then consumed whole.
    return re.compile(f"(?:{alternatives})[0-9]+" if alternatives else "(?!)")


def is_toll_free(e164: str | None) -> bool:
    """True when the number's type (per libphonenumber metadata) is toll-free."""
    if not e164:
        return False
    return _toll_free(str(e164))


@functools.lru_cache(maxsize=_PHONE_CACHE_SIZE)
def _toll_free(e164: str) -> bool:
    national = nanp_national(e164, nanp_region=False)  # "+1" and ten digits
    if national is not None and nanp_pattern("valid").fullmatch(national):
        # A valid North American number (what normalize_phone gives): typed from the same NANP metadata.
        return nanp_pattern("toll_free").fullmatch(national) is not None
    number = _parse_phone(e164, "US")
    return number is not None and phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE


def registered_domain(url: str | None) -> str | None:
    """The registrable domain of a URL or host ("shop.example.co.uk" -> "example.co.uk"); None if none."""
    if not url or not str(url).strip():
        return None
    ext = _TLD(str(url).strip())
    if not ext.domain or not ext.suffix:
        return None  # IP addresses, "localhost", unknown suffixes
    return ext.top_domain_under_public_suffix.lower().removeprefix("www.")


# Han characters are written without spaces between words; each is about a word (a morpheme), so each
# becomes a word of its own: "北京烤鸭店" and "北京 烤鸭店" fold alike ("bei jing kao ya dian").
_HAN_RE = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f])")


def ascii_fold(text: str) -> str:
    """Text in ASCII, whatever its script: accents go ("Café" -> "Cafe", "Straße" -> "Strasse") and other
    scripts are transliterated (anyascii: "Кафе Пушкин" -> "Kafe Pushkin"), so names and streets written
    in any language compare, block and key like Latin ones instead of vanishing."""
    if text.isascii():  # the common case, and much faster
        return text
    return anyascii(_HAN_RE.sub(r" \1 ", unicodedata.normalize("NFC", text)))


_NAME_DROP_RE = re.compile(r"[.'’`]")
_NAME_WORD_RE = re.compile(r"[a-z0-9]+")  # the words left between runs of anything else


# "Owner LLC dba Trade Name", as registries and some providers write a business: the trade name is the
# business's name. d/b/a, d.b.a., "doing business as", t/a and "trading as" alike; the marker must have
# words on both sides ("DBA Consulting" is a name).
_TRADE_NAME_RE = re.compile(
    r"\S.*?[\s,]\s*(?:d\s?/\s?b\s?/\s?a|d\.\s?b\.\s?a\.?|dba|doing business as|t\s?/\s?a|trading as)"
    r"(?=[\s:])[\s:]+(?=\S)"
)


def trade_name(name: str) -> str:
    """The trade name of "Owner LLC dba Trade Name" (any case of the marker kept as written); the name
    itself when it names no other."""
    match = _TRADE_NAME_RE.match(name)
    return name[match.end() :] if match else name


def _name_words(name: str) -> list[str]:
    """A name's words as names compare them: ASCII, lower case, the trade name of a "dba", "&" and "+" as
    "and", no dots or apostrophes ("L.L.C." -> "llc", "Joe's" -> "joes")."""
    text = trade_name(ascii_fold(name).lower()).replace("&", " and ").replace("+", " and ")
    bare = _QUALIFIER_RE.sub("", text)
    if bare.strip():
        text = bare
    return _NAME_WORD_RE.findall(_NAME_DROP_RE.sub("", text))


_QUALIFIER_RE = re.compile(r"\s*\([^()]*\)\s*$")


# Holding-style words: with one other word and a legal form they make an owner's registered name that says
# nothing of the trade ("Green Group LLC", "Nelson Holdings, Inc.").
_ENTITY_WORDS = frozenset(
    {
        "holdings", "holding", "group", "ventures", "enterprises", "enterprise", "partners", "services",
        "management", "investments", "investment", "capital", "properties", "industries", "associates",
        "resources", "companies",
    }
)  # fmt: skip


def is_entity_name(name: str | None) -> bool:
    """A registered owner's name that names no trade: at most two words, the last holding-style, then a
    legal form ("Green Group LLC"). Unlike a trade name, it says nothing about which business it is."""
    if not name:
        return False
    tokens = _name_words(name)
    legal = False
    while len(tokens) > 1 and tokens[-1] in _LEGAL_SUFFIXES:
        tokens.pop()
        legal = True
    return legal and len(tokens) <= 2 and tokens[-1] in _ENTITY_WORDS


# Names come back (a business's name from each provider, a chain's branches): a pure function, memoised.
@functools.lru_cache(maxsize=1 << 16)
def normalize_name(name: str | None) -> str:
    """Comparable business name: lowercase, no accents or punctuation, "&" -> "and", no legal suffix.

    Trailing legal forms go in any combination ("GmbH & Co. KG", "Pty Ltd", "& Sons"); a suffix that would
    leave nothing stays ("Co" alone)."""
    if not name:
        return ""
    tokens = _name_words(name)
    # Only trailing suffixes go: "Co Springs Plumbing" keeps its "co"; never drop the whole name.
    while len(tokens) > 1:
        phrase = next(
            (f for f in _LEGAL_PHRASES if len(tokens) > len(f) and tuple(tokens[-len(f) :]) == f), None
        )
        if phrase is not None:
            del tokens[-len(phrase) :]
        elif tokens[-1] in _LEGAL_SUFFIXES:
            tokens.pop()
        elif tokens[-1] in _FAMILY_SUFFIXES and len(tokens) > 2 and tokens[-2] == "and":
            del tokens[-2:]
        elif tokens[-1] == "and" and len(tokens) > 1:
            tokens.pop()  # left over from "Smith & Co"
        else:
            break
    return " ".join(tokens)


def sorted_name_key(name_norm: str | None) -> str:
    """A normalised name with its words sorted and stopwords dropped: "steak house the" and "the steak
    house" are both "house steak". Falls back to all words when only stopwords are left."""
    if not name_norm:
        return ""
    tokens = name_norm.split()
    kept = [t for t in tokens if t not in _NAME_STOPWORDS] or tokens
    return " ".join(sorted(kept))


_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"), "l": "4",
    **dict.fromkeys("mn", "5"), "r": "6",
}  # fmt: skip


@functools.lru_cache(maxsize=65536)
def _soundex_cached(word: str) -> str:
    return _soundex(word)


def soundex(word: str | None) -> str:
    """American Soundex of a word ("Robert" and "Rupert" -> "R163"); digits are kept as they are."""
    return _soundex_cached(word) if word else _soundex(word)


def _soundex(word: str | None) -> str:
    """American Soundex of a word ("Robert" and "Rupert" -> "R163"); digits are kept as they are."""
    letters = re.sub(r"[^a-z0-9]", "", ascii_fold(word or "").lower())
    if not letters:
        return ""
    if letters[0].isdigit():
        return letters
    code, previous = letters[0].upper(), _SOUNDEX_CODES.get(letters[0], "")
    for char in letters[1:]:
        digit = _SOUNDEX_CODES.get(char, "")
        if digit and digit != previous:
            code += digit
            if len(code) == 4:
                break
        if char not in "hw":  # h and w do not separate letters with the same code
            previous = digit
    return code.ljust(4, "0")


def phonetic_name_key(name_norm: str | None) -> str:
    """Soundex of each word of the word-order-free name, sorted: tolerant to typos and word order."""
    return " ".join(sorted(soundex(t) for t in sorted_name_key(name_norm).split()))


_UNIT_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")
_TEEN_ORDINALS = ("tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
                  "seventeenth", "eighteenth", "nineteenth")  # fmt: skip
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


# Spelled-out ordinals, 1st to 99th ("ninth", "twenty-first", "forty second"), as numerals: providers write
# "Fifth Ave" and "5th Ave" for one street.
_ORDINAL_WORDS: dict[str, str] = {w: _ordinal(i + 1) for i, w in enumerate(_UNIT_ORDINALS)}
_ORDINAL_WORDS |= {w: _ordinal(i + 10) for i, w in enumerate(_TEEN_ORDINALS)}
_ORDINAL_WORDS |= {f"{t[:-1]}ieth": _ordinal(10 * (i + 2)) for i, t in enumerate(_TENS)}
_ORDINAL_WORDS |= {
    f"{t}-{u}": _ordinal(10 * (i + 2) + j + 1)
    for i, t in enumerate(_TENS)
    for j, u in enumerate(_UNIT_ORDINALS)
}
_TENS_VALUE = {t: 10 * (i + 2) for i, t in enumerate(_TENS)}


def _numeral_ordinals(tokens: list[str]) -> list[str]:
    """Tokens with spelled-out ordinals as numerals; "forty second" (two words) becomes one "42nd"."""
    out: list[str] = []
    for t in tokens:
        if out and out[-1] in _TENS_VALUE and t in _UNIT_ORDINALS:
            out[-1] = _ordinal(_TENS_VALUE[out[-1]] + _UNIT_ORDINALS.index(t) + 1)
        else:
            out.append(_ORDINAL_WORDS.get(t, t))
    return out


_STREET_SEPARATOR_RE = re.compile(r"[^a-z0-9#/-]+")
_UNIT_SIGN_RE = re.compile(r"# (\w)")


def normalize_street(line: str | None) -> str:
    """Street line with USPS Publication 28 abbreviations and ordinals as numerals ("Ninth Avenue" ->
    "9th ave"), lowercase, punctuation removed."""
    if not line:
        return ""
    text = ascii_fold(line).lower()
    sign = "#" in text
    if sign:
        text = text.replace("#", " # ")
    words = _STREET_SEPARATOR_RE.sub(" ", text).split()
    if not _ORDINAL_WORDS.keys().isdisjoint(words):  # most streets spell no ordinal: skip the walk
        words = _numeral_ordinals(words)
    abbreviation = _STREET_ABBREVIATIONS.get
    street = " ".join([abbreviation(t, t) for t in words])
    return _UNIT_SIGN_RE.sub(r"#\1", street) if sign else street


# One-line addresses ("street, city, region postcode[, country]"), as map exports and CRMs write them.
# Postcodes: US ZIP(+4), UK, Canadian, or 4-6 digits (most of Europe, Asia, Australia).
_POSTCODE_RE = re.compile(
    r"\b(?:\d{5}-\d{4}|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d|\d{4,6})\b", re.IGNORECASE
)
_COUNTRY_TAIL_RE = re.compile(r"^(?:usa|us|united states(?: of america)?|uk|united kingdom|canada)$", re.I)
# A leading part that is not yet the street: "Unit 5", "Suite 200", "#12", "12" (French: "12, Rue ...").
_UNIT_ONLY_RE = re.compile(r"(?:ste|suite|unit|apt|flat|rm|fl|bldg)\s?#?\s*[\w-]*|#?\s*\d+[a-z]?")
_STATE_CODE_RE = re.compile(r"\s*\b[A-Z]{2}\s*$")


@dataclass(frozen=True)
class OneLineAddress:
    """The parts of a one-line address: the street line, and the city and postcode when it names them."""

    street: str
    city: str | None
    postal: str | None


def split_one_line_address(line: str | None) -> OneLineAddress | None:
    """A one-line address cut into street, city and postcode ("1200 Main St, Suite 2, Denver, CO 80202,
    USA" -> "1200 Main St", "Denver", "80202"); None for a street line alone (no comma followed by a
    postcode or a country), which is the common case."""
    if not line or "," not in line:
        return None
    parts = [p.strip() for p in line.split(",") if p.strip()]
    units = [bool(_UNIT_ONLY_RE.fullmatch(normalize_street(p))) for p in parts]
    first = next((i for i in range(len(parts) - 1) if not units[i]), None)
    if first is None:
        return None
    # The locality: what follows the street, without units ("Suite 2100" is no postcode) or a country.
    locality = [p for p, unit in zip(parts[first + 1 :], units[first + 1 :], strict=True) if not unit]
    # The last postcode-like run: a house number after a venue's name ("Mandalay Bay, 3930 S Las Vegas
    # Blvd, ..., NV 89119") comes before the postcode.
    postcode = next(reversed(list(_POSTCODE_RE.finditer(", ".join(locality)))), None)
    if postcode is None and not (locality and _COUNTRY_TAIL_RE.match(locality[-1])):
        return None
    # The town is named beside the postcode ("Edinburgh EH1 1NB", "1010 Wien"), else it is the last name
    # before it: "Biltmore/Arcadia, Phoenix, AZ 85253" and "Old Town, Edinburgh ..." name a district first.
    names = [_STATE_CODE_RE.sub("", _POSTCODE_RE.sub("", part)).strip() for part in locality]
    at = next((i for i in reversed(range(len(locality))) if _POSTCODE_RE.search(locality[i])), len(locality))
    towns = [
        n for n in names[: at + 1] if n and not _COUNTRY_TAIL_RE.match(n) and not any(c.isdigit() for c in n)
    ]
    city = names[at] if at < len(names) and names[at] in towns else (towns[-1] if towns else None)
    street = ", ".join(parts[: first + 1])
    return OneLineAddress(street, city, postcode.group(0).upper() if postcode else None)


def mask_email(s: str) -> str:
    """Every email in the text masked for logs: "john@example.com" -> "j***@example.com"."""
    return _EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", s)


# A decimal number (a coordinate, "-122.8767686"): one dot after at most three digits, then five or more.
_DECIMAL_RE = re.compile(r"\d{1,3}\.\d{5,}")


def _mask_phone_match(match: re.Match[str]) -> str:
    token = match.group(0)
    if _DECIMAL_RE.fullmatch(token):
        return token
    digits = re.sub(r"\D", "", token)
    prefix = ""
    if token.startswith("+"):
        number = _parse_phone(token, "US")
        cc = str(number.country_code) if number is not None else digits[:1]
        prefix, digits = "+" + cc, digits[len(cc) :]
    return prefix + "*" * max(len(digits) - 4, 0) + digits[-4:]


def mask_phone(s: str) -> str:
    """Every phone-like run in the text masked for logs, keeping the country code and last four digits."""
    return _PHONE_RE.sub(_mask_phone_match, s)


# Query parameters that carry credentials (OpenCorporates `api_token`, Hunter `api_key`); never logged.
SECRET_PARAMS: tuple[str, ...] = ("api_key", "api_token", "apikey", "key")
_SECRET_RE = re.compile(r"([?&](?:" + "|".join(SECRET_PARAMS) + r")=)[^&#\s\"]*", re.IGNORECASE)


def redact_url(text: str) -> str:
    """Text with credential query parameters blanked: "?api_key=abc" -> "?api_key=***"."""
    return _SECRET_RE.sub(r"\1***", text)


def mask_pii(s: str) -> str:
    """Text safe to log: emails and phone numbers masked."""
    return mask_phone(mask_email(s))


def mask_for_log(s: str) -> str:
    """Text safe to log: emails and phones masked, credential query parameters blanked."""
    return redact_url(mask_pii(s))


def parse_timestamp(value: object) -> datetime | None:
    """A HubSpot timestamp (ISO-8601 with Z, or epoch milliseconds) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
