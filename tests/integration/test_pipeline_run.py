"""The whole pipeline on the bundled demo data, against the real PostGIS of the test harness."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from database import db
from database.models import (
    Decision,
    DecisionEvent,
    ManualMatch,
    Match,
    OsmStop,
    PipelineRun,
    Problem,
    ProblemChange,
    RegistryStopRow,
    SourceState,
)
from pipeline.errors import PipelineError, SourceError
from runs.cli import pipeline_cli
from runs.stages import RunOptions, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data/demo"
TODAY = dt.date(2025, 8, 2)

# Measured on the bundled demo data (Liechtenstein: ATLAS 2025-08-02, OSM 2024-03); deterministic.
EXPECTED = {
    "registry_stops": 221,
    "osm_objects": 773,
    "matches": 751,
    "unmatched_registry": 22,
    "unmatched_osm": 22,
    "matches_by_method": {"distance_unique": 1, "exact_uic": 388, "name": 56, "stop_area": 306},
}
EXPECTED_PROBLEMS = {
    "attributes": {"P1": 13, "P3": 9},
    "distance": {"P1": 4, "P2": 22, "P3": 30},
    "duplicates": {"P3": 4},
    "unmatched": {"P1": 23, "P2": 14, "P3": 7},
}


def demo_options(**overrides) -> RunOptions:
    return RunOptions(**{"trigger": "cli", "source_dir": DEMO, "offline": True, "today": TODAY, **overrides})


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_run_imports_the_expected_snapshot(app):
    progress_calls = []
    summary = run_pipeline(demo_options(), progress=lambda *args: progress_calls.append(args))

    assert summary.status == "succeeded"
    for key, value in EXPECTED.items():
        assert summary.counts[key] == value, key
    assert summary.counts["problems_by_type"] == EXPECTED_PROBLEMS
    assert count(RegistryStopRow) == 221
    assert count(OsmStop) == 773
    assert count(Match) == 751
    assert count(Problem) == sum(sum(v.values()) for v in EXPECTED_PROBLEMS.values())

    run = db.session.get(PipelineRun, summary.run_id)
    assert run.status == "succeeded"
    assert run.finished_at is not None
    assert set(run.stage_seconds) >= {"fetch", "parse", "match", "problems", "import"}
    assert run.source_versions["atlas"]["sha256"] == summary.source_versions["atlas"]["sha256"]
    assert run.counts["import"]["swap_seconds"] >= 0
    # The run's own database session holds no snapshot table's lock at the swap: one attempt.
    assert run.counts["import"]["swap_attempts"] == 1
    # first run: every problem appeared
    assert count(ProblemChange) == count(Problem)
    assert {s.source for s in db.session.scalars(select(SourceState))} == {"atlas", "osm"}

    stages = [call[0] for call in progress_calls]
    assert stages[0] == "fetch"
    assert stages[-1] == "import"
    assert {"parse", "match", "problems"} <= set(stages)
    assert all(len(call) == 4 for call in progress_calls)

    # geometry matches the coordinates
    lat, lon = db.session.execute(
        text("SELECT ST_Y(geom), ST_X(geom) FROM registry_stops WHERE stop_id = 'ch:1:sloid:10770'")
    ).one()
    stop = db.session.get(RegistryStopRow, ("atlas", "ch:1:sloid:10770"))
    assert (lat, lon) == pytest.approx((stop.lat, stop.lon))


def test_only_if_changed_skips_an_unchanged_source(app):
    first = run_pipeline(demo_options())
    second = run_pipeline(demo_options(only_if_changed=True))
    assert first.status == "succeeded"
    assert second.status == "skipped"
    assert db.session.get(PipelineRun, second.run_id).status == "skipped"
    assert count(Match) == EXPECTED["matches"]


def test_changed_source_runs_and_records_appeared_and_resolved_problems(app, tmp_path):
    run_pipeline(demo_options())
    changed = tmp_path / "demo"
    shutil.copytree(DEMO, changed)
    csv_path = changed / "atlas_service_points_li.csv"
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(";")
    kept = [lines[0]] + [ln for ln in lines[1:] if ln.split(";")[header.index("sloid")] != "ch:1:sloid:10770"]
    csv_path.write_text("\n".join(kept) + "\n", encoding="utf-8-sig")

    summary = run_pipeline(demo_options(source_dir=changed, only_if_changed=True))
    assert summary.status == "succeeded"
    assert summary.counts["registry_stops"] == 220
    resolved = db.session.scalars(
        select(ProblemChange.problem_identity).where(
            ProblemChange.run_id == summary.run_id, ProblemChange.change == "resolved"
        )
    ).all()
    assert "unmatched:ch:1:sloid:10770:-" in resolved


def test_reimport_keeps_decisions_and_they_still_join_their_problem(app):
    run_pipeline(demo_options())
    identity = "unmatched:ch:1:sloid:10770:-"
    assert db.session.scalar(select(Problem.id).where(Problem.identity == identity)) is not None
    decision = Decision(
        problem_identity=identity,
        problem_type="unmatched",
        stop_id="ch:1:sloid:10770",
        decision="missing_in_osm",
        note="surveyed 2025-08: no pole yet",
    )
    db.session.add(decision)
    db.session.flush()
    db.session.add(DecisionEvent(decision_id=decision.id, action="created", decision="missing_in_osm"))
    db.session.add(ManualMatch(source="atlas", stop_id="ch:1:sloid:10770", osm_key="node/1", action="unlink"))
    db.session.commit()

    run_pipeline(demo_options())

    joined = db.session.execute(
        select(Decision.note, Problem.problem_type).join(
            Problem, Problem.identity == Decision.problem_identity
        )
    ).all()
    assert joined == [("surveyed 2025-08: no pole yet", "unmatched")]
    assert count(DecisionEvent) == 1
    assert count(ManualMatch) == 1


def test_manual_links_from_the_table_are_applied(app):
    db.session.add(
        ManualMatch(source="atlas", stop_id="ch:1:sloid:10770", osm_key="node/984721496", action="link")
    )
    db.session.commit()
    summary = run_pipeline(demo_options())
    assert summary.counts["matches_by_method"].get("manual") == 1
    match = db.session.scalars(select(Match).where(Match.method == "manual")).one()
    assert (match.stop_id, match.osm_key) == ("ch:1:sloid:10770", "node/984721496")


def test_bad_source_fails_the_run_and_keeps_the_previous_snapshot(app, tmp_path):
    run_pipeline(demo_options())
    broken = tmp_path / "demo"
    shutil.copytree(DEMO, broken)
    (broken / "osm_li.json").write_text("<html><body>502 Bad Gateway</body></html>", encoding="utf-8")

    with pytest.raises(SourceError, match="HTML page"):
        run_pipeline(demo_options(source_dir=broken))

    failed = db.session.scalars(select(PipelineRun).order_by(PipelineRun.id.desc())).first()
    assert failed.status == "failed"
    assert "osm_li.json" in failed.error
    assert "HTML page" in failed.error
    assert count(Match) == EXPECTED["matches"]
    assert count(OsmStop) == EXPECTED["osm_objects"]


def test_a_snapshot_that_loses_most_rows_is_refused(app, tmp_path):
    run_pipeline(demo_options())
    small = tmp_path / "demo"
    shutil.copytree(DEMO, small)
    path = small / "atlas_service_points_li.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    path.write_text("\n".join(lines[:40]) + "\n", encoding="utf-8-sig")
    with pytest.raises(PipelineError, match="refusing to import"):
        run_pipeline(demo_options(source_dir=small))
    assert count(RegistryStopRow) == EXPECTED["registry_stops"]


def test_cli_runs_the_pipeline_on_a_source_dir(app):
    runner = app.test_cli_runner()
    result = runner.invoke(pipeline_cli, args=["run", "--source-dir", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert '"status": "succeeded"' in result.output
    assert count(RegistryStopRow) > 0
