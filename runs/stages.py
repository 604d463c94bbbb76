"""The stage sequence of one pipeline run: fetch → parse → match → problems → import → review.

`run_pipeline` must be called inside a Flask app context (it records the run in `pipeline_runs`
through `runs.record` and imports through the app's database engine). The stages themselves are
the pure library `pipeline`; this module only feeds them and stores what they return.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from database import db
from database.models import PipelineRun, SourceState
from database.session import transaction
from database.snapshot import Checkpoint, SourceStateRow, import_snapshot
from pipeline.fetch import FetchedSource, HttpPolicy, PreviousState, fetch_source
from pipeline.geo import Boundary, load_boundaries, load_boundary, resolve_path
from pipeline.matching import match_stops, release_caches
from pipeline.problems import detect_problems
from pipeline.records import ManualLink, OsmObject, OsmStructure, RegistryStop
from pipeline.redaction import redact_credentials, report_failure
from pipeline.route_evidence import build_route_data
from pipeline.sources import ParseOptions, Source, SourceKind, selected_sources
from runs import record, review
from runs.memory import release_memory

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int, str], None]


@dataclass
class RunOptions:
    """What to run. `source_dir` with `offline=True` forces file sources even when URLs are configured."""

    trigger: str = "cli"
    source_dir: str | Path | None = None
    offline: bool = False
    only_if_changed: bool = False
    run_uuid: str | None = None
    requested_by: str | None = None
    today: dt.date | None = None  # validity date of registry rows; default: today (UTC)
    manual_links: list[ManualLink] | None = None  # None: the active rows of `manual_matches`
    checkpoint: Checkpoint | None = None  # called at import milestones ("staged", "swap:deleted", ...)


@dataclass
class RunSummary:
    run_id: int
    run_uuid: str
    status: str  # succeeded | skipped | failed
    counts: dict[str, Any] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    source_versions: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_uuid": self.run_uuid,
            "status": self.status,
            "counts": self.counts,
            "stage_seconds": self.stage_seconds,
            "source_versions": self.source_versions,
            "error": self.error,
        }


def _no_progress(stage: str, done: int, total: int, message: str) -> None:
    return None


# PIPELINE_BOUNDARY_FILE's value for "the boundaries the selected registries declare" (its default).
DECLARED_BOUNDARY = "declared"


def run_boundary(settings: Any) -> Boundary | None:
    """The run's inside-the-country filter: PIPELINE_BOUNDARY_FILE's file, none when it is empty, and
    by default (`declared`) the union of the boundaries the selected registries declare (ATLAS CH+LI,
    NaPTAN GB), so a UK instance needs no boundary setting. A `<SOURCE>_BOUNDARY` still replaces it for
    that source's own rows (`Source.parse_options`)."""
    path = settings.PIPELINE_BOUNDARY_FILE
    if path != DECLARED_BOUNDARY:
        return load_boundary(path) if path else None
    declared = [
        s.declaration.boundary
        for s in selected_sources(settings.PIPELINE_SOURCES)
        if s.declaration is not None and s.declaration.boundary
    ]
    return load_boundaries(tuple(dict.fromkeys(declared))) if declared else None


def parse_options(settings: Any, today: dt.date | None) -> ParseOptions:
    codes = {c.strip() for c in settings.PIPELINE_UIC_COUNTRY_CODES.split(",") if c.strip()}
    boundary = run_boundary(settings)
    return ParseOptions(
        today=today or dt.datetime.now(dt.UTC).date(),
        uic_country_codes=frozenset(codes) if codes else None,
        boundary=boundary,
        max_bytes=settings.HTTP_MAX_BYTES,
        timetable_max_bytes=settings.GTFS_MAX_UNZIPPED_BYTES,
        timetable_memory_limit=settings.GTFS_DUCKDB_MEMORY_LIMIT,
    )


def _previous_states() -> dict[str, PreviousState]:
    rows = db.session.scalars(select(SourceState)).all()
    return {
        r.source: PreviousState(etag=r.etag, last_modified=r.last_modified, sha256=r.sha256) for r in rows
    }


