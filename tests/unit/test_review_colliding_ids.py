"""The review workflow keeps two registries' equal ids apart: a decision or a manual link of one registry
never finds its stop, or a successor, in another registry's stop with the same id."""

from __future__ import annotations

import dataclasses

from pipeline.records import problem_identity
from pipeline.review import DecisionState, Snapshot, build_evidence, reconcile_decisions, resolve_manual_links
from tests.second_registry import register_zhv
from tests.unit.test_reconcile import POLICY, SLOID, link_state, osm, problem, stop


def zhv_stop(**changes):
    register_zhv()
    return dataclasses.replace(stop(), source="zhv", **changes)


def test_a_link_of_a_vanished_zhv_stop_is_orphaned_though_atlas_has_a_stop_with_its_id():
    (outcome,) = resolve_manual_links([link_state(source="zhv")], Snapshot([stop()], [osm()]), run_id=4)
    assert outcome.status == "orphaned"
    assert outcome.problem is not None
    assert outcome.problem.identity == f"manual_match_orphaned:zhv/{SLOID}:node/1"


def test_a_zhv_decision_follows_its_renumbered_stop_within_zhv_with_a_zhv_identity():
    before = Snapshot([zhv_stop()], [osm()])
    identity = problem_identity("distance", SLOID, "node/1", "zhv")
    decision = DecisionState(
        id=1,
        problem_identity=identity,
        problem_type="distance",
        stop_id=SLOID,
        osm_key="node/1",
        decision="not_a_problem",
        status="active",
        evidence=build_evidence("distance", identity, before.stop("zhv", SLOID), before.osm["node/1"]),
        review_diff=[],
        source="zhv",
    )
    renumbered = zhv_stop(stop_id="ch:1:sloid:7000:9:2")
    moved = dataclasses.replace(problem(stop_id=renumbered.stop_id), source="zhv")
    moved = dataclasses.replace(
        moved, identity=problem_identity("distance", renumbered.stop_id, "node/1", "zhv")
    )
    # ATLAS still has a stop with the vanished zHV stop's id: it is not the zHV stop.
    after = Snapshot([stop(), renumbered], [osm()], [moved])
    (outcome,) = reconcile_decisions([decision], after, POLICY, run_id=2)
    assert outcome.updates["stop_id"] == renumbered.stop_id
    assert outcome.updates["problem_identity"] == f"distance:zhv/{renumbered.stop_id}:node/1"
