"""The `train --labels` file as a CRM export comes: any CSV dialect, encoding or compression, a workbook's
sheet; read as `resolve --input` reads files, with errors that name --labels and the fix."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from leadlake.stages.gold.train import TrainingDataError, csv_rows

ROWS = [
    ("Café Müller", "4.5", "120", "Closed Won"),
    ("Bäckerei Groß", "3.9", "8", "Closed Lost"),
    ("Señor Frío", "4.8", "300", ""),
]


def export_text(sep: str = ",") -> str:
    """A Salesforce-like export: its own column names, a stage as the outcome, one row not decided yet."""
    lines = [sep.join(("Account Name", "Rating", "Reviews", "Stage"))]
    lines += [sep.join(row) for row in ROWS]
    return "\r\n".join(lines) + "\r\n"


def test_a_windows_excel_csv_with_semicolons_is_read_with_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "opportunities.csv"
    path.write_bytes(export_text(";").encode("cp1252"))
    data = csv_rows(path, encoding="cp1252")
    assert data.rows["name"].tolist() == ["Café Müller", "Bäckerei Groß"]
    assert data.rows["rating"].tolist() == [4.5, 3.9]
    assert data.rows["review_count"].tolist() == [120, 8]
    assert data.labels.tolist() == [1, 0]
    assert "1 rows without an outcome left out" in data.notes
    with pytest.raises(TrainingDataError, match=r"--labels .*not UTF-8 text.*--encoding cp1252"):
        csv_rows(path)
    with pytest.raises(TrainingDataError, match=r"'nope' is not a text encoding"):
        csv_rows(path, encoding="nope")


def test_a_compressed_export_reads_as_the_plain_one(tmp_path: Path) -> None:
    plain, packed = tmp_path / "won.csv", tmp_path / "won.csv.gz"
    plain.write_text(export_text(), encoding="utf-8")
    packed.write_bytes(gzip.compress(export_text("\t").encode("utf-8")))
    a, b = csv_rows(plain), csv_rows(packed)
    pd.testing.assert_frame_equal(a.rows, b.rows)
    assert a.labels.tolist() == b.labels.tolist() == [1, 0]


def test_a_workbook_sheet_is_chosen_by_name_and_a_csv_refuses_sheet(tmp_path: Path) -> None:
    import xlsxwriter

    book = tmp_path / "crm.xlsx"
    with xlsxwriter.Workbook(book) as wb:
        notes = wb.add_worksheet("Notes")
        notes.write(0, 0, "exported from the CRM")
        deals = wb.add_worksheet("Deals")
        for r, row in enumerate([("Account Name", "Rating", "Reviews", "Stage"), *ROWS]):
            for c, value in enumerate(row):
                deals.write(r, c, value)
    data = csv_rows(book, sheet="Deals")
    assert data.rows["name"].tolist() == ["Café Müller", "Bäckerei Groß"]
    assert data.labels.tolist() == [1, 0]
    with pytest.raises(TrainingDataError, match=r"no `outcome` column.*exported from the CRM"):
        csv_rows(book)  # the first sheet holds no leads
    with pytest.raises(TrainingDataError, match=r"--labels .*Leads"):
        csv_rows(book, sheet="Leads")
    plain = tmp_path / "won.csv"
    plain.write_text(export_text(), encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"--sheet Deals: .*won.csv is not a workbook"):
        csv_rows(plain, sheet="Deals")


def test_a_missing_or_empty_file_names_labels(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match=r"no such file; check the --labels path"):
        csv_rows(tmp_path / "nowhere.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TrainingDataError, match=r"is empty; expected a header row, then one row per lead"):
        csv_rows(empty)


def test_a_campaign_gives_blank_verticals_and_distances_from_coordinates(tmp_path: Path) -> None:
    from leadlake.core.campaign import load_campaign
    from leadlake.stages.gold.train import read_lead_file, with_campaign

    spec = load_campaign(Path(__file__).resolve().parents[4] / "campaigns" / "texas_dental.yaml")
    path = tmp_path / "leads.csv"
    pd.DataFrame(
        {
            "name": ["Near Austin", "In Dallas", "Nowhere", "Kept"],
            "vertical": ["", "", "", "ecommerce"],
            "lat": [30.2672, 32.7767, None, 30.2672],
            "lon": [-97.8431, -96.7970, None, -97.7431],
        }
    ).to_csv(path, index=False)
    got = with_campaign(read_lead_file(path), spec)
    assert got.frame["vertical"].tolist() == ["healthcare", "healthcare", "healthcare", "ecommerce"]
    km = got.frame["distance_km"].tolist()
    assert 9.0 < km[0] < 10.5 and km[1] < 0.01 and km[2] != km[2] and km[3] < 0.01  # NaN without a point
    assert "vertical healthcare from campaign texas_dental (3 rows)" in got.notes
    assert "distance_km to campaign texas_dental's areas (3 rows with coordinates)" in got.notes

    own = tmp_path / "own.csv"
    pd.DataFrame({"name": ["A"], "vertical": ["retail"], "distance_km": [4.2]}).to_csv(own, index=False)
    kept = with_campaign(read_lead_file(own), spec)
    assert kept.frame[["vertical", "distance_km"]].to_dict("list") == {
        "vertical": ["retail"],
        "distance_km": [4.2],
    }
    assert kept.notes == ()
    bare = tmp_path / "bare.csv"
    pd.DataFrame({"name": ["A"]}).to_csv(bare, index=False)
    assert "distance_km unknown: no row has lat and lon" in with_campaign(read_lead_file(bare), spec).notes


def test_the_date_that_orders_the_split_is_named_and_a_row_without_one_is_left_out(tmp_path: Path) -> None:
    """A CRM export's Create Date orders the time split; a row whose date is not one is left out and said
    (it failed the run as "1 rows have no as_of time"); no date at all in it is refused naming the column."""
    path = tmp_path / "companies.csv"
    dates = ["2026-01-05", "last tuesday", "2026-02-11 09:30", "03/01/2026"]
    stages = ["customer", "lead", "lead", "opportunity"]
    pd.DataFrame({"Company name": list("abcd"), "Create Date": dates, "Lifecycle Stage": stages}).to_csv(
        path, index=False
    )
    data = csv_rows(path)
    assert data.rows["name"].tolist() == ["a", "c", "d"] and data.labels.tolist() == [1, 0, 1]
    assert "1 rows whose Create Date is not a date (such as 'last tuesday') left out" in data.notes
    assert "Create Date orders the rows: the newest are held out" in data.notes
    assert data.as_of.dt.month.tolist() == [1, 2, 3]
    pd.DataFrame(
        {"Company name": list("ab"), "Create Date": ["soon", ""], "Lifecycle Stage": ["lead"] * 2}
    ).to_csv(path, index=False)
    with pytest.raises(TrainingDataError, match=r"no value of Create Date is a date \('soon' first\)"):
        csv_rows(path)
    pd.DataFrame({"Company name": list("ab"), "Lifecycle Stage": ["lead", "customer"]}).to_csv(
        path, index=False
    )
    assert any(n.startswith("no date column") for n in csv_rows(path).notes)
