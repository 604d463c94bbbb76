"""The Germany-size benchmark's inputs: NaPTAN copies of the real Brighton and Hove export, their
derived OSM side, and the composition of a generated registry (bench/germany_scale.py)."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from bench import germany_scale as g
from pipeline.sources.base import ParseOptions
from pipeline.sources.naptan import NaptanSource

pytestmark = pytest.mark.skipif(not g.NAPTAN_XML.exists(), reason="the shared NaPTAN export is not here")


@pytest.fixture(scope="module")
def three_copies(tmp_path_factory):
    out = tmp_path_factory.mktemp("naptan") / "naptan_copies.xml.zip"
    g.write_naptan(g.NAPTAN_XML, out, 3)
    return out


def test_naptan_copies_are_moved_apart_with_new_codes_and_agreeing_positions(three_copies):
    records = NaptanSource().parse([three_copies], ParseOptions(uic_country_codes=None)).records
    by_copy = Counter(g.naptan_copy_of(s.stop_id) for s in records)
    assert by_copy == {0: g.NAPTAN_KEPT_PER_COPY, 1: g.NAPTAN_KEPT_PER_COPY, 2: g.NAPTAN_KEPT_PER_COPY}
    assert len({s.stop_id for s in records}) == len(records)
    assert len({s.code for s in records if s.code}) == sum(1 for s in records if s.code)
    real = {s.stop_id: s for s in records if g.naptan_copy_of(s.stop_id) == 0}
    for k in (1, 2):
        copy = [s for s in records if g.naptan_copy_of(s.stop_id) == k]
        # Moved as a whole: every stop by about the same displacement, far from the real town.
        shifts = [s.lat - real[s.stop_id.rsplit("-r", 1)[0]].lat for s in copy]
        assert statistics.pstdev(shifts) < 0.01
        assert abs(statistics.mean(shifts)) > 0.1
        # The grid and WGS84 positions still agree as in the real file (0.75-1.40 m).
        assert max(s.attributes["position_disagreement_m"] for s in copy) < 2.0
        # Stop areas are copied with their stops: a copy's stop names its own copy's area.
        assert all(g.naptan_copy_of(s.parent_id) == k for s in copy if s.parent_id)
        assert sum(1 for s in copy if s.parent_id) == sum(1 for s in real.values() if s.parent_id)


def test_the_naptan_osm_side_is_derived_per_copy_with_ids_of_its_own(three_copies):
    elements, made = g.derive_naptan_osm(three_copies, seed=42)
    nodes = {e["id"] for e in elements if e["type"] == "node"}
    assert len(nodes) == sum(1 for e in elements if e["type"] == "node")
    relations = [e for e in elements if e["type"] == "relation"]
    assert len({r["id"] for r in relations}) == len(relations) == made["stop_area_relations"]
    assert all(m["ref"] in nodes for r in relations for m in r["members"])
    ways = [e for e in elements if e["type"] == "way"]
    assert len(ways) == 3
    assert all(ref in nodes for w in ways for ref in w["nodes"])
    assert made["registry_stops"] == 3 * g.NAPTAN_KEPT_PER_COPY
    # The UK end-to-end test's rates, per copy: about 80 % present, 20 closed stops still mapped.
    present = made["with_atco"] + made["name_only"] + made["renamed"] + made["bare"]
    assert 0.75 < present / made["registry_stops"] < 0.85
    assert made["inactive_in_osm"] == 3 * 20
    # Each copy draws its own sample: the copies' tagging differs.
    atco = [
        {e["tags"]["naptan:AtcoCode"].rsplit("-r", 1)[0] for e in elements if g.naptan_copy_of(
            e["tags"].get("naptan:AtcoCode", "")) == k and "naptan:AtcoCode" in e["tags"]}
        for k in (0, 1)
    ]  # fmt: skip
    assert atco[0] != atco[1]


def test_a_generated_registry_has_the_stated_size_and_naptan_share(tmp_path, monkeypatch):
    monkeypatch.setattr(g, "CACHE_DIR", tmp_path)
    sources, meta = g._generate(6_000, 0.27, 42, 0.4)
    assert meta["naptan_copies"] == 2  # round(0.4 * 6,000 / 1,195)
    assert meta["naptan_stops"] == 2 * g.NAPTAN_KEPT_PER_COPY
    assert meta["atlas_stops"] + meta["naptan_stops"] == meta["registry_stops"] == 6_000
    assert meta["osm_objects"] == meta["osm_from_atlas"] + meta["osm_from_naptan"]
    assert {p.name for p in sources.iterdir()} == {
        "atlas_service_points.csv.zip",
        "naptan_replicated.xml.zip",
        "osm_derived.json",
    }
    text = g.describe_inputs("test", meta)
    assert "NaPTAN: 2,390 stops (39.8% of the registry; 2 whole copies" in text
    assert "ATLAS: 3,610 stops" in text
