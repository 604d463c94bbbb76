"""Shared state of one matching run: spatial indexes, identifier lookups and the commit gateway.

Stages never mutate state themselves; they propose pairs and call `MatchContext.commit`, which
records the match and locks both sides at once, so a later stage only ever sees what is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from scipy.spatial import cKDTree

from pipeline.declarations import declaration_for
from pipeline.geo import Projection, haversine_m, planar_projection
from pipeline.matching.normalize import best_name_score, name_score, normalise_ref
from pipeline.matching.params import NAME_MIN_SCORE
from pipeline.records import MatchRecord, OsmObject, RegistryKey, RegistryStop
from pipeline.text import ascii_int

_V = TypeVar("_V")


def parse_uic(value: str | None) -> int | None:
    """An OSM `uic_ref` as an integer number, or None when it is not one ("8503000;8503001", "²" → None).

    ASCII digits only: a mapper can type any character, and a Unicode "digit" that `int()` refuses
    must never stop a run.
    """
    return ascii_int(value)


def osm_names(obj: OsmObject) -> tuple[str | None, ...]:
    """Every name an OSM object is known by, best first."""
    return (obj.uic_name, obj.name, obj.tags.get("official_name"), obj.tags.get("gtfs:name"))


def is_platform_level(stop: RegistryStop) -> bool:
    """One platform, or a whole stop (which may take several objects and a station object)? As the
    stop's registry declares it (ATLAS: traffic points are platforms, service points whole stops)."""
    return declaration_for(stop.source).platform_level(stop)


def registry_projection(registry: Sequence[RegistryStop]) -> Projection:
    """The planar projection for spatial indexes over these registry stops (and the OSM objects around
    them): the CRS their registries declare (`RegistryDeclaration.projection`), else a local one centred
    on the stops."""
    declared = [declaration_for(source).projection for source in {s.source for s in registry}]
    return planar_projection(declared, [s.lat for s in registry], [s.lon for s in registry])


@dataclass
class SpatialIndex:
    """A KD-tree over planar metres (the registry's declared projection) of a list of points."""

    xy: np.ndarray
    tree: cKDTree

    @classmethod
    def build(cls, lat: Sequence[float], lon: Sequence[float], projection: Projection) -> SpatialIndex:
        """Index the points in `projection`'s metres (every index compared with it must share it)."""
        xy = projection.project(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64))
        return cls(xy=xy, tree=cKDTree(xy if len(xy) else np.empty((0, 2))))

    def within(self, points: np.ndarray, radius_m: float) -> list[list[int]]:
        if len(self.xy) == 0 or len(points) == 0:
            return [[] for _ in range(len(points))]
        return list(self.tree.query_ball_point(points, r=radius_m))


class ByRegistryKey(Mapping[tuple[str, str], _V]):
    """A read-only map (source, stop_id) → value of registry stops, stored as one dict per source
    keyed by the stops' own stop_id strings: a dict keyed by RegistryKey needs a new tuple per stop
    (58 MiB per index at Germany size). Looked up with a RegistryKey or a plain (source, stop_id)
    tuple alike; of an id that occurs twice in one source the last value is kept, as in a dict."""

    __slots__ = ("_by_source", "_len")

    def __init__(self, registry: Iterable[RegistryStop], values: Iterable[_V]) -> None:
        self._by_source: dict[str, dict[str, _V]] = {}
        for s, value in zip(registry, values, strict=False):
            by_id = self._by_source.get(s.source)
            if by_id is None:
                by_id = self._by_source[s.source] = {}
            by_id[s.stop_id] = value
        self._len = sum(len(by_id) for by_id in self._by_source.values())

    def __getitem__(self, key: tuple[str, str]) -> _V:
        source, stop_id = key
        return self._by_source[source][stop_id]

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        by_id = self._by_source.get(key[0])
        return default if by_id is None else by_id.get(key[1], default)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        by_id = self._by_source.get(key[0])
        return by_id is not None and key[1] in by_id

    def __iter__(self) -> Iterator[RegistryKey]:
        for source, by_id in self._by_source.items():
            for stop_id in by_id:
                yield RegistryKey(source, stop_id)

    def __len__(self) -> int:
        return self._len


