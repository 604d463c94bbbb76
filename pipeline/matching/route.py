"""Stage 4: route-based matching — an extension point, not implemented yet.

The reference matches leftover stops by comparing the routes that serve them (GTFS route ids and
directions on the registry side, OSM route relations on the OSM side). No route data is loaded by
this pipeline yet. When it is, build a `RouteEvidence` and pass it to `match_stops`; this function
then receives it. Without evidence it returns 0 and commits nothing: it never guesses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.matching.context import MatchContext


@dataclass(frozen=True)
class RouteEvidence:
    """Route tokens per stop: registry sloid → {(route_id, direction)}, OSM key → {(route_id, direction)}."""

    registry_routes: Mapping[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    osm_routes: Mapping[str, frozenset[tuple[str, str]]] = field(default_factory=dict)


def match_by_routes(ctx: MatchContext, evidence: RouteEvidence | None = None) -> int:
    """Commit route-based matches (method `route`) from `evidence`; 0 without evidence.

    Contract for the implementation: only mutual unique-best pairs within DISTANCE_MAX_M, through
    `ctx.pair_rejection` and `ctx.commit_greedy`, like the other stages.
    """
    if evidence is None or not evidence.registry_routes or not evidence.osm_routes:
        return 0
    raise NotImplementedError("route evidence was supplied but route matching is not implemented yet")