def _fetch(
    sources: list[Source],
    options: RunOptions,
    settings: Any,
    previous: dict[str, PreviousState],
    progress: Progress,
) -> dict[str, FetchedSource]:
    folder = options.source_dir or settings.PIPELINE_SOURCE_DIR
    directory = resolve_path(folder) if folder else None  # none: sources without a URL are disabled
    cache = resolve_path(settings.PIPELINE_CACHE_DIR)
    policy = HttpPolicy(
        timeout_s=settings.HTTP_TIMEOUT_S, retries=settings.HTTP_RETRIES, max_bytes=settings.HTTP_MAX_BYTES
    )
    # Keyed by download (`atlas`, `atlas.service_points`, `osm`): one `source_states` row each.
    fetched: dict[str, FetchedSource] = {}
    try:
        for i, source in enumerate(sources):
            requests = [] if options.offline else source.http_requests(settings)
            progress("fetch", i, len(sources), f"fetching {source.name}")
            for item in fetch_source(source, requests, directory, cache, previous, policy):
                fetched[item.key] = item
    except BaseException:
        for item in fetched.values():
            item.discard()  # a later source failed: no download of this run may stay half-promoted
        raise
    progress("fetch", len(sources), len(sources), "sources fetched")
    return fetched


def run_pipeline(options: RunOptions, progress: Progress | None = None) -> RunSummary:
    """Run every stage once and record the run. Re-raises any failure after marking the run failed."""
    settings = current_app.config["SETTINGS"]
    report = progress or _no_progress
    with transaction():
        run = record.start_run(options.trigger, requested_by=options.requested_by, run_uuid=options.run_uuid)
        run_id, run_uuid = run.id, run.run_uuid
    summary = RunSummary(run_id=run_id, run_uuid=run_uuid, status="running")
    clock = {"t": time.perf_counter()}

    def lap(stage: str) -> None:
        now = time.perf_counter()
        summary.stage_seconds[stage] = round(now - clock["t"], 3)
        clock["t"] = now

    fetched: dict[str, FetchedSource] = {}
    try:
        sources = selected_sources(settings.PIPELINE_SOURCES)  # PIPELINE_SOURCES: only these are fetched
        previous = _previous_states()
        fetched = _fetch(sources, options, settings, previous, report)
        summary.source_versions = _source_versions(fetched)
        lap("fetch")
        if options.only_if_changed and not any(f.changed for f in fetched.values()):
            summary.status = "skipped"
            summary.counts = {"reason": "no source changed since the last successful run"}
            report("fetch", len(sources), len(sources), "no source changed: run skipped")
            for f in fetched.values():
                f.discard()
            _finish(summary)
            return summary

        popts = parse_options(settings, options.today)
        registry: list[RegistryStop] = []
        osm: list[OsmObject] = []
        parse_stats: dict[str, Any] = {}
        osm_structure: OsmStructure | None = None  # stop areas and routes of the OSM source
        timetable: Any = None  # the GTFS timetable (route evidence), when the run has one
        for i, source in enumerate(sources):
            report("parse", i, len(sources), f"parsing {source.name}")
            paths = [path for f in fetched.values() if f.source == source.name for path in f.paths]
            parsed = source.parse(paths, source.parse_options(settings, popts))
            if source.kind == SourceKind.TIMETABLE:
                timetable = parsed.records[0] if parsed.records else None
            elif source.kind == SourceKind.REGISTRY:
                registry.extend(parsed.records)
            else:
                osm.extend(parsed.records)
            if source.kind == SourceKind.OSM and parsed.structure is not None:
                osm_structure = parsed.structure
            parse_stats[source.name] = parsed.stats
        report(
            "parse", len(sources), len(sources), f"{len(registry):,} registry stops, {len(osm):,} OSM objects"
        )
        for f in fetched.values():
            f.promote()  # parsed and validated: now it may replace the last good copy
        summary.source_versions = _source_versions(fetched)
        # Route evidence (stage 4): GTFS stops resolved to registry stops, OSM route relations.
        route_data = build_route_data(
            registry, osm, osm_structure, timetable, timetable_registry=settings.GTFS_REGISTRY
        )
        timetable = None  # resolved into route_data; not needed by the later stages
        release_memory()  # the parsers' buffers, before the matcher builds its indexes
        lap("parse")

        # Review workflow: stored manual links, checked against the new records (runs/review.py).
        review_stage = review.before_match(run_id, registry, osm)
        manual = options.manual_links if options.manual_links is not None else review_stage.links
        match_steps = 9
        done = {"n": 0}

        def match_progress(stage_name: str) -> None:
            done["n"] += 1
            report("match", done["n"], match_steps, f"stage {stage_name} done")

        report("match", 0, match_steps, f"matching {len(registry):,} stops against {len(osm):,} objects")
        result = match_stops(
            registry,
            osm,
            manual=manual,
            progress=match_progress,
            osm_structure=osm_structure,
            route_evidence=route_data.evidence,
        )
        lap("match")

        report("problems", 0, 1, "detecting problems")
        problems = detect_problems(
            registry,
            osm,
            result.matches,
            result.unmatched_registry,
            result.unmatched_osm,
            route_evidence=route_data.evidence,
        )
        problems = review.with_orphan_problems(review_stage, problems)
        report("problems", 1, 1, f"{len(problems):,} problems")
        # The import runs while PostgreSQL is busiest: it must not carry the name memos and the freed
        # heap of matching and problem detection (at Germany size about 380 MiB, measured).
        release_caches()
        release_memory()
        lap("problems")

        report("import", 0, 2, "loading the snapshot")
        states = [
            SourceStateRow(
                source=name,
                url=redact_credentials(f.origin),
                etag=f.etag,
                last_modified=f.last_modified,
                sha256=f.sha256,
                size_bytes=f.size_bytes,
            )
            for name, f in fetched.items()
        ]
        raw = db.engine.raw_connection()
        try:
            stats = import_snapshot(
                raw.driver_connection,
                run_id,
                registry,
                osm,
                result.matches,
                problems,
                states,
                structure=osm_structure,
                timetable_routes=route_data.gtfs_routes,
                timetable_route_stops=route_data.gtfs_route_stops,
                min_row_ratio=settings.PIPELINE_MIN_ROW_RATIO,
                timeout_s=settings.PIPELINE_IMPORT_TIMEOUT_S,
                lock_timeout_s=settings.PIPELINE_SWAP_LOCK_TIMEOUT_S,
                tile_prerender_max_zoom=settings.TILE_PRERENDER_MAX_ZOOM,
                checkpoint=options.checkpoint,
            )
        finally:
            raw.close()
        report("import", 2, 2, f"snapshot swapped in {stats.swap_seconds:.2f} s")
        lap("import")
        review_counts = review.after_import(review_stage, registry, osm, problems, settings)
        lap("review")

        summary.counts = {
            "registry_stops": len(registry),
            "osm_objects": len(osm),
            "matches": len(result.matches),
            "matched_registry_stops": len(registry) - len(result.unmatched_registry),
            "unmatched_registry": len(result.unmatched_registry),
            "unmatched_osm": len(result.unmatched_osm),
            "matches_by_method": result.method_counts,
            "stops_by_stage": result.stage_counts,
            "routes": route_data.stats,
            "orphaned_manual_links": len(result.orphaned_manual) + len(review_stage.orphan_problems),
            "review": review_counts,
            "problems": len(problems),
            "problems_by_type": _count_problems(problems),
            "problems_appeared": stats.appeared,
            "problems_resolved": stats.resolved,
            "parse": parse_stats,
            "import": stats.as_counts(),
        }
        summary.status = "succeeded"
        _finish(summary)
        return summary
    except BaseException as exc:
        for f in fetched.values():
            f.discard()
        summary.status = "failed"
        # Everyone may read the stored error: a short message (a PipelineError's own text, written
        # for users, scrubbed) and an error id; the traceback goes to the server log under that id.
        summary.error = report_failure(exc, logger, f"pipeline run {run_uuid}")
        lap("failed_stage")
        try:
            db.session.rollback()
            _finish(summary)
        except Exception:
            logger.exception("could not record the failure of run %s", run_uuid)
        raise


def _source_versions(fetched: dict[str, FetchedSource]) -> dict[str, Any]:
    """What the run records of its sources, with credentials in a source URL (userinfo, token
    query parameters) redacted: the row is shown to admins and, scrubbed further, to everyone."""
    versions = {}
    for name, source in fetched.items():
        version = source.version()
        version["origin"] = redact_credentials(str(version.get("origin") or ""))
        versions[name] = version
    return versions


def _count_problems(problems: list) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for p in problems:
        by_priority = out.setdefault(p.problem_type, {})
        key = f"P{p.priority}"
        by_priority[key] = by_priority.get(key, 0) + 1
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


def _finish(summary: RunSummary) -> None:
    with transaction():
        run = db.session.get(PipelineRun, summary.run_id)
        # The row was written when the run started (record.start_run), in its own transaction.
        assert run is not None, f"pipeline run {summary.run_id} has no row"
        record.finish_run(
            run,
            summary.status,
            error=summary.error,
            stage_seconds=summary.stage_seconds,
            counts=summary.counts,
            source_versions=summary.source_versions,
        )