class GroupsBySourceValue(Mapping[tuple[str, str], tuple[int, ...]]):
    """(source, value) → the positions carrying it (an identifier index of the exact stage), stored
    as one dict per source keyed by the values themselves: a (source, value) tuple per value and
    index took about 100 MiB at Germany size. Filled with `add`, then `freeze` makes each group a
    tuple; looked up with a (source, value) tuple; iterating yields such tuples."""

    __slots__ = ("_by_source",)

    def __init__(self) -> None:
        self._by_source: dict[str, dict[str, Any]] = {}

    def add(self, source: str, value: str, position: int) -> None:
        by_value = self._by_source.get(source)
        if by_value is None:
            by_value = self._by_source[source] = {}
        group = by_value.get(value)
        if group is None:
            by_value[value] = [position]
        else:
            group.append(position)

    def share(self, source: str, other: GroupsBySourceValue) -> None:
        """Take `other`'s groups of `source` as they are (the same objects, frozen with it)."""
        self._by_source[source] = other._by_source.setdefault(source, {})

    def freeze(self) -> None:
        for by_value in self._by_source.values():
            for value, group in by_value.items():
                by_value[value] = tuple(group)

    def __getitem__(self, key: tuple[str, str]) -> tuple[int, ...]:
        source, value = key
        return self._by_source[source][value]  # type: ignore[no-any-return]

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        by_value = self._by_source.get(key[0])
        return default if by_value is None else by_value.get(key[1], default)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        by_value = self._by_source.get(key[0])
        return by_value is not None and key[1] in by_value

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for source, by_value in self._by_source.items():
            for value in by_value:
                yield (source, value)

    def __len__(self) -> int:
        return sum(len(by_value) for by_value in self._by_source.values())


