"""Stage 4: route-based matching. Stops that the identifier, name and distance stages left over are
paired when the same lines, in the same direction, serve both.

Evidence (plain records, built at the pipeline's edges): per registry stop the services of a GTFS
timetable (`pipeline/sources/gtfs.py`: route, agency, line short name, first and last stop), per OSM
object the services of the route relations it is a member of (`gtfs:route_id`, `operator`, `ref`,
`from`/`to` or the names of the first and last stop members). Either side may be empty: then this
stage commits nothing (it never guesses).

**When two services agree** (`line_keys`, `direction_keys`):
- *same line*: the normalised route ids are equal (`-j21` → `-jXX`: the timetable year), or the line
  short names (`ref`) are equal and the operators agree (one of the operator's keys: its name without
  legal form, an upper-case abbreviation in it, a known alias) or the OSM relation names no operator.
  Route ids alone miss most lines: they also change their variant letter between timetable years
  (`92-11-H-j21-1` vs `92-11-F-j26-1`), which the (operator, line) key survives;
- *same direction*: same line and the same destination (last stop / `to`), compared normalised; a
  name without its municipality, or the municipality alone, equals the whole name ("Bahnhofplatz"
  and "Zug" = "Zug, Bahnhofplatz"), two whole names never agree on a part ("Baar, Bahnhof" ≠
  "Zug, Bahnhof"). A looser reading can only create ties, which are refused.

**Matching.** Candidates: OSM objects within DISTANCE_MAX_M that `MatchContext.pair_rejection`
allows (stations excluded for platforms, contradicting identifiers refused) and that have services.
A pair's score is (registry services agreeing in line and direction, registry services agreeing in
line). Only *mutual unique-best* pairs are committed: the OSM object is the stop's only best-scoring
candidate and the stop is the object's only best-scoring candidate. A tie on either side is never
broken by guessing; rounds repeat while they commit something (a committed pair can end a tie).

**Contradiction** (`classify_routes`, used by `pipeline/problems/route_contradiction.py`): a matched
pair whose two sides both have services but share no line (ref or route id; operators are not
compared here, so a spelling difference never raises a problem), or share lines only in opposite
directions.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pipeline.matching.context import MatchContext
from pipeline.matching.normalize import fold, normalise
from pipeline.matching.params import DISTANCE_MAX_M, METHOD_ROUTE
from pipeline.records import RegistryKey

MAX_ROUNDS = 5  # mutual unique-best rounds; each needs a commit to continue
MAX_LABELS = 40  # routes named in a problem's details (a main station has hundreds)
_YEAR = re.compile(r"-j\d+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,5}\b")
LEGAL_FORMS = frozenset({"ag", "sa", "gmbh", "sagl", "ltd", "spa", "genossenschaft", "cie"})
# Operator spellings that mean one company (folded name → key); the rest compare by their own keys.
OPERATOR_ALIASES: dict[str, str] = {
    "schweizerische bundesbahnen": "sbb",
    "cff": "sbb",
    "ffs": "sbb",
    "postauto": "pag",
    "carpostal": "pag",
    "autopostale": "pag",
    "postauto schweiz": "pag",
}
ANY_OPERATOR = "*"


@dataclass(frozen=True, slots=True)
class RouteService:
    """One line, in one direction, serving a stop. GTFS: a route between two termini; OSM: a route
    relation. Every field may be missing; missing fields never agree with anything."""

    route_id: str | None = None  # GTFS route_id / OSM gtfs:route_id
    operator: str | None = None  # GTFS agency name / OSM operator
    line: str | None = None  # GTFS route_short_name / OSM ref
    origin: str | None = None  # first stop name / OSM from
    destination: str | None = None  # last stop name / OSM to
    direction_id: str | None = None  # GTFS direction_id (OSM has none)

    def label(self) -> str:
        """Short human text: "11 → Zug, Bahnhofplatz"."""
        return f"{self.line or self.route_id or '?'} → {self.destination or '?'}"


@dataclass(frozen=True)
class RouteEvidence:
    """Services per stop: registry stop (source, stop_id) → services, OSM key → services. Keyed by
    the pair so a timetable's routes attach only to stops of the registry it was resolved against."""

    registry_routes: Mapping[RegistryKey, frozenset[RouteService]] = field(default_factory=dict)
    osm_routes: Mapping[str, frozenset[RouteService]] = field(default_factory=dict)


