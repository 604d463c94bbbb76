"""Where the OSM community tags a registry's stop id: the rule that decides whether a proposed new stop
carries it.

Swiss mappers tag the Swiss Location ID as `ref:IFOPT` in some regions and not at all in others (none
of Liechtenstein's 773 stop objects carries it). A new stop proposed by the fix exports or by "Add in
JOSM" follows local practice: with `NEW_STOP_IFOPT=where_used` (the default) it carries its
registry's stop-id tag only when at least one OSM stop object within `NEW_STOP_IFOPT_RADIUS_M` of the
registry position already carries one of the tags that registry declares for its stop id (ATLAS:
`ref:IFOPT` or `ref:sloid`; NaPTAN: `naptan:AtcoCode`); `always` and `never` override the rule.
"""

from __future__ import annotations

from collections.abc import Collection

from flask import current_app
from sqlalchemy import Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from app.extensions import db
from pipeline.declarations import declarations
from pipeline.records import RegistryKey

METRES_PER_DEGREE = 111_320.0

# The bounding-box test (`&&`, served by the GiST index on osm_stops.geom) narrows the candidates
# before the exact distance on the spheroid; the box is widened by the latitude's cosine so that it
# always contains the circle.
_SLOIDS_WITH_IFOPT_NEARBY = text(
    """
    SELECT a.stop_id
    FROM registry_stops a
    WHERE a.source = :source
      AND a.stop_id IN :sloids
      AND EXISTS (
        SELECT 1 FROM osm_stops o
        WHERE o.geom && ST_Expand(a.geom, :box_deg / GREATEST(cos(radians(a.lat)), 0.01))
          AND o.tags ?| :tags
          AND ST_DWithin(o.geom::geography, a.geom::geography, :radius_m)
      )
    """
).bindparams(bindparam("sloids", expanding=True), bindparam("tags", type_=ARRAY(Text)))


def registry_stops_where_ifopt_is_used(keys: Collection[RegistryKey]) -> set[RegistryKey]:
    """The registry stops among `keys` whose new OSM object should carry their registry's stop-id tag
    (ATLAS `ref:IFOPT`, NaPTAN `naptan:AtcoCode`). Keyed by (source, stop_id): each stop is looked up
    in its own registry only, so another registry's stop with the same id answers for nothing."""
    wanted = {key for key in keys if key.stop_id}
    settings = current_app.config["SETTINGS"]
    policy = settings.NEW_STOP_IFOPT
    if not wanted or policy == "never":
        return set()
    if policy == "always":
        return wanted
    radius_m = float(settings.NEW_STOP_IFOPT_RADIUS_M)
    found: set[RegistryKey] = set()
    registries = declarations()
    for name in sorted({key.source for key in wanted}):
        registry = registries.get(name)
        tags = list(registry.stop_id.osm_tags) if registry is not None else []  # its own stop-id tags
        if not tags:
            continue
        ordered = sorted(key.stop_id for key in wanted if key.source == name)
        for start in range(0, len(ordered), 5000):  # bounded parameter lists
            rows = db.session.execute(
                _SLOIDS_WITH_IFOPT_NEARBY,
                {
                    "source": name,
                    "sloids": ordered[start : start + 5000],
                    "tags": tags,
                    "box_deg": radius_m / METRES_PER_DEGREE * 1.01,
                    "radius_m": radius_m,
                },
            )
            found.update(RegistryKey(name, row.stop_id) for row in rows)
    return found


def ifopt_is_used_near(source: str, stop_id: str) -> bool:
    """`registry_stops_where_ifopt_is_used` for one registry stop (two registries may hold one id)."""
    return bool(registry_stops_where_ifopt_is_used([RegistryKey(source, stop_id)]))
