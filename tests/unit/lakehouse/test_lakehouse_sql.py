"""`Lakehouse.sql` is one read-only statement over the lakehouse tables: every other probe is refused."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from support.lake import ids_of, leads

from leadlake.lakehouse import Lakehouse, LakehouseError, QueryRefused, QueryTimeout
from leadlake.lakehouse.sql import ALLOWED, referenced_tables

GOLD = "gold.scored_leads"


@pytest.fixture
def lake(lakehouse: Lakehouse) -> Lakehouse:
    """bronze, silver, gold and ops tables with a few rows each."""
    lakehouse.append("bronze.places_raw", leads([1, 2, 3, 4]))
    lakehouse.append("silver.leads", leads([2, 3, 4]))
    lakehouse.append(GOLD, leads([3, 4], score=0.9))
    lakehouse.append("ops.stage_runs", pa.table({"run_id": ["r1", "r1"], "stage": ["bronze", "gold"]}))
    return lakehouse


def data_files(lake: Lakehouse, name: str) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in Path(lake.table_uri(name)).rglob("*.parquet")}


def assert_refused(lake: Lakehouse, query: str, *words: str) -> QueryRefused:
    with pytest.raises(QueryRefused) as err:
        lake.sql(query)
    message = str(err.value)
    assert "\n" not in message and message.startswith("query refused")
    assert ALLOWED in message  # says what is allowed
    for word in words:
        assert word in message
    return err.value


# -- what works ------------------------------------------------------------------------------------------


def test_a_plain_select_over_every_layer_works(lake: Lakehouse) -> None:
    out = lake.sql(
        """SELECT g.lead_id, r.stage FROM gold.scored_leads g JOIN silver.leads s USING (lead_id)
           JOIN bronze.places_raw b USING (lead_id) CROSS JOIN ops.stage_runs r
           WHERE r.stage = 'gold' ORDER BY g.lead_id"""
    )
    assert out.to_pylist() == [{"lead_id": "L0003", "stage": "gold"}, {"lead_id": "L0004", "stage": "gold"}]


@pytest.mark.parametrize(
    "query",
    [
        "WITH top AS (SELECT * FROM gold.scored_leads) SELECT lead_id FROM top",
        "FROM gold.scored_leads SELECT lead_id",
        "VALUES ('L0003'), ('L0004')",
        "DESCRIBE gold.scored_leads",
        "SUMMARIZE gold.scored_leads",
        "SHOW gold.scored_leads",
        "EXPLAIN SELECT lead_id FROM gold.scored_leads",
        "EXPLAIN ANALYZE SELECT lead_id FROM gold.scored_leads",
        "(SELECT lead_id FROM gold.scored_leads)",
        "SELECT lead_id FROM gold.scored_leads;",
    ],
)
def test_read_only_statement_kinds_are_allowed(lake: Lakehouse, query: str) -> None:
    assert lake.sql(query).num_rows >= 1


def test_only_the_referenced_tables_are_loaded() -> None:
    query = "select * from GOLD.scored_leads join ops . stage_runs on true where x = 'silver.leads'"
    assert referenced_tables(query) == ["gold.scored_leads", "ops.stage_runs", "silver.leads"]


# -- what is refused -------------------------------------------------------------------------------------


def test_copy_onto_a_data_file_is_refused_and_the_table_is_intact(lake: Lakehouse) -> None:
    before = data_files(lake, GOLD)
    target = next(iter(before))
    copy = f"COPY (SELECT * FROM gold.scored_leads WHERE false) TO '{target}' (FORMAT parquet)"
    assert_refused(lake, copy, "COPY")
    assert_refused(lake, f"EXPLAIN ANALYZE {copy}", "EXPLAIN")
    assert data_files(lake, GOLD) == before
    assert ids_of(lake.read(GOLD)) == ["L0003", "L0004"]


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "/etc/passwd"),
        ("SELECT * FROM glob('/root/*')", "/root/*"),
        ("SELECT * FROM read_text('/etc/hostname')", "/etc/hostname"),
    ],
)
def test_file_access_from_a_select_is_refused(lake: Lakehouse, query: str, word: str) -> None:
    assert_refused(lake, query, word, "off limits")


def test_a_data_file_cannot_be_read_around_the_delta_log(lake: Lakehouse) -> None:
    target = next(iter(data_files(lake, GOLD)))
    assert_refused(lake, f"SELECT * FROM read_parquet('{target}')", "off limits")


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("ATTACH '/tmp/leadlake-probe.duckdb' AS x", "ATTACH"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("SET threads = 1", "SET"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "RESET"),
        ("PRAGMA show_tables", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("INSERT INTO gold.scored_leads SELECT * FROM gold.scored_leads", "INSERT"),
        ("DELETE FROM gold.scored_leads", "DELETE"),
        ("DROP VIEW gold.scored_leads", "DROP"),
        ("EXPORT DATABASE '/tmp/leadlake-probe'", "EXPORT"),
        ("CHECKPOINT", "CHECKPOINT"),
        ("DETACH memory", "DETACH"),
    ],
)
def test_statements_other_than_queries_are_refused(lake: Lakehouse, query: str, word: str) -> None:
    assert_refused(lake, query, word)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1; SELECT 2",
        "SET enable_external_access = true; SELECT * FROM read_csv('/etc/passwd')",
        "SELECT 1; COPY (SELECT 1) TO '/tmp/leadlake-probe.csv'",
    ],
)
def test_more_than_one_statement_is_refused(lake: Lakehouse, query: str) -> None:
    assert_refused(lake, query, "2 statements")
    assert not Path("/tmp/leadlake-probe.csv").exists()


def test_python_variables_are_not_tables(lake: Lakehouse) -> None:
    secret = pa.table({"token": ["s3cr3t"]})  # DuckDB would scan a caller's variable by name
    assert secret.num_rows == 1
    with pytest.raises(duckdb.CatalogException, match="secret"):
        lake.sql("SELECT * FROM secret")


def test_a_query_past_the_timeout_is_interrupted(lake: Lakehouse) -> None:
    huge = "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b"
    with pytest.raises(QueryTimeout, match="timeout") as err:
        lake.sql(huge, timeout_s=0.05)
    assert isinstance(err.value, QueryRefused | LakehouseError) and "\n" not in str(err.value)
    slow = Lakehouse(lake.root_uri, sql_timeout_s=0.05)  # the lakehouse's own default applies too
    with pytest.raises(QueryTimeout):
        slow.sql(huge)
    assert lake.sql("SELECT count(*) AS n FROM gold.scored_leads").column("n").to_pylist() == [2]


def test_bad_timeouts_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sql_timeout_s"):
        Lakehouse(str(tmp_path), sql_timeout_s=0)


def test_syntax_errors_pass_through_as_duckdb_errors(lake: Lakehouse) -> None:
    with pytest.raises(duckdb.ParserException):
        lake.sql("select nope from")


def test_read_filters_cannot_reach_files_either(lake: Lakehouse) -> None:
    with pytest.raises(QueryRefused, match="off limits"):
        lake.read(GOLD, filter="lead_id IN (SELECT column0 FROM read_csv('/etc/passwd'))")
    assert ids_of(lake.read(GOLD, filter="score > 0.9")) == ["L0003", "L0004"]
