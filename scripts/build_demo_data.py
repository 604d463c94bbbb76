"""Build the bundled demo data set and the simplified country boundary from the real extracts.

    .venv/bin/python scripts/build_demo_data.py [--shared ../shared/data]

Writes, deterministically (same inputs → same bytes):
- data/boundary/ch_li.geojson  CH + LI, simplified (WGS84), for the inside-the-country test
- data/demo/atlas_service_points_li.csv  ATLAS service points of Liechtenstein (export format, unchanged rows)
- data/demo/osm_li.json  OSM public-transport stops of the Liechtenstein extract, as Overpass JSON
  (`out meta center`: with versions and timestamps; plus the ways their nodes belong to, and the
  stop_area relations, the transit route relations and their route masters)

Nearby Swiss border stops are left out on purpose: the OSM extract stops at the border, so they
would all show up as "unmatched" and hide the real problems of the demo.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping, shape

from pipeline.geo import Boundary
from pipeline.sources.osm import OsmSource

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = ROOT.parent / "shared" / "data"
SERVICE_POINTS_ZIP = "atlas_service_points_2025-08-02/actual_date-swiss-only-service_point-2025-08-02.csv.zip"
LI_PBF = "osm_liechtenstein_2024-03/liechtenstein-latest.osm.pbf"
BOUNDARY = "swiss_boundary/swiss_landesgebiet.geojson"

SIMPLIFY_TOLERANCE_M = 150.0  # boundary detail we keep (LV95 metres)
BOUNDARY_MARGIN_M = 300.0  # stops right on the border must stay inside after simplification
OSM_MARGIN_M = 300.0  # OSM objects kept: Liechtenstein plus this margin (platforms on border roads)
OSM_TIMESTAMP = "2024-03-03T20:20:56Z"  # newest object in the extract


def to_wgs84(geometry: shapely.Geometry) -> shapely.Geometry:
    transformer = Transformer.from_crs("EPSG:2056", "EPSG:4326", always_xy=True)

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geometry, convert)


def build_boundary(shared: Path) -> tuple[shapely.Geometry, shapely.Geometry]:
    """CH+LI (simplified, WGS84) for the pipeline, and LI alone (LV95) for the demo area."""
    data = json.loads((shared / BOUNDARY).read_text(encoding="utf-8"))
    features = {
        f["properties"].get("icc") or str(i): shape(f["geometry"]) for i, f in enumerate(data["features"])
    }
    ch_li = [g for name, g in features.items() if name in {"CH", "LI"}]
    li = [g for name, g in features.items() if name == "LI"]
    if len(ch_li) != 2 or len(li) != 1:
        raise SystemExit(f"unexpected boundary features: {sorted(features)}")
    union = (
        shapely.union_all(ch_li).simplify(SIMPLIFY_TOLERANCE_M).buffer(BOUNDARY_MARGIN_M, join_style="mitre")
    )
    union = union.simplify(SIMPLIFY_TOLERANCE_M / 2)
    wgs = shapely.set_precision(to_wgs84(union), 1e-5)
    return wgs, li[0]


def write_boundary(geometry: shapely.Geometry, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    feature = {
        "type": "Feature",
        "properties": {
            "name": "Switzerland and Liechtenstein (simplified)",
            "source": "swisstopo swissBOUNDARIES3D Landesgebiet",
            "simplify_tolerance_m": SIMPLIFY_TOLERANCE_M,
            "margin_m": BOUNDARY_MARGIN_M,
        },
        "geometry": mapping(geometry),
    }
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]}, separators=(",", ":")) + "\n"
    )


def build_atlas(shared: Path, out: Path) -> int:
    """The service points of Liechtenstein (isoCountryCode = LI), header and format unchanged."""
    with zipfile.ZipFile(shared / SERVICE_POINTS_ZIP) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".csv"))
        text = io.TextIOWrapper(archive.open(member), encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=";")
        header = next(reader)
        iso = header.index("isoCountryCode")
        rows = [row for row in reader if row[iso] == "LI"]
    rows.sort(key=lambda r: r[header.index("stop_id")])
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def _pbf_details(pbf: Path, node_ids: set[int], way_ids: set[int]) -> dict:
    """What the parsed records do not carry: timestamps, the stop ways' node lists and their vertices'
    positions, and every way that has a kept stop node as a vertex (the way membership)."""
    import osmium

    meta: dict[tuple[str, int], dict] = {}
    stop_way_nodes: dict[int, list[int]] = {}
    member_ways: dict[int, list[int]] = {}
    for way in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
        refs = [n.ref for n in way.nodes]
        if way.id in way_ids:
            stop_way_nodes[way.id] = refs
            meta["way", way.id] = {"version": way.version, "timestamp": _iso(way.timestamp)}
        elif node_ids.intersection(refs):
            member_ways[way.id] = refs
    vertices = {r for refs in stop_way_nodes.values() for r in refs}
    positions: dict[int, tuple[float, float]] = {}
    for node in osmium.FileProcessor(str(pbf), osmium.osm.NODE):
        if node.id in node_ids:
            meta["node", node.id] = {"version": node.version, "timestamp": _iso(node.timestamp)}
        if node.id in vertices and node.id not in node_ids and node.location.valid():
            positions[node.id] = (round(node.location.lat, 7), round(node.location.lon, 7))
    return {"meta": meta, "stop_way_nodes": stop_way_nodes, "member_ways": member_ways, "vertices": positions}


def _pbf_relations(pbf: Path, ids: set[int]) -> list[dict]:
    """The relations `ids` as Overpass JSON elements (`out meta`), by id. A route's path (its way
    members without a role, hundreds per route) is left out: the pipeline reads only the stop and
    platform members, and the path would triple the file."""
    import osmium

    out = []
    kinds = {"n": "node", "w": "way", "r": "relation"}
    for rel in osmium.FileProcessor(str(pbf), osmium.osm.RELATION):
        if rel.id not in ids:
            continue
        tags = {t.k: t.v for t in rel.tags}
        is_route = tags.get("type") == "route"
        members = [
            {"type": kinds[m.type], "ref": m.ref, "role": m.role}
            for m in rel.members
            if not (is_route and m.type == "w" and not m.role)
        ]
        out.append(
            {
                "type": "relation",
                "id": rel.id,
                "version": rel.version,
                "timestamp": _iso(rel.timestamp),
                "members": members,
                "tags": dict(sorted(tags.items())),
            }
        )
    return sorted(out, key=lambda e: e["id"])


def _iso(timestamp) -> str:
    return timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_osm(shared: Path, area_wgs: Boundary, out: Path) -> int:
    """OSM stop objects of the extract inside the demo area, as the Overpass JSON answer to

        ( stop objects );  out meta center qt;     -> nodes, and ways with centre and node list
        way(r...)          (vertices of the stop ways) out skel qt;
        way(bn.stop_nodes); out skel qt;           -> the ways the stop nodes belong to
        stop_area, transit route, route_master     -> relations with members, version, timestamp

    i.e. stop objects with `version` and `timestamp`, the untagged vertices of platform outlines (so
    the file converts to a complete OSM XML document), and, untagged, every way that has a stop node
    as a vertex, which tells the parser which nodes must never be moved (`way_member`).
    """
    from pipeline.sources.base import ParseOptions

    pbf = shared / LI_PBF
    parsed = OsmSource().parse([pbf], ParseOptions(boundary=area_wgs))
    node_ids = {o.osm_id for o in parsed.records if o.osm_type == "node"}
    way_ids = {o.osm_id for o in parsed.records if o.osm_type == "way"}
    details = _pbf_details(pbf, node_ids, way_ids)
    elements = []
    for obj in parsed.records:
        element: dict = {"type": obj.osm_type, "id": obj.osm_id}
        if obj.osm_type == "node":
            element.update(lat=round(obj.lat, 7), lon=round(obj.lon, 7))
        else:
            element["center"] = {"lat": round(obj.lat, 7), "lon": round(obj.lon, 7)}
            element["nodes"] = details["stop_way_nodes"][obj.osm_id]
        element.update(details["meta"][obj.osm_type, obj.osm_id])
        element["tags"] = dict(sorted(obj.tags.items()))
        elements.append(element)
    for node_id, (lat, lon) in sorted(details["vertices"].items()):
        elements.append({"type": "node", "id": node_id, "lat": lat, "lon": lon})
    for way_id, refs in sorted(details["member_ways"].items()):
        elements.append({"type": "way", "id": way_id, "nodes": refs})
    structure = parsed.structure
    relation_ids = {
        r.osm_id for group in (structure.stop_areas, structure.routes, structure.route_masters) for r in group
    }
    elements.extend(_pbf_relations(pbf, relation_ids))
    payload = {
        "version": 0.6,
        "generator": "StopSync scripts/build_demo_data.py, Geofabrik liechtenstein-latest.osm.pbf",
        "osm3s": {
            "timestamp_osm_base": OSM_TIMESTAMP,
            "copyright": "The data included in this document is from www.openstreetmap.org. "
            "The data is made available under ODbL.",
        },
        "elements": elements,
    }
    # One element a line: readable diffs when the extract is rebuilt, and no line per node reference.
    head = json.dumps({**payload, "elements": []}, ensure_ascii=False, indent=1)
    body = ",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in elements)
    out.write_text(head.replace('"elements": []', '"elements": [\n' + body + "\n ]") + "\n", encoding="utf-8")
    print(
        f"OSM relations: {len(structure.stop_areas)} stop areas, {len(structure.routes)} routes, "
        f"{len(structure.route_masters)} route masters"
    )
    return len(parsed.records)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared real-data folder")
    args = parser.parse_args()
    boundary, li_lv95 = build_boundary(args.shared)
    boundary_path = ROOT / "data/boundary/ch_li.geojson"
    write_boundary(boundary, boundary_path)
    demo = ROOT / "data/demo"
    demo.mkdir(parents=True, exist_ok=True)
    area_wgs = Boundary(to_wgs84(li_lv95.buffer(OSM_MARGIN_M)), name="demo area")
    n_atlas = build_atlas(args.shared, demo / "atlas_service_points_li.csv")
    n_osm = build_osm(args.shared, area_wgs, demo / "osm_li.json")
    print(f"boundary: {boundary_path.stat().st_size:,} bytes; ATLAS rows: {n_atlas}; OSM objects: {n_osm}")


if __name__ == "__main__":
    main()
