"""Germany-size memory (issue 16): parsers and the matcher keep one object per repeated value, and the
matcher's indexes share what is equal, without changing what they answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from pipeline.declarations import decimal_number
from pipeline.matching.context import MatchContext
from pipeline.records import RegistryKey
from pipeline.sources import ParseOptions, get_source
from tests.pipeline_records import osm, stop

ROOT = Path(__file__).resolve().parents[2]
DEMO_ATLAS = ROOT / "data/demo/atlas_service_points_li.csv"


def test_atlas_rows_share_equal_operator_mode_and_date_values():
    records = get_source("atlas").parse([DEMO_ATLAS], ParseOptions(today=dt.date(2025, 8, 2))).records
    assert len(records) > 10
    by_operator: dict[str, object] = {}
    for r in records:
        for value in (r.operator_name, r.operator_code, r.modes, r.country_code, r.valid_to):
            if value is not None:
                assert by_operator.setdefault(repr(value), value) is value, value
    # equal validity dates of different rows are one object too
    dates = [r.valid_to for r in records if r.valid_to is not None]
    assert len({id(d) for d in dates}) == len(set(dates))


def test_decimal_number_keeps_a_canonical_value_itself():
    value = "".join(["85", "03000"])  # a string object of its own, as a parser makes it
    assert decimal_number(value) is value
    assert decimal_number("08503000") == "8503000"
    assert decimal_number(" 8503000") == "8503000"
    assert decimal_number("8503000;8503001") is None
    assert decimal_number(None) is None


def test_stop_area_groups_of_a_registry_keyed_by_its_code_are_the_code_groups():
    registry = [stop("ch:1:sloid:1:1", number=8503000), stop("ch:1:sloid:1:2", 10, number=8503000)]
    ctx = MatchContext(registry, [osm(1, uic_ref="8503000")])
    key = ("atlas", "8503000")
    assert ctx.registry_by_stop_area[key] == (0, 1)
    assert ctx.registry_by_stop_area[key] is ctx.registry_by_code[key]
    assert ctx.stops_named_by_stop_area({"uic_ref": "8503000"}) == ("uic_ref", "8503000", (0, 1))


def test_registry_by_id_answers_the_first_position_of_an_id():
    unique = [stop("ch:1:sloid:1"), stop("ch:1:sloid:2", 10)]
    ctx = MatchContext(unique, [])
    assert ctx.registry_by_id.get(("atlas", "ch:1:sloid:2")) == 1
    assert ctx.registry_by_id.get(RegistryKey("atlas", "ch:1:sloid:1")) == 0
    assert ("atlas", "ch:1:sloid:3") not in ctx.registry_by_id
    # The same id twice (two rows of one registry): the exact stage links the first, as before.
    twice = [*unique, dataclasses.replace(unique[0], lat=unique[0].lat + 0.001)]
    ctx = MatchContext(twice, [])
    assert ctx.registry_by_id.get(("atlas", "ch:1:sloid:1")) == 0
    assert ctx.registry_by_sloid[RegistryKey("atlas", "ch:1:sloid:1")] == 2


def test_matcher_indexes_share_one_int_per_position():
    registry = [stop(f"ch:1:sloid:{i}", i * 50, number=8500000 + i) for i in range(300)]
    ctx = MatchContext(registry, [osm(i, i * 50, uic_ref=str(8500000 + i)) for i in range(1, 301)])
    i = 299  # above the small-int cache: a new int object unless shared
    assert ctx.registry_by_sloid[registry[i].key] is ctx.registry_by_code[("atlas", str(8500000 + i))][0]


def test_release_caches_empties_the_name_and_route_memos():
    from pipeline.matching import normalize, release_caches

    assert normalize.name_score("Zürich, Bellevue", "Zuerich Bellevue") > 0
    assert normalize.name_score.cache_info().currsize > 0
    assert normalize.scored_variants.cache_info().currsize > 0
    release_caches()
    assert normalize.name_score.cache_info().currsize == 0
    assert normalize.scored_variants.cache_info().currsize == 0
    assert normalize._readings.cache_info().currsize == 0
    # results never depend on the memos
    assert normalize.name_score("Zürich, Bellevue", "Zuerich Bellevue") > 0


def test_release_memory_collects_cycles():
    import gc
    import weakref

    from runs.memory import release_memory

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    alive = weakref.ref(a)
    gc.disable()
    try:
        del a, b
        assert alive() is not None  # a cycle outlives its names until collected
        release_memory()
        assert alive() is None
    finally:
        gc.enable()
