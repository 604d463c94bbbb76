"""Build the bundled demo data set and the simplified country boundary from the real extracts.

    .venv/bin/python scripts/build_demo_data.py [--shared ../shared/data]

Writes, deterministically (same inputs → same bytes):
- data/boundary/ch_li.geojson  CH + LI, simplified (WGS84), for the inside-the-country test
- data/demo/atlas_service_points_li.csv  ATLAS service points of Liechtenstein (export format, unchanged rows)
- data/demo/osm_li.json  OSM public-transport stops of the Liechtenstein extract, as Overpass JSON

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
    rows.sort(key=lambda r: r[header.index("sloid")])
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def build_osm(shared: Path, area_wgs: Boundary, out: Path) -> int:
    """OSM stop objects of the extract inside the demo area, as Overpass `out tags center` JSON."""
    from pipeline.sources.base import ParseOptions

    parsed = OsmSource().parse([shared / LI_PBF], ParseOptions(boundary=area_wgs))
    elements = []
    for obj in parsed.records:
        element: dict = {"type": obj.osm_type, "id": obj.osm_id}
        if obj.osm_type == "node":
            element.update(lat=round(obj.lat, 7), lon=round(obj.lon, 7))
        else:
            element["center"] = {"lat": round(obj.lat, 7), "lon": round(obj.lon, 7)}
        element["tags"] = dict(sorted(obj.tags.items()))
        elements.append(element)
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
    out.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return len(elements)


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
