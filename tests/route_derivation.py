"""An OSM side with route relations DERIVED from the real Zug GTFS and the real ATLAS rows around it.

No real OSM data covers Zug offline (the Liechtenstein extract's routes are real but elsewhere), so
the end-to-end route test builds one at these stated rates (deterministic, seeded):

- every registry stop (ATLAS service point, region ZG) that a resolved GTFS stop calls at gets one
  OSM platform (`public_transport=platform`, `highway=bus_stop` or `railway=platform`);
- KEEP_IDENTIFIERS of them keep `uic_ref` and `name` (within 3 m): the identifier stage matches them;
- the others are STRIPPED (no `uic_ref`, no name), 8-10 m from the stop, with a DECOY platform
  (no identifiers, no name) 9-12 m away on the other side: two candidates at almost equal distance,
  so no name or distance stage can decide; the decoys are members only of a route "99" of
  another operator, so only the lines can tell the true platform from the decoy;
- every GTFS route and direction becomes one route relation over the platforms of its most
  frequent itinerary, tagged `ref` (route_short_name), `operator` (agency name; dropped at
  DROP_OPERATOR), `gtfs:route_id` (the 2021 id moved to 2026, with another variant letter at
  NEW_VARIANT_LETTER, as between real timetable years), `from`/`to` (first and last stop name;
  dropped at DROP_FROM_TO: then the member names stand in).
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

from pipeline.records import RegistryStop
from pipeline.sources.gtfs import GtfsTimetable, StopResolution

KEEP_IDENTIFIERS = 0.5
DROP_OPERATOR = 0.3
NEW_VARIANT_LETTER = 0.5
DROP_FROM_TO = 0.2
M_PER_DEG = 111_195.0
RAIL_TYPES = ("1", "2")  # route_type prefix: 1xx railway services, 2 rail (basic types)


def _offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (
        lat + north_m / M_PER_DEG,
        lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))),
    )


def later_route_id(route_id: str, rng: random.Random) -> str:
    """The id a later timetable year might give the same line: year 26, maybe another variant letter."""
    new = re.sub(r"-j\d+", "-j26", route_id)
    if rng.random() < NEW_VARIANT_LETTER:
        parts = new.split("-")
        if len(parts) > 2 and len(parts[2]) == 1 and parts[2].isalpha():
            parts[2] = "Z" if parts[2] != "Z" else "A"
            new = "-".join(parts)
    return new


def derive_osm(
    registry: list[RegistryStop],
    timetable: GtfsTimetable,
    resolution: StopResolution,
    seed: int = 13,
) -> tuple[dict, dict[str, str], set[str]]:
    """Overpass JSON, the truth (sloid → OSM key of its platform, stripped ones only), the decoy keys."""
    rng = random.Random(seed)
    by_sloid = {s.stop_id: s for s in registry}
    served = sorted(
        {resolution.sloid_of[c.stop_id] for c in timetable.calls if c.stop_id in resolution.sloid_of}
    )
    served = [s for s in served if s in by_sloid and by_sloid[s].region == "ZG"]
    rail_stops = {
        resolution.sloid_of.get(c.stop_id)
        for c in timetable.calls
        if (timetable.routes[c.route_id].route_type or "").startswith(RAIL_TYPES)
    }
    elements: list[dict] = []
    platform_of: dict[str, int] = {}
    truth: dict[str, str] = {}
    decoys: set[str] = set()
    next_id = 9_000_000_000
    for sloid in served:
        stop = by_sloid[sloid]
        kind = {"railway": "platform"} if sloid in rail_stops else {"highway": "bus_stop"}
        tags = {"public_transport": "platform", **kind}
        angle = rng.uniform(0, 2 * math.pi)
        if rng.random() < KEEP_IDENTIFIERS:
            lat, lon = _offset(
                stop.lat, stop.lon, *(rng.uniform(0, 3) * f for f in (math.cos(angle), math.sin(angle)))
            )
            tags.update({"uic_ref": str(stop.code), "name": stop.name or ""})
        else:
            d = rng.uniform(8, 10)
            lat, lon = _offset(stop.lat, stop.lon, d * math.cos(angle), d * math.sin(angle))
            d2 = rng.uniform(9, 12)
            dlat, dlon = _offset(stop.lat, stop.lon, -d2 * math.cos(angle), -d2 * math.sin(angle))
            next_id += 1
            elements.append({"type": "node", "id": next_id, "lat": dlat, "lon": dlon, "tags": dict(tags)})
            decoys.add(f"node/{next_id}")
            truth[sloid] = f"node/{next_id + 1}"
        next_id += 1
        elements.append({"type": "node", "id": next_id, "lat": lat, "lon": lon, "tags": tags})
        platform_of[sloid] = next_id

    names = timetable.stop_names()
    relation_id = 0
    for itinerary in timetable.itineraries:
        members = []
        for stop_id in itinerary.stop_ids:
            sloid = resolution.sloid_of.get(stop_id)
            node = platform_of.get(sloid) if sloid else None
            if node is not None and (not members or members[-1]["ref"] != node):
                members.append({"type": "node", "ref": node, "role": "platform"})
        if len(members) < 2:
            continue
        route = timetable.routes[itinerary.route_id]
        mode = "train" if (route.route_type or "").startswith(RAIL_TYPES) else "bus"
        tags = {"type": "route", "route": mode, "public_transport:version": "2"}
        if route.short_name:
            tags["ref"] = route.short_name
        if route.agency_name and rng.random() >= DROP_OPERATOR:
            tags["operator"] = route.agency_name
        tags["gtfs:route_id"] = later_route_id(route.route_id, rng)
        if rng.random() >= DROP_FROM_TO:
            tags["from"] = names.get(itinerary.stop_ids[0], "")
            tags["to"] = names.get(itinerary.stop_ids[-1], "")
        relation_id += 1
        elements.append({"type": "relation", "id": relation_id, "members": members, "tags": tags})
    decoy_members = [
        {"type": "node", "ref": int(k.split("/")[1]), "role": "platform"} for k in sorted(decoys)
    ]
    if decoy_members:
        elements.append(
            {
                "type": "relation",
                "id": relation_id + 1,
                "members": decoy_members,
                "tags": {
                    "type": "route",
                    "route": "bus",
                    "ref": "99",
                    "operator": "Test Bus AG",
                    "to": "Nowhere",
                },
            }
        )
    return {"version": 0.6, "generator": "tests/route_derivation.py", "elements": elements}, truth, decoys


def write_osm(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")
