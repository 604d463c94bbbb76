"""What a registry plug-in declares about itself, and the rules that read those declarations.

A registry source (`pipeline.sources.<name>`) sets `declaration = RegistryDeclaration(...)`. The
matcher's exact-identifier stage, problem detection, the fix exports and the pages read these
declarations instead of hard-coded ATLAS rules:

- `identifiers`: the registry's two public identifiers, each with the OSM tags that carry it and how
  to normalise a value (ATLAS: `stop_id` = sloid ↔ `ref:IFOPT`/`ref:sloid`, `code` = UIC number ↔
  `uic_ref`; NaPTAN: `stop_id` = AtcoCode ↔ `naptan:AtcoCode`, `code` = NaptanCode ↔
  `naptan:NaptanCode`). The first tag of an identifier is the one a fix proposes.
- `name_tags`, `platform_tag`, `operator_tag`: where the stop's name, platform code and operator go
  in OSM (ATLAS writes its official name to `name` and `uic_name`).
- `distance_priority`: the problem policy for a stop too far from its OSM object (ATLAS: the SBB
  rule, a long railway platform is measured to its middle).
- `stop_area`: the identifier a `public_transport=stop_area` relation carries to say which whole stop
  it is, and the stop field holding it (ATLAS: the UIC number `code` ↔ `uic_ref`; NaPTAN: the StopArea
  code, the stop's `parent_id` ↔ `naptan:StopAreaCode`): the stop-area stage anchors a relation by it.
- `stop_url`: an external link to the stop in the registry's own viewer (`{stop_id}`, `{code}`).
- `boundary`: the country boundary the source is clipped to by default (`<SOURCE>_BOUNDARY` overrides).
- `projection`: the planar CRS the matcher's spatial indexes measure in (ATLAS: LV95, EPSG:2056; NaPTAN:
  British National Grid, EPSG:27700); None: a local projection centred on the stops
  (`pipeline.geo.planar_projection`).

Kept outside `pipeline/sources/` so that `pipeline.matching` can import it without importing every
source module (`pipeline.sources` imports the GTFS source, which imports the matcher).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.text import ascii_int

if TYPE_CHECKING:
    from pipeline.records import OsmObject, RegistryStop


def strip_value(value: str | None) -> str | None:
    """An identifier as written, blanks around it dropped; None when empty."""
    value = (value or "").strip()
    return value or None


def decimal_number(value: str | None) -> str | None:
    """A number written with ASCII digits only, as decimal text without leading zeros ("08503000" →
    "8503000"); anything else ("8503000;8503001", "²") → None."""
    number = ascii_int(value)
    if number is None:
        return None
    text = str(number)
    # The value itself when it is written so already: the matcher keeps millions of these (850,000
    # stops' codes in three indexes), a new equal string each time cost 178 MiB at Germany size.
    return value if text == value else text


@dataclass(frozen=True)
class Identifier:
    """One public identifier of a registry stop and the OSM tags that carry it."""

    field: str  # the RegistryStop field holding it: "stop_id" or "code"
    osm_tags: tuple[str, ...]  # first: the tag a fix proposes
    normalise: Callable[[str | None], str | None] = strip_value
    label: str = ""  # as the registry calls it ("sloid", "UIC number", "AtcoCode")
    # True: an OSM value other than the stop's always names another stop, even one the registry's
    # export does not hold (ids are never reused, retired stops are left out: NaPTAN's AtcoCode), so the
    # name and distance stages never pair them. False (ATLAS): only a value naming a loaded stop counts.
    exclusive: bool = False

    def of_stop(self, stop: RegistryStop | object) -> str | None:
        """The stop's value, normalised."""
        return self.normalise(getattr(stop, self.field, None))

    def of_osm(self, obj: OsmObject) -> dict[str, str]:
        """The object's values by tag, normalised (tags without a usable value left out)."""
        return self.of_tags(obj.tags)

    def of_tags(self, tags: Mapping[str, str]) -> dict[str, str]:
        """The values by tag of an OSM element's tags (an object's, a stop_area relation's), normalised."""
        out: dict[str, str] = {}
        for tag in self.osm_tags:
            value = self.normalise(tags.get(tag))
            if value is not None:
                out[tag] = value
        return out


