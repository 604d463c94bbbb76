"""The matcher's and the problem detector's lookups by (source, stop_id) and their indexes stay
compact at national size: no new key tuple per stop and index, tuples instead of lists for the
identifier groups (the Germany-size run's peak memory is the match and problem stages)."""

from __future__ import annotations

import tracemalloc

from pipeline.matching.context import ByRegistryKey, MatchContext
from pipeline.problems.base import ProblemContext
from pipeline.records import RegistryKey
from tests.pipeline_records import osm, stop
from tests.second_registry import zhv_stop


def test_a_registry_key_map_takes_either_key_form_and_keeps_two_registries_apart():
    atlas, zhv = stop("ch:1:sloid:7"), zhv_stop("ch:1:sloid:7", 500.0)
    index = ByRegistryKey([atlas, zhv], [0, 1])
    assert index[RegistryKey("atlas", "ch:1:sloid:7")] == 0
    assert index[("zhv", "ch:1:sloid:7")] == 1
    assert ("atlas", "ch:1:sloid:7") in index
    assert ("naptan", "ch:1:sloid:7") not in index
    assert "ch:1:sloid:7" not in index
    assert index.get(("atlas", "nope")) is None
    assert index.get(("naptan", "x"), -1) == -1
    assert len(index) == 2
    assert set(index) == {RegistryKey("atlas", "ch:1:sloid:7"), RegistryKey("zhv", "ch:1:sloid:7")}
    assert dict(index.items()) == {("atlas", "ch:1:sloid:7"): 0, ("zhv", "ch:1:sloid:7"): 1}


def _inputs(n: int):
    registry = [stop(f"ch:1:sloid:{i}", 30.0 * i, 0.0, number=8_500_000 + i) for i in range(n)]
    objects = [osm(i, 30.0 * i, 2.0, uic_ref=str(8_500_000 + i), name="Musterdorf, Post") for i in range(n)]
    return registry, objects


def _traced_bytes(build) -> tuple[int, int]:
    """(bytes the built object keeps, peak bytes while it was built), traced by tracemalloc."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        kept = build()
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return now - base, peak - base


def test_the_problem_context_builds_no_key_tuple_per_stop_or_code():
    n = 20_000
    registry, objects = _inputs(n)
    keys = [s.key for s in registry]  # the matcher hands over RegistryKeys: no id lookup is needed
    _kept, peak = _traced_bytes(lambda: ProblemContext(registry, objects, [], keys, []))
    # Two spatial indexes, the position and record maps and the code counts: about 270 bytes a
    # stop at the peak. A RegistryKey per stop in each of two maps, an int per position in each
    # of two maps, a stop_id index built for nothing and a (source, value) tuple per code and count
    # took about 610.
    assert peak / n < 350, f"{peak / n:.0f} bytes per stop"


def test_the_match_context_keys_stops_without_a_tuple_each_and_freezes_its_groups():
    n = 20_000
    registry, objects = _inputs(n)
    kept, _peak = _traced_bytes(lambda: MatchContext(registry=registry, osm=objects))
    ctx = MatchContext(registry=registry[:3], osm=objects[:3])
    assert isinstance(ctx.registry_by_code[("atlas", "8500001")], tuple)
    assert isinstance(ctx.osm_by_code[("atlas", "8500001")], tuple)
    assert ctx.index_of("ch:1:sloid:2") == 2
    assert ctx.index_of("ch:1:sloid:2", "atlas") == 2
    # Kept while every stage runs: about 405 bytes a stop; a RegistryKey per stop, a list per
    # identifier group and a (source, value) tuple per group and index kept about 715.
    assert kept / n < 500, f"{kept / n:.0f} bytes per stop"


def test_identifier_groups_are_looked_up_by_source_and_value_and_shared_where_equal():
    from pipeline.matching.context import GroupsBySourceValue

    groups = GroupsBySourceValue()
    groups.add("atlas", "8503000", 0)
    groups.add("atlas", "8503000", 4)
    groups.add("naptan", "8503000", 7)
    areas = GroupsBySourceValue()
    areas.share("atlas", groups)
    groups.freeze()
    assert groups[("atlas", "8503000")] == (0, 4)
    assert groups.get(("naptan", "8503000")) == (7,)
    assert groups.get(("zhv", "8503000")) is None
    assert ("atlas", "nope") not in groups
    assert sorted(groups) == [("atlas", "8503000"), ("naptan", "8503000")]
    assert len(groups) == 2
    assert areas[("atlas", "8503000")] is groups[("atlas", "8503000")]
    assert ("naptan", "8503000") not in areas


def _stop_area_peak(match_by_stop_areas, n: int) -> float:
    from pipeline.matching.exact import match_by_uic
    from pipeline.records import OsmMember, OsmStopArea, OsmStructure

    registry, objects = _inputs(n)
    ctx = MatchContext(registry=registry, osm=objects)
    match_by_uic(ctx)  # n identifier matches, as a national run has hundreds of thousands
    area = OsmStopArea(
        osm_id=1,
        version=1,
        name="Musterdorf",
        uic_ref=None,
        uic_name=None,
        tags={"public_transport": "stop_area"},
        members=(OsmMember("platform", "node/0", 0), OsmMember("platform", "node/1", 1)),
    )
    _kept, peak = _traced_bytes(lambda: match_by_stop_areas(ctx, OsmStructure(stop_areas=(area,))))
    return peak / n


def test_the_stop_area_stage_looks_up_only_its_members_identifier_matches():
    from pipeline.matching.stop_area import match_by_stop_areas

    # The whole-stop groups of every registry stop: about 285 bytes a stop at this stage's peak.
    # Keeping every identifier match of the run (not only the stop-area members') took about 365.
    per_stop = _stop_area_peak(match_by_stop_areas, 20_000)
    assert per_stop < 325, f"{per_stop:.0f} bytes per stop"
