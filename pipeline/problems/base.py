"""What every problem type shares: its entry in the registry (`ProblemType`) and the lookups its
detector reads (`ProblemContext`, built once per snapshot)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.declarations import declaration_for
from pipeline.matching.context import ByRegistryKey, SpatialIndex, registry_projection
from pipeline.matching.route import RouteEvidence
from pipeline.records import MatchRecord, OsmObject, ProblemRecord, RegistryKey, RegistryStop


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name, a babel keyword
    """Mark an English text for the interface catalogs (scripts/i18n.py extracts it); the pages
    translate it per request. Returns `message` unchanged."""
    return message


@dataclass(frozen=True)
class ProblemType:
    """One problem type: the registry entry the API vocabulary, the page labels and the docs read."""

    code: str  # stored in problems.problem_type and problem identities: never change it
    label: str  # short English name (marked for translation)
    description: str  # one line: what it means (marked for translation)
    priority_rule: str  # how its priority (1 most urgent .. 3) is decided
    pair: bool = False  # about a matched pair (both sides named): the only kind a "wrong match" fits
    # The detector over one snapshot; None when another stage creates the problems (the review
    # stage's orphaned manual links).
    detect: Callable[[ProblemContext], Iterable[ProblemRecord]] | None = None


PT_PLATFORM_KINDS = ("platform", "stop_position", "station")


def osm_kind(obj: OsmObject) -> str:
    if obj.public_transport in PT_PLATFORM_KINDS:
        return obj.public_transport or "other"
    if obj.highway == "bus_stop" or obj.railway in {"platform", "tram_stop"}:
        return "platform"
    if obj.railway in {"station", "halt"}:
        return "station"
    return "other"


class CountBySourceValue:
    """How many records carry each (source, value): one dict of counts per source. Read like the
    defaultdict(int) it replaces, with a (source, value) key: a value never counted counts 0."""

    __slots__ = ("_by_source",)

    def __init__(self) -> None:
        self._by_source: dict[str, dict[str, int]] = {}

    def add(self, source: str, value: str) -> None:
        counts = self._by_source.get(source)
        if counts is None:
            counts = self._by_source[source] = {}
        counts[value] = counts.get(value, 0) + 1

    def get(self, key: tuple[str, str], default: int = 0) -> int:
        counts = self._by_source.get(key[0])
        return default if counts is None else counts.get(key[1], default)

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self.get(key, 0)

    def __len__(self) -> int:
        return sum(len(counts) for counts in self._by_source.values())


class ProblemContext:
    """The lookups shared by every detector: records by id, spatial indexes, identifier counts."""

    def __init__(
        self,
        registry: Sequence[RegistryStop],
        osm: Sequence[OsmObject],
        matches: Sequence[MatchRecord],
        unmatched_registry: Iterable[RegistryKey | str],
        unmatched_osm: Iterable[str],
        route_evidence: RouteEvidence | None = None,
    ) -> None:
        self.route_evidence = route_evidence
        self.registry = list(registry)
        self.osm = list(osm)
        self.matches = list(matches)
        self.unmatched_registry = self._keys(unmatched_registry)
        self.unmatched_osm = list(unmatched_osm)
        # Keyed by (source, stop_id): two registries may use the same id for different stops. Stored
        # per source by the stops' own id strings, and one int object per position shared by both
        # position maps: at Germany size a RegistryKey per stop and index, and an int per position
        # and map, took 160 MiB at the problem stage's peak.
        positions = list(range(max(len(self.registry), len(self.osm))))
        self.stop_by_id: Mapping[tuple[str, str], RegistryStop] = ByRegistryKey(self.registry, self.registry)
        self.obj_by_key = {o.osm_key: o for o in self.osm}
        self.registry_pos: Mapping[tuple[str, str], int] = ByRegistryKey(self.registry, positions)
        self.osm_pos = {o.osm_key: i for i, o in zip(positions, self.osm, strict=False)}
        self.projection = registry_projection(self.registry)
        self.registry_index = SpatialIndex.build(
            [s.lat for s in self.registry], [s.lon for s in self.registry], self.projection
        )
        self.osm_index = SpatialIndex.build(
            [o.lat for o in self.osm], [o.lon for o in self.osm], self.projection
        )
        self._count_codes()

    def _keys(self, stops: Iterable[RegistryKey | str]) -> list[RegistryKey]:
        """(source, stop_id) keys; a bare stop_id (a caller with one registry) names the loaded stop
        with that id, and is refused when two registries have it."""
        by_id: dict[str, list[RegistryKey]] | None = None  # built only when a bare stop_id comes
        out: list[RegistryKey] = []
        for stop in stops:
            if isinstance(stop, RegistryKey):
                out.append(stop)
                continue
            if by_id is None:
                by_id = defaultdict(list)
                for s in self.registry:
                    by_id[s.stop_id].append(s.key)
            found = by_id.get(stop, [])
            if len(found) != 1:
                raise ValueError(f"stop_id {stop!r} names {len(found)} stops: pass (source, stop_id)")
            out.append(found[0])
        return out

    def _count_codes(self) -> None:
        """Registry stops and OSM objects per value of each registry's declared code (ATLAS: the UIC
        number ↔ `uic_ref`; NaPTAN: NaptanCode ↔ `naptan:NaptanCode`), keyed (source, normalised value):
        two registries sharing a value never count each other's stops."""
        self.sources = sorted({s.source for s in self.registry})
        self.declared = {source: declaration_for(source) for source in self.sources}
        # Counted per source by the values themselves: a (source, value) tuple per value and count
        # took 140 MiB at Germany size, at the problem stage's peak.
        self.registry_count_by_code = CountBySourceValue()
        for s in self.registry:
            value = self.code_of(s)
            if value is not None:
                self.registry_count_by_code.add(s.source, value)
        self.osm_count_by_code = CountBySourceValue()
        self.osm_platform_count_by_code = CountBySourceValue()
        for source, declaration in self.declared.items():
            if declaration.code is None:
                continue
            for o in self.osm:
                # An object carrying one value in two of the registry's tags counts once.
                for value in set(declaration.code.of_osm(o).values()):
                    self.osm_count_by_code.add(source, value)
                    if osm_kind(o) == "platform":
                        self.osm_platform_count_by_code.add(source, value)

    def code_of(self, stop: RegistryStop) -> str | None:
        """The stop's declared code, normalised as its registry compares it (None: it has none)."""
        code = self.declared[stop.source].code
        return code.of_stop(stop) if code is not None else None

    def nearest(self, index: SpatialIndex, xy: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        if len(index.xy) == 0 or len(xy) == 0:
            return np.full(len(xy), np.inf), np.full(len(xy), -1)
        dist, idx = index.tree.query(xy, k=k)
        return dist, idx
