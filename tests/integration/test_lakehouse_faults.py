"""Bad input at the storage layer: a truncated Delta log, an S3 endpoint nobody answers on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.lake import closed_port, ids_of, leads, s3_options

from leadlake.lakehouse import Lakehouse, LakehouseError, LakehouseUnreachable, TableInfo, TableUnreadable

if TYPE_CHECKING:
    from conftest import MotoS3

pytest_plugins = ["support.lake"]

BROKEN = "gold.scored_leads"
LOG_1 = "_delta_log/00000000000000000001.json"


def fill(lake: Lakehouse) -> None:
    """Three tables; the gold one has two commits."""
    lake.append("bronze.places_raw", leads([1, 2, 3]))
    lake.append("silver.leads", leads([1, 2]))
    lake.append(BROKEN, leads([1]))
    lake.append(BROKEN, leads([2]))


def check_broken_lake(lake: Lakehouse) -> None:
    """The broken table is reported (and named with its file) while the others read as usual."""
    infos = {t.name: t for t in lake.list_tables()}
    assert sorted(infos) == ["bronze.places_raw", BROKEN, "silver.leads"]
    assert infos["bronze.places_raw"] == TableInfo(
        "bronze", "bronze.places_raw", 0, 3, lake.table_uri("bronze.places_raw")
    )
    assert infos["silver.leads"].rows == 2 and infos["silver.leads"].error is None
    broken = infos[BROKEN]
    assert (broken.layer, broken.version, broken.rows) == ("gold", None, None)
    assert broken.error is not None and BROKEN in broken.error and LOG_1 in broken.error
    assert "\n" not in broken.error

    for op in (lambda: lake.read(BROKEN), lambda: lake.version(BROKEN), lambda: lake.history(BROKEN)):
        with pytest.raises(TableUnreadable) as err:
            op()
        message = str(err.value)
        assert isinstance(err.value, LakehouseError)
        assert BROKEN in message and f"{lake.table_uri(BROKEN)}/{LOG_1}" in message and "\n" not in message
    with pytest.raises(TableUnreadable, match=BROKEN):
        lake.sql(f"SELECT count(*) FROM {BROKEN}")
    with pytest.raises(TableUnreadable, match=BROKEN):
        lake.append(BROKEN, leads([3]))  # no write lands on a log nobody can read
    assert ids_of(lake.read("silver.leads")) == ["L0001", "L0002"]
    assert lake.sql("SELECT count(*) AS n FROM bronze.places_raw").column("n").to_pylist() == [3]


@pytest.mark.parametrize("cut", ["half", "one byte"])
def test_truncated_log_file_breaks_only_its_table(lakehouse: Lakehouse, cut: str) -> None:
    fill(lakehouse)
    log = Path(lakehouse.table_uri(BROKEN), LOG_1)
    data = log.read_bytes()
    log.write_bytes(data[: len(data) // 2] if cut == "half" else data[:1])
    check_broken_lake(lakehouse)


def test_truncated_log_file_on_s3_breaks_only_its_table(
    s3_lake: Lakehouse, moto_server: MotoS3, s3_bucket: str
) -> None:
    fill(s3_lake)
    client = moto_server.client()
    key = f"lake/gold/scored_leads/{LOG_1}"
    data = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    client.put_object(Bucket=s3_bucket, Key=key, Body=data[: len(data) // 2])
    check_broken_lake(s3_lake)


def test_unreachable_s3_endpoint_is_one_line_naming_it(s3_lake: Lakehouse) -> None:
    fill(s3_lake)  # real tables on the moto server ...
    endpoint = f"http://127.0.0.1:{closed_port()}"  # ... and a client pointed where nobody listens
    options = {**s3_lake.storage_options, **s3_options(endpoint)}
    down = Lakehouse(s3_lake.root_uri, options)
    operations = {
        "list_tables": down.list_tables,
        "exists": lambda: down.exists(BROKEN),
        "read": lambda: down.read(BROKEN),
        "version": lambda: down.version(BROKEN),
        "sql": lambda: down.sql(f"SELECT * FROM {BROKEN}"),
        "append": lambda: down.append("bronze.new_table", leads([1])),
        "merge": lambda: down.merge(BROKEN, leads([1]), ["lead_id"]),
    }
    for what, op in operations.items():
        with pytest.raises(LakehouseUnreachable) as err:
            op()
        message = str(err.value)
        assert s3_lake.root_uri in message and endpoint in message, (what, message)
        assert "\n" not in message and "↳" not in message and "\x1b" not in message, (what, message)
        assert "refused" in message.lower() or "connect" in message.lower(), (what, message)
    # The lakehouse itself is fine: the same root through the real endpoint still reads.
    assert ids_of(s3_lake.read("silver.leads")) == ["L0001", "L0002"]
