"""Stage 4 (routes): tokens across timetable years, mutual unique-best pairs, ties refused, and the
`route_contradiction` problem. Hand-built records; no database."""

from __future__ import annotations

from pipeline.matching import match_stops
from pipeline.matching.context import MatchContext
from pipeline.matching.route import (
    RouteEvidence,
    RouteService,
    classify_routes,
    line_keys,
    match_by_routes,
    normalise_route_id,
    operator_keys,
    score_pair,
)
from pipeline.problems import detect_problems
from pipeline.records import RegistryKey
from tests.pipeline_records import osm, stop

ZVB = "Zugerland Verkehrsbetriebe"


def gtfs(route_id: str, line: str, to: str, operator: str = ZVB, direction: str = "0") -> RouteService:
    return RouteService(
        route_id=route_id, operator=operator, line=line, destination=to, direction_id=direction
    )


def relation(
    route_id: str | None = None, ref: str | None = None, to: str | None = None, operator: str | None = None
) -> RouteService:
    return RouteService(route_id=route_id, operator=operator, line=ref, destination=to)


# -- tokens ------------------------------------------------------------------------------------


def test_route_id_normalisation_drops_only_the_timetable_year():
    assert normalise_route_id("92-11-H-j21-1") == normalise_route_id("92-11-H-j26-1") == "92-11-h-jxx-1"
    # the variant letter is part of the id: an id of another year with another letter differs
    assert normalise_route_id("92-11-H-j21-1") != normalise_route_id("92-11-F-j26-1")


def test_route_tokens_agree_across_timetable_years_through_operator_and_line():
    registry = [gtfs("92-11-H-j21-1", "11", "Zug, Bahnhof")]
    osm_side = [relation("92-11-F-j26-1", "11", "Zug, Bahnhof", operator=f"{ZVB} AG")]
    assert score_pair(registry, osm_side) == (1, 1)


def test_route_id_of_another_year_alone_is_enough():
    registry = [gtfs("92-11-H-j21-1", "11", "Zug, Bahnhof")]
    assert score_pair(registry, [relation("92-11-H-j26-1")]) == (0, 1)


def test_line_ref_of_another_operator_does_not_agree():
    registry = [gtfs("92-11-H-j21-1", "11", "Zug, Bahnhof")]
    assert score_pair(registry, [relation(None, "11", "Zug, Bahnhof", operator="PostAuto")]) == (0, 0)


def test_relation_without_operator_agrees_on_line_ref():
    registry = [gtfs("92-11-H-j21-1", "11", "Zug, Bahnhof")]
    assert score_pair(registry, [relation(None, "11", "Zug, Bahnhof")]) == (1, 1)


def test_destination_compares_with_or_without_municipality():
    registry = [gtfs("92-11-H-j21-1", "11", "Zug, Bahnhofplatz")]
    assert score_pair(registry, [relation(None, "11", "Bahnhofplatz")]) == (1, 1)
    assert score_pair(registry, [relation(None, "11", "Baar, Lättich")]) == (0, 1)


def test_operator_keys_know_abbreviations_legal_forms_and_aliases():
    assert "sbb" in operator_keys("Schweizerische Bundesbahnen SBB") & operator_keys("SBB")
    assert operator_keys("PostAuto AG") & operator_keys("CarPostal")
    assert operator_keys(f"{ZVB} AG") & operator_keys(ZVB)
    assert not operator_keys("BLS AG") & operator_keys("SBB")


def test_registry_line_offers_any_operator_key_but_osm_only_without_operator():
    service = gtfs("r", "S1", "Luzern")
    assert ("line", "*", "s1") in line_keys(service, False)
    assert ("line", "*", "s1") not in line_keys(relation(None, "S 1", "Luzern", operator="SBB"), True)
    assert ("line", "*", "s1") in line_keys(relation(None, "S 1", "Luzern"), True)


# -- the stage -----------------------------------------------------------------------------------

