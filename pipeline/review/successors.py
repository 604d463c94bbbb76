"""The new snapshot as lookups, and the successor search (identity migration): which object replaced a
vanished one, found by stable references only; none or several candidates are never a guess.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.geo import haversine_m
from pipeline.matching.normalize import normalise, normalise_ref
from pipeline.records import LEGACY_IDENTITY_SOURCE, OsmObject, ProblemRecord, RegistryKey, RegistryStop

# A successor found "by name nearby" must lie within this distance of the vanished object.
SUCCESSOR_RADIUS_M = 50.0


@dataclass(frozen=True)
class Successor:
    """The result of looking for the object that replaced a vanished one."""

    status: Literal["found", "none", "ambiguous"]
    key: str | None = None
    rule: str | None = None
    candidates: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if self.status == "found":
            return f"successor {self.key} found by {self.rule}"
        if self.status == "ambiguous":
            return f"{len(self.candidates)} possible successors ({', '.join(self.candidates)}) by {self.rule}"
        return "no successor found by ref:IFOPT/ref:sloid, uic_ref + local_ref or same name nearby"


def _norm_name(value: str | None) -> str | None:
    if not value:
        return None
    return normalise(value) or None


def _roles_compatible(old_tags: Mapping[str, str], obj: OsmObject) -> bool:
    """A platform is not succeeded by a stop position (and vice versa); a node may become a way."""
    before = old_tags.get("public_transport")
    return before is None or obj.public_transport is None or before == obj.public_transport


class Snapshot:
    """The new snapshot as lookups, with the successor indexes built only when first needed."""

    def __init__(
        self,
        registry: Iterable[RegistryStop],
        osm: Iterable[OsmObject],
        problems: Iterable[ProblemRecord] = (),
    ) -> None:
        # Keyed by (source, stop_id): two registries may use the same id string for different stops.
        self.registry: dict[RegistryKey, RegistryStop] = {s.key: s for s in registry}
        self.osm: dict[str, OsmObject] = {o.osm_key: o for o in osm}
        self.problems: dict[str, ProblemRecord] = {p.identity: p for p in problems}
        self._osm_indexed = False
        self._registry_indexed = False

    # -- OSM ----------------------------------------------------------------------------------

    def _index_osm(self) -> None:
        if self._osm_indexed:
            return
        self._osm_by_ident: dict[str, list[str]] = defaultdict(list)
        self._osm_by_uic_ref: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        self._osm_by_name: dict[str, list[str]] = defaultdict(list)
        for key, obj in self.osm.items():
            for ident in {obj.ifopt, obj.sloid_tag}:
                if ident:
                    self._osm_by_ident[ident.strip()].append(key)
            if obj.uic_ref:
                local = normalise_ref(obj.local_ref or obj.tags.get("ref"))
                self._osm_by_uic_ref[(obj.uic_ref.strip(), local)].append(key)
            for name in {_norm_name(obj.name), _norm_name(obj.uic_name)}:
                if name:
                    self._osm_by_name[name].append(key)
        self._osm_indexed = True

    def osm_successor(self, old: Mapping[str, Any], exclude: Iterable[str] = ()) -> Successor:
        """The OSM object that replaced `old` (OSM evidence), by stable references, in rule order.

        1. ``ref:IFOPT`` / ``ref:sloid`` equal; 2. ``uic_ref`` + ``local_ref`` equal; 3. same name
        within SUCCESSOR_RADIUS_M. Candidates must keep the role (platform stays platform). Several
        candidates for a rule are narrowed only by agreeing later rules, never by guessing.
        """
        self._index_osm()
        tags: Mapping[str, str] = old.get("tags") or {}
        excluded = {old.get("osm_key"), *exclude}

        def keep(keys: Iterable[str]) -> set[str]:
            return {k for k in keys if k not in excluded and _roles_compatible(tags, self.osm[k])}

        rules: list[tuple[str, set[str]]] = []
        idents = {tags.get("ref:IFOPT"), tags.get("ref:sloid")} - {None, ""}
        if idents:
            found: set[str] = set()
            for ident in idents:
                found |= keep(self._osm_by_ident.get(str(ident).strip(), ()))
            rules.append(("ref:IFOPT/ref:sloid", found))
        if tags.get("uic_ref"):
            local = normalise_ref(tags.get("local_ref") or tags.get("ref"))
            if local is not None:
                rules.append(
                    (
                        "uic_ref + local_ref",
                        keep(self._osm_by_uic_ref.get((tags["uic_ref"].strip(), local), ())),
                    )
                )
        names = {_norm_name(tags.get("name")), _norm_name(tags.get("uic_name"))} - {None}
        if names and old.get("lat") is not None:
            near: set[str] = set()
            for name in names:
                for key in keep(self._osm_by_name.get(name or "", ())):
                    obj = self.osm[key]
                    if (
                        haversine_m(float(old["lat"]), float(old["lon"]), obj.lat, obj.lon)
                        <= SUCCESSOR_RADIUS_M
                    ):
                        near.add(key)
            rules.append(("same name nearby", near))
        return _pick(rules)

    # -- registry -----------------------------------------------------------------------------

    def stop(self, source: str | None, stop_id: str | None) -> RegistryStop | None:
        """Registry stop (source, stop_id) of the new snapshot; a row without a source (recorded
        before registries were plug-ins) names an ATLAS stop."""
        if not stop_id:
            return None
        return self.registry.get(RegistryKey(source or LEGACY_IDENTITY_SOURCE, stop_id))

    def _index_registry(self) -> None:
        if self._registry_indexed:
            return
        # Per registry: a successor is a stop of the vanished stop's own registry.
        self._reg_by_number: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
        self._reg_by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
        for (source, stop_id), stop in self.registry.items():
            if stop.code is not None:
                self._reg_by_number[(source, stop.code, normalise_ref(stop.platform_code))].append(stop_id)
            name = _norm_name(stop.name)
            if name:
                self._reg_by_name[(source, name)].append(stop_id)
        self._registry_indexed = True

    def registry_successor(
        self,
        old: Mapping[str, Any],
        partner_osm_key: str | None = None,
        exclude: Iterable[str] = (),
        source: str | None = None,
    ) -> Successor:
        """The stop of registry `source` (None: ATLAS) that replaced `old` (its evidence), by stable
        references, in rule order; `Successor.key` is its stop_id.

        1. UIC number + platform_code equal; 2. the OSM partner now names a stop_id in ``ref:IFOPT`` /
        ``ref:sloid``; 3. same name and platform_code within SUCCESSOR_RADIUS_M.
        """
        self._index_registry()
        source = source or LEGACY_IDENTITY_SOURCE
        excluded = {old.get("stop_id"), *exclude}
        platform_code = normalise_ref(old.get("platform_code"))
        rules: list[tuple[str, set[str]]] = []
        if old.get("code") is not None:
            found = self._reg_by_number.get((source, str(old["code"]), platform_code), ())
            rules.append(("uic number + designation", {s for s in found if s not in excluded}))
        partner = self.osm.get(partner_osm_key) if partner_osm_key else None
        if partner is not None:
            named = {partner.ifopt, partner.sloid_tag} - {None, ""}
            rules.append(
                (
                    "ref:IFOPT of the OSM partner",
                    {
                        s.strip()
                        for s in named
                        if s and RegistryKey(source, s.strip()) in self.registry and s.strip() not in excluded
                    },
                )
            )
        name = _norm_name(old.get("name"))
        if name and old.get("lat") is not None:
            near = set()
            for stop_id in self._reg_by_name.get((source, name), ()):
                stop = self.registry[RegistryKey(source, stop_id)]
                if stop_id in excluded or normalise_ref(stop.platform_code) != platform_code:
                    continue
                if (
                    haversine_m(float(old["lat"]), float(old["lon"]), stop.lat, stop.lon)
                    <= SUCCESSOR_RADIUS_M
                ):
                    near.add(stop_id)
            rules.append(("same name nearby", near))
        return _pick(rules)


def _pick(rules: Sequence[tuple[str, set[str]]]) -> Successor:
    """The first rule with candidates decides; several candidates are narrowed by later agreeing rules."""
    for i, (rule, candidates) in enumerate(rules):
        if not candidates:
            continue
        if len(candidates) == 1:
            return Successor("found", next(iter(candidates)), rule, tuple(sorted(candidates)))
        narrowed = set(candidates)
        used = [rule]
        for later_rule, later in rules[i + 1 :]:
            both = narrowed & later
            if both:
                narrowed = both
                used.append(later_rule)
            if len(narrowed) == 1:
                return Successor("found", next(iter(narrowed)), " + ".join(used), tuple(sorted(candidates)))
        return Successor("ambiguous", None, rule, tuple(sorted(candidates)))
    return Successor("none")