@dataclass
class MatchContext:
    """Inputs, indexes and the growing result of one matching run."""

    registry: list[RegistryStop]
    osm: list[OsmObject]
    # Manual unlinks: (registry stop key, osm_key) pairs no stage may commit.
    forbidden: set[tuple[RegistryKey, str]] = field(default_factory=set)
    matches: list[MatchRecord] = field(default_factory=list)
    matched_registry: set[int] = field(default_factory=set)
    used_osm: set[int] = field(default_factory=set)
    stage_counts: dict[str, int] = field(default_factory=dict)
    # OSM objects the name stage refused because two stops tied: (osm_key, stop key, stop key); keys,
    # not ids, as another registry's stop with one of the tied ids took no part in the tie.
    name_ties: list[tuple[str, RegistryKey, RegistryKey]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.projection = registry_projection(self.registry)
        self.registry_index = SpatialIndex.build(
            [s.lat for s in self.registry], [s.lon for s in self.registry], self.projection
        )
        self.osm_index = SpatialIndex.build(
            [o.lat for o in self.osm], [o.lon for o in self.osm], self.projection
        )
        # One int object per position, shared by every index below (enumerate makes a new one per loop,
        # and a million positions stored in five indexes took 100+ MiB at Germany size).
        self._positions = list(range(max(len(self.registry), len(self.osm))))
        # (source, stop_id) → position: two registries may use the same id for different stops.
        self.registry_by_sloid: Mapping[tuple[str, str], int] = ByRegistryKey(self.registry, self._positions)
        self.osm_by_key = {o.osm_key: i for i, o in zip(self._positions, self.osm, strict=False)}
        self._index_identifiers()
        self.registry_refs = [normalise_ref(s.platform_code) for s in self.registry]
        self.osm_refs = [normalise_ref(o.local_ref or o.tags.get("ref")) for o in self.osm]

    def _index_identifiers(self) -> None:
        """The identifier indexes of the exact stage, one per registry: each registry's own ids and
        codes, and the OSM values of the tags that registry declares (`RegistryDeclaration`). Two
        registries sharing a value (a border station's UIC number) never make it ambiguous."""
        self.sources = sorted({s.source for s in self.registry})
        declared = {source: declaration_for(source) for source in self.sources}
        positions = self._positions
        # (source, stop_id) and (source, normalised code) → registry stops
        self.registry_by_id: Mapping[tuple[str, str], int]
        if len(self.registry_by_sloid) == len(self.registry):
            # No id twice: the first position of each id (below) is its only one, so the index by
            # RegistryKey (a tuple, equal and hashing alike) serves as is (85 MiB at Germany size).
            self.registry_by_id = self.registry_by_sloid
        else:
            by_id: dict[tuple[str, str], int] = {}
            for i, s in zip(positions, self.registry, strict=False):
                by_id.setdefault((s.source, s.stop_id), i)
            self.registry_by_id = by_id
        self.registry_by_code = GroupsBySourceValue()
        for i, s in zip(positions, self.registry, strict=False):
            code = declared[s.source].code
            value = code.of_stop(s) if code is not None else None
            if value is not None:
                self.registry_by_code.add(s.source, value, i)
        # (source, value) → OSM objects carrying it in one of that source's declared tags, and which tag
        self.osm_by_identifier = GroupsBySourceValue()
        self.osm_identifier_tag: dict[tuple[int, str, str], str] = {}
        self.osm_by_code = GroupsBySourceValue()
        # Each registry's code as every OSM object carries it ((tag, normalised value), ...), for the
        # rules "its code names another stop" (ATLAS: `uic_ref`; NaPTAN: `naptan:NaptanCode`).
        self.osm_codes: dict[str, list[tuple[tuple[str, str], ...]]] = {}
        for source, declaration in declared.items():
            codes: list[tuple[tuple[str, str], ...]] = []
            for i, o in zip(positions, self.osm, strict=False):
                for tag, value in declaration.stop_id.of_osm(o).items():
                    # An object naming the stop in two tags (`ref:IFOPT` and `ref:sloid`) counts once,
                    # under the first declared tag.
                    if (i, source, value) not in self.osm_identifier_tag:
                        self.osm_by_identifier.add(source, value, i)
                        self.osm_identifier_tag[(i, source, value)] = tag
                carried = tuple(declaration.code.of_osm(o).items()) if declaration.code is not None else ()
                codes.append(carried)
                for value in {value for _tag, value in carried}:
                    self.osm_by_code.add(source, value, i)
            self.osm_codes[source] = codes
        # (source, value of the registry's stop-area identifier) → its stops (ATLAS: the UIC number;
        # NaPTAN: the StopArea code, the stops' parent_id), for anchoring stop_area relations.
        self.registry_by_stop_area = GroupsBySourceValue()
        # A registry whose stop-area identifier is its code (ATLAS: the UIC number) has the same
        # groups as `registry_by_code`: its lists are shared, not built again (157 MiB at Germany size).
        same_as_code = {
            source for source, d in declared.items() if d.stop_area is not None and d.stop_area == d.code
        }
        for source in same_as_code:
            self.registry_by_stop_area.share(source, self.registry_by_code)
        for i, s in zip(positions, self.registry, strict=False):
            if s.source in same_as_code:
                continue
            area_id = declared[s.source].stop_area
            area_value = area_id.of_stop(s) if area_id is not None else None
            if area_value is not None:
                self.registry_by_stop_area.add(s.source, area_value, i)
        # Each registry stop's code, normalised as its registry compares it (None: it has none).
        self.registry_codes: list[str | None] = [
            code.of_stop(s) if (code := declared[s.source].code) is not None else None for s in self.registry
        ]
        # The indexes are complete: their lists become tuples (48 instead of about 100 bytes for the
        # usual one position; about 80 MiB less at Germany size, in the matcher's peak).
        for index in (
            self.registry_by_code,
            self.registry_by_stop_area,
            self.osm_by_identifier,
            self.osm_by_code,
        ):
            index.freeze()

    def stops_named_by_stop_area(self, tags: Mapping[str, str]) -> tuple[str, str, tuple[int, ...]] | None:
        """(tag, value, registry stops) of the first stop-area identifier a stop_area relation's tags
        carry that names stops of this run (in registry order), None when none does."""
        for source in self.sources:
            declared = declaration_for(source).stop_area
            if declared is None:
                continue
            for tag, value in declared.of_tags(tags).items():
                stops = self.registry_by_stop_area.get((source, value))
                if stops:
                    return tag, value, stops
        return None

    def same_code(self, reg_i: int, osm_i: int) -> bool | None:
        """Whether the object carries the stop's code in its registry's tags; None when one side has none."""
        own = self.registry_codes[reg_i]
        carried = self.osm_codes[self.registry[reg_i].source][osm_i]
        if own is None or not carried:
            return None
        return any(value == own for _tag, value in carried)

    def identifier_tag(self, osm_i: int, source: str, value: str) -> str:
        """Which of the source's declared tags gave the object this identifier (the first if several)."""
        return self.osm_identifier_tag.get((osm_i, source, value), "")

    # -- queries ------------------------------------------------------------------------------

    def distance_m(self, reg_i: int, osm_i: int) -> float:
        s, o = self.registry[reg_i], self.osm[osm_i]
        return haversine_m(s.lat, s.lon, o.lat, o.lon)

    def name_score(self, reg_i: int, osm_i: int, loose: bool = True) -> float:
        """Best name score of the pair (`normalize.name_score`); `loose=False`: strict readings only."""
        return best_name_score(self.registry[reg_i].name, osm_names(self.osm[osm_i]), loose)

    def unmatched_registry(self) -> list[int]:
        return [i for i in range(len(self.registry)) if i not in self.matched_registry]

    def index_of(self, stop_id: str, source: str | None = None) -> int | None:
        """The position of registry stop (source, stop_id); without a source, of the first loaded
        registry's stop with that id (a caller that knows only one registry)."""
        if source is not None:
            return self.registry_by_sloid.get(RegistryKey(source, stop_id))
        found = (self.registry_by_sloid.get(RegistryKey(src, stop_id)) for src in self.sources)
        return next((i for i in found if i is not None), None)

    def pair_rejection(
        self, reg_i: int, osm_i: int, allow_station: bool = False, allow_matched_registry: bool = False
    ) -> str | None:
        """The rule that forbids pairing these two in a proximity stage, or None if the pair is allowed.

        Shared by the name and distance stages and by the "why not matched" explanation.
        """
        stop, obj = self.registry[reg_i], self.osm[osm_i]
        if (stop.key, obj.osm_key) in self.forbidden:
            return "manual_unlink"
        # Rules about the pair itself first, then rules about what earlier stages already took.
        if obj.is_station and not allow_station and is_platform_level(stop):
            return "osm_is_station"
        reg_ref, osm_ref = self.registry_refs[reg_i], self.osm_refs[osm_i]
        if reg_ref is not None and osm_ref is not None and reg_ref != osm_ref:
            return "local_ref_contradicts_designation"
        # The object carries the registry's code of another stop (ATLAS: its `uic_ref`; NaPTAN: its
        # `naptan:NaptanCode`): a stop of the registry, or one it may not hold (a neighbour country's,
        # a closed one) when the object's official name (ATLAS `uic_name`) names another stop too.
        own_code = self.registry_codes[reg_i]
        if own_code is not None:
            for _tag, value in self.osm_codes[stop.source][osm_i]:
                if value == own_code:
                    continue
                if self.registry_by_code.get((stop.source, value)):
                    return "uic_ref_names_another_registry_stop"
                official = next(
                    (obj.tags[t] for t in declaration_for(stop.source).name_tags[1:] if obj.tags.get(t)), None
                )
                if official and name_score(official, stop.name, loose=False) < NAME_MIN_SCORE:
                    return "uic_ref_and_uic_name_name_another_stop"
        # The object names another stop of this registry in one of the registry's id tags (any other
        # stop, loaded or not, when the registry's ids are exclusive: a retired NaPTAN stop still mapped).
        declared = declaration_for(stop.source).stop_id
        ident = next(iter(declared.of_osm(obj).values()), None)
        if (
            ident
            and ident != stop.stop_id
            and (declared.exclusive or (stop.source, ident) in self.registry_by_id)
        ):
            return "ifopt_names_another_registry_stop"
        if osm_i in self.used_osm:
            return "osm_already_matched"
        if reg_i in self.matched_registry and not allow_matched_registry:
            return "registry_already_matched"
        return None

    def replay(self, matches: Iterable[MatchRecord]) -> None:
        """Load the matches of a finished run (e.g. to explain its outcome) without re-running stages."""
        for m in matches:
            self.matches.append(m)
            self.used_osm.add(self.osm_by_key[m.osm_key])
            self.matched_registry.add(self.registry_by_sloid[m.key])

    # -- the only mutation --------------------------------------------------------------------

    def commit(
        self,
        reg_i: int,
        osm_i: int,
        method: str,
        evidence: dict[str, Any],
        *,
        lock_registry: bool = True,
    ) -> MatchRecord:
        """Record a match and lock the OSM object (and, by default, the registry stop)."""
        stop, obj = self.registry[reg_i], self.osm[osm_i]
        record = MatchRecord(
            source=stop.source,
            stop_id=stop.stop_id,
            osm_key=obj.osm_key,
            method=method,
            distance_m=round(self.distance_m(reg_i, osm_i), 2),
            name_score=self.name_score(reg_i, osm_i),
            evidence=evidence,
        )
        self.matches.append(record)
        self.used_osm.add(osm_i)
        if lock_registry:
            self.matched_registry.add(reg_i)
        self.stage_counts[method] = self.stage_counts.get(method, 0) + 1
        return record

    def commit_greedy(
        self,
        proposals: Iterable[tuple[tuple[Any, ...], int, int, dict[str, Any]]],
        method: str,
        multi: set[int] | None = None,
    ) -> int:
        """Commit one-to-one from proposals (sort_key, reg_i, osm_i, evidence), best key first.

        Registry stops in `multi` may take several objects (a whole stop: platforms, stop positions).
        Sorting by a key that ends in the two ids makes the outcome independent of input order.
        """
        committed = 0
        multi = multi or set()
        for _key, reg_i, osm_i, evidence in sorted(proposals, key=lambda p: p[0]):
            if osm_i in self.used_osm or (reg_i in self.matched_registry and reg_i not in multi):
                continue
            self.commit(reg_i, osm_i, method, evidence)
            committed += 1
        return committed