def normalise_route_id(route_id: str | None) -> str | None:
    """A GTFS route id without its timetable year: "92-11-H-j21-1" → "92-11-h-jxx-1"."""
    if not route_id or not route_id.strip():
        return None
    return _YEAR.sub("-jXX", route_id.strip()).lower()


def normalise_line(line: str | None) -> str | None:
    """A line short name / ref compared without case and spaces: "S 24" = "s24"."""
    if not line:
        return None
    key = _SPACES.sub("", fold(line))
    return key or None


@lru_cache(maxsize=20_000)
def operator_keys(operator: str | None) -> frozenset[str]:
    """Every key an operator is known by: its folded name without legal form, its upper-case
    abbreviations ("Schweizerische Bundesbahnen SBB" → {"schweizerische bundesbahnen sbb", "sbb"}),
    and a known alias."""
    if not operator or not operator.strip():
        return frozenset()
    keys: set[str] = set()
    words = [w for w in fold(operator).split() if w not in LEGAL_FORMS]
    if words:
        name = " ".join(words)
        keys.add(name)
        keys.add(OPERATOR_ALIASES.get(name, name))
        without_acronym = " ".join(w for w in words if w.upper() not in _ACRONYM.findall(operator))
        if without_acronym in OPERATOR_ALIASES:
            keys.add(OPERATOR_ALIASES[without_acronym])
    for acronym in _ACRONYM.findall(operator):
        low = acronym.lower()
        if low not in LEGAL_FORMS:
            keys.add(OPERATOR_ALIASES.get(low, low))
    return frozenset(keys)


@lru_cache(maxsize=200_000)
def line_keys(service: RouteService, osm_side: bool) -> frozenset[tuple[str, ...]]:
    """The keys that identify the service's line. A registry service also offers its line under
    ANY_OPERATOR, which an OSM relation without `operator` uses."""
    keys: set[tuple[str, ...]] = set()
    route = normalise_route_id(service.route_id)
    if route:
        keys.add(("route", route))
    line = normalise_line(service.line)
    if line:
        operators = operator_keys(service.operator)
        for op in operators:
            keys.add(("line", op, line))
        if not osm_side or not operators:
            keys.add(("line", ANY_OPERATOR, line))
    return frozenset(keys)


@lru_cache(maxsize=200_000)
def direction_keys(service: RouteService) -> tuple[str, str, str] | None:
    """Normalised destination: (whole, without the municipality, the municipality), or None.
    "Zug, Bahnhofplatz" → ("zug bahnhofplatz", "bahnhofplatz", "zug"); "Cham" → ("cham",) * 3."""
    if not service.destination or not normalise(service.destination):
        return None
    whole = normalise(service.destination)
    if "," not in service.destination:
        return whole, whole, whole
    town, place = service.destination.split(",", 1)
    return whole, normalise(place) or whole, normalise(town) or whole


def same_direction(a: tuple[str, str, str] | None, b: tuple[str, str, str] | None) -> bool | None:
    """Whether two destinations are one place; None when either is unknown. A name given without its
    municipality, or as the municipality alone, equals the whole name of the other side
    ("Bahnhofplatz" and "Zug" both = "Zug, Bahnhofplatz"), but two whole names never agree on their
    parts ("Baar, Bahnhof" is not "Zug, Bahnhof")."""
    if a is None or b is None:
        return None
    return a[0] == b[0] or a[0] in (b[1], b[2]) or b[0] in (a[1], a[2])


def _loose_line_keys(service: RouteService) -> frozenset[tuple[str, ...]]:
    """Line identity for the contradiction check: route id or line ref, operators ignored."""
    keys: set[tuple[str, ...]] = set()
    route = normalise_route_id(service.route_id)
    if route:
        keys.add(("route", route))
    line = normalise_line(service.line)
    if line:
        keys.add(("line", line))
    return frozenset(keys)


def score_pair(registry: Iterable[RouteService], osm: Iterable[RouteService]) -> tuple[int, int]:
    """(registry services agreeing in line and direction, registry services agreeing in line)."""
    osm = list(osm)
    osm_lines = [line_keys(o, True) for o in osm]
    osm_dirs = [direction_keys(o) for o in osm]
    directed = lines = 0
    for service in registry:
        keys, dirs = line_keys(service, False), direction_keys(service)
        same_line = [i for i, ok in enumerate(osm_lines) if keys & ok]
        if not same_line:
            continue
        lines += 1
        if any(same_direction(dirs, osm_dirs[i]) for i in same_line):
            directed += 1
    return directed, lines


