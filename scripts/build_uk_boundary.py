"""Build data/boundary/gb.geojson, Great Britain for the NaPTAN instance's inside-the-country filter.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    .venv/bin/python scripts/build_uk_boundary.py package/countries-10m.json

Source: Natural Earth 1:10m Admin 0 countries, version 4.1.0 (public domain), as redistributed in the
npm package `world-atlas` 2.0.2 (TopoJSON, quantised to about 250 x 190 m). Kept: the United
Kingdom's polygons except Northern Ireland (NaPTAN covers England, Scotland and Wales; Northern
Ireland's stops are in another registry, so its OSM stops would all be "unmatched"). The Isle of Man
and the Channel Islands are Crown dependencies outside NaPTAN and outside the UK polygon.

The outline is coarse: quantised, then simplified by SIMPLIFY_TOLERANCE_M and widened by
BOUNDARY_MARGIN_M in British National Grid metres (EPSG:27700), so stops on piers, quays and the
shoreline stay inside. The margin reaches no other country's land (France is 33 km away, Northern
Ireland 20 km, the Isle of Man 26 km).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, mapping

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data/boundary/gb.geojson"
SIMPLIFY_TOLERANCE_M = 200.0
BOUNDARY_MARGIN_M = 2000.0
# Northern Ireland: the UK polygons west of this longitude and south of this latitude.
NI_BOX = (-8.3, 53.9, -5.3, 55.4)  # min lon, min lat, max lon, max lat


def decode_topojson(topology: dict, geometry: dict) -> MultiPolygon:
    """One TopoJSON (Multi)Polygon as a shapely MultiPolygon (delta-encoded, quantised arcs)."""
    scale, translate = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs: list[np.ndarray] = []
    for arc in topology["arcs"]:
        points = np.cumsum(np.asarray(arc, dtype=np.float64), axis=0)
        arcs.append(points * scale + translate)

    def ring(indexes: list[int]) -> np.ndarray:
        parts = [arcs[i] if i >= 0 else arcs[~i][::-1] for i in indexes]
        # Consecutive arcs share their end points: drop each part's first point but the first's.
        return np.concatenate([parts[0]] + [p[1:] for p in parts[1:]])

    polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
    return MultiPolygon([Polygon(ring(rings[0]), [ring(r) for r in rings[1:]]) for rings in polygons])


def build(countries_10m: Path) -> shapely.Geometry:
    """Great Britain (WGS84), simplified and widened."""
    topology = json.loads(countries_10m.read_text(encoding="utf-8"))
    uk = next(
        g
        for g in topology["objects"]["countries"]["geometries"]
        if g["properties"].get("name") == "United Kingdom"
    )
    min_lon, min_lat, max_lon, max_lat = NI_BOX
    ni = shapely.box(min_lon, min_lat, max_lon, max_lat)
    gb = [p for p in decode_topojson(topology, uk).geoms if not ni.contains(p.representative_point())]
    to_grid = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    to_wgs = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)

    def project(transformer: Transformer) -> object:
        def convert(coords: np.ndarray) -> np.ndarray:
            x, y = transformer.transform(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        return convert

    grid = shapely.transform(shapely.union_all(gb), project(to_grid))
    widened = grid.simplify(SIMPLIFY_TOLERANCE_M).buffer(BOUNDARY_MARGIN_M).simplify(SIMPLIFY_TOLERANCE_M)
    return shapely.set_precision(shapely.transform(widened, project(to_wgs)), 1e-4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "countries_10m", type=Path, help="countries-10m.json of the npm package world-atlas 2.0.2"
    )
    args = parser.parse_args()
    geometry = build(args.countries_10m)
    feature = {
        "type": "Feature",
        "properties": {
            "name": "Great Britain (coarse: England, Scotland, Wales and their islands)",
            "source": "Natural Earth 1:10m Admin 0 countries 4.1.0 (public domain), npm world-atlas 2.0.2",
            "simplify_tolerance_m": SIMPLIFY_TOLERANCE_M,
            "margin_m": BOUNDARY_MARGIN_M,
        },
        "geometry": mapping(geometry),
    }
    OUT.write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]}, separators=(",", ":")) + "\n"
    )
    polygons = len(getattr(geometry, "geoms", [geometry]))
    print(f"{OUT.relative_to(ROOT)}: {OUT.stat().st_size:,} bytes, {polygons} polygons")


if __name__ == "__main__":
    main()
