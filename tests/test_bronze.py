"""Bronze landing: content hashes, overlapping queries, quarantine rows."""

from __future__ import annotations

import json
from pathlib import Path

from leadlake.connectors.registry import connector
from leadlake.connectors.sources import build_adapter
from leadlake.core.campaign import Area, CampaignSpec
from leadlake.lakehouse import Lakehouse
from leadlake.sandbox.server import SandboxServer
from leadlake.sandbox.world import World
from leadlake.stages.bronze.landing import content_hash, ingest


def test_content_hash_ignores_request_dependent_fields() -> None:
    a = json.dumps({"id": "x", "name": "Ace", "distance": 120.5})
    b = json.dumps({"id": "x", "name": "Ace", "distance": 9000.1})
    c = json.dumps({"id": "x", "name": "Ace Plumbing", "distance": 120.5})
    assert content_hash(a, ("distance",)) == content_hash(b, ("distance",))
    assert content_hash(a, ("distance",)) != content_hash(c, ("distance",))
    assert content_hash(a) != content_hash(b), "without volatile fields the text is hashed as is"
    assert content_hash("{not json", ("distance",)) == content_hash("{not json")


def test_overlapping_queries_land_each_business_once(tmp_path: Path) -> None:
    """Two overlapping Denver circles return many of the same Yelp businesses, with different distances."""
    world = World.generate(seed=9, businesses=3000)
    spec = CampaignSpec(
        campaign_id="overlap",
        name="overlap",
        vertical="local_services",
        areas=[
            Area(city="Denver", region="CO", lat=39.7392, lon=-104.9903, radius_km=30),
            Area(city="Denver", region="CO", lat=39.76, lon=-104.95, radius_km=30),
        ],
        keywords=["plumber", "electrician"],
        sources=["yelp"],
    )
    lake = Lakehouse(str(tmp_path / "lake"))
    with SandboxServer(world) as sb:
        yelp = build_adapter("yelp", api_key=connector("yelp").sandbox_key, base_url=sb.url)
        report = ingest(spec, [yelp], lake, "r1")
    rows = lake.read("bronze.yelp_businesses_raw", columns=["provider_key", "payload"]).to_pylist()
    keys = [r["provider_key"] for r in rows]
    assert report.items > len(set(keys)), "the two circles really overlap"
    assert len(keys) == len(set(keys)), "each business landed once"
    assert all("distance" in json.loads(r["payload"]) for r in rows), "the raw payload is kept unmodified"
