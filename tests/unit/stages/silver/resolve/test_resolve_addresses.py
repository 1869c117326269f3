"""Addresses as sources write them: a brand's two branches a few doors apart stay two leads, one branch
listed twice (street spelled out or abbreviated) is one, and a one-line address meets a split one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadlake.stages.silver.resolve import evaluate_links, resolve
from leadlake.stages.silver.resolve.inputs import records_from_frame, settings_for
from leadlake.stages.silver.resolve.link import active_comparisons
from leadlake.stages.silver.resolve.prepare import address_key, prepare, street_key

BRANDS = [
    "Golden Bakery", "Rocky Plumbing", "Blue Door Dental", "Summit Roofing", "Urban Salon", "Prime Auto",
    "Coastal Tacos", "Silver Spoon Cafe",
]  # fmt: skip
CITIES = [
    "Denver",
    "Aurora",
    "Lakewood",
    "Boulder",
    "Golden",
    "Arvada",
    "Littleton",
    "Parker",
    "Brighton",
    "Erie",
    "Louisville",
    "Lafayette",
]
STREETS = [
    "Oak Ave", "Main St", "Pine Rd", "Elm St", "Cedar Ln", "Lake Blvd", "Maple Dr", "Birch Way", "Hill Rd",
    "River St", "Park Ave", "Mill Rd",
]  # fmt: skip


# 15 x 20 business names, none like another ("Alvarez Dental", "Brennan Tacos").
OWNERS = ["Alvarez", "Brennan", "Castillo", "Dempsey", "Eriksen", "Fujimoto", "Gallagher", "Horvath",
          "Ivanova", "Jablonski", "Kowalczyk", "Lindqvist", "Moreau", "Nakamura", "Okafor"]  # fmt: skip
TRADES = ["Dental", "Tacos", "Roofing", "Optics", "Tailoring", "Locksmith", "Florist", "Pharmacy", "Bookshop",
          "Hardware", "Laundry", "Pilates", "Veterinary", "Upholstery", "Printing", "Bicycles", "Glazing",
          "Accounting", "Catering", "Chiropractic"]  # fmt: skip


def _branches(brands: int, streets: int, towns: int) -> tuple[pd.DataFrame, dict[str, str]]:
    """Each brand twice on each street (numbers 40 apart, no phone or coordinates; a street's ZIP and town
    are one of `towns`); source b lists every other branch again, the street type spelled out."""
    rows, truth = [], {}
    for i, brand in enumerate(BRANDS[:brands]):
        for j, street in enumerate(STREETS[:streets]):
            for k, number in enumerate((100 + 10 * i + j, 140 + 10 * i + j)):
                key = f"{i}-{j}-{k}"
                rows.append(
                    {
                        "record_id": f"a:{key}",
                        "source": "a",
                        "name": brand,
                        "address": f"{number} {street}",
                        "city": CITIES[j % towns],
                        "postal": f"802{j % towns:02d}",
                    }
                )
                truth[f"a:{key}"] = key
                if (i + j + k) % 2 == 0:
                    spelled = street.replace("Ave", "Avenue").replace("St", "Street").replace("Rd", "Road")
                    rows.append(
                        {
                            "record_id": f"b:{key}",
                            "source": "b",
                            "name": brand.upper(),
                            "address": f"{number} {spelled}",
                            "city": CITIES[j % towns],
                            "postal": f"802{j % towns:02d}-0000",
                        }
                    )
                    truth[f"b:{key}"] = key
    return pd.DataFrame(rows), truth  # fmt: skip


def test_branches_a_few_doors_apart_stay_apart_and_twins_link() -> None:
    frame, truth = _branches(brands=5, streets=6, towns=1)  # one town and ZIP: only the street tells
    loaded = records_from_frame(frame)
    got = resolve(loaded.records, settings_for(loaded))
    scores = evaluate_links(got.links, truth)
    # "102 Oak Ave" / "142 Oak Ave" are Jaro-Winkler 0.95 alike: before house numbers counted, every
    # such pair of branches merged (precision 0.33 here).
    assert scores["precision"] == 1.0, scores
    assert scores["recall"] >= 0.9, scores


def test_one_line_addresses_link_to_split_ones() -> None:
    """Source a writes "100 Oak Ave, Denver, CO 80200, USA" in the address and nothing in city or postal
    (a map export); source b splits it. Before the address was split, none of the twins linked."""
    frame, truth = _branches(brands=8, streets=12, towns=12)
    one_line = frame["source"] == "a"
    frame.loc[one_line, "address"] += (
        ", " + frame.loc[one_line, "city"] + ", CO " + frame.loc[one_line, "postal"]
    )
    frame.loc[one_line, "address"] += ", USA"
    frame.loc[one_line, ["city", "postal"]] = ""
    loaded = records_from_frame(frame)
    got = resolve(loaded.records, settings_for(loaded))
    scores = evaluate_links(got.links, truth)
    assert scores["precision"] == 1.0, scores
    assert scores["recall"] >= 0.9, scores


def test_streets_without_a_house_number_are_still_compared() -> None:
    """A street with no number at all ("Main St", "Hauptstraße") must still be compared: the number only
    sharpens it."""
    rows = [
        {"record_id": f"r{i}", "name": f"Firma {i}", "address": ("Hauptstraße", "Main St")[i % 2],
         "city": "Berlin", "postal": f"10{i % 100:03d}", "country": "DE"}
        for i in range(300)
    ]  # fmt: skip
    loaded = records_from_frame(pd.DataFrame(rows))
    cfg = settings_for(loaded)
    prep = prepare(loaded.records, cfg)
    assert prep["address_number"].isna().all()
    assert "address" in [spec.name for spec in active_comparisons(cfg, prep)]


def test_a_house_number_after_the_street_is_the_house_number() -> None:
    """Most of Europe writes the number after the street, and German sources write "Straße" or "Str.":
    one key for all of them, so the number keeps two doors apart as it does "102 Oak Ave"."""
    keys = [
        address_key(a)
        for a in ("Berliner Straße 5", "Berliner Str. 5", "5 Berliner Strasse", "Hauptstraße 12a",
                  "Hauptstr. 12a", "Via Roma 10/B", "Rue de Rivoli 12, 75001 Paris, France")
    ]  # fmt: skip
    assert keys == [
        "5 berliner st", "5 berliner st", "5 berliner st", "12a hauptstr", "12a hauptstr", "10/b via roma",
        "12 rue de rivoli",
    ]  # fmt: skip
    rows, truth = [], {}
    for i, brand in enumerate(["Bäckerei Schmidt", "Apotheke am Markt", "Friseur Klein", "Autohaus Weber"]):
        for j, street in enumerate(["Berliner Straße", "Hauptstraße", "Lindenallee", "Gartenweg"]):
            for k, number in enumerate((10 + i + j, 14 + i + j)):  # two branches four doors apart
                key = f"{i}-{j}-{k}"
                short = street.replace("straße", "str.").replace(" Straße", " Str.")
                rows.append({"record_id": f"a:{key}", "source": "a", "name": brand,
                             "address": f"{street} {number}", "city": "Köln", "postal": "50667",
                             "country": "DE"})  # fmt: skip
                rows.append({"record_id": f"b:{key}", "source": "b", "name": f"{brand} GmbH",
                             "address": f"{short} {number}", "city": "Koeln", "postal": "50667",
                             "country": "Germany"})  # fmt: skip
                truth[f"a:{key}"] = truth[f"b:{key}"] = key
    loaded = records_from_frame(pd.DataFrame(rows))
    got = resolve(loaded.records, settings_for(loaded))
    scores = evaluate_links(got.links, truth)
    assert scores["precision"] == 1.0, scores
    assert scores["recall"] == 1.0, scores


def _geocoded_world() -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """150 businesses 3-15 km from Denver's centre, each listed by sources a and b; b geocodes every fifth
    to the city centre (a geocoder's fallback). And a chain: 6 branches, one central phone, each listed by
    both. Returns the frame, the truth and the record ids b placed at the centre."""
    centre = (39.7392, -104.9903)
    streets = ["Oak Ave", "Main St", "Pine Rd", "Elm St", "Cedar Ln", "Lake Blvd", "Maple Dr", "Birch Way"]
    words = ["Golden", "Rocky", "Summit", "Prime", "Coastal", "Silver", "Urban", "Blue", "Cedar", "Peak"]
    kinds = ["Bakery", "Dental", "Roofing", "Salon", "Auto", "Tacos", "Plumbing", "Law", "Cafe", "Florist",
             "Books", "Yoga", "Optics", "Tailor", "Pets"]  # fmt: skip
    rows, truth, centred = [], {}, []
    for i in range(150):
        km = 3 + (i % 13)
        lat, lon = centre[0] + km / 111.32 * (1 if i % 2 else -1), centre[1] + (i % 7) * 0.002
        base = {
            "name": f"{words[i % 10]} {kinds[i // 10]}",
            "address": f"{100 + 7 * i} {streets[i % 8]}",
            "city": "Denver",
            "postal": f"802{i % 40:02d}",
        }
        rows.append({"record_id": f"a:{i}", "source": "a", **base, "lat": lat, "lon": lon})
        b_lat, b_lon = centre if i % 5 == 0 else (lat + 0.0001, lon)
        if i % 5 == 0:
            centred.append(f"b:{i}")
        rows.append({"record_id": f"b:{i}", "source": "b", **base, "lat": b_lat, "lon": b_lon})
        truth[f"a:{i}"] = truth[f"b:{i}"] = f"biz{i}"
    for j in range(6):  # branches 4-24 km apart: the name and the phone agree, the places do not
        lat = centre[0] + 0.04 * (j + 1)
        for source, shift in (("a", 0.0), ("b", 0.0001)):
            rows.append(
                {"record_id": f"{source}:chain{j}", "source": source, "name": "Mile High Plumbing",
                 "address": f"{2000 + 300 * j} Colfax Ave", "city": "Denver", "postal": f"8021{j}",
                 "phone": "+1 303 629 1000", "lat": lat + shift, "lon": centre[1]}
            )  # fmt: skip
            truth[f"{source}:chain{j}"] = f"chain{j}"
    return pd.DataFrame(rows), truth, centred


def test_a_wrong_geocode_does_not_keep_one_address_apart() -> None:
    """A record geocoded to its city's centre is kilometres from its twin at the same street address:
    the address says one place, so the distance veto does not part them (before, none of the 30 linked).
    A chain's branches (one name, one phone, other addresses) stay apart."""
    frame, truth, centred = _geocoded_world()
    loaded = records_from_frame(frame)
    got = resolve(loaded.records, settings_for(loaded))
    lead = dict(zip(got.links["record_id"], got.links["lead_id"], strict=True))
    assert len(centred) == 30
    assert all(lead[rid] == lead[rid.replace("b:", "a:")] for rid in centred)
    scores = evaluate_links(got.links, truth)
    assert scores["precision"] == 1.0, scores
    assert scores["recall"] == 1.0, scores


def test_a_geocoders_fallback_point_is_no_evidence_of_one_place() -> None:
    """Source b puts four namesakes (one name, no phone, other streets) at the city's centre, its
    geocoder's fallback: four street addresses at one point. The point says nothing: each twin links
    across the kilometres to its record at the true place (before, the far point counted against the four
    and they were missed) and the namesakes at the point stay apart."""
    frame, truth, _ = _geocoded_world()
    centre = (39.7392, -104.9903)
    rows = []
    for j in range(6):  # namesakes 3-8 km from the centre, in one ZIP, listed without a phone
        lat = centre[0] - 0.03 - 0.01 * j
        for source in ("a", "b"):
            placed = source == "b" and j < 4
            rows.append(
                {"record_id": f"{source}:bakery{j}", "source": source, "name": "Golden Crust Bakery",
                 "address": f"{500 + 40 * j} {STREETS[j]}", "city": "Denver", "postal": "80203",
                 "lat": centre[0] if placed else lat, "lon": centre[1] if placed else centre[1] + 0.01}
            )  # fmt: skip
            truth[f"{source}:bakery{j}"] = f"bakery{j}"
    frame = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)
    loaded = records_from_frame(frame)
    cfg = settings_for(loaded)
    prep = prepare(loaded.records, cfg).set_index("record_id")
    assert prep.loc["b:bakery0", "geo_lat"] is None and prep.loc["b:bakery0", "lat"] == centre[0]
    got = resolve(loaded.records, cfg)
    scores = evaluate_links(got.links, truth)
    assert scores["precision"] == 1.0, scores
    assert scores["recall"] == 1.0, scores


