"""Files in the live sources' real formats, built from the real Liechtenstein extract.

Two steps:

1. `build_subset` (run once, writes the committed `tests/data/live_sources/liechtenstein_pt.osm.pbf`):
   what the production Overpass query (`pipeline/sources/overpass.py`) selects in the Geofabrik
   Liechtenstein extract of `../shared/data`, as a PBF: the stop objects inside Switzerland and
   Liechtenstein (the boundary file stands in for Overpass's country areas) with the nodes of
   their ways, the `stop_area` relations, the transit route relations and their route masters.
   Objects keep their ids, versions, timestamps and tags; relations keep their member lists.

       .venv/bin/python -m tests.live_formats --shared ../shared/data

2. `overpass_json` (at test time): that PBF as the Overpass API answers `out meta center qt` in
   JSON: nodes with lat/lon, ways with `center` (the centre of their bounding box, as Overpass
   computes it) and node refs, relations with members; `version` and `timestamp` on every element.
   Differences from a real answer, on purpose: no `changeset`/`user`/`uid` (the public extract has
   them stripped), no `center` on relations (their member ways, e.g. the tracks of a route, are not
   in the subset), elements ordered by type and id instead of by quadtile.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.geo import load_boundary
from pipeline.sources.osm import is_stop
from pipeline.sources.overpass import TRANSIT_ROUTES

ROOT = Path(__file__).resolve().parents[1]
SUBSET_PBF = ROOT / "tests/data/live_sources/liechtenstein_pt.osm.pbf"
SHARED_PBF = "osm_liechtenstein_2024-03/liechtenstein-latest.osm.pbf"
BOUNDARY = ROOT / "data/boundary/ch_li.geojson"
OSM_BASE_TIMESTAMP = "2024-03-03T20:20:56Z"  # newest object of the extract (its SOURCES.txt)


def _is_stop_area(tags: dict[str, str]) -> bool:
    return tags.get("public_transport") == "stop_area"


def _is_transit_route(tags: dict[str, str]) -> bool:
    return tags.get("type") == "route" and tags.get("route") in TRANSIT_ROUTES


def _is_route_master(tags: dict[str, str]) -> bool:
    return tags.get("type") == "route_master"


def _timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_subset(extract: Path, out: Path) -> dict[str, int]:
    """Write the part of `extract` that the production Overpass query returns (see the module doc)."""
    import osmium

    boundary = load_boundary(BOUNDARY)
    # Pass 1: node positions and which of them lie inside the areas.
    node_ids: list[int] = []
    lats: list[float] = []
    lons: list[float] = []
    way_nodes: dict[int, list[int]] = {}
    stop_ways: set[int] = set()
    relations: dict[int, tuple[dict[str, str], list[tuple[str, int]]]] = {}
    for obj in osmium.FileProcessor(str(extract)):
        if obj.is_node():
            if obj.location.valid():
                node_ids.append(obj.id)
                lats.append(obj.location.lat)
                lons.append(obj.location.lon)
        elif obj.is_way():
            way_nodes[obj.id] = [n.ref for n in obj.nodes]
            if is_stop({t.k: t.v for t in obj.tags}):
                stop_ways.add(obj.id)
        else:
            tags = {t.k: t.v for t in obj.tags}
            relations[obj.id] = (tags, [(m.type, m.ref) for m in obj.members])
    inside_mask = boundary.contains(np.array(lats), np.array(lons))
    inside_nodes = {n for n, keep in zip(node_ids, inside_mask.tolist(), strict=True) if keep}
    inside_ways = {w for w, refs in way_nodes.items() if any(r in inside_nodes for r in refs)}

    def in_area(members: list[tuple[str, int]]) -> bool:
        # Overpass: a relation is in an area when one of its node or way members is.
        return any(
            (kind == "n" and ref in inside_nodes) or (kind == "w" and ref in inside_ways)
            for kind, ref in members
        )

    keep_ways = stop_ways & inside_ways
    keep_relations = {
        rid
        for rid, (tags, members) in relations.items()
        if (is_stop(tags) or _is_stop_area(tags) or _is_transit_route(tags)) and in_area(members)
    }
    routes = {rid for rid in keep_relations if _is_transit_route(relations[rid][0])}
    keep_relations |= {
        rid
        for rid, (tags, members) in relations.items()
        if _is_route_master(tags) and any(kind == "r" and ref in routes for kind, ref in members)
    }
    helper_nodes = {ref for w in keep_ways for ref in way_nodes[w]}

    # Pass 2: write them, in the extract's order (nodes, ways, relations, each by id).
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    counts = {"stop_nodes": 0, "way_nodes": 0, "ways": 0, "relations": 0}
    writer = osmium.SimpleWriter(str(out))
    try:
        for obj in osmium.FileProcessor(str(extract)):
            if obj.is_node():
                stop = obj.id in inside_nodes and is_stop({t.k: t.v for t in obj.tags})
                if stop or obj.id in helper_nodes:
                    writer.add_node(obj)
                    counts["stop_nodes" if stop else "way_nodes"] += 1
            elif obj.is_way():
                if obj.id in keep_ways:
                    writer.add_way(obj)
                    counts["ways"] += 1
            elif obj.id in keep_relations:
                writer.add_relation(obj)
                counts["relations"] += 1
    finally:
        writer.close()
    return counts


def overpass_json(pbf: Path = SUBSET_PBF) -> dict[str, Any]:
    """The Overpass `[out:json]` answer to the production query for the objects of `pbf`."""
    import osmium

    nodes: list[dict[str, Any]] = []
    ways: list[dict[str, Any]] = []
    rels: list[dict[str, Any]] = []
    processor = osmium.FileProcessor(str(pbf)).with_locations()
    for obj in processor:
        tags = {t.k: t.v for t in obj.tags}
        meta = {"timestamp": _timestamp(obj.timestamp), "version": obj.version}
        if obj.is_node():
            if not is_stop(tags):
                continue  # a node of a stop way: the query outputs the way, not its nodes
            nodes.append(
                {
                    "type": "node",
                    "id": obj.id,
                    "lat": round(obj.location.lat, 7),
                    "lon": round(obj.location.lon, 7),
                    **meta,
                    "tags": tags,
                }
            )
        elif obj.is_way():
            points = [(n.lat, n.lon) for n in obj.nodes if n.location.valid()]
            lat = [p[0] for p in points]
            lon = [p[1] for p in points]
            center = {
                "lat": round((min(lat) + max(lat)) / 2, 7),
                "lon": round((min(lon) + max(lon)) / 2, 7),
            }
            ways.append(
                {
                    "type": "way",
                    "id": obj.id,
                    "center": center,
                    **meta,
                    "nodes": [n.ref for n in obj.nodes],
                    "tags": tags,
                }
            )
        else:
            members = [
                {"type": {"n": "node", "w": "way", "r": "relation"}[m.type], "ref": m.ref, "role": m.role}
                for m in obj.members
            ]
            rels.append({"type": "relation", "id": obj.id, **meta, "members": members, "tags": tags})
    return {
        "version": 0.6,
        "generator": "Overpass API (shape of) - StopSync tests/live_formats.py from the Geofabrik "
        "liechtenstein-latest.osm.pbf",
        "osm3s": {
            "timestamp_osm_base": OSM_BASE_TIMESTAMP,
            "copyright": "The data included in this document is from www.openstreetmap.org. "
            "The data is made available under ODbL.",
        },
        "elements": nodes + ways + rels,
    }


def overpass_json_bytes(pbf: Path = SUBSET_PBF) -> bytes:
    """`overpass_json` serialised like the Overpass API (UTF-8, one element per line)."""
    payload = overpass_json(pbf)
    elements = ",\n".join(
        json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in payload["elements"]
    )
    head = json.dumps({k: v for k, v in payload.items() if k != "elements"}, ensure_ascii=False)[:-1]
    return f'{head}, "elements": [\n{elements}\n]}}\n'.encode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    counts = build_subset(args.shared / SHARED_PBF, SUBSET_PBF)
    print(f"{SUBSET_PBF.relative_to(ROOT)}: {SUBSET_PBF.stat().st_size:,} bytes; {counts}")


if __name__ == "__main__":
    main()
