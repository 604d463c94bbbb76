"""Decisions and manual links against a new snapshot: diffs, expiry policy, successors. Pure, no database."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pipeline.records import OsmObject, ProblemRecord, RegistryStop, problem_identity
from pipeline.review import (
    DecisionState,
    ExpiryPolicy,
    ManualLinkState,
    Snapshot,
    build_evidence,
    diff_evidence,
    reconcile_decisions,
    resolve_manual_links,
)

SLOID = "ch:1:sloid:7000:1:2"
POLICY = ExpiryPolicy()


def stop(stop_id: str = SLOID, **changes: Any) -> RegistryStop:
    base = RegistryStop(
        source="atlas",
        stop_id=stop_id,
        dataset="traffic_point",
        code="8507000",
        platform_code="2",
        name="Bern, Bahnhof",
        operator_code="BERNMOBIL",
        operator_name=None,
        modes="BUS",
        country_code="CH",
        region="BE",
        parent_id=None,
        valid_from=None,
        valid_to=None,
        lat=46.9490,
        lon=7.4390,
        row_hash="h1",
    )
    return dataclasses.replace(base, **changes)


def osm(key: str = "node/1", version: int = 3, **changes: Any) -> OsmObject:
    tags = {
        "name": "Bern, Bahnhof",
        "public_transport": "platform",
        "highway": "bus_stop",
        "uic_ref": "8507000",
        "local_ref": "2",
    }
    tags.update(changes.pop("tags", {}))
    osm_type, _, osm_id = key.partition("/")
    base = OsmObject(
        osm_key=key,
        osm_type=osm_type,
        osm_id=int(osm_id),
        version=version,
        name=tags.get("name"),
        uic_ref=tags.get("uic_ref"),
        uic_name=tags.get("uic_name"),
        ifopt=tags.get("ref:IFOPT"),
        local_ref=tags.get("local_ref"),
        operator=tags.get("operator"),
        network=None,
        public_transport=tags.get("public_transport"),
        railway=None,
        highway=tags.get("highway"),
        amenity=None,
        aerialway=None,
        tags=tags,
        lat=46.9492,
        lon=7.4392,
        row_hash="o1",
    )
    return dataclasses.replace(base, **changes)


def problem(ptype: str = "distance", stop_id: str | None = SLOID, key: str | None = "node/1", **kw: Any):
    return ProblemRecord(
        identity=problem_identity(ptype, stop_id, key),
        problem_type=ptype,
        priority=kw.get("priority", 2),
        stop_id=stop_id,
        osm_key=key,
        operator_code="BERNMOBIL",
        distance_m=kw.get("distance_m", 26.0),
        message="m",
        details={},
        lat=46.949,
        lon=7.439,
    )


def decision_on(snapshot: Snapshot, ptype: str = "distance", key: str = "node/1", **kw: Any) -> DecisionState:
    identity = problem_identity(ptype, SLOID, key)
    evidence = build_evidence(
        ptype, identity, snapshot.stop("atlas", SLOID), snapshot.osm.get(key), snapshot.problems.get(identity)
    )
    return DecisionState(
        id=kw.get("id", 1),
        problem_identity=identity,
        problem_type=ptype,
        stop_id=SLOID,
        osm_key=key,
        decision=kw.get("decision", "not_a_problem"),
        status=kw.get("status", "active"),
        evidence=evidence,
        review_diff=kw.get("review_diff", []),
    )


def reconcile_one(decision: DecisionState, snapshot: Snapshot, policy: ExpiryPolicy = POLICY):
    (outcome,) = reconcile_decisions([decision], snapshot, policy, run_id=7)
    return outcome


def test_a_decision_on_unchanged_evidence_is_untouched():
    before = Snapshot([stop()], [osm()], [problem()])
    decision = decision_on(before)
    after = Snapshot([stop()], [osm()], [problem()])
    outcome = reconcile_one(decision, after)
    assert outcome.kind == "unchanged"
    assert not outcome.writes


def test_a_moved_osm_node_flags_the_decision_with_the_distance_it_moved():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    moved = osm(version=5, lat=46.9492 + 18 / 111_195)  # about 18 m north
    outcome = reconcile_one(decision, Snapshot([stop()], [moved], [problem(distance_m=40.0)]))
    assert outcome.updates["status"] == "needs_review"
    messages = [entry["message"] for entry in outcome.updates["review_diff"]]
    assert "OSM node moved 18 m" in messages
    assert "OSM version 3 → 5" in messages
    assert outcome.events[0][0] == "flagged"


def test_a_renamed_registry_stop_reports_the_old_and_new_designation():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    renamed = stop(name="Bern Bahnhof Nord", row_hash="h2")
    outcome = reconcile_one(decision, Snapshot([renamed], [osm()], [problem()]))
    diff = outcome.updates["review_diff"]
    assert [e["message"] for e in diff] == [
        "designationOfficial changed: 'Bern, Bahnhof' → 'Bern Bahnhof Nord'"
    ]
    assert diff[0]["expires"] is True


def test_a_small_move_below_the_threshold_does_not_expire_the_decision():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    nudged = osm(version=4, lat=46.9492 + 3 / 111_195)
    outcome = reconcile_one(decision, Snapshot([stop()], [nudged], [problem()]))
    assert outcome.kind == "changed_within_policy"
    assert not outcome.writes


def test_the_policy_decides_which_fields_expire_a_decision():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    renamed = osm(version=4, tags={"name": "Bern Hauptbahnhof"})
    lenient = ExpiryPolicy.parse("position,uic_ref", move_threshold_m=10)
    assert not reconcile_one(decision, Snapshot([stop()], [renamed], [problem()]), lenient).writes
    strict = ExpiryPolicy.parse("version")
    assert reconcile_one(decision, Snapshot([stop()], [osm(version=4)], [problem()]), strict).writes


def test_an_unknown_policy_field_is_refused():
    with pytest.raises(ValueError, match="unknown decision expiry fields"):
        ExpiryPolicy.parse("position,colour")


def test_a_fixed_in_osm_decision_whose_problem_disappeared_is_verified_by_the_run():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]), decision="fixed_in_osm")
    outcome = reconcile_one(decision, Snapshot([stop()], [osm(version=4)], []))
    assert outcome.updates == {"status": "verified_fixed", "verified_run_id": 7}


def test_other_decisions_whose_problem_disappeared_are_kept_as_history():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]), decision="not_a_problem")
    outcome = reconcile_one(decision, Snapshot([stop()], [osm(version=4)], []))
    assert outcome.kind == "problem_gone"
    assert not outcome.writes


def test_a_verified_fix_whose_problem_comes_back_is_reopened():
    decision = dataclasses.replace(
        decision_on(Snapshot([stop()], [osm()], [problem()]), decision="fixed_in_osm"),
        status="verified_fixed",
    )
    outcome = reconcile_one(decision, Snapshot([stop()], [osm()], [problem()]))
    assert outcome.updates["status"] == "needs_review"
    assert outcome.events[0][0] == "reopened"


def test_a_flagged_decision_is_not_rewritten_when_nothing_changed_again():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    renamed = Snapshot([stop(name="X", row_hash="h2")], [osm()], [problem()])
    first = reconcile_one(decision, renamed)
    flagged = dataclasses.replace(decision, status="needs_review", review_diff=first.updates["review_diff"])
    second = reconcile_one(flagged, renamed)
    assert second.kind == "still_flagged"
    assert not second.writes


def test_a_flagged_decision_returns_to_active_when_the_evidence_comes_back():
    decision = dataclasses.replace(
        decision_on(Snapshot([stop()], [osm()], [problem()])), status="needs_review", review_diff=[{"x": 1}]
    )
    outcome = reconcile_one(decision, Snapshot([stop()], [osm()], [problem()]))
    assert outcome.updates == {"status": "active", "review_diff": []}
    assert outcome.events[0][0] == "evidence_restored"


def test_a_decision_follows_an_osm_node_that_was_replaced_by_a_way():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    replacement = osm("way/9", version=1)
    after = Snapshot([stop()], [replacement], [problem(key="way/9")])
    outcome = reconcile_one(decision, after)
    assert outcome.updates["problem_identity"] == problem_identity("distance", SLOID, "way/9")
    assert outcome.updates["osm_key"] == "way/9"
    action, payload = outcome.events[0]
    assert action == "migrated"
    assert payload["rules"] == {"osm": "uic_ref + local_ref"}
    assert payload["from"]["osm_key"] == "node/1"


def test_a_replaced_object_with_two_possible_successors_is_flagged_not_guessed():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    twins = [osm("node/2", lat=46.9493), osm("node/3", lat=46.9491)]
    outcome = reconcile_one(decision, Snapshot([stop()], twins, [problem(key="node/2")]))
    assert outcome.updates["status"] == "needs_review"
    (entry,) = outcome.updates["review_diff"]
    assert entry["candidates"] == ["node/2", "node/3"]
    assert "2 possible successors" in entry["message"]
    assert "problem_identity" not in outcome.updates


def test_a_vanished_object_without_successor_is_flagged():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    outcome = reconcile_one(decision, Snapshot([stop()], [], []))
    assert outcome.updates["status"] == "needs_review"
    assert "no successor found" in outcome.updates["review_diff"][0]["message"]


def test_a_later_agreeing_rule_narrows_several_candidates_to_one():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    twins = [osm("node/2", tags={"name": "Bern, Bahnhof"}), osm("node/3", tags={"name": "Elsewhere"})]
    outcome = reconcile_one(decision, Snapshot([stop()], twins, [problem(key="node/2")]))
    assert outcome.updates["osm_key"] == "node/2"
    assert outcome.events[0][1]["rules"]["osm"] == "uic_ref + local_ref + same name nearby"


def test_a_decision_follows_a_changed_sloid_by_uic_number_and_designation():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]))
    renumbered = stop("ch:1:sloid:7000:9:2")
    after = Snapshot([renumbered], [osm()], [problem(stop_id=renumbered.stop_id)])
    outcome = reconcile_one(decision, after)
    assert outcome.updates["stop_id"] == "ch:1:sloid:7000:9:2"
    assert outcome.events[0][1]["rules"] == {"atlas": "uic number + designation"}


def test_two_decisions_never_migrate_onto_the_same_problem():
    before = Snapshot([stop()], [osm()], [problem()])
    first = decision_on(before)
    taken = dataclasses.replace(
        first, id=2, problem_identity=problem_identity("distance", SLOID, "way/9"), osm_key="way/9"
    )
    after = Snapshot([stop()], [osm("way/9")], [problem(key="way/9")])
    outcomes = reconcile_decisions([first, taken], after, POLICY, run_id=3)
    assert outcomes[0].updates["status"] == "needs_review"
    assert "already has its own decision" in outcomes[0].updates["review_diff"][0]["message"]


def test_a_decision_recorded_without_evidence_gets_a_baseline_instead_of_a_flag():
    decision = dataclasses.replace(decision_on(Snapshot([stop()], [osm()], [problem()])), evidence={})
    outcome = reconcile_one(decision, Snapshot([stop()], [osm()], [problem()]))
    assert outcome.kind == "baseline"
    assert outcome.updates["evidence"]["osm"]["osm_key"] == "node/1"


def test_diff_lists_added_and_removed_tags():
    old = build_evidence("attributes", "i", stop(), osm())
    new = build_evidence("attributes", "i", stop(), osm(tags={"ref:IFOPT": SLOID, "local_ref": None}))
    messages = {e["message"] for e in diff_evidence(old, new, POLICY)}
    assert f"OSM tag ref:IFOPT added: '{SLOID}'" in messages
    assert "OSM tag local_ref removed (was '2')" in messages


def link_state(**kw: Any) -> ManualLinkState:
    snap = Snapshot([stop()], [osm()])
    evidence = {
        "atlas": build_evidence("x", "x", snap.stop("atlas", SLOID), None)["atlas"],
        "osm": build_evidence("x", "x", None, snap.osm["node/1"])["osm"],
    }
    values = {"id": 1, "stop_id": SLOID, "osm_key": "node/1", "action": "link", "status": "active"}
    values.update(kw)
    return ManualLinkState(evidence=evidence, **values)


def test_a_manual_link_whose_objects_exist_stays_active():
    (outcome,) = resolve_manual_links([link_state()], Snapshot([stop()], [osm()]))
    assert outcome.status == "active"
    assert outcome.link is not None
    assert outcome.link.action == "link"
    assert not outcome.updates


def test_a_manual_link_whose_osm_object_vanished_is_orphaned_with_a_stable_problem():
    (outcome,) = resolve_manual_links([link_state()], Snapshot([stop()], []), run_id=4)
    assert outcome.status == "orphaned"
    assert outcome.link is None
    assert outcome.updates["status"] == "orphaned"
    assert outcome.problem is not None
    assert outcome.problem.identity == f"manual_match_orphaned:{SLOID}:node/1"
    assert outcome.problem.lat == pytest.approx(46.949)


def test_a_manual_link_of_another_registry_keeps_its_registry_in_the_matcher_and_its_problem():
    from tests.second_registry import register_zhv

    register_zhv()
    zhv = dataclasses.replace(stop(), source="zhv")
    (active,) = resolve_manual_links([link_state(source="zhv")], Snapshot([zhv], [osm()]))
    assert active.link is not None
    assert active.link.source == "zhv"
    (orphaned,) = resolve_manual_links([link_state(source="zhv")], Snapshot([zhv], []), run_id=4)
    assert orphaned.problem is not None
    assert orphaned.problem.source == "zhv"


def test_an_orphaned_manual_link_comes_back_when_its_object_does():
    orphan = link_state(status="orphaned")
    (outcome,) = resolve_manual_links([orphan], Snapshot([stop()], [osm()]))
    assert outcome.status == "active"
    assert outcome.updates["status"] == "active"


def test_a_manual_link_follows_a_replaced_osm_object():
    (outcome,) = resolve_manual_links([link_state()], Snapshot([stop()], [osm("way/5")]), run_id=4)
    assert (outcome.stop_id, outcome.osm_key) == (SLOID, "way/5")
    assert outcome.updates["osm_key"] == "way/5"
    assert outcome.updates["evidence"]["history"][0]["from"]["osm_key"] == "node/1"
    assert outcome.link is not None
    assert outcome.link.osm_key == "way/5"


def test_a_wrong_match_whose_pair_is_matched_again_goes_back_to_review():
    decision = decision_on(Snapshot([stop()], [osm()], [problem()]), decision="wrong_match")
    # The pair's problem exists again: the matcher paired them (their unlink was deleted).
    outcome = reconcile_one(decision, Snapshot([stop()], [osm()], [problem()]))
    assert outcome.updates["status"] == "needs_review"
    assert (
        "matched again although they were marked a wrong match"
        in outcome.updates["review_diff"][-1]["message"]
    )
    gone = reconcile_one(decision, Snapshot([stop()], [osm()], []))  # the unlink holds: nothing to do
    assert gone.kind == "problem_gone"
    assert not gone.writes


def _whole_stop_problem(measured_to: str) -> ProblemRecord:
    return dataclasses.replace(problem(key=None), details={"osm_key": measured_to})


def test_a_wrong_match_on_a_whole_stop_is_matched_again_only_when_its_object_is_measured_again():
    before = _whole_stop_problem("node/1")
    identity = before.identity
    decision = DecisionState(
        id=1,
        problem_identity=identity,
        problem_type="distance",
        stop_id=SLOID,
        osm_key=None,
        decision="wrong_match",
        status="active",
        evidence=build_evidence("distance", identity, stop(), osm(), before),
        review_diff=[],
    )
    other = osm("node/2")
    # Now measured to another object: whatever else changed, not "matched again".
    moved_on = reconcile_one(decision, Snapshot([stop()], [osm(), other], [_whole_stop_problem("node/2")]))
    messages = [entry["message"] for entry in moved_on.updates.get("review_diff", [])]
    assert not [m for m in messages if "matched again" in m]
    again = reconcile_one(decision, Snapshot([stop()], [osm(), other], [_whole_stop_problem("node/1")]))
    assert again.updates["status"] == "needs_review"
    assert f"{SLOID} and node/1 are matched again" in again.updates["review_diff"][-1]["message"]
