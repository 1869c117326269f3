"""Silver's normalise step (normalize_partition, the mapInPandas body) made faster must give the frame a
plain row-at-a-time reading gives: every column of every row, quarantined rows and their reasons too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict

import pandas as pd

from leadlake.connectors.sources import ADAPTERS
from leadlake.sandbox.world import World
from leadlake.stages.silver.build import RECORD_COLUMNS, normalize_partition

COLUMNS = [*RECORD_COLUMNS, "campaign_ids", "content_hash", "fetched_at", "error", "payload"]


def _reference(pdf: pd.DataFrame) -> pd.DataFrame:
    """Each row on its own: the adapter's record as a dict, or a quarantine row naming the failure."""
    normalizers = {name: adapter.normalize for name, adapter in ADAPTERS.items()}
    rows = []
    for row in pdf.itertuples(index=False):
        base = {"campaign_ids": list(row.campaign_ids), "content_hash": row.content_hash}
        base |= {"fetched_at": row.fetched_at, "error": None, "payload": None}
        try:
            if row.provider not in normalizers:
                raise ValueError(f"no normaliser for provider {row.provider!r}")
            record = asdict(normalizers[row.provider](json.loads(row.payload)))
            rows.append({c: record[c] for c in RECORD_COLUMNS} | base)
        except Exception as exc:  # noqa: BLE001 - as the stage: every failure is a quarantine row
            failed = dict.fromkeys(RECORD_COLUMNS) | {"record_id": f"{row.provider}:{row.provider_key}"}
            failed |= {"provider": row.provider, "provider_key": row.provider_key}
            rows.append(failed | base | {"payload": row.payload, "error": f"{type(exc).__name__}: {exc}"})
    return pd.DataFrame(rows, columns=COLUMNS)


def _bronze() -> pd.DataFrame:
    """Latest-bronze rows from a generated world, with the payloads a drifting provider might send."""
    world = World.generate(seed=16, businesses=300)
    when = pd.Timestamp("2026-12-01T10:00:00", tz="UTC")
    rows = []
    for provider in ("google_places", "yelp"):
        for i, payload in enumerate(world.records(provider)):
            key = str(payload.get("id", f"k{i}"))
            camps = ["c-a", "c-b"][: i % 3]
            rows.append((provider, key, json.dumps(payload), f"h{i}", when + pd.Timedelta(seconds=i), camps))
    bad = [
        ("nosuch", "k1", "{}"),  # a provider without a normaliser
        ("yelp", "k2", "not json"),
        ("yelp", "k3", "[1, 2]"),  # JSON, but not an object
        ("google_places", "k4", '{"displayName": {"text": "No Id"}}'),
        ("yelp", "k5", '{"id": "k5", "name": "A & Sons LLC", "location": "oops", "coordinates": [1]}'),
        ("yelp", "k6", '{"id": "k6", "phone": "12", "display_phone": "(800) 555-0199", "categories": [7]}'),
    ]
    rows += [(p, k, text, "h", when, ["c-a"]) for p, k, text in bad]
    frame = pd.DataFrame(
        rows, columns=["provider", "provider_key", "payload", "content_hash", "fetched_at", "campaign_ids"]
    )
    frame["campaign_ids"] = [pd.Series(c, dtype=object).to_numpy() for c in frame["campaign_ids"]]
    return frame  # arrays of campaign ids, as Arrow hands them to mapInPandas


def _batches(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size].reset_index(drop=True)


def test_normalize_partition_gives_the_row_at_a_time_frame_batch_by_batch() -> None:
    bronze = _bronze()
    got = list(normalize_partition(_batches(bronze, 100)))
    expected = [_reference(b) for b in _batches(bronze, 100)]
    assert len(got) == len(expected) > 2
    for frame, want in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(frame, want, check_exact=True)
        # Object columns hold the same kinds of values too (a list is a list, None is None).
        for column in COLUMNS:
            kinds = [type(v) for v in frame[column]]
            assert kinds == [type(v) for v in want[column]], column
    result = pd.concat(got, ignore_index=True)
    failed = result[result["error"].notna()]
    # The drifted rows are quarantined with their payload and reason; others keep no payload.
    assert {"nosuch:k1", "yelp:k2", "yelp:k3", "google_places:k4"} <= set(failed["record_id"])
    assert failed["payload"].notna().all() and result.loc[result["error"].isna(), "payload"].isna().all()
    reasons = dict(zip(failed["record_id"], failed["error"], strict=True))
    assert reasons["nosuch:k1"] == "ValueError: no normaliser for provider 'nosuch'"
    assert reasons["yelp:k2"].startswith("JSONDecodeError: ")
    assert result["phone_e164"].notna().sum() > 300 and result["domain"].notna().sum() > 50


def test_an_empty_batch_gives_an_empty_frame_with_every_column() -> None:
    empty = _bronze().iloc[:0]
    (frame,) = normalize_partition(iter([empty]))
    assert list(frame.columns) == COLUMNS and frame.empty