# Beyond these distances (metres) a matched pair is a distance problem of priority 1, 2, 3.
DISTANCE_P1_M = 80.0
DISTANCE_P2_M = 25.0
DISTANCE_P3_M = 15.0


def traffic_point_level(stop: RegistryStop) -> bool:
    """ATLAS's rule, every registry's default: traffic points are platforms, service points whole stops."""
    return stop.dataset.endswith("traffic_point")


def default_distance_priority(distance_m: float, stop: RegistryStop | None = None) -> int | None:
    """Every registry's default policy: >80 m priority 1, >25 m priority 2, >15 m priority 3."""
    if distance_m > DISTANCE_P1_M:
        return 1
    if distance_m > DISTANCE_P2_M:
        return 2
    if distance_m > DISTANCE_P3_M:
        return 3
    return None


@dataclass(frozen=True)
class RegistryDeclaration:
    """Everything registry-specific the core needs to know about one registry plug-in."""

    name: str  # the plug-in's name, `RegistryStop.source`: "atlas", "naptan"
    display_name: str  # how pages name it: "ATLAS", "NaPTAN"
    stop_id: Identifier
    code: Identifier | None = None
    name_tags: tuple[str, ...] = ("name",)
    # The identifier by which a stop_area relation names the stop it groups (`Identifier.field`: the
    # stop field holding it; stops sharing the value form one whole stop). None: anchored by members
    # and names only.
    stop_area: Identifier | None = None
    platform_tag: str | None = "local_ref"
    operator_tag: str | None = "operator"
    distance_priority: Callable[[float, RegistryStop], int | None] = default_distance_priority
    # Whether a stop is one platform (a place where one vehicle stops) or a whole stop that may take
    # several OSM objects and a station (`pipeline.matching.context.is_platform_level`).
    platform_level: Callable[[RegistryStop], bool] = traffic_point_level
    # True: a stop's full official name is unique in the registry (ATLAS: municipality included), as
    # specific as an identifier, so an OSM object carrying it is accepted at FULL_NAME_RADIUS_FACTOR times
    # the name radius. False (NaPTAN: "Church Road" in every town, and on both sides of each road): no.
    unique_names: bool = True
    stop_url: str | None = None  # "https://…/{stop_id}"; `{code}` too
    # Who publishes the registry's data, and where: the pages credit it next to the registry's name.
    publisher: str | None = None
    publisher_url: str | None = None
    boundary: str | None = None  # default boundary file (relative to the checkout), or None
    # The planar CRS (metres) of the matcher's spatial indexes: one whose scale error is small across
    # the registry's country. None: a local azimuthal equidistant projection centred on the stops.
    projection: str | None = None
    # Tags a fix must never write for this registry's stops (another registry's identity tags).
    foreign_tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def identifiers(self) -> tuple[Identifier, ...]:
        """stop_id first, then code (when declared)."""
        return (self.stop_id,) if self.code is None else (self.stop_id, self.code)

    @property
    def identity_tags(self) -> tuple[str, ...]:
        """Every OSM tag that carries one of this registry's identifiers or its official name."""
        tags = [t for ident in self.identifiers for t in ident.osm_tags]
        return tuple(dict.fromkeys([*tags, *self.name_tags[1:]]))

    def url_for(self, stop_id: str, code: str | None = None) -> str | None:
        """The stop's page in the registry's own viewer, or None when the registry has none."""
        if not self.stop_url:
            return None
        return self.stop_url.format(stop_id=stop_id, code=code or "")


_DECLARATIONS: dict[str, RegistryDeclaration] = {}


def register_declaration(declaration: RegistryDeclaration) -> None:
    """Called by `pipeline.sources.register_source` for every registry source."""
    _DECLARATIONS[declaration.name] = declaration


def declaration_for(source: str) -> RegistryDeclaration:
    """The declaration of registry `source` (raises KeyError for an unknown registry)."""
    if source not in _DECLARATIONS:
        import pipeline.sources  # noqa: F401 - registers every built-in source (and its declaration)
    return _DECLARATIONS[source]


def declarations() -> Mapping[str, RegistryDeclaration]:
    """Every registered registry declaration, by name."""
    import pipeline.sources  # noqa: F401 - registers every built-in source

    return dict(_DECLARATIONS)