def test_placeholder_points_are_points_of_several_street_addresses() -> None:
    from leadlake.stages.silver.resolve.prepare import placeholder_points

    def objects(values: list[object]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    lats = objects([1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0, None, 1.0])
    lons = objects([5.0, 5.0, 5.0, 6.0, 6.0, 6.0, 6.0, 7.0, 7.0, 5.0, None])
    streets = objects(["1 a st", "2 b st", None, "9 mall rd", "9 mall rd", "9 mall rd", "9 mall rd",
                       "1 a st", "2 b st", "3 c st", "4 d st"])  # fmt: skip
    got = placeholder_points(lats, lons, streets, min_addresses=3).tolist()
    # point 1: three addresses (none counts as one); point 2: one building's four shops; point 3: two.
    assert got == [True, True, True, False, False, False, False, False, False, False, False]


def test_street_key_is_the_door_whether_street_type_or_direction_is_written() -> None:
    assert street_key("1347 w erie st") == street_key("1347 erie") == "1347 erie"
    assert street_key("4340 s lamon ave") == street_key("4340 lamon") == "4340 lamon"
    assert street_key("12a hauptstr") == "12a hauptstr"
    assert street_key("main st") is None and street_key(None) is None and street_key("12") is None


def test_a_door_without_town_or_postcode_meets_its_twin_and_its_neighbours_stay_apart() -> None:
    """A city portal's export gives no town or postcode and writes "1347 W. Erie", a directory "1347 W Erie
    Street": only the door can bring the two together. Businesses sharing a building (one door, a word of
    their names in common: "Palace Court", "Empress Court") stay apart: words both names have say nothing."""
    kinds = ["Court", "Grill", "Bakery", "Salon"]
    firsts = [
        "Palace",
        "Empress",
        "Golden",
        "Harbor",
        "Maple",
        "Summit",
        "Cedar",
        "Willow",
        "Rocky",
        "Bayside",
    ]
    streets = ["Erie", "Lamon", "Halsted", "Ogden", "Pulaski", "Kedzie", "Western", "Damen", "Ashland",
               "Cicero", "Harlem", "Austin", "Central", "Laramie", "Kostner", "Homan"]  # fmt: skip
    rows, truth = [], {}
    for s, street in enumerate(streets):
        for k, kind in enumerate(kinds):
            number = 1000 + 100 * s + 2 * k  # one building per street: two businesses at each door
            for t in range(2):
                business = f"{s}-{k}-{t}"
                name = f"{street} {firsts[2 * k + t]} {kind}"  # "Erie Palace Court", "Erie Empress Court"
                rows.append({"record_id": f"portal:{business}", "source": "portal", "name": name,
                             "address": f"{number} W. {street}",
                             "phone": f"312 555 {s:02d}{k}{t}"})  # fmt: skip
                rows.append({"record_id": f"dir:{business}", "source": "dir", "name": name.upper(),
                             "address": f"{number} W {street} Street", "city": "Chicago", "postal": "60622",
                             "phone": f"(312) 555-{s:02d}{k}{t}" if t else None})  # fmt: skip
                truth[f"portal:{business}"] = truth[f"dir:{business}"] = business
    for b in range(300):  # the rest of the city: a door of their own, both sources with the phone
        street, name = streets[b % len(streets)], f"{OWNERS[b % 15]} {TRADES[b // 15]}"
        for source, written in (
            ("portal", f"{3000 + 4 * b} W. {street}"),
            ("dir", f"{3000 + 4 * b} W {street} St"),
        ):
            rows.append({"record_id": f"{source}:r{b}", "source": source, "name": name, "address": written,
                         "phone": f"773 555 {b:04d}"})  # fmt: skip
            truth[f"{source}:r{b}"] = f"r{b}"
    loaded = records_from_frame(pd.DataFrame(rows))
    got = resolve(loaded.records, settings_for(loaded))
    scores = evaluate_links(got.links, truth)
    assert scores["precision"] == 1.0, scores  # neighbours at one door: apart
    assert scores["recall"] == 1.0, scores  # twins without a phone in common: found by their door
