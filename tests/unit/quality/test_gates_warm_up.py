"""gates.warm_up: GE imported and the context built in a background thread, once, failures not lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from leadlake.quality import gates


def _records(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [f"yelp:{i}" for i in range(n)],
            "provider": ["yelp"] * n,
            "name": [f"Biz {i}" for i in range(n)],
            "phone_e164": ["+14155550123"] * n,
            "rating": [4.5] * n,
            "review_count": [10] * n,
            "lat": [37.7] * n,
            "lon": [-122.4] * n,
            "domain": ["biz.example.com"] * n,
        }
    )


@pytest.fixture
def fresh_context() -> Iterator[None]:
    """No context built yet, as in a new process (suites and batch definitions belong to a context)."""

    def reset() -> None:
        with gates._ctx_lock:
            gates._ctx_future = None
        gates._load_suite.cache_clear()
        gates._batch_definition.cache_clear()

    reset()
    yield
    reset()  # the next test builds its own context rather than inherit this one's half-state


def test_warm_up_builds_the_context_and_suites_that_validation_then_uses(fresh_context: None) -> None:
    thread = gates.warm_up("silver.source_records")
    assert thread is not None and thread.daemon and thread.name == "ge-warm-up"
    thread.join()
    ctx = gates._context()
    suite, _ = gates._setup("silver.source_records")
    assert gates._suite("silver.source_records") is suite  # loaded by the warm-up, not again now
    assert ctx.suites.get("silver.source_records").name == "silver.source_records"
    assert gates.warm_up() is None  # nothing left to do: no second build
    assert gates._context() is ctx
    result = gates.validate("silver.source_records", _records())
    assert result.success, result.failed


def test_concurrent_callers_share_one_context(fresh_context: None) -> None:
    seen: list[object] = []
    barrier = threading.Barrier(6)

    def use() -> None:
        barrier.wait()
        seen.append(gates._context())

    threads = [threading.Thread(target=use) for _ in range(5)]
    for t in threads:
        t.start()
    barrier.wait()
    warm = gates.warm_up()
    for t in threads:
        t.join()
    if warm is not None:
        warm.join()
    assert len(seen) == 5 and all(ctx is seen[0] for ctx in seen)
    assert gates._context() is seen[0]


def test_a_failed_warm_up_raises_at_the_first_use_then_builds_again(
    fresh_context: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes `import great_expectations` fail, as a broken install would.
    with monkeypatch.context() as broken:
        broken.setitem(sys.modules, "great_expectations", None)
        thread = gates.warm_up("silver.source_records")
        assert thread is not None
        thread.join()
    # GE imports fine again now: the error raised must be the one the warm-up thread kept.
    with pytest.raises(ImportError, match="great_expectations"):
        gates.validate("silver.source_records", _records())
    result = gates.validate("silver.source_records", _records())  # a failed build does not stick
    assert result.success, result.failed


def test_a_failed_suite_in_the_warm_up_raises_where_the_table_is_validated(fresh_context: None) -> None:
    thread = gates.warm_up("silver.nope")
    assert thread is not None
    thread.join()
    with pytest.raises(FileNotFoundError, match=r"expectations/silver\.nope\.json"):
        gates.validate("silver.nope", _records())


@pytest.mark.slow
def test_in_a_new_process_the_first_validation_finds_ge_imported(tmp_path: Path) -> None:
    # A fresh interpreter: the only way to see the import itself move to the warm-up thread.
    # A script file, not `python -c`: under -c pyspark.sql.connect (imported by GE) calls sys.exit(0).
    code = textwrap.dedent(
        """
        import sys
        from leadlake.quality import gates
        assert "great_expectations" not in sys.modules
        thread = gates.warm_up("silver.source_records")
        thread.join()
        assert "great_expectations" in sys.modules
        import pandas as pd
        df = pd.DataFrame({"record_id": ["yelp:1"], "provider": ["yelp"], "name": ["A"],
                           "phone_e164": [None], "rating": [4.0], "review_count": [1], "lat": [1.0],
                           "lon": [2.0], "domain": [None]})
        good, bad = gates.split_valid("silver.source_records", df)
        assert len(good) == 1 and bad.empty
        print("ok")
        """
    )
    script = tmp_path / "warm_up_in_a_new_process.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_columns_no_expectation_reads_do_not_change_the_verdicts() -> None:
    # GE sees unchecked columns only as names (a filler), so lists and extra text cannot change a verdict.
    df = _records(6)
    df.loc[2, "phone_e164"] = "555-1234"
    df.loc[4, "rating"] = 7.0
    wide = df.assign(categories=[["cafe", "bar"]] * 6, website=["https://biz.example.com/"] * 6)
    wide.index = [f"r{i}" for i in range(6)]
    narrow, full = gates.validate("silver.source_records", df), gates.validate("silver.source_records", wide)
    assert full.failed == narrow.failed and full.unexpected_index == narrow.unexpected_index == {
        "phone_e164: expect_column_values_to_match_regex": [2],
        "rating: expect_column_values_to_be_between": [4],
    }
    good, bad = gates.split_valid("silver.source_records", wide)
    assert list(bad.index) == ["r2", "r4"] and good["categories"].tolist() == [["cafe", "bar"]] * 4
    suite, _ = gates._setup("silver.source_records")
    frame = gates._ge_frame(wide, gates._value_columns(suite))
    assert list(frame.columns) == list(wide.columns) and list(frame.index) == list(range(6))
    assert frame["categories"].dtype == "int8" and frame["phone_e164"].tolist() == df["phone_e164"].tolist()
    # A missing checked column still stops the publish, as before.
    with pytest.raises(gates.QualityGateFailed, match="domain"):
        gates.split_valid("silver.source_records", wide.drop(columns=["domain"]))
