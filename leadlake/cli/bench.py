"""`leadlake bench`: a sandbox world of N businesses through the stages, timed and measured."""

from __future__ import annotations

from pathlib import Path

import typer

from leadlake.cli.common import EXIT_FAILED, Format, console, emit, errors, fail, quiet_logs


def parse_sizes(text: str) -> list[int]:
    """ "10000,100000" (or "100k", "1m") -> [10000, 100000]; the error names the option and the fix."""
    sizes = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1], 1)
        digits = part[:-1] if scale > 1 else part
        try:
            n = int(float(digits.replace("_", "")) * scale)
        except ValueError:
            fail(f"--businesses {text!r}: {part!r} is not a number; give sizes like 10000,100000 or 100k,1m")
        if n < 10:
            fail(f"--businesses {text!r}: {n} is too small; a world needs at least 10 businesses")
        sizes.append(n)
    if not sizes:
        fail("--businesses: give at least one size, e.g. --businesses 10000")
    return list(dict.fromkeys(sizes))


def bench(
    businesses: str = typer.Option(
        "10000", "--businesses", help="World size(s): one, or several comma-separated for a growth table"
    ),
    through: str = typer.Option("gold", "--through", help="Last stage to time"),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Runs per size: min / median / max seconds"),
    json_path: Path = typer.Option(
        None, "--json", "--out", help="Write the figures as JSON here (default: <state dir>/bench/)"
    ),
    campaign: Path = typer.Option(
        None,
        "--campaign",
        help="A campaign file whose vertical, filters, enrichment and destinations every city campaign "
        "copies (default: the tech spec's example campaign)",
    ),
) -> None:
    """Time sandbox worlds of N businesses through the stages: seconds, records/s, peak RSS, calls, cost."""
    quiet_logs()
    with errors():
        from leadlake.core.settings import get_settings
        from leadlake.runtime.bench import (
            bench_document,
            bench_template,
            default_json_path,
            growth,
            run_bench,
            summarise,
            template_summary,
            write_document,
        )
        from leadlake.runtime.stages import stage_names

        sizes = parse_sizes(businesses)
        if through not in stage_names():
            fail(f"--through {through!r}: expected one of {', '.join(stage_names())}")
        template = bench_template(campaign)
        shape = template_summary(template, get_settings().enrich_fields)
        console.print(
            "bench: every city campaign asks "
            + ", ".join(f"{k} {v}" for k, v in shape.items() if v not in (None, []))
            + " (--campaign FILE, LEADLAKE_ENRICH_FIELDS)",
            soft_wrap=True,
        )
        runs: dict[int, list] = {}
        for n in sizes:
            for k in range(repeats):
                if repeats > 1:
                    console.print(f"bench: {n} businesses, run {k + 1} of {repeats}")
                runs.setdefault(n, []).append(run_bench(n, through, console=console, template=template))
            last = runs[n][-1]
            rows = summarise(runs[n])
            title = (
                f"leadlake bench --businesses {n}: landed {last.landed_records} of {last.expected_records} "
                f"world records ({last.landed_ratio:.1%})"
            )
            emit([_display(r, repeats) for r in rows], Format.table, title=title)
            sandbox_mib = max(r["sandbox_rss_mb"] for r in rows)
            console.print(
                "  peak RSS: this process, the Spark JVM and its Python workers; the sandbox serving the "
                f"world ran in a process of its own (peak {sandbox_mib:.0f} MiB, not counted)",
                soft_wrap=True,
            )
            for r in rows:
                if r["notes"]:
                    console.print(f"  {r['stage']}: {r['notes']}", soft_wrap=True)
        if len(sizes) > 1:
            emit(growth({n: summarise(rs) for n, rs in runs.items()}), Format.table, title="growth")
        out = json_path or default_json_path(get_settings().resolved_state_dir)
        path = write_document(bench_document(runs, through, shape), out)
        console.print(f"bench: figures written to {path}")
        stopped = [f"{n}: {r.error}" for n, rs in runs.items() for r in rs if r.error]
        if stopped:
            fail(f"bench: a stage raised, later stages did not run ({'; '.join(stopped)})", code=EXIT_FAILED)


def _display(row: dict, repeats: int) -> dict:
    """A summary row as printed (its notes follow the table): min/median/max only when there were repeats."""
    out = {"stage": row["stage"]}
    if repeats > 1:
        out |= {"min s": row["min_s"], "median s": row["median_s"], "max s": row["max_s"]}
    else:
        out["seconds"] = row["median_s"]
    out |= {
        "records": row["records"],
        "records/s": f"{row['records_per_s']:.0f}",
        "peak RSS MiB": f"{row['peak_rss_mb']:.0f}",
        "HTTP calls": row["http_calls"],
        "est. cost $": f"{row['cost_usd']:.2f}",
    }
    return out