# Two platforms across a street, 12 m apart, no identifiers, no names, and the OSM platforms mapped
# 8 m off, almost equally far from both: no earlier stage can tell
# them apart (two candidates within 50 m, ratio test fails). The directions of the lines can.
NORTH = [gtfs("92-3-F-j21-1", "3", "Baar, Bahnhof", direction="0")]
SOUTH = [gtfs("92-3-F-j21-1", "3", "Zug, Bahnhof", direction="1")]


def _street(osm_north_services, osm_south_services):
    registry = [stop("ch:1:sloid:1:0:1", 0, 6, name=None), stop("ch:1:sloid:1:0:2", 0, -6, name=None)]
    objects = [osm(11, 8, 1), osm(12, 8, -1)]
    evidence = RouteEvidence(
        registry_routes={
            RegistryKey("atlas", "ch:1:sloid:1:0:1"): frozenset(NORTH),
            RegistryKey("atlas", "ch:1:sloid:1:0:2"): frozenset(SOUTH),
        },
        osm_routes={"node/11": frozenset(osm_north_services), "node/12": frozenset(osm_south_services)},
    )
    return registry, objects, evidence


def test_route_stage_pairs_opposite_platforms_by_direction():
    registry, objects, evidence = _street(
        [relation("92-3-B-j26-1", "3", "Baar, Bahnhof", operator=ZVB)],
        [relation("92-3-B-j26-1", "3", "Zug, Bahnhof", operator=ZVB)],
    )
    without = match_stops(registry, objects)
    assert without.matches == []  # the earlier stages cannot decide
    result = match_stops(registry, objects, route_evidence=evidence)
    pairs = {(m.stop_id, m.osm_key, m.method) for m in result.matches}
    assert pairs == {("ch:1:sloid:1:0:1", "node/11", "route"), ("ch:1:sloid:1:0:2", "node/12", "route")}
    assert result.stage_counts["route"] == 2


def test_route_stage_refuses_ties():
    # Both OSM platforms carry the same relation (direction unknown): every score is equal.
    same = [relation("92-3-F-j26-1", "3")]
    registry, objects, evidence = _street(same, same)
    result = match_stops(registry, objects, route_evidence=evidence)
    assert [m for m in result.matches if m.method == "route"] == []


def test_route_stage_takes_only_mutual_unique_best_pairs():
    # One OSM platform agrees in line and direction with the north stop and in line only with the
    # south one: it is the north stop's best and prefers the north stop too. The south OSM object has
    # no routes: the south stop stays unmatched rather than taking the north object.
    registry, objects, evidence = _street([relation(None, "3", "Baar, Bahnhof")], [])
    ctx = MatchContext(registry=registry, osm=objects)
    assert match_by_routes(ctx, evidence) == 1
    assert [(m.stop_id, m.osm_key) for m in ctx.matches] == [("ch:1:sloid:1:0:1", "node/11")]
    assert ctx.matches[0].evidence["score"] == [1, 1]
    assert ctx.matches[0].evidence["runner_up"] is None


def test_route_stage_refuses_a_pair_that_is_not_the_objects_best():
    # Stop A's only candidate is X, but X agrees better with stop B (line and direction): A -> X is not
    # mutual. B takes X; A stays unmatched (no guess).
    registry = [stop("ch:1:sloid:2:0:1", 0, 0, name=None), stop("ch:1:sloid:2:0:2", 0, 30, name=None)]
    objects = [osm(21, 0, 20)]
    evidence = RouteEvidence(
        registry_routes={
            RegistryKey("atlas", "ch:1:sloid:2:0:1"): frozenset([gtfs("r7", "7", "Cham")]),
            RegistryKey("atlas", "ch:1:sloid:2:0:2"): frozenset([gtfs("r7", "7", "Steinhausen")]),
        },
        osm_routes={"node/21": frozenset([relation(None, "7", "Steinhausen")])},
    )
    ctx = MatchContext(registry=registry, osm=objects)
    assert match_by_routes(ctx, evidence) == 1
    assert [(m.stop_id, m.osm_key) for m in ctx.matches] == [("ch:1:sloid:2:0:2", "node/21")]


