"""`leadlake sql` as an analyst and a shell script use it: read-only, one-line refusals, Unix CSV."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest
from cli_support import LEADLAKE, ROOT, cli, one_line_error, scratch_env

pytestmark = pytest.mark.e2e

ROWS = 173


@pytest.fixture(scope="module")
def lake_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A scratch lakehouse holding gold.scored_leads with ROWS rows (written through delta-rs)."""
    from leadlake.lakehouse import Lakehouse

    tmp = tmp_path_factory.mktemp("sql")
    Lakehouse(str(tmp / "lake")).append(
        "gold.scored_leads",
        pa.table({"lead_id": [f"l{i}" for i in range(ROWS)], "lead_score": [i % 100 for i in range(ROWS)]}),
    )
    return scratch_env(tmp)


def _count(env: dict[str, str]) -> int:
    done = cli("sql", "select count(*) as n from gold.scored_leads", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]["n"]


def test_csv_count_through_a_shell_pipe_is_a_plain_number(lake_env: dict[str, str]) -> None:
    """Defect 2: `n=$(leadlake sql ... --format csv | tail -1)` gave `173\\r`; now \\n, as psql and DuckDB."""
    script = (
        'n=$("$LEADLAKE" sql "select count(*) from gold.scored_leads" --format csv | tail -1)\n'
        'printf "%s" "$n"\n'
        '[ "$n" = "173" ] || exit 3\n'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        env=lake_env | {"LEADLAKE": LEADLAKE},
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr.decode()[-2000:])
    assert done.stdout == b"173"


def test_csv_output_has_unix_line_ends(lake_env: dict[str, str]) -> None:
    raw = subprocess.run(
        [
            LEADLAKE,
            "sql",
            "select lead_id, lead_score from gold.scored_leads order by lead_id limit 3",
            "--format",
            "csv",
        ],
        capture_output=True,
        env=lake_env,
        cwd=ROOT,
        timeout=300,
        check=True,
    ).stdout
    assert raw == b"lead_id,lead_score\nl0,0\nl1,1\nl10,10\n"


@pytest.mark.parametrize(
    "query",
    [
        "COPY (select 1) TO '{tmp}/x.csv'",
        "COPY (select * from gold.scored_leads) TO '{tmp}/leads.csv'",
        "select * from read_csv('/etc/passwd')",
        "select * from glob('/root/*')",
        "ATTACH '{tmp}/x.duckdb' AS x",
        "delete from gold.scored_leads",
        "drop table gold.scored_leads",
        "select 1; select 2",
    ],
)
def test_anything_but_one_read_only_query_is_refused_in_one_line(
    lake_env: dict[str, str], tmp_path: Path, query: str
) -> None:
    """Defect 9, at the command line: a one-line refusal, exit code 2, nothing written, nothing read."""
    before = _count(lake_env)
    done = cli("sql", query.format(tmp=tmp_path), env=lake_env)
    line = one_line_error(done, "refused", code=2)
    assert "root:" not in done.stdout + line, "no line of /etc/passwd"
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == [], "no file written"
    assert _count(lake_env) == before == ROWS
