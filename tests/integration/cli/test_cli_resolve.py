"""`leadlake resolve` as a user runs it: own CSV in, clusters CSV out, one-line errors, no partial files."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from cli_support import LEADLAKE, cli, one_line_error, scratch_env

pytestmark = pytest.mark.e2e

HEADER = (
    "record_id,source,name,address,city,region,postal,country,phone,website,email,category,lat,lon,tax_id"
)
# Three businesses listed twice (as two sources would), two listed once, and a chain branch far away.
ROWS = [
    "a1,crm,Joe's Plumbing LLC,1200 Main Street,Denver,CO,80202,US,(303) 555-0142,"
    "https://www.joesplumbing.com/,joe@joesplumbing.com,plumber,39.7392,-104.9903,11-111",
    "b1,web,Joes Plumbing,1200 Main St,Denver,co,80202-1234,US,303-555-0142,joesplumbing.com,,plumber,"
    "39.7393,-104.9902,11-111",
    "a2,crm,Mile High Dental,45 Oak Avenue,Denver,CO,80203,US,+1 303 555 0199,http://milehighdental.com,,"
    "dentist,39.7310,-104.9800,",
    "b2,web,Mile High Dental,45 Oak Ave,Denver,CO,80203,US,3035550199,milehighdental.com,,dentist,"
    "39.7311,-104.9801,",
    "a3,crm,Rocky Roofing Co,9 Pine Road,Boulder,CO,80301,US,720-555-0110,rockyroofing.com,,roofer,"
    "40.0150,-105.2705,",
    "b3,web,Rocky Roofing,9 Pine Rd,Boulder,CO,80301,US,(720) 555 0110,https://rockyroofing.com,,roofer,"
    "40.0151,-105.2704,",
    "a4,crm,Sunrise Bakery,77 Elm Street,Aurora,CO,80010,US,303-555-0177,,,bakery,39.7294,-104.8319,",
    "a5,crm,Joe's Plumbing,5 Harbor Way,Seattle,WA,98101,US,206-555-0100,,,plumber,47.6062,-122.3321,",
]
DUPLICATES = [{"a1", "b1"}, {"a2", "b2"}, {"a3", "b3"}]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_clusters(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_resolves_known_duplicates_from_another_directory(tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    write(work / "records.csv", [HEADER, *ROWS])
    done = cli(
        "resolve", "--input", "records.csv", "--output", "clusters.csv", env=scratch_env(tmp_path), cwd=work
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    raw = (work / "clusters.csv").read_bytes()
    assert b"\r\n" not in raw
    rows = read_clusters(work / "clusters.csv")
    assert [r["record_id"] for r in rows] == [line.split(",")[0] for line in ROWS]  # input order
    assert list(rows[0]) == ["record_id", "cluster_id", "match_probability"]
    by_cluster: dict[str, set[str]] = {}
    for r in rows:
        by_cluster.setdefault(r["cluster_id"], set()).add(r["record_id"])
    groups = sorted(by_cluster.values(), key=min)
    assert groups == sorted([*DUPLICATES, {"a4"}, {"a5"}], key=min)
    prob = {r["record_id"]: r["match_probability"] for r in rows}
    assert prob["a4"] == "" and prob["a5"] == ""  # singletons
    for group in DUPLICATES:
        for rid in group:
            assert 0.9 <= float(prob[rid]) <= 1.0, (rid, prob[rid])
    # One line saying which columns were used, one summary line.
    out = done.stdout
    assert "used: record_id, source, name, address" in out
    assert "resolved 8 records into 5 clusters (3 duplicates merged)" in out
    assert sorted(p.name for p in work.iterdir()) == ["clusters.csv", "records.csv"]  # no temp file left
    # Stable: the same input gives the same cluster ids.
    again = cli("resolve", "-i", "records.csv", "-o", "again.csv", env=scratch_env(tmp_path), cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (work / "again.csv").read_bytes() == raw


# Businesses written in other scripts (the same business as two guides list it, and a neighbour each):
# names and streets must not vanish in normalisation, or only exact coordinates would ever link them.
WORLD_ROWS = [
    "j1,maps,スターバックス 渋谷店,渋谷区道玄坂2-24-1,東京,JP,03-1234-5678,35.6590,139.6982",
    "j2,guide,スターバックス渋谷店,渋谷区道玄坂２－２４－１,東京,JP,,35.6591,139.6983",
    "j3,maps,スターバックス 新宿店,新宿区西新宿1-1-1,東京,JP,03-2222-3333,35.6900,139.7000",
    "r1,maps,Кафе Пушкин,Тверской бульвар 26А,Москва,RU,+7 495 739-00-33,55.7637,37.6049",
    "r2,guide,Кафе «Пушкинъ»,Тверской б-р 26а,Москва,RU,,55.7638,37.6050",
    "r3,maps,Шоколадница,Тверская ул. 1,Москва,RU,,55.7570,37.6130",
    "g1,maps,Ταβέρνα Ο Γιάννης,Οδός Αθηνάς 12,Αθήνα,GR,210 3211111,37.9780,23.7270",
    "g2,guide,Ταβερνα ο Γιαννης,Αθηνάς 12,Αθήνα,GR,,37.9781,23.7271",
    "c1,maps,北京烤鸭店,王府井大街1号,北京,CN,,39.9100,116.4100",
    "c2,guide,北京 烤鸭店,王府井大街1号,北京,CN,,39.9101,116.4101",
    "c3,maps,上海小笼包,南京路2号,上海,CN,,31.2300,121.4700",
]


def test_resolves_businesses_written_in_other_scripts(tmp_path: Path) -> None:
    write(tmp_path / "world.csv", ["record_id,source,name,address,city,country,phone,lat,lon", *WORLD_ROWS])
    done = cli("resolve", "-i", "world.csv", "-o", "clusters.csv", env=scratch_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    by_cluster: dict[str, set[str]] = {}
    for r in read_clusters(tmp_path / "clusters.csv"):
        by_cluster.setdefault(r["cluster_id"], set()).add(r["record_id"])
    expected = [{"j1", "j2"}, {"j3"}, {"r1", "r2"}, {"r3"}, {"g1", "g2"}, {"c1", "c2"}, {"c3"}]
    assert sorted(by_cluster.values(), key=min) == sorted(expected, key=min)


def test_report_writes_the_two_dashboards(tmp_path: Path) -> None:
    write(tmp_path / "records.csv", [HEADER, *ROWS])
    done = cli(
        "resolve",
        "--input",
        str(tmp_path / "records.csv"),
        "--output",
        str(tmp_path / "clusters.csv"),
        "--report",
        str(tmp_path / "report"),
        env=scratch_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pages = sorted((tmp_path / "report").glob("*.html"))
    assert [p.name for p in pages] == ["cluster_studio.html", "comparison_viewer.html"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert text.lstrip().lower().startswith("<!doctype html") or "<html" in text[:2000].lower()
        assert len(text) > 10_000
    assert (tmp_path / "clusters.csv").exists()


@pytest.mark.parametrize(
    ("name", "content", "needles"),
    [
        ("no_id.csv", "key,name\n1,A\n", ["no record_id column", "add a record_id column"]),
        ("empty_id.csv", "record_id,name\na,A\n,B\n", ["record_id is empty on line 3"]),
        ("dup_id.csv", "record_id,name\na,A\nb,B\na,C\n", ["record_id 'a' appears 2 times", "unique"]),
        ("missing.csv", None, ["no such file", "--input"]),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["not a CSV file"]),
        ("latin1.csv", "record_id,name\na,Caf\xe9\n".encode("latin-1"), ["not UTF-8", "--encoding cp1252"]),
        ("empty.csv", "", ["is empty"]),
        ("header_only.csv", "record_id,name\n", ["no records"]),
        ("bad_lat.csv", "record_id,lat\na,north\n", ["column lat on line 2"]),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(
    tmp_path: Path, name: str, content: str | bytes | None, needles: list[str]
) -> None:
    inp = tmp_path / name
    if isinstance(content, str):
        inp.write_text(content, encoding="utf-8")
    elif isinstance(content, bytes):
        inp.write_bytes(content)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = cli(
        "resolve",
        "--input",
        str(inp),
        "--output",
        str(out_dir / "clusters.csv"),
        "--report",
        str(out_dir / "report"),
        env=scratch_env(tmp_path),
    )
    one_line_error(done, *needles)
    assert list(out_dir.iterdir()) == [], "nothing written"


def test_a_windows_excel_csv_is_read_with_encoding(tmp_path: Path) -> None:
    """Excel on Windows saves "CSV (Comma delimited)" as Windows-1252: --encoding cp1252 reads it, accents
    and curly quotes intact, and the twins it spells two ways are one cluster; a wrong name is refused."""
    lines = [
        "record_id,name,address,city,phone",
        "1,Café Müller’s,12 Rue Crème,Paris,+33 1 42 00 00 00",
        "2,Cafe Mullers,12 rue creme,Paris,+33 1 42 00 00 00",
        "3,Boulangerie Señor,3 Main St,Lyon,+33 4 72 00 00 00",
    ]
    inp = tmp_path / "export.csv"
    inp.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    env = scratch_env(tmp_path)
    refused = cli("resolve", "-i", str(inp), "-o", str(tmp_path / "c.csv"), env=env)
    one_line_error(refused, "--encoding cp1252")
    done = cli("resolve", "-i", str(inp), "-o", str(tmp_path / "c.csv"), "--encoding", "cp1252", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {r["record_id"]: r["cluster_id"] for r in read_clusters(tmp_path / "c.csv")}
    assert rows["1"] == rows["2"] != rows["3"]
    one_line_error(
        cli("resolve", "-i", str(inp), "-o", str(tmp_path / "d.csv"), "--encoding", "klingon", env=env),
        "--encoding 'klingon' is not a text encoding",
    )
    assert not (tmp_path / "d.csv").exists()


def test_usage_errors(tmp_path: Path) -> None:
    env = scratch_env(tmp_path)
    write(tmp_path / "records.csv", [HEADER, *ROWS])
    one_line_error(cli("resolve", env=env, cwd=tmp_path), "needs --input", "--full")
    one_line_error(cli("resolve", "--input", "records.csv", env=env, cwd=tmp_path), "--output is missing")
    one_line_error(
        cli("resolve", "-i", "records.csv", "-o", "no/such/dir/c.csv", env=env, cwd=tmp_path),
        "does not exist",
    )
    one_line_error(
        cli("resolve", "-i", "records.csv", "-o", "records.csv", env=env, cwd=tmp_path), "input file"
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".csv") == ["records.csv"]


def test_two_files_are_linked_each_a_source_ids_may_repeat(tmp_path: Path) -> None:
    """--input twice: a CRM export and a purchased list, each numbering its rows from 1 and spelling the
    columns its own way; the clusters CSV names each record's file beside its id as given."""
    write(
        tmp_path / "crm.csv",
        [
            "id,company,street,zip,phone",
            "1,Joe's Plumbing LLC,1200 Main Street,80202,(303) 555-0142",
            "2,Mile High Dental,45 Oak Avenue,80203,+1 303 555 0199",
            "3,Sunrise Bakery,77 Elm Street,80010,303-555-0177",
        ],
    )
    write(
        tmp_path / "list.csv",
        [
            "record_id;name;address;postal;telephone",
            "1;Mile High Dental;45 Oak Ave;80203;3035550199",
            "2;Joes Plumbing;1200 Main St;80202;303-555-0142",
            "3;Rocky Roofing;9 Pine Rd;80301;720 555 0110",
        ],
    )
    done = cli(
        "resolve", "-i", "crm.csv", "-i", "list.csv", "-o", "clusters.csv",
        env=scratch_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 files: crm (3), list (3)" in done.stdout and "company read as name (crm)" in done.stdout
    rows = read_clusters(tmp_path / "clusters.csv")
    assert list(rows[0]) == ["file", "record_id", "cluster_id", "match_probability"]
    assert [(r["file"], r["record_id"]) for r in rows] == [
        ("crm", "1"), ("crm", "2"), ("crm", "3"), ("list", "1"), ("list", "2"), ("list", "3"),
    ]  # fmt: skip
    cluster = {(r["file"], r["record_id"]): r["cluster_id"] for r in rows}
    assert cluster["crm", "1"] == cluster["list", "2"] and cluster["crm", "2"] == cluster["list", "1"]
    assert len(set(cluster.values())) == 4
    # A file's own duplicate ids are still refused, naming the file.
    write(tmp_path / "dup.csv", ["id,name", "7,A", "7,B"])
    refused = cli(
        "resolve", "-i", "crm.csv", "-i", "dup.csv", "-o", "c2.csv", env=scratch_env(tmp_path), cwd=tmp_path
    )
    one_line_error(refused, "dup.csv", "appears 2 times")
    assert not (tmp_path / "c2.csv").exists()


def test_stdin_to_stdout_in_a_pipe_and_a_reader_that_stops_early(tmp_path: Path) -> None:
    """`... | leadlake resolve -i - -o - | ...`: the CSV alone on stdout, the summary on stderr, and `head`
    closing the pipe early is no failure."""
    import subprocess

    from cli_support import LEADLAKE

    records = "\n".join([HEADER, *ROWS]) + "\n"
    env = scratch_env(tmp_path)
    done = subprocess.run(
        [LEADLAKE, "resolve", "-i", "-", "-o", "-"],
        input=records, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert [r["record_id"] for r in rows] == [line.split(",")[0] for line in ROWS]
    assert len({r["cluster_id"] for r in rows}) == 5
    assert "resolved 8 records into 5 clusters" in done.stderr and "-> stdout" in done.stderr
    assert list(tmp_path.glob("*.csv")) == [] and not (tmp_path / "-").exists()
    many = "record_id,name,phone\n" + "".join(f"r{i},Shop {i},303-555-{i:04d}\n" for i in range(5000))
    piped = subprocess.run(
        ["bash", "-c", f"'{LEADLAKE}' resolve -i - -o - | head -2; echo \"rc=${{PIPESTATUS[0]}}\""],
        input=many, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    lines = piped.stdout.splitlines()
    assert lines[0] == "record_id,cluster_id,match_probability" and lines[1].startswith("r0,")
    assert lines[-1] == "rc=0", piped.stderr[-3000:]
    assert "Traceback" not in piped.stderr and "Broken pipe" not in piped.stderr
    # stdin's mistakes are named as stdin's.
    bad = subprocess.run(
        [LEADLAKE, "resolve", "-i", "-", "-o", "-"],
        input="name\nx\n", capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    assert one_line_error(bad, "stdin: no record_id column").startswith("error: stdin")
    assert bad.stdout == ""
    write(tmp_path / "records.csv", [HEADER, *ROWS])
    second = subprocess.run(
        [LEADLAKE, "resolve", "-i", "records.csv", "-i", "-", "-o", "-"],
        input="name\nx\n", capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    assert one_line_error(second, "stdin: no record_id column").startswith("error: stdin")


def test_a_list_of_company_names_alone_is_deduplicated_and_said_so(tmp_path: Path) -> None:
    """Names and nothing to place them: before, no two records were ever compared, and every record came
    back as its own cluster without a word. The same name words (legal form, case and order aside) are
    one company unless an identifier tells them apart; a near name alone is not enough."""
    names = tmp_path / "accounts.csv"
    write(
        names,
        [
            "Account ID,Account Name,Website",
            "1,Acme Plumbing Inc.,",
            "2,ACME PLUMBING,",
            '3,"Plumbing, Acme",',
            "4,Blue Door Dental LLC,bluedoor.com",
            "5,Blue Door Dental,bluedoordental.net",  # another company of that name
            "6,Zenith Roofing,",
            "7,Zenith Roofng,",  # a near name: not enough without anything else
            "8,Acme Plumbing,acme.com",
            "9,Acme Plumbing,acmeplumbing.net",  # like 1-3, but not 8: two Acmes, 1-3 join one of them
        ],
    )
    done = cli("resolve", "-i", str(names), "-o", str(tmp_path / "out.csv"), env=scratch_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no record has a street, town, postcode or coordinates" in done.stderr + done.stdout
    rows = read_clusters(tmp_path / "out.csv")
    cluster = {r["record_id"]: r["cluster_id"] for r in rows}
    assert cluster["1"] == cluster["2"] == cluster["3"]
    assert len({cluster["4"], cluster["5"], cluster["1"]}) == 3
    assert cluster["6"] != cluster["7"]
    assert cluster["8"] != cluster["9"] and cluster["1"] in (cluster["8"], cluster["9"])
    assert "resolved 9 records into 6 clusters" in done.stdout
    # A file without names: nothing is taken as one by name, and the warning does not say it is.
    phones = tmp_path / "phones.csv"
    write(phones, ["id,phone", "1,303-555-0101", "2,(303) 555-0101", "3,303-555-0199"])
    done = cli("resolve", "-i", str(phones), "-o", str(tmp_path / "p.csv"), env=scratch_env(tmp_path))
    assert done.returncode == 0 and "same name" not in done.stderr + done.stdout, done.stderr
    assert len(read_clusters(tmp_path / "p.csv")) == 3


def test_records_nothing_can_pair_are_counted_in_a_warning(tmp_path: Path) -> None:
    """A CRM export where some rows have only a name, beside rows with a town: before, those rows stayed
    leads of their own without a word."""
    mixed = write(tmp_path / "mixed.csv", ["id,name,city", "1,Acme Plumbing,Denver", "2,Acme Plumbing,",
                                          "3,Zenith Roofing,", "4,Blue Door Dental,Denver"])  # fmt: skip
    done = cli("resolve", "-i", str(mixed), "-o", str(tmp_path / "out.csv"), env=scratch_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stderr + done.stdout
    assert "2 of 4 records have nothing a candidate rule compares" in said and "give them one" in said


def test_a_reader_that_stops_early_does_not_fail_the_run(tmp_path: Path) -> None:
    """`leadlake resolve ... | head -1` (or a reader gone before the first line): the clusters are still
    written and the exit code is the run's, 0; only the unread summary is dropped."""
    import subprocess

    write(tmp_path / "records.csv", [HEADER, *ROWS])
    for reader in ("head -c 0", "head -n 1"):
        out = tmp_path / f"clusters-{reader[-1]}.csv"
        shell = (
            f"'{LEADLAKE}' resolve -i records.csv -o '{out}' | {reader} >/dev/null; echo ${{PIPESTATUS[0]}}"
        )
        done = subprocess.run(
            ["bash", "-c", shell], capture_output=True, text=True, env=scratch_env(tmp_path), cwd=tmp_path,
            timeout=300, check=False,
        )  # fmt: skip
        assert done.stdout.strip() == "0", (reader, done.stdout, done.stderr[-2000:])
        assert "Traceback" not in done.stderr
        assert len(read_clusters(out)) == len(ROWS)


def test_a_file_of_one_record_repeated_is_one_cluster(tmp_path: Path) -> None:
    """An export that repeats one row 1,200 times (over the default block cap of 500): before, every
    compared column held one value, Splink was handed a model of no comparisons and the run died on a
    page of SQL. Beside other records, the copies are still one cluster and the known twins still pair."""
    copy = "Copy Cat Cafe,1 Market St,Denver,CO,80202,US,303-555-0160,copycat.com,,cafe,39.75,-104.99,"
    alone = write(tmp_path / "copies.csv", [HEADER, *(f"c{i},list,{copy}" for i in range(1200))])
    done = cli("resolve", "-i", str(alone), "-o", str(tmp_path / "out.csv"), env=scratch_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert len({r["cluster_id"] for r in read_clusters(tmp_path / "out.csv")}) == 1
    assert "resolved 1,200 records into 1 clusters" in done.stdout

    mixed = write(tmp_path / "mixed.csv", [HEADER, *ROWS, *(f"c{i},list,{copy}" for i in range(1200))])
    done = cli("resolve", "-i", str(mixed), "-o", str(tmp_path / "out2.csv"), env=scratch_env(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    cluster = {r["record_id"]: r["cluster_id"] for r in read_clusters(tmp_path / "out2.csv")}
    assert len({cluster[f"c{i}"] for i in range(1200)}) == 1
    for a, b in (sorted(pair) for pair in DUPLICATES):
        assert cluster[a] == cluster[b]
    assert len(set(cluster.values())) == 1 + len(ROWS) - len(DUPLICATES)


def _names_and_towns(path: Path) -> Path:
    """A CRM export and a web list of names and towns only: 120 businesses in both, 80 in the CRM alone,
    and Quarry Pine Cafe, which the CRM lists twice in Denver (two branches) and the web once."""
    rng = random.Random(3)
    words = [
        "Acme",
        "Blue",
        "Cedar",
        "Delta",
        "Eagle",
        "Falcon",
        "Granite",
        "Harbor",
        "Iron",
        "Juniper",
        "Kestrel",
        "Lumen",
        "Maple",
        "North",
        "Orchid",
        "Summit",
        "Timber",
        "Willow",
        "Zephyr",
        "Aspen",
    ]
    trades = ["Plumbing", "Dental", "Bakery", "Roofing", "Law Group", "Auto Care", "Electric", "Fitness"]
    towns = ["Denver", "Boulder", "Aurora", "Golden", "Lakewood", "Arvada"]  # fmt: skip
    names: dict[str, str] = {}
    while len(names) < 200:
        names.setdefault(f"{rng.choice(words)} {rng.choice(words)} {rng.choice(trades)}", rng.choice(towns))
    lines = ["record_id,source,name,city"]
    for i, (name, town) in enumerate(names.items()):
        lines += [f"a{i},crm,{name},{town}"] + ([f"b{i},web,{name},{town}"] if i < 120 else [])
    lines += [
        "q1,crm,Quarry Pine Cafe,Denver",
        "q2,crm,Quarry Pine Cafe,Denver",
        "q3,web,Quarry Pine Cafe,Denver",
    ]
    return write(path, lines)


def test_a_list_of_names_and_towns_is_deduplicated_within_each_town(tmp_path: Path) -> None:
    """Names and towns, nothing finer: a like name in one town scored ~0.5 and nothing merged, without a
    word. The same name in one town is one business when no source lists it twice there; --threshold
    lets the model merge what it scores lower."""
    env, names = scratch_env(tmp_path), _names_and_towns(tmp_path / "towns.csv")
    done = cli("resolve", "-i", str(names), "-o", str(tmp_path / "out.csv"), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "same name in one town" in done.stderr + done.stdout
    cluster = {r["record_id"]: r["cluster_id"] for r in read_clusters(tmp_path / "out.csv")}
    assert all(cluster[f"a{i}"] == cluster[f"b{i}"] for i in range(120))
    assert len({cluster["q1"], cluster["q2"], cluster["q3"]}) == 3  # the crm's two: two branches
    assert f"resolved {len(cluster):,} records into {len(cluster) - 120:,} clusters" in done.stdout

    low = cli("resolve", "-i", str(names), "-o", str(tmp_path / "low.csv"), "--threshold", "0.2", env=env)
    assert low.returncode == 0, low.stderr[-3000:]
    lowered = {r["record_id"]: r["cluster_id"] for r in read_clusters(tmp_path / "low.csv")}
    assert lowered["q3"] in (lowered["q1"], lowered["q2"])  # the model's ~0.3 is a match at 0.2

    for bad in ("1.5", "0", "-0.1"):
        one_line_error(
            cli("resolve", "-i", str(names), "-o", str(tmp_path / "bad.csv"), "--threshold", bad, env=env),
            "--threshold",
            "between 0 and 1",
        )
    one_line_error(cli("resolve", "--full", "--threshold", "0.5", env=env), "--threshold", "--input")
    assert not (tmp_path / "bad.csv").exists()
