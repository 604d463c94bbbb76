"""The matcher: stages in order over plain records, no database, no network."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pipeline.matching.context import MatchContext
from pipeline.matching.distance import match_ratio, match_unique
from pipeline.matching.exact import match_by_sloid, match_by_uic
from pipeline.matching.manual import apply_manual_links
from pipeline.matching.name import match_by_name
from pipeline.matching.route import RouteEvidence, match_by_routes
from pipeline.matching.stop_area import StopAreaOutcome, match_by_stop_areas
from pipeline.records import ManualLink, MatchRecord, OsmObject, OsmStructure, RegistryKey, RegistryStop


@dataclass
class MatchResult:
    """What the matcher found, plus what it could not place."""

    matches: list[MatchRecord]
    unmatched_registry: list[RegistryKey]  # (source, stop_id) of every registry stop nothing matched
    unmatched_osm: list[str]
    orphaned_manual: list[ManualLink] = field(default_factory=list)
    stage_counts: dict[str, int] = field(default_factory=dict)  # stage name → registry stops newly matched
    stop_areas: StopAreaOutcome = field(default_factory=StopAreaOutcome)

    @property
    def method_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(m.method for m in self.matches).items()))


def match_stops(
    registry: Sequence[RegistryStop],
    osm: Sequence[OsmObject],
    manual: Iterable[ManualLink] = (),
    route_evidence: RouteEvidence | None = None,
    progress: Callable[[str], None] | None = None,
    osm_structure: OsmStructure | None = None,
) -> MatchResult:
    """Run every stage in order; each sees only what earlier stages left unmatched."""
    ctx = MatchContext(registry=list(registry), osm=list(osm))
    stage_counts: dict[str, int] = {}

    def run(name: str, func: Callable[[], object]) -> None:
        before = len(ctx.matched_registry)
        func()
        stage_counts[name] = len(ctx.matched_registry) - before
        if progress is not None:
            progress(name)

    orphaned: list[ManualLink] = []
    run("manual", lambda: orphaned.extend(apply_manual_links(ctx, manual)))
    by_sloid: set[int] = set()
    run("exact_sloid", lambda: by_sloid.update(match_by_sloid(ctx)))
    run("exact_uic", lambda: match_by_uic(ctx, by_sloid))
    stop_areas: list[StopAreaOutcome] = []
    run("stop_area", lambda: stop_areas.append(match_by_stop_areas(ctx, osm_structure)))
    run("name", lambda: match_by_name(ctx))
    run("distance_unique", lambda: match_unique(ctx, pass_no=1))
    run("distance_ratio", lambda: match_ratio(ctx))
    run("distance_unique_2", lambda: match_unique(ctx, pass_no=2))
    run("route", lambda: match_by_routes(ctx, route_evidence))

    matched_keys = {m.osm_key for m in ctx.matches}
    return MatchResult(
        matches=ctx.matches,
        unmatched_registry=[s.key for i, s in enumerate(ctx.registry) if i not in ctx.matched_registry],
        unmatched_osm=[o.osm_key for o in ctx.osm if o.osm_key not in matched_keys],
        orphaned_manual=orphaned,
        stage_counts=stage_counts,
        stop_areas=stop_areas[0],
    )
