"""An OSM side DERIVED from the real NaPTAN export of Brighton and Hove, at stated rates.

No real OSM extract of Great Britain (or of Brighton) is available offline, so the UK end-to-end test
builds one from the registry itself, deterministically (seeded), the way NaPTAN-imported stops look
in OSM (`highway=bus_stop` + `public_transport=platform`, `naptan:*` tags, `local_ref` = stop letter):

- PRESENT of the active stops (the registry stops of the NaPTAN source) have an OSM node, jittered
  by up to JITTER_M in a random direction;
- of those, WITH_ATCO carry `naptan:AtcoCode` (and, at WITH_NAPTAN_CODE, `naptan:NaptanCode`), with
  `name` = CommonName: the identifier stage finds them;
- NAME_ONLY carry `name` (and `local_ref` when the stop has a letter) but no identifier; RENAMED of
  those are named after their street instead ("Marine Parade" for "New Steine"): distance decides;
- the rest carry neither name nor identifier (a bare `highway=bus_stop`): distance alone;
- MOVED of the identified ones lie MOVED_M away instead (a `distance` problem: the fix export moves
  them and adds what they miss);
- INACTIVE_IN_OSM inactive registry stops are still in OSM with their `naptan:AtcoCode` and name (OSM
  not updated after the stop closed; 31 of Brighton's 165 inactive stops have an active stop of the
  same name within 30 m): they must stay unmatched, their code names no active stop;
- every NaPTAN StopArea with at least two of its stops in OSM becomes a `public_transport=stop_area`
  relation over their objects (`naptan:StopAreaCode`, the area's name), as mappers group a stop pair
  or a bus station's bays;
- one road way (two untagged nodes of its own) is in the answer, as in an Overpass answer with
  `way(bn)`: the stop nodes are known to lie on no way, so a fix may move them;
- EXTRA_OSM bus stops exist only in OSM, at least EXTRA_MIN_DISTANCE_M from every registry stop and
  at most EXTRA_MAX_DISTANCE_M from the nearest (in town: Brighton's bounding box is half sea).

The labels (which OSM object is which registry stop) are returned beside the data, never in its tags.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from pipeline.records import RegistryStop

SEED = 20221213
PRESENT = 0.80
WITH_ATCO = 0.60
WITH_NAPTAN_CODE = 0.70
NAME_ONLY = 0.30  # the rest of the present stops (10 %) carry no name and no identifier
RENAMED = 0.10
JITTER_M = 6.0
MOVED = 0.03
MOVED_M = 45.0
INACTIVE_IN_OSM = 20
EXTRA_OSM = 25
EXTRA_MIN_DISTANCE_M = 120.0
EXTRA_MAX_DISTANCE_M = 500.0  # and at most this far from the nearest: in town, not out at sea
FIRST_NODE_ID = 9_100_000_000
FIRST_RELATION_ID = 9_200_000
M_PER_DEG = 111_195.0


def _offset(lat: float, lon: float, distance_m: float, bearing: float) -> tuple[float, float]:
    north, east = distance_m * math.cos(bearing), distance_m * math.sin(bearing)
    return lat + north / M_PER_DEG, lon + east / (M_PER_DEG * math.cos(math.radians(lat)))


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[0] - b[0]) * M_PER_DEG
    dx = (a[1] - b[1]) * M_PER_DEG * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


class Derived:
    """The derived OSM side and its labels."""

    def __init__(self) -> None:
        self.elements: list[dict[str, Any]] = []
        self.truth: dict[str, str] = {}  # registry stop_id → OSM key of its object
        self.groups: dict[str, set[str]] = {
            "with_atco": set(), "name_only": set(), "renamed": set(), "bare": set(), "moved": set(),
            "absent": set(), "inactive_in_osm": set(), "extra": set(),
        }  # fmt: skip
        self._next = FIRST_NODE_ID
        self.stop_areas: dict[str, set[str]] = {}  # relation key → the registry stops of its members
        self.road_nodes: set[str] = set()  # untagged nodes of the road way (not stop objects)

    def node(self, lat: float, lon: float, tags: dict[str, str]) -> str:
        self._next += 1
        self.elements.append(
            {
                "type": "node",
                "id": self._next,
                "lat": round(lat, 7),
                "lon": round(lon, 7),
                "version": 3,
                "timestamp": "2022-12-01T00:00:00Z",
                "tags": tags,
            }
        )
        return f"node/{self._next}"

    def relation(self, tags: dict[str, str], members: list[str]) -> str:
        relation_id = FIRST_RELATION_ID + sum(1 for e in self.elements if e["type"] == "relation") + 1
        self.elements.append(
            {"type": "relation", "id": relation_id, "version": 1, "tags": tags,
             "members": [{"type": "node", "ref": int(k.split("/")[1]), "role": "platform"} for k in members]}
        )  # fmt: skip
        return f"relation/{relation_id}"

    def stop_objects(self) -> int:
        """How many of the elements are stop objects (tagged nodes)."""
        return sum(1 for e in self.elements if e["type"] == "node" and e["tags"])

    def overpass_json(self) -> dict[str, Any]:
        return {"version": 0.6, "generator": "tests/naptan_derivation.py", "elements": self.elements}


def derive_osm(registry: list[RegistryStop], inactive: list[tuple[str, str, float, float]]) -> Derived:
    """The OSM side of `registry` (the NaPTAN source's active stops) at the rates above; `inactive`
    are the (AtcoCode, CommonName, lat, lon) of stops the source leaves out (Status="inactive"),
    some of which OSM still has."""
    rng = random.Random(SEED)
    out = Derived()
    for stop in sorted(registry, key=lambda s: s.stop_id):
        if rng.random() >= PRESENT:
            out.groups["absent"].add(stop.stop_id)
            continue
        base = {"highway": "bus_stop", "public_transport": "platform", "bus": "yes"}
        draw = rng.random()
        moved = False
        if draw < WITH_ATCO:
            tags = {**base, "naptan:AtcoCode": stop.stop_id, "name": stop.name or ""}
            if stop.code and rng.random() < WITH_NAPTAN_CODE:
                tags["naptan:NaptanCode"] = stop.code
            if stop.attributes.get("indicator"):
                tags["naptan:Indicator"] = stop.attributes["indicator"]
            group = "with_atco"
            moved = rng.random() < MOVED
        elif draw < WITH_ATCO + NAME_ONLY:
            renamed = rng.random() < RENAMED and stop.attributes.get("street")
            tags = {**base, "name": stop.attributes["street"] if renamed else (stop.name or "")}
            group = "renamed" if renamed else "name_only"
        else:
            tags = dict(base)
            group = "bare"
        if stop.platform_code and group != "bare":
            tags["local_ref"] = stop.platform_code
        distance = MOVED_M if moved else rng.uniform(0.0, JITTER_M)
        lat, lon = _offset(stop.lat, stop.lon, distance, rng.uniform(0.0, 2 * math.pi))
        key = out.node(lat, lon, {k: v for k, v in tags.items() if v})
        out.truth[stop.stop_id] = key
        out.groups[group].add(stop.stop_id)
        if moved:
            out.groups["moved"].add(stop.stop_id)
    for atco_code, name, lat, lon in rng.sample(sorted(inactive), INACTIVE_IN_OSM):
        tags = {"highway": "bus_stop", "public_transport": "platform", "naptan:AtcoCode": atco_code}
        if name:
            tags["name"] = name
        out.groups["inactive_in_osm"].add(out.node(lat, lon, tags))
    by_area: dict[str, list[RegistryStop]] = {}
    for stop in registry:
        if stop.parent_id and stop.stop_id in out.truth:
            by_area.setdefault(stop.parent_id, []).append(stop)
    for code, stops in sorted(by_area.items()):
        if len(stops) >= 2:
            tags = {"type": "public_transport", "public_transport": "stop_area", "naptan:StopAreaCode": code}
            if stops[0].attributes.get("stop_area_name"):
                tags["name"] = stops[0].attributes["stop_area_name"]
            members = sorted(out.truth[s.stop_id] for s in stops)
            out.stop_areas[out.relation(tags, members)] = {s.stop_id for s in stops}
    road_start = registry[0]
    ends = [out.node(*_offset(road_start.lat, road_start.lon, 30.0, b), {}) for b in (0.0, math.pi)]
    out.elements.append(
        {"type": "way", "id": 1, "version": 1, "tags": {"highway": "residential"},
         "nodes": [int(key.split("/")[1]) for key in ends]}
    )  # fmt: skip
    out.road_nodes = set(ends)
    positions = [(s.lat, s.lon) for s in registry]
    lats, lons = [p[0] for p in positions], [p[1] for p in positions]
    made = 0
    while made < EXTRA_OSM:
        spot = (rng.uniform(min(lats), max(lats)), rng.uniform(min(lons), max(lons)))
        if not EXTRA_MIN_DISTANCE_M <= min(_distance_m(spot, p) for p in positions) <= EXTRA_MAX_DISTANCE_M:
            continue
        made += 1
        tags = {"highway": "bus_stop", "public_transport": "platform", "name": f"Mapped Only {made}"}
        out.groups["extra"].add(out.node(spot[0], spot[1], tags))
    return out


def write_osm(path: Path, derived: Derived) -> None:
    """The derived side as an Overpass JSON answer (`out meta`: versions, so modifies can be written)."""
    path.write_text(json.dumps(derived.overpass_json()), encoding="utf-8")