@dataclass(frozen=True)
class RouteVerdict:
    """How the routes of a matched pair compare: `agree`, `no_common_line`, `opposite_direction`, or
    `unknown` (one side has no services)."""

    outcome: str
    registry_lines: tuple[str, ...] = ()
    osm_lines: tuple[str, ...] = ()

    @property
    def contradicts(self) -> bool:
        return self.outcome in {"no_common_line", "opposite_direction"}


def classify_routes(registry: Iterable[RouteService], osm: Iterable[RouteService]) -> RouteVerdict:
    """Whether a matched pair's routes agree (see the module docstring, "Contradiction")."""
    registry, osm = sorted(registry, key=_sort_key), sorted(osm, key=_sort_key)
    if not registry or not osm:
        return RouteVerdict("unknown")
    labels_r = tuple(sorted({s.label() for s in registry}))[:MAX_LABELS]
    labels_o = tuple(sorted({s.label() for s in osm}))[:MAX_LABELS]
    shared = [(r, o) for r in registry for o in osm if _loose_line_keys(r) & _loose_line_keys(o)]
    if not shared:
        return RouteVerdict("no_common_line", labels_r, labels_o)
    for r, o in shared:
        if same_direction(direction_keys(r), direction_keys(o)) is not False:
            return RouteVerdict("agree", labels_r, labels_o)
    return RouteVerdict("opposite_direction", labels_r, labels_o)


def _sort_key(service: RouteService) -> tuple[str, ...]:
    return tuple(v or "" for v in (service.route_id, service.operator, service.line, service.destination))


def match_by_routes(ctx: MatchContext, evidence: RouteEvidence | None = None) -> int:
    """Commit route-based matches (method `route`) from `evidence`; 0 without evidence.

    Only mutual unique-best pairs within DISTANCE_MAX_M, through `ctx.pair_rejection` and
    `ctx.commit_greedy`, like the other stages.
    """
    if evidence is None or not evidence.registry_routes or not evidence.osm_routes:
        return 0
    committed = 0
    for _round in range(MAX_ROUNDS):
        proposals = _mutual_unique_best(ctx, evidence)
        if not proposals:
            break
        committed += ctx.commit_greedy(proposals, METHOD_ROUTE)
    return committed


def _mutual_unique_best(
    ctx: MatchContext, evidence: RouteEvidence
) -> list[tuple[tuple[Any, ...], int, int, dict[str, Any]]]:
    """Proposals (sort key, registry index, OSM index, evidence) for every mutual unique-best pair."""
    reg_ids = [i for i in ctx.unmatched_registry() if evidence.registry_routes.get(ctx.registry[i].key)]
    if not reg_ids:
        return []
    points = ctx.registry_index.xy[reg_ids]
    edges: dict[int, dict[int, tuple[int, int]]] = {}
    by_osm: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    for reg_i, near in zip(reg_ids, ctx.osm_index.within(points, DISTANCE_MAX_M), strict=True):
        services = evidence.registry_routes[ctx.registry[reg_i].key]
        for osm_i in near:
            osm_services = evidence.osm_routes.get(ctx.osm[osm_i].osm_key)
            if not osm_services or ctx.pair_rejection(reg_i, osm_i) is not None:
                continue
            score = score_pair(services, osm_services)
            if score == (0, 0):
                continue
            edges.setdefault(reg_i, {})[osm_i] = score
            by_osm[osm_i][reg_i] = score

    proposals = []
    for reg_i, candidates in edges.items():
        chosen, best, runner_up = _unique_best(candidates)
        if chosen is None:
            continue
        back, _back_best, back_runner_up = _unique_best(by_osm[chosen])
        if back != reg_i:
            continue
        evidence_out = {
            "score": list(best),
            "runner_up": list(runner_up) if runner_up else None,
            "osm_runner_up": list(back_runner_up) if back_runner_up else None,
            "candidates": len(candidates),
        }
        key = (-best[0], -best[1], ctx.registry[reg_i].stop_id, ctx.osm[chosen].osm_key)
        proposals.append((key, reg_i, chosen, evidence_out))
    return proposals


def _unique_best(
    scores: Mapping[int, tuple[int, int]],
) -> tuple[int | None, tuple[int, int], tuple[int, int] | None]:
    """The single best-scoring key, its score and the runner-up's; (None, best, best) on a tie."""
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    best_key, best = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else None
    if runner_up is not None and runner_up == best:
        return None, best, runner_up
    return best_key, best, runner_up
