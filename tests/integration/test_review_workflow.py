"""The review workflow end to end on real PostGIS: the real pipeline runs twice on tiny hand-built
source files, with a change in between, and decisions / manual links react to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.services import decisions as decision_service
from database import db
from database.models import Decision, DecisionEvent, ManualMatch, Match, Problem
from tests.factories import login_as
from tests.integration.review_sources import Element, Platform, platform_tags, run, write_sources

SLOID = "ch:1:sloid:7000:1:1"
UIC = 8507000
STOP = Platform(SLOID, UIC, "Bern, Zytglogge", platform_code="A")
# Same identifiers as the stop, 30 m away: matched by UIC number, a P2 distance problem (non-SBB).
NODE = Element("node", 101, east=30.0, version=3, tags=platform_tags("Bern, Zytglogge", str(UIC), "A"))
DISTANCE_IDENTITY = f"distance:{SLOID}:node/101"


def decide(identity: str, decision: str = "not_a_problem", note: str = "checked on site") -> Decision:
    row, _ = decision_service.record_decision(identity, decision, note, None)
    db.session.commit()
    return row


def events(decision_id: int) -> list[DecisionEvent]:
    return list(
        db.session.scalars(
            select(DecisionEvent).where(DecisionEvent.decision_id == decision_id).order_by(DecisionEvent.id)
        )
    )


def reload(decision: Decision) -> Decision:
    db.session.expire_all()
    fresh = db.session.get(Decision, decision.id)
    assert fresh is not None
    return fresh


@pytest.fixture
def first_run(app, tmp_path) -> Path:
    source = write_sources(tmp_path / "run1", [STOP], [NODE])
    run(source)
    assert db.session.scalar(
        select(func.count()).select_from(Problem).where(Problem.identity == DISTANCE_IDENTITY)
    )
    return tmp_path


def test_a_decision_stores_the_evidence_it_was_made_on(first_run):
    decision = decide(DISTANCE_IDENTITY)
    evidence = reload(decision).evidence
    assert evidence["problem_type"] == "distance"
    assert evidence["atlas"]["stop_id"] == SLOID
    assert evidence["atlas"]["row_hash"]
    assert evidence["osm"]["osm_key"] == "node/101"
    assert evidence["osm"]["version"] == 3
    assert evidence["osm"]["tags"]["uic_ref"] == str(UIC)
    assert evidence["distance_m"] == pytest.approx(30.0, abs=0.5)


def test_a_decision_survives_an_unchanged_reimport_untouched(first_run):
    decision = decide(DISTANCE_IDENTITY)
    before = reload(decision)
    updated_at, event_count = before.updated_at, len(events(decision.id))

    summary = run(write_sources(first_run / "run2", [STOP], [NODE]))

    after = reload(decision)
    assert after.status == "active"
    assert after.updated_at == updated_at
    assert len(events(decision.id)) == event_count
    assert summary.counts["review"]["decisions"]["unchanged"] == 1
    assert summary.counts["review"]["decisions"]["written"] == 0


def test_a_moved_osm_node_flags_the_decision_with_a_field_level_diff(first_run):
    decision = decide(DISTANCE_IDENTITY)
    moved = NODE.moved(north=18.0, version=5)
    summary = run(write_sources(first_run / "run2", [STOP], [moved]))

    after = reload(decision)
    assert after.status == "needs_review"
    messages = [entry["message"] for entry in after.review_diff]
    assert "OSM node moved 18 m" in messages
    assert "OSM version 3 → 5" in messages
    flagged = events(decision.id)[-1]
    assert flagged.action == "flagged"
    assert flagged.run_id == summary.run_id
    assert flagged.author_id is None
    # the person's decision and note are kept
    assert after.decision == "not_a_problem"
    assert after.note == "checked on site"


def test_a_renamed_registry_stop_flags_the_decision_with_the_old_and_new_name(first_run):
    decision = decide(DISTANCE_IDENTITY)
    renamed = Platform(SLOID, UIC, "Bern, Zytglogge Nord", platform_code="A")
    run(write_sources(first_run / "run2", [renamed], [NODE]))

    after = reload(decision)
    assert after.status == "needs_review"
    assert "designationOfficial changed: 'Bern, Zytglogge' → 'Bern, Zytglogge Nord'" in [
        e["message"] for e in after.review_diff
    ]


def test_re_deciding_a_flagged_decision_takes_the_new_evidence(first_run):
    decision = decide(DISTANCE_IDENTITY)
    moved = NODE.moved(north=18.0, version=5)
    run(write_sources(first_run / "run2", [STOP], [moved]))
    assert reload(decision).status == "needs_review"

    decide(DISTANCE_IDENTITY, "not_a_problem", "checked again")
    after = reload(decision)
    assert after.status == "active"
    assert after.review_diff == []
    assert after.evidence["osm"]["version"] == 5
    run(write_sources(first_run / "run3", [STOP], [moved]))
    assert reload(decision).status == "active"


def test_a_decision_follows_an_osm_node_replaced_by_a_way(first_run):
    decision = decide(DISTANCE_IDENTITY)
    way = Element("way", 201, east=30.0, version=1, tags=NODE.tags)
    summary = run(write_sources(first_run / "run2", [STOP], [way]))

    after = reload(decision)
    assert after.problem_identity == f"distance:{SLOID}:way/201"
    assert after.osm_key == "way/201"
    assert after.status == "active"
    migrated = [e for e in events(decision.id) if e.action == "migrated"]
    assert len(migrated) == 1
    assert migrated[0].run_id == summary.run_id
    assert migrated[0].payload["from"]["osm_key"] == "node/101"
    assert migrated[0].payload["rules"]["osm"] == "uic_ref + local_ref"
    # the problem of the successor shows the decision
    problem = decision_service.problems_for(stops=[("atlas", SLOID)], osm_keys=[])
    assert any(p["decision"] and p["identity"] == after.problem_identity for p in problem)


def test_a_replaced_object_with_two_successors_is_flagged_not_guessed(first_run):
    decision = decide(DISTANCE_IDENTITY)
    twins = [
        Element("node", 301, east=28.0, tags=NODE.tags),
        Element("node", 302, east=32.0, tags=NODE.tags),
    ]
    run(write_sources(first_run / "run2", [STOP], twins))

    after = reload(decision)
    assert after.problem_identity == DISTANCE_IDENTITY
    assert after.status == "needs_review"
    (entry,) = after.review_diff
    assert entry["candidates"] == ["node/301", "node/302"]


def test_a_fix_in_osm_is_verified_by_the_run_that_no_longer_sees_the_problem(first_run):
    decision = decide(DISTANCE_IDENTITY, "fixed_in_osm", "moved the node")
    fixed = NODE.moved(east=-28.0, version=4)  # now 2 m from the registry position
    summary = run(write_sources(first_run / "run2", [STOP], [fixed]))

    after = reload(decision)
    assert after.status == "verified_fixed"
    assert after.verified_run_id == summary.run_id
    assert events(decision.id)[-1].action == "verified_fixed"


# ---------------------------------------------------------------------------------------------
# Manual matches
# ---------------------------------------------------------------------------------------------

LONELY = Platform("ch:1:sloid:7001:1:1", 8507001, "Bern, Kornhausplatz", east=500.0)
# 70 m away, another name, no identifiers: no automatic stage would pair them.
FAR_NODE = Element("node", 111, east=570.0, tags=platform_tags("Kornhaus"))


def test_a_manual_link_is_applied_first_on_every_run_and_orphaned_when_its_object_disappears(
    app, client, tmp_path
):
    source = write_sources(tmp_path / "run1", [STOP, LONELY], [NODE, FAR_NODE])
    run(source)
    assert db.session.scalar(select(Match).where(Match.stop_id == LONELY.stop_id)) is None

    _, token = login_as(client, "editor")
    response = client.post(
        "/api/v1/manual-matches",
        # `sloid`: the old name of `stop_id` (an ATLAS stop), still accepted.
        json={"sloid": LONELY.stop_id, "osm_key": "node/111", "action": "link", "note": "same kerb"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 201, response.get_json()
    link_id = response.get_json()["manual_match"]["id"]

    for name in ("run2", "run3"):
        run(write_sources(tmp_path / name, [STOP, LONELY], [NODE, FAR_NODE]))
        match = db.session.scalar(select(Match).where(Match.stop_id == LONELY.stop_id))
        assert match is not None
        assert (match.osm_key, match.method) == ("node/111", "manual")

    summary = run(write_sources(tmp_path / "run4", [STOP, LONELY], [NODE]))
    db.session.expire_all()
    link = db.session.get(ManualMatch, link_id)
    assert link.status == "orphaned"
    assert link.note == "same kerb"
    orphan = db.session.scalar(
        select(Problem).where(Problem.identity == f"manual_match_orphaned:{LONELY.stop_id}:node/111")
    )
    assert orphan is not None
    assert "node/111 no longer exists" in orphan.message
    assert summary.counts["orphaned_manual_links"] == 1

    queue = client.get("/api/v1/problems?type=manual_match_orphaned").get_json()["problems"]
    assert [p["identity"] for p in queue] == [orphan.identity]
    listed = client.get("/api/v1/manual-matches?status=orphaned").get_json()["manual_matches"]
    assert [m["id"] for m in listed] == [link_id]
    assert [h["event"] for h in listed[0]["history"]] == ["created", "orphaned"]
    assert listed[0]["orphaned"]["run_id"] == summary.run_id


def test_an_unlink_stops_an_automatic_match(app, client, tmp_path):
    run(write_sources(tmp_path / "run1", [STOP], [NODE]))
    _, token = login_as(client, "editor")
    response = client.post(
        "/api/v1/manual-matches",
        json={"stop_id": SLOID, "osm_key": "node/101", "action": "unlink"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 201
    run(write_sources(tmp_path / "run2", [STOP], [NODE]))
    assert db.session.scalar(select(Match).where(Match.stop_id == SLOID)) is None

    explained = client.get(f"/api/v1/stops/atlas/{SLOID}/candidates").get_json()
    (candidate,) = explained["candidates"]
    assert candidate["rejected_by"] == "manual_unlink"


def test_manual_match_writes_need_an_editor_and_existing_objects(app, client, tmp_path):
    run(write_sources(tmp_path / "run1", [STOP], [NODE]))
    body = {"stop_id": SLOID, "osm_key": "node/101", "action": "link"}
    assert client.post("/api/v1/manual-matches", json=body).status_code in (401, 403)
    _, token = login_as(client, "editor")
    headers = {"X-CSRF-Token": token}
    missing = client.post("/api/v1/manual-matches", json={**body, "osm_key": "node/999"}, headers=headers)
    assert missing.status_code == 404
    assert missing.get_json()["error"]["details"]["missing"] == ["osm_key"]
    bad = client.post("/api/v1/manual-matches", json={**body, "action": "merge"}, headers=headers)
    assert bad.status_code == 422
    created = client.post("/api/v1/manual-matches", json=body, headers=headers).get_json()["manual_match"]
    deleted = client.delete(f"/api/v1/manual-matches/{created['id']}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.get_json()["manual_match"]["status"] == "deleted"
    assert client.get("/api/v1/manual-matches").get_json()["manual_matches"] == []
    kept = client.get(f"/api/v1/manual-matches/{created['id']}").get_json()["manual_match"]
    assert [h["event"] for h in kept["history"]] == ["created", "deleted"]


def test_the_stop_page_lists_decisions_to_review_again_with_their_diff(first_run, client):
    decide(DISTANCE_IDENTITY)
    run(write_sources(first_run / "run2", [STOP], [NODE.moved(north=18.0, version=5)]))
    page = client.get(f"/stops/atlas/{SLOID}").get_data(as_text=True)
    assert "Decisions to review again" in page
    assert "OSM node moved 18 m" in page
    detail = client.get(f"/api/v1/stops/atlas/{SLOID}").get_json()
    (decision,) = detail["decisions"]
    assert decision["status"] == "needs_review"
    assert "OSM version 3 → 5" in [e["message"] for e in decision["review_diff"]]
    queue = client.get("/api/v1/problems?decided=false").get_json()["problems"]
    assert DISTANCE_IDENTITY in [p["identity"] for p in queue]


def test_a_decision_changed_while_a_run_reconciles_is_left_for_the_next_run(first_run):
    from app.services import evidence
    from pipeline.review import Outcome

    decision = decide(DISTANCE_IDENTITY)
    states = evidence.decision_states()  # what the run read
    decide(DISTANCE_IDENTITY, "needs_survey", "going there tomorrow")  # a person, meanwhile
    flag = Outcome(decision.id, "flagged", {"status": "needs_review"}, [("flagged", {"diff": []})])
    assert evidence.apply_outcomes([flag], None, states) == 0
    db.session.commit()
    after = reload(decision)
    assert (after.status, after.decision) == ("active", "needs_survey")
    assert [e.action for e in events(decision.id)] == ["created", "updated"]


def test_decisions_and_manual_links_follow_a_changed_sloid(app, client, tmp_path):
    run(write_sources(tmp_path / "run1", [STOP, LONELY], [NODE, FAR_NODE]))
    decision = decide(DISTANCE_IDENTITY)
    _, token = login_as(client, "editor")
    link = client.post(
        "/api/v1/manual-matches",
        json={"stop_id": LONELY.stop_id, "osm_key": "node/111", "action": "link"},
        headers={"X-CSRF-Token": token},
    ).get_json()["manual_match"]

    renumbered = [
        Platform("ch:1:sloid:7000:9:1", UIC, STOP.name, platform_code="A"),
        Platform("ch:1:sloid:7001:9:1", LONELY.number, LONELY.name, east=500.0),
    ]
    summary = run(write_sources(tmp_path / "run2", renumbered, [NODE, FAR_NODE]))

    after = reload(decision)
    assert after.problem_identity == "distance:ch:1:sloid:7000:9:1:node/101"
    assert after.stop_id == "ch:1:sloid:7000:9:1"
    migrated = [e for e in events(decision.id) if e.action == "migrated"]
    assert migrated[0].payload["rules"] == {"atlas": "uic number + designation"}
    moved = client.get(f"/api/v1/manual-matches/{link['id']}").get_json()["manual_match"]
    assert (moved["stop_id"], moved["status"]) == ("ch:1:sloid:7001:9:1", "active")
    assert moved["history"][-1]["from"]["stop_id"] == LONELY.stop_id
    # the link was applied in the same run, to the successor
    match = db.session.scalar(select(Match).where(Match.stop_id == "ch:1:sloid:7001:9:1"))
    assert (match.osm_key, match.method) == ("node/111", "manual")
    assert summary.counts["review"]["manual_links_written"] == 1


# ---------------------------------------------------------------------------------------------
# "Wrong match" from the queue, decisions to review again, manual link states
# ---------------------------------------------------------------------------------------------

# A second matched pair 1 km away: a P2 distance problem of its own.
OTHER = Platform("ch:1:sloid:7002:1:1", 8507002, "Bern, Bärenplatz", east=1000.0, platform_code="B")
OTHER_NODE = Element(
    "node", 102, east=1030.0, version=1, tags=platform_tags("Bern, Bärenplatz", str(OTHER.number), "B")
)
OTHER_IDENTITY = f"distance:{OTHER.stop_id}:node/102"


def post_decision(client, token: str, identity: str, decision: str, note: str = ""):
    return client.post(
        "/api/v1/decisions",
        json={"problem_identity": identity, "decision": decision, "note": note},
        headers={"X-CSRF-Token": token},
    )


def the_decision(client, identity: str) -> dict:
    (found,) = client.get("/api/v1/decisions", query_string={"problem_identity": identity}).get_json()[
        "decisions"
    ]
    return found


def test_a_wrong_match_decision_unlinks_the_pair_and_every_later_run_keeps_it_apart(first_run, client):
    _, token = login_as(client, "editor")
    response = post_decision(client, token, DISTANCE_IDENTITY, "wrong_match", "the shelter across the road")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["decision"]["decision"] == "wrong_match"
    unlink = body["manual_match"]
    assert (unlink["stop_id"], unlink["osm_key"], unlink["action"]) == (SLOID, "node/101", "unlink")
    assert unlink["state"] == "pending"
    assert unlink["note"] == "the shelter across the road"
    assert unlink["history"][-1]["decision"] == "wrong_match"
    # One owner of forbidden pairs: the decision wrote a manual unlink, nothing else.
    assert db.session.scalar(select(func.count()).select_from(ManualMatch)) == 1

    for name in ("run2", "run3"):  # the unlink holds on every re-import, not only the next one
        run(write_sources(first_run / name, [STOP], [NODE]))
        db.session.expire_all()
        assert db.session.scalar(select(Match).where(Match.stop_id == SLOID)) is None
        decision = the_decision(client, DISTANCE_IDENTITY)
        assert (decision["decision"], decision["status"]) == ("wrong_match", "active")
        assert decision["manual_match"]["state"] == "active"
        assert decision["note"] == "the shelter across the road"

    (candidate,) = client.get(f"/api/v1/stops/atlas/{SLOID}/candidates").get_json()["candidates"]
    assert candidate["rejected_by"] == "manual_unlink"
    assert [e["action"] for e in decision["history"]] == ["created"]
    assert decision["history"][0]["payload"]["manual_match_id"] == unlink["id"]


def test_wrong_match_is_refused_for_a_problem_that_is_not_about_a_matched_pair(app, client, tmp_path):
    run(write_sources(tmp_path / "run1", [STOP, LONELY], [NODE, FAR_NODE]))
    unmatched = db.session.scalar(
        select(Problem.identity).where(Problem.problem_type == "unmatched", Problem.stop_id == LONELY.stop_id)
    )
    _, token = login_as(client, "editor")
    response = post_decision(client, token, unmatched, "wrong_match")
    assert response.status_code == 422
    assert "matched pair" in response.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count()).select_from(ManualMatch)) == 0
    assert db.session.scalar(select(func.count()).select_from(Decision)) == 0


def test_changing_a_wrong_match_decision_deletes_its_unlink_and_the_pair_matches_again(first_run, client):
    _, token = login_as(client, "editor")
    unlink_id = post_decision(client, token, DISTANCE_IDENTITY, "wrong_match").get_json()["manual_match"][
        "id"
    ]
    changed = post_decision(client, token, DISTANCE_IDENTITY, "not_a_problem", "same stop after all")
    assert changed.status_code == 200
    assert "manual_match" not in changed.get_json()
    link = client.get(f"/api/v1/manual-matches/{unlink_id}").get_json()["manual_match"]
    assert (link["status"], link["state"]) == ("deleted", "deleted")
    history = the_decision(client, DISTANCE_IDENTITY)["history"]
    assert history[-1]["payload"]["released_manual_match_id"] == unlink_id

    run(write_sources(first_run / "run2", [STOP], [NODE]))
    match = db.session.scalar(select(Match).where(Match.stop_id == SLOID))
    assert match is not None
    assert match.osm_key == "node/101"


def test_a_wrong_match_pair_matched_again_sends_the_decision_back_to_review(first_run, client):
    _, token = login_as(client, "editor")
    unlink_id = post_decision(client, token, DISTANCE_IDENTITY, "wrong_match").get_json()["manual_match"][
        "id"
    ]
    run(write_sources(first_run / "run2", [STOP], [NODE]))
    # Someone deletes the unlink on the manual-match API: the matcher pairs them again.
    client.delete(f"/api/v1/manual-matches/{unlink_id}", headers={"X-CSRF-Token": token})
    run(write_sources(first_run / "run3", [STOP], [NODE]))

    decision = the_decision(client, DISTANCE_IDENTITY)
    assert decision["status"] == "needs_review"
    assert "are matched again although they were marked a wrong match" in " ".join(
        entry["message"] for entry in decision["review_diff"]
    )


def test_the_needs_review_filter_lists_only_decisions_a_reimport_sent_back(app, client, tmp_path):
    run(write_sources(tmp_path / "run1", [STOP, OTHER], [NODE, OTHER_NODE]))
    decide(DISTANCE_IDENTITY)
    decide(OTHER_IDENTITY)
    # Only the first pair's OSM node moves: only its decision goes back to review.
    run(write_sources(tmp_path / "run2", [STOP, OTHER], [NODE.moved(north=18.0, version=5), OTHER_NODE]))

    again = client.get("/api/v1/problems", query_string={"needs_review": "true"}).get_json()["problems"]
    assert [p["identity"] for p in again] == [DISTANCE_IDENTITY]
    assert again[0]["decision"]["status"] == "needs_review"
    assert "OSM node moved 18 m" in [e["message"] for e in again[0]["decision"]["review_diff"]]
    rest = client.get("/api/v1/problems", query_string={"needs_review": "false"}).get_json()["problems"]
    assert DISTANCE_IDENTITY not in [p["identity"] for p in rest]
    assert OTHER_IDENTITY in [p["identity"] for p in rest]
    # The queue's own request: undecided plus sent back, narrowed to the latter.
    queue = client.get("/api/v1/problems?decided=false&needs_review=true").get_json()["problems"]
    assert [p["identity"] for p in queue] == [DISTANCE_IDENTITY]
    bad = client.get("/api/v1/problems?needs_review=maybe")
    assert bad.status_code == 400
    assert bad.get_json()["error"]["details"]["parameter"] == "needs_review"


def test_a_manual_link_is_pending_until_a_run_then_active_then_orphaned(app, client, tmp_path):
    run(write_sources(tmp_path / "run1", [STOP, LONELY], [NODE, FAR_NODE]))
    _, token = login_as(client, "editor")
    link = client.post(
        "/api/v1/manual-matches",
        json={"stop_id": LONELY.stop_id, "osm_key": "node/111", "action": "link", "note": "same kerb"},
        headers={"X-CSRF-Token": token},
    ).get_json()["manual_match"]
    assert link["state"] == "pending"

    def state() -> str:
        detail = client.get(f"/api/v1/stops/atlas/{LONELY.stop_id}").get_json()
        (found,) = [m for m in detail["manual_matches"] if m["id"] == link["id"]]
        return found["state"]

    assert state() == "pending"
    page = client.get(f"/stops/atlas/{LONELY.stop_id}").get_data(as_text=True)
    assert "pending until the next pipeline run" in page

    run(write_sources(tmp_path / "run2", [STOP, LONELY], [NODE, FAR_NODE]))
    assert state() == "active"
    page = client.get(f"/stops/atlas/{LONELY.stop_id}").get_data(as_text=True)
    assert "pending until the next pipeline run" not in page
    assert 'data-state="active"' in page

    # A person changes the note after the run: pending again until the next one reads it.
    client.post(
        "/api/v1/manual-matches",
        json={
            "stop_id": LONELY.stop_id,
            "osm_key": "node/111",
            "action": "link",
            "note": "same kerb, north side",
        },
        headers={"X-CSRF-Token": token},
    )
    assert state() == "pending"

    run(write_sources(tmp_path / "run3", [STOP, LONELY], [NODE]))  # node/111 is gone
    assert state() == "orphaned"
    page = client.get(f"/stops/atlas/{LONELY.stop_id}").get_data(as_text=True)
    assert "orphaned: its stop or object no longer exists" in page


def test_a_failed_run_does_not_make_a_pending_link_active(app, client, tmp_path):
    run(write_sources(tmp_path / "run1", [STOP, LONELY], [NODE, FAR_NODE]))
    _, token = login_as(client, "editor")
    link = client.post(
        "/api/v1/manual-matches",
        json={"stop_id": LONELY.stop_id, "osm_key": "node/111", "action": "link"},
        headers={"X-CSRF-Token": token},
    ).get_json()["manual_match"]
    from runs import record

    failed = record.start_run("cli")
    record.finish_run(failed, status="failed", error="boom")
    db.session.commit()
    again = client.get(f"/api/v1/manual-matches/{link['id']}").get_json()["manual_match"]
    assert again["state"] == "pending"