def test_route_stage_keeps_the_distance_limit_and_excludes_stations():
    registry = [stop("ch:1:sloid:3:0:1", 0, 0, name=None)]
    services = frozenset([relation(None, "5", "Cham")])
    objects = [osm(31, 60, 0), osm(32, 10, 0, public_transport="station")]
    evidence = RouteEvidence(
        registry_routes={RegistryKey("atlas", "ch:1:sloid:3:0:1"): frozenset([gtfs("r5", "5", "Cham")])},
        osm_routes={"node/31": services, "node/32": services},
    )
    ctx = MatchContext(registry=registry, osm=objects)
    assert match_by_routes(ctx, evidence) == 0


def test_route_stage_without_evidence_commits_nothing():
    registry, objects, _ = _street([], [])
    ctx = MatchContext(registry=registry, osm=objects)
    assert match_by_routes(ctx, None) == 0
    assert (
        match_by_routes(
            ctx, RouteEvidence(registry_routes={RegistryKey("atlas", "x"): frozenset([gtfs("r", "1", "A")])})
        )
        == 0
    )


# -- contradiction --------------------------------------------------------------------------------


def test_classify_routes_outcomes():
    line3_baar = [gtfs("92-3-F-j21-1", "3", "Baar, Bahnhof")]
    assert classify_routes(line3_baar, []).outcome == "unknown"
    assert classify_routes(line3_baar, [relation(None, "3", "Baar, Bahnhof")]).outcome == "agree"
    assert classify_routes(line3_baar, [relation(None, "3")]).outcome == "agree"  # direction unknown
    # operators are not compared here: a spelling difference never raises a problem
    assert classify_routes(line3_baar, [relation(None, "3", "Baar", operator="ZVB")]).outcome == "agree"
    assert classify_routes(line3_baar, [relation(None, "3", "Zug, Bahnhof")]).outcome == "opposite_direction"
    verdict = classify_routes(line3_baar, [relation("92-14-A-j26-1", "14", "Cham")])
    assert verdict.outcome == "no_common_line"
    assert verdict.registry_lines == ("3 → Baar, Bahnhof",)
    assert verdict.osm_lines == ("14 → Cham",)


def test_route_contradiction_is_a_p2_problem_of_a_matched_pair():
    registry = [stop("ch:1:sloid:4:0:1", 0, 0, number=8504001, platform_code="1", name="Cham, Post")]
    objects = [osm(41, 3, 0, uic_ref="8504001", local_ref="1", name="Cham, Post", uic_name="Cham, Post")]
    evidence = RouteEvidence(
        registry_routes={RegistryKey("atlas", "ch:1:sloid:4:0:1"): frozenset([gtfs("r3", "3", "Baar")])},
        osm_routes={"node/41": frozenset([relation(None, "14", "Cham")])},
    )
    result = match_stops(registry, objects, route_evidence=evidence)
    assert [m.method for m in result.matches] == ["exact_uic"]
    problems = detect_problems(
        registry, objects, result.matches, result.unmatched_registry, result.unmatched_osm, evidence
    )
    routes = [p for p in problems if p.problem_type == "route_contradiction"]
    assert len(routes) == 1
    assert routes[0].priority == 2
    assert routes[0].identity == "route_contradiction:ch:1:sloid:4:0:1:node/41"
    assert routes[0].details["reason"] == "no_common_line"
    # without route evidence, or when the lines agree, there is no such problem
    plain = detect_problems(registry, objects, result.matches, [], [])
    assert not [p for p in plain if p.problem_type == "route_contradiction"]
    agreeing = RouteEvidence(evidence.registry_routes, {"node/41": frozenset([relation(None, "3")])})
    again = detect_problems(registry, objects, result.matches, [], [], agreeing)
    assert not [p for p in again if p.problem_type == "route_contradiction"]
